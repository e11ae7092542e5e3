/*
 * orders.c: flow 1, Mirakl orders into Khaos Control (see orders.h).
 *
 * Every decision that changes the order's record is made in a transaction
 * (a job's apply, or the outbox hook), together with the jobs it causes.
 * Steps only talk to the peers and hand what they learnt to their apply.
 */
#include "orders_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/log.h"
#include "kcgate/flows/order_map.h"
#include "kcgate/flows/orders_admin.h"
#include "kcgate/flows/skus.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/mirakl.h"

/* ---- states and decisions (pure) ---- */

static const char *const state_names[KCG_ORDER_STATES] = {
	[KCG_ORDER_SEEN] = "seen",
	[KCG_ORDER_HELD] = "held",
	[KCG_ORDER_BOOKED] = "booked",
	[KCG_ORDER_ACCEPTED] = "accepted",
	[KCG_ORDER_CANCELLED] = "cancelled",
};

const char *kcg_order_state_name(enum kcg_order_state state)
{
	return (unsigned)state < KCG_ORDER_STATES ? state_names[state] : "unknown";
}

int kcg_order_state_parse(const char *name)
{
	for (int i = 0; i < KCG_ORDER_STATES; i++)
		if (name && strcmp(state_names[i], name) == 0)
			return i;
	return -1;
}

static bool mirakl_final(const char *state)
{
	return state && (strcmp(state, "CANCELED") == 0 || strcmp(state, "REFUSED") == 0 || strcmp(state, "CLOSED") == 0);
}

enum kcg_order_next kcg_order_next(enum kcg_order_state state, bool stuck, const json_t *order)
{
	const char *mstate = kcg_mirakl_order_state(order);
	switch (state) {
	case KCG_ORDER_ACCEPTED:
	case KCG_ORDER_CANCELLED:
	case KCG_ORDER_STATES:
		return KCG_NEXT_NOTHING; /* nothing left to do; the snapshot is kept up to date */
	case KCG_ORDER_SEEN:
	case KCG_ORDER_HELD:
	case KCG_ORDER_BOOKED:
		break;
	}
	/* Its booking or acceptance died: a dead_job exception waits for a
	 * person. Re-creating the job at every poll would only repeat the
	 * failure; POST /admin/jobs/{id}/retry goes on from here. */
	if (stuck)
		return KCG_NEXT_NOTHING;
	if (state == KCG_ORDER_BOOKED) {
		if (kcg_mirakl_order_waiting(order))
			return KCG_NEXT_ACCEPT;
		if (kcg_mirakl_order_accepted(order))
			return KCG_NEXT_ACCEPTED;
		return mirakl_final(mstate) ? KCG_NEXT_CANCELLED : KCG_NEXT_NOTHING;
	}
	if (mirakl_final(mstate))
		return KCG_NEXT_CANCELLED;
	/* seen or held, and past Mirakl's own checks (waiting for acceptance,
	 * or already accepted by hand) */
	return mstate && strcmp(mstate, "STAGING") == 0 ? KCG_NEXT_NOTHING : KCG_NEXT_CHECK_SKUS;
}

bool kcg_order_is_late(enum kcg_order_state state, uint64_t deadline_ms, uint64_t alert_ms, uint64_t now_ms)
{
	bool open = state == KCG_ORDER_SEEN || state == KCG_ORDER_HELD || state == KCG_ORDER_BOOKED;
	return open && deadline_ms && now_ms + alert_ms >= deadline_ms;
}

bool kcg_order_forgotten(uint64_t created_ms, uint64_t retention_ms, uint64_t now_ms)
{
	return retention_ms && created_ms && now_ms > created_ms && now_ms - created_ms > retention_ms;
}

/* ---- small LMDB helpers over JSON values ---- */

int orders_get_record(struct kcg_txn *t, const char *order_id, json_t **out)
{
	return kcg_txn_get_json(t, DB_ORDERS, order_id, strlen(order_id), out);
}


static void set_time(json_t *rec, const char *key, uint64_t ms)
{
	char buf[32];
	kcg_format_time(ms, buf, sizeof(buf));
	json_object_set_new(rec, key, json_string(buf));
}

/* A read callback: *io holds an order id (a JSON string) and gets its record. */
static int record_fn(struct kcg_txn *t, void *arg)
{
	json_t **io = arg;
	return orders_get_record(t, json_string_value(*io), io);
}

/*
 * Calls @p fn for each order record, in order id order, at most
 * ORDERS_SCAN_MAX of them; @p fn returns 0 to go on, 1 to stop, or an error.
 * The records are parsed copies: @p fn may write (collect, then write).
 */
int orders_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t scanned = 0;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_ORDERS), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && scanned++ < ORDERS_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		int r = json_is_object(rec) ? fn(rec, arg) : 0;
		json_decref(rec);
		if (r != 0) {
			rc = r;
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 1 ? 0 : rc;
}

/* ---- the order record ---- */

/* The record of @p order_id, or a new one in state "seen" (*created). */
static json_t *load_order(struct kcg_txn *t, const char *order_id, bool *created)
{
	json_t *rec = NULL;
	*created = false;
	if (orders_get_record(t, order_id, &rec) == 0 && json_is_object(rec))
		return rec;
	json_decref(rec);
	*created = true;
	rec = json_pack("{s:s, s:s}", "order_id", order_id, "state", state_names[KCG_ORDER_SEEN]);
	if (rec)
		set_time(rec, "first_seen", t->now_ms);
	return rec;
}

static int save_order(struct kcg_txn *t, json_t *rec)
{
	set_time(rec, "updated_at", t->now_ms);
	const char *id = kcg_json_str(rec, "order_id");
	return kcg_txn_put_json(t, DB_ORDERS, id, strlen(id), rec);
}

/* A record's state; a record with none (or an unknown one) counts as seen. */
enum kcg_order_state orders_state_of(const json_t *rec)
{
	int st = kcg_order_state_parse(kcg_json_str(rec, "state"));
	return st < 0 ? KCG_ORDER_SEEN : (enum kcg_order_state)st;
}

static void set_state(json_t *rec, enum kcg_order_state state)
{
	json_object_set_new(rec, "state", json_string(kcg_order_state_name(state)));
}

/* Copies what the flow needs from a Mirakl order into the record. */
static void take_snapshot(const struct kcg_config *cfg, json_t *rec, const json_t *order)
{
	json_object_set(rec, "order", (json_t *)order);
	json_object_set_new(rec, "mirakl_state", json_string(kcg_mirakl_order_state(order) ? kcg_mirakl_order_state(order) : ""));
	uint64_t created;
	const char *cd = json_string_value(json_object_get(order, "created_date"));
	if (cd && kcg_mirakl_parse_time(cd, &created) == 0) {
		json_object_set_new(rec, "created_ms", json_integer((json_int_t)created));
		json_object_set_new(rec, "deadline_ms",
				    json_integer((json_int_t)(created + cfg->mirakl.acceptance_window_h * 3600000u)));
	}
}

/* An order at its end: clear what it might have raised; the record goes
 * after the retention horizon (finished_ms is its mark). */
static int settle(struct kcg_txn *t, json_t *rec, enum kcg_order_state state)
{
	const char *id = kcg_json_str(rec, "order_id");
	set_state(rec, state);
	json_object_set_new(rec, "finished_ms", json_integer((json_int_t)t->now_ms));
	int rc = kcg_store_retain(t, DB_ORDERS, id, strlen(id), t->now_ms);
	if (rc == 0)
		rc = kcg_exc_resolve(t, KCG_EXC_ACCEPTANCE_DEADLINE, id, "auto");
	return rc;
}

/* An order still to be accepted whose alert time (deadline - alert) has passed? */
bool orders_is_late(const struct kcg_config *cfg, const json_t *rec, uint64_t now)
{
	return kcg_order_is_late(orders_state_of(rec), kcg_json_u64(rec, "deadline_ms"), cfg->mirakl.acceptance_alert_h * 3600000u,
				 now);
}

/* Raises (or refreshes) acceptance_deadline for one late order record. */
int orders_raise_deadline(struct kcg_txn *t, const json_t *rec)
{
	char when[32], msg[600];
	enum kcg_order_state state = orders_state_of(rec);
	bool held = state == KCG_ORDER_HELD;
	kcg_format_time(kcg_json_u64(rec, "deadline_ms"), when, sizeof(when));
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s must be accepted before %s or Mirakl refuses it automatically; it is %s%s. %s",
		 kcg_json_str(rec, "order_id"), when, kcg_order_state_name(state),
		 held ? " (unknown or discontinued SKU)"
		 : state == KCG_ORDER_BOOKED ? " in Khaos, not accepted yet"
						 : ", not booked in Khaos yet",
		 held ? "Fix the SKU (see the unknown_sku exceptions) or accept/refuse by hand."
		      : "Check the jobs of this order (GET /admin/jobs) and the Khaos and Mirakl lanes.");
	struct kcg_exc exc = {
		.kind = KCG_EXC_ACCEPTANCE_DEADLINE,
		.severity = KCG_SEV_CRITICAL,
		.system = held ? "mirakl" : "kcgate",
		.owner = held ? "ecommerce" : "operations",
		.subject = kcg_json_str(rec, "order_id"),
		.message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/*
 * The heart of the flow: given the latest Mirakl order, move the record
 * and enqueue what comes next. Idempotent: running it twice with the same
 * order changes nothing the second time (jobs are one per kind and order).
 */
static int decide(struct kcg_txn *t, const struct kcg_config *cfg, const json_t *order)
{
	const char *id = kcg_mirakl_order_id(order);
	if (!id || strlen(id) > ORDER_ID_MAX)
		return 0;
	bool created;
	json_t *rec = load_order(t, id, &created);
	if (!rec)
		return -ENOMEM;
	take_snapshot(cfg, rec, order);
	int rc = 0;
	/* older than the retention horizon and no record: finished and forgotten */
	if (created && kcg_order_forgotten(kcg_json_u64(rec, "created_ms"),
					   cfg->store.retention_days * 86400000u, t->now_ms)) {
		json_decref(rec);
		return 0;
	}

	switch (kcg_order_next(orders_state_of(rec), json_object_get(rec, "stuck_job") != NULL, order)) {
	case KCG_NEXT_NOTHING:
		break;
	case KCG_NEXT_ACCEPT:
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.accept", id, NULL, 0, NULL);
		break;
	case KCG_NEXT_ACCEPTED:
		rc = settle(t, rec, KCG_ORDER_ACCEPTED);
		break;
	case KCG_NEXT_CANCELLED:
		rc = settle(t, rec, KCG_ORDER_CANCELLED);
		break;
	case KCG_NEXT_CHECK_SKUS: {
		/* every line's SKU must be an active Khaos stock code before the
		 * order is booked */
		json_t *held = json_array();
		json_t *line;
		size_t i;
		json_array_foreach(json_object_get(order, "order_lines"), i, line) {
			const char *sku = kcg_json_str(line, "offer_sku");
			bool discontinued;
			if (*sku && strlen(sku) <= KCG_EXC_FIELD_MAX && kcg_skus_active(t, sku, &discontinued))
				continue;
			if (!*sku || strlen(sku) > KCG_EXC_FIELD_MAX) {
				/* No usable SKU at all: the exception is about the order. */
				json_array_append_new(held, json_string(""));
				char msg[300];
				snprintf(msg, sizeof(msg), "Mirakl order %s, line %s has %s offer_sku. The order is held; fix "
					 "the offer on Mirakl, then accept or refuse the order by hand.",
					 id, kcg_json_str(line, "order_line_id"), *sku ? "an overlong" : "no");
				struct kcg_exc bad = {
					.kind = KCG_EXC_UNKNOWN_SKU, .severity = KCG_SEV_CRITICAL, .system = "mirakl",
					.owner = "ecommerce", .subject = id, .message = msg,
				};
				rc = kcg_exc_raise(t, &bad, NULL);
				if (rc != 0)
					break;
				continue;
			}
			json_array_append_new(held, json_string(sku));
			char msg[600];
			snprintf(msg, sizeof(msg),
				 "Mirakl order %s, line %s: offer_sku '%.100s' is %s. The order is held: neither booked in Khaos "
				 "nor refused. Fix the offer's SKU on Mirakl or the stock item in Khaos; kcgate books the "
				 "order once the SKU is an active stock code.",
				 id, kcg_json_str(line, "order_line_id"), sku,
				 discontinued ? "a discontinued Khaos stock code" : "not a Khaos stock code kcgate knows");
			struct kcg_exc exc = {
				.kind = KCG_EXC_UNKNOWN_SKU,
				.severity = KCG_SEV_CRITICAL,
				.system = "mirakl",
				.owner = "ecommerce",
				.subject = sku,
				.message = msg,
			};
			rc = kcg_exc_raise(t, &exc, NULL);
			/* Ask Khaos about this code now rather than at the next refresh. */
			if (rc == 0)
				rc = kcg_skus_refresh_one(t, sku);
			if (rc != 0)
				break;
		}
		if (rc == 0 && json_array_size(held) > 0) {
			set_state(rec, KCG_ORDER_HELD);
			json_object_set(rec, "held_skus", held);
		} else if (rc == 0) {
			set_state(rec, KCG_ORDER_SEEN);
			json_object_del(rec, "held_skus");
			json_t *payload = json_pack("{s:O}", "order", order);
			rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "order.book", id, payload, 0, NULL);
			json_decref(payload);
		}
		json_decref(held);
		break;
	}
	}
	if (rc == KCG_EDUPLICATE)
		rc = 0;
	/* Late already when first seen (or re-seen): say so now, not at the next watch. */
	if (rc == 0 && orders_is_late(cfg, rec, t->now_ms) && !kcg_exc_is_open(t, KCG_EXC_ACCEPTANCE_DEADLINE, id))
		rc = orders_raise_deadline(t, rec);
	if (rc == 0)
		rc = save_order(t, rec);
	json_decref(rec);
	return rc;
}

/* ---- jobs ---- */

/* order.sync: read the order (unless the poll brought it), then decide. */
static int sync_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *flow = run->ctx;
	json_t *order = json_object_get(run->result, "order");
	if (!order)
		return 0; /* Mirakl does not know the order: nothing to do */
	return decide(t, flow->cfg, order);
}

static enum kcg_step order_sync(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];

	json_t *given = json_object_get(run->payload, "order");
	if (run->phase == PH_START && !given) {
		run->phase = PH_READ;
		struct kcg_or11_query q = { .order_ids = run->subject, .max = 1 };
		return kcg_job_call(run, kcg_mirakl_or11(&flow->cfg->mirakl, &q, &run->call));
	}
	run->result = json_object();
	if (given) {
		json_object_set(run->result, "order", given);
	} else {
		json_t *orders;
		uint64_t total;
		int rc = kcg_mirakl_or11_parse(&run->reply, &orders, &total, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		size_t i;
		json_t *o;
		json_array_foreach(orders, i, o)
			if (kcg_mirakl_order_id(o) && strcmp(kcg_mirakl_order_id(o), run->subject) == 0)
				json_object_set(run->result, "order", o);
		json_decref(orders);
	}
	run->apply = sync_apply;
	return KCG_STEP_DONE;
}

/* order.book: Khaos first says whether it has the order already. */
static int book_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	bool created;
	json_t *rec = load_order(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	int rc = 0;
	enum kcg_order_state state = orders_state_of(rec);
	json_object_del(rec, "stuck_job");
	json_object_set(rec, "sales_order_code", json_object_get(run->result, "code"));
	if (state == KCG_ORDER_SEEN || state == KCG_ORDER_HELD) {
		set_state(rec, KCG_ORDER_BOOKED);
		set_time(rec, "booked_at", t->now_ms);
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.accept", run->subject, NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	} else if (state == KCG_ORDER_CANCELLED) {
		char msg[400];
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s was cancelled on Mirakl while kcgate booked it in Khaos as sales order %s. "
			 "Cancel that sales order in Khaos.",
			 run->subject, kcg_json_str(run->result, "code"));
		struct kcg_exc exc = {
			.kind = KCG_EXC_BOOKED_CANCELLED, .severity = KCG_SEV_WARNING, .system = "mirakl",
			.owner = "finance", .subject = run->subject, .message = msg,
		};
		rc = kcg_exc_raise(t, &exc, NULL);
	}
	if (rc == 0)
		rc = save_order(t, rec);
	json_decref(rec);
	return rc;
}

static enum kcg_step booked(struct kcg_job_run *run, const char *code)
{
	run->result = json_pack("{s:s}", "code", code);
	run->apply = book_apply;
	return KCG_STEP_DONE;
}

/* order.book for an order whose Khaos ref would be too long: it is not
 * booked (never truncated: a cut ref could match another order). */
static int ref_too_long_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	const char *prefix = cfg->khaos.order_ref_prefix ? cfg->khaos.order_ref_prefix : "";
	char msg[600];
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s is not booked in Khaos: its associated ref '%s%s' ([khaos] order_ref_prefix + order "
		 "id) is longer than the %d characters Khaos takes. kcgate never cuts it short; shorten the prefix, "
		 "then POST /admin/jobs/%s/retry, or book the order by hand.",
		 run->subject, prefix, run->subject, KCG_KHAOS_REF_MAX, run->id);
	struct kcg_exc exc = {
		.kind = KCG_EXC_ORDER_REF_TOO_LONG, .severity = KCG_SEV_CRITICAL, .system = "kcgate",
		.owner = "operations", .subject = run->subject, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

/* The order's Khaos ASSOCIATED_REF: [khaos] order_ref_prefix + order id.
 * KCG_EPAYLOAD when it is longer than Khaos takes. */
static int khaos_ref(const struct kcg_config *cfg, const char *order_id, char ref[ORDER_ID_MAX + 64])
{
	const char *prefix = cfg->khaos.order_ref_prefix ? cfg->khaos.order_ref_prefix : "";
	snprintf(ref, ORDER_ID_MAX + 64, "%s%s", prefix, order_id);
	size_t chars = 0;
	for (const char *c = ref; *c; c++)
		chars += ((unsigned char)*c & 0xc0) != 0x80;
	return chars > KCG_KHAOS_REF_MAX || strlen(prefix) + strlen(order_id) >= ORDER_ID_MAX + 64 ? KCG_EPAYLOAD : 0;
}

static enum kcg_step order_book(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX], code[KCG_KHAOS_CODE_MAX], ref[ORDER_ID_MAX + 64];
	int rc;

	bool too_long = khaos_ref(flow->cfg, run->subject, ref) != 0;
	switch (run->phase) {
	case PH_START: {
		/* Only an order still to be booked: it may have been cancelled or
		 * held (a SKU discontinued) while this job waited. */
		json_t *id = json_string(run->subject), *rec = id;
		rc = kcg_store_read(flow->store, record_fn, &rec);
		json_decref(id);
		bool go = rc == 0 && orders_state_of(rec) == KCG_ORDER_SEEN;
		json_decref(rc == 0 ? rec : NULL);
		if (rc != 0 && rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, -EAGAIN, "cannot read the order record");
		if (!go)
			return KCG_STEP_DONE; /* nothing to book (any more) */
		if (too_long) {
			snprintf(run->error, sizeof(run->error), "associated ref '%.40s' is longer than %d characters",
				 ref, KCG_KHAOS_REF_MAX);
			run->apply = ref_too_long_apply;
			return KCG_STEP_DEAD;
		}
		if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
			return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
		/* Always ask first: an earlier attempt (or a crash) may have booked
		 * it without us learning so. */
		run->phase = PH_STATUS;
		return kcg_job_call(run, kcg_khaos_order_status(&flow->cfg->khaos, ref, &run->call));
	}
	case PH_STATUS:
		rc = kcg_khaos_order_status_parse(&flow->cfg->khaos, &run->reply, ref, code, NULL, why);
		if (rc == 0)
			return booked(run, code);
		if (rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, rc, why);
		if (run->n_calls > 2) {
			/* ImportOrders said the ref exists, ExportOrderStatusEx says it
			 * does not: a person must look. */
			snprintf(run->error, sizeof(run->error),
				 "Khaos skipped %.40s as existing, but ExportOrderStatusEx does not find it", ref);
			return KCG_STEP_DEAD;
		}
		run->phase = PH_IMPORT;
		struct kcg_khaos_sales_order so;
		rc = kcg_order_map(json_object_get(run->payload, "order"), &so, why);
		if (rc == 0) {
			free(so.associated_ref);
			so.associated_ref = strdup(ref);
			rc = so.associated_ref ? kcg_khaos_import_orders(&flow->cfg->khaos, &so, &run->call, why) : -ENOMEM;
		}
		kcg_khaos_sales_order_finish(&so);
		if (rc == KCG_EPAYLOAD || rc == -EAGAIN)
			return kcg_job_failed(run, rc, why);
		return kcg_job_call(run, rc);
	default:
		rc = kcg_khaos_import_parse(&flow->cfg->khaos, &run->reply, ref, code, why);
		if (rc == 0)
			return booked(run, code);
		if (rc == KCG_EDUPLICATE) {
			/* Khaos has it already (skipped as a repeat): read its code. */
			run->phase = PH_STATUS;
			return kcg_job_call(run, kcg_khaos_order_status(&flow->cfg->khaos, ref, &run->call));
		}
		return kcg_job_failed(run, rc, why);
	}
}

/* order.accept: OR21 every waiting line; on doubt, read the order first. */
static int accept_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	bool created;
	json_t *rec = load_order(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	json_t *order = json_object_get(run->result, "order");
	if (order)
		take_snapshot(((struct kcg_flow_ctx *)run->ctx)->cfg, rec, order);
	int rc = 0;
	json_object_del(rec, "stuck_job");
	if (json_is_true(json_object_get(run->result, "accepted"))) {
		set_time(rec, "accepted_at", t->now_ms);
		rc = settle(t, rec, KCG_ORDER_ACCEPTED);
	} else if (json_is_true(json_object_get(run->result, "cancelled"))) {
		rc = settle(t, rec, KCG_ORDER_CANCELLED);
	}
	if (rc == 0)
		rc = save_order(t, rec);
	json_decref(rec);
	return rc;
}

static enum kcg_step accept_outcome(struct kcg_job_run *run, json_t *order, const char *flag)
{
	run->result = json_pack("{s:b}", flag, 1);
	if (order)
		json_object_set(run->result, "order", order);
	run->apply = accept_apply;
	return KCG_STEP_DONE;
}

/* Reads the record's snapshot of the order (the lines to accept). */
static int snapshot_fn(struct kcg_txn *t, void *arg)
{
	json_t **io = arg;
	const char *id = json_string_value(*io);
	json_t *rec;
	int rc = orders_get_record(t, id, &rec);
	if (rc != 0)
		return rc;
	*io = json_incref(json_object_get(rec, "order"));
	json_decref(rec);
	return *io ? 0 : KCG_ENOTFOUND;
}

/* A job of this order died: remember it, so no poll re-creates it. */
static int order_stuck(struct kcg_txn *t, struct kcg_job_run *run)
{
	bool created;
	json_t *rec = load_order(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	json_object_set_new(rec, "stuck_job", json_pack("{s:s, s:s}", "id", run->id, "kind", run->kind->name));
	int rc = save_order(t, rec);
	json_decref(rec);
	return rc;
}

static enum kcg_step order_accept(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	int rc;

	switch (run->phase) {
	case PH_START:
		if (run->attempts > 0) {
			/* An earlier attempt may have gone through: look before acting. */
			run->phase = PH_READ;
			return kcg_job_call(run, kcg_mirakl_or12(&flow->cfg->mirakl, run->subject, &run->call));
		}
		json_t *id = json_string(run->subject), *order = id;
		rc = kcg_store_read(flow->store, snapshot_fn, &order);
		json_decref(id);
		if (rc != 0) {
			snprintf(run->error, sizeof(run->error), "no stored snapshot of order %s: %s", run->subject,
				 kcg_strerror(rc));
			return KCG_STEP_DEAD;
		}
		run->phase = PH_ACCEPT;
		rc = kcg_mirakl_or21(&flow->cfg->mirakl, order, &run->call);
		json_decref(order);
		if (rc == KCG_EPAYLOAD) {
			/* No line waits in our snapshot: read what Mirakl says. */
			run->phase = PH_READ;
			rc = kcg_mirakl_or12(&flow->cfg->mirakl, run->subject, &run->call);
		}
		return kcg_job_call(run, rc);
	case PH_READ: {
		json_t *order;
		rc = kcg_mirakl_or12_parse(&run->reply, &order, why);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		enum kcg_step st;
		if (kcg_mirakl_order_accepted(order)) {
			st = accept_outcome(run, order, "accepted");
		} else if (mirakl_final(kcg_mirakl_order_state(order))) {
			st = accept_outcome(run, order, "cancelled");
		} else if (kcg_mirakl_order_waiting(order) && run->n_calls < 3) {
			run->phase = PH_ACCEPT;
			st = kcg_job_call(run, kcg_mirakl_or21(&flow->cfg->mirakl, order, &run->call));
		} else {
			snprintf(run->error, sizeof(run->error), "order %s is %s on Mirakl and cannot be accepted",
				 run->subject, kcg_mirakl_order_state(order) ? kcg_mirakl_order_state(order) : "in no state");
			st = KCG_STEP_DEAD;
		}
		json_decref(order);
		return st;
	}
	default:
		rc = kcg_mirakl_or21_parse(&run->reply, why);
		if (rc == 0)
			return accept_outcome(run, NULL, "accepted");
		if (rc == KCG_EPAYLOAD && run->n_calls < 3) {
			/* 400: the state is not what we thought; read it. */
			run->phase = PH_READ;
			return kcg_job_call(run, kcg_mirakl_or12(&flow->cfg->mirakl, run->subject, &run->call));
		}
		return kcg_job_failed(run, rc, why);
	}
}

/* Orders held on @p sku get another order.sync (they re-read Mirakl). */
struct held_on {
	const char *sku;
	json_t *ids;
};

static int held_on_fn(json_t *rec, void *arg)
{
	struct held_on *h = arg;
	if (orders_state_of(rec) != KCG_ORDER_HELD)
		return 0;
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(rec, "held_skus"), i, s)
		if (json_is_string(s) && strcmp(json_string_value(s), h->sku) == 0)
			return json_array_append_new(h->ids, json_string(kcg_json_str(rec, "order_id"))) ? -ENOMEM : 0;
	return 0;
}

/* on_sku_active: the SKU cache learnt that @p sku is an active stock code. */
static int release_held(struct kcg_txn *t, const char *sku, struct kcg_flow_ctx *ctx)
{
	struct held_on h = { sku, json_array() };
	int rc = orders_each(t, held_on_fn, &h);
	size_t i;
	json_t *id;
	json_array_foreach(h.ids, i, id) {
		if (rc != 0)
			break;
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "order.sync", json_string_value(id), NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	json_decref(h.ids);
	return rc;
}

/* ---- the flow ---- */

#define FLOW_PAIRING \
	"[mirakl] base_url and [khaos] soap_url go together: set both to run the order flow, or neither"

static bool orders_enabled(const struct kcg_config *cfg)
{
	return cfg->mirakl.base_url && cfg->khaos.soap_url;
}

static void orders_checks(struct kcg_config_check *c, const struct kcg_config *cfg)
{
	/* one without the other would run half a flow: orders read, never booked */
	if (cfg->mirakl.base_url && !kcg_config_line(c, &cfg->khaos.soap_url))
		kcg_config_error(c, &cfg->mirakl.base_url, FLOW_PAIRING);
	if (cfg->khaos.soap_url && !kcg_config_line(c, &cfg->mirakl.base_url))
		kcg_config_error(c, &cfg->khaos.soap_url, FLOW_PAIRING);

	/* the alert must come before Mirakl refuses the order; both are >= 1
	 * when valid, 0 after a reported error */
	uint64_t window = cfg->mirakl.acceptance_window_h, alert = cfg->mirakl.acceptance_alert_h;
	if (window && alert && alert >= window) {
		if (kcg_config_line(c, &cfg->mirakl.acceptance_alert_h))
			kcg_config_error(c, &cfg->mirakl.acceptance_alert_h,
					 "must be less than acceptance_window_h (%" PRIu64 ")", window);
		else
			kcg_config_error(c, &cfg->mirakl.acceptance_window_h,
					 "must be more than acceptance_alert_h (%" PRIu64 ", the default)", alert);
	}
}

static const struct kcg_config_key orders_keys[] = {
	/* Mirakl: poll OR11 every 5 minutes, at most once a minute */
	KCG_KEY_U64("mirakl", "poll_interval_s", mirakl.poll_interval_s, "300", 60, 86400),
	KCG_KEY_U64("mirakl", "poll_overlap_s", mirakl.poll_overlap_s, "300", 0, 86400),
	/* pages (of 100 orders) one poll reads, each committed before the next */
	KCG_KEY_U64("mirakl", "poll_max_pages", mirakl.poll_max_pages, "50", 1, 100000),
	KCG_KEY_U64("mirakl", "acceptance_window_h", mirakl.acceptance_window_h, "72", 1, 720),
	KCG_KEY_U64("mirakl", "acceptance_alert_h", mirakl.acceptance_alert_h, "12", 1, 720),
};

static const struct kcg_config_keys orders_config = {
	orders_keys, sizeof(orders_keys) / sizeof(orders_keys[0]), orders_checks
};

static const struct kcg_job_kind kind_sync = { "order.sync", KCG_LANE_MIRAKL, order_sync, NULL };
static const struct kcg_job_kind kind_book = { "order.book", KCG_LANE_KHAOS, order_book, order_stuck };
static const struct kcg_job_kind kind_accept = { "order.accept", KCG_LANE_MIRAKL, order_accept, order_stuck };
static const struct kcg_job_kind kind_poll = { "mirakl.poll", KCG_LANE_MIRAKL, orders_mirakl_poll, NULL };

const struct kcg_flow kcg_flow_orders = {
	.name = "orders",
	.enabled = orders_enabled,
	.dbs = (const char *const[]){ DB_ORDERS, NULL },
	.config = &orders_config,
	.kinds = (const struct kcg_job_kind *const[]){ &kind_sync, &kind_book, &kind_accept, &kind_poll, NULL },
	.timers = orders_timers,
	.on_event = orders_on_event,
	.on_sku_active = release_held,
	.retention = &orders_retention,
	.routes = kcg_orders_routes,
	.n_routes = KCG_ORDERS_ROUTES,
};
