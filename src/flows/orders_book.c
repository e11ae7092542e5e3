/*
 * orders_book.c: the order.book step. At the booking point it reads the
 * order fresh (OR11 by order_ids), asks Khaos whether it has the order
 * (ExportOrderStatusEx, always first: an earlier attempt or a crash may
 * have booked it), and only then maps and imports it (ImportOrders). An
 * outcome it cannot read is read back, never imported again; a refusal, a
 * ref too long, money that does not add up or an unmapped shipping method
 * end the job with the exception that tells a person what to fix.
 */
#include "orders_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/order_map.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/mirakl.h"

/* The order's Khaos ASSOCIATED_REF: [khaos] order_ref_prefix + order id.
 * False when it is longer than Khaos takes (or than @p ref holds). */
static bool khaos_ref(const struct kcg_config *cfg, const char *order_id, char ref[ORDER_ID_MAX + 64])
{
	const char *prefix = cfg->khaos.order_ref_prefix ? cfg->khaos.order_ref_prefix : "";
	int n = snprintf(ref, ORDER_ID_MAX + 64, "%s%s", prefix, order_id);
	return n >= 0 && n < ORDER_ID_MAX + 64 && kcg_utf8_chars(ref) <= KCG_KHAOS_REF_MAX;
}

/* The associated ref the order is booked under: fixed the first time it is
 * to be booked (kept in the record and the booking job), so a change of
 * [khaos] order_ref_prefix never makes a retry ask for, and import under, a
 * second ref. */
const char *orders_booking_ref(const struct kcg_config *cfg, json_t *rec, const char *order_id,
			       char ref[ORDER_ID_MAX + 64])
{
	const char *kept = kcg_json_str(rec, "khaos_ref");
	if (*kept && strlen(kept) < ORDER_ID_MAX + 64) {
		memcpy(ref, kept, strlen(kept) + 1);
		return ref;
	}
	khaos_ref(cfg, order_id, ref); /* a ref too long is refused by the booking step */
	json_object_set_new(rec, "khaos_ref", json_string(ref));
	return ref;
}

/* The exceptions a booking ends. */
static const char *const booked_ends[] = { KCG_EXC_MISSING_IN_KHAOS, KCG_EXC_ADDRESS_MISSING, KCG_EXC_KHAOS_REJECTED,
					   KCG_EXC_PRICE_MISMATCH, KCG_EXC_UNMAPPED_SHIPPING_METHOD,
					   KCG_EXC_ORDER_UNBOOKABLE };

static int resolve_booked_ends(struct kcg_txn *t, const char *id)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(booked_ends) / sizeof(booked_ends[0]); i++)
		rc = kcg_exc_resolve(t, booked_ends[i], id, "auto");
	return rc;
}

int kcg_orders_booked_by_hand(struct kcg_txn *t, const char *order_id, const char *ref, const char *code)
{
	bool created;
	if (!*code || strlen(code) >= KCG_KHAOS_CODE_MAX)
		return 0;
	json_t *rec = orders_load(t, order_id, &created);
	if (!rec)
		return -ENOMEM;
	enum kcg_order_state state = orders_state_of(rec);
	int rc = 0;
	if (!created && !kcg_order_state_booked(state) && !kcg_order_state_final(state)) {
		json_object_set_new(rec, "sales_order_code", json_string(code));
		if (!*kcg_json_str(rec, "khaos_ref"))
			json_object_set_new(rec, "khaos_ref", json_string(ref));
		json_object_set_new(rec, "booked_by_hand", json_true());
		json_object_del(rec, "stuck_job");
		json_object_del(rec, "import_fault");
		orders_set_state(rec, KCG_ORDER_BOOKED);
		orders_set_time(rec, "booked_at", t->now_ms);
		rc = resolve_booked_ends(t, order_id);
		if (rc == 0)
			rc = orders_save(t, rec);
	}
	json_decref(rec);
	return rc;
}

/* order.book: booked (result "code"), or what the fresh read said (result "order"). */
static int book_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	json_t *order = json_object_get(run->result, "order");
	const char *code = kcg_json_str(run->result, "code");
	if (!*code)
		return order ? orders_decide(t, cfg, order) : 0; /* not at its booking point after all */
	bool created;
	json_t *rec = orders_load(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	int rc = 0;
	enum kcg_order_state state = orders_state_of(rec);
	json_object_del(rec, "stuck_job");
	json_object_del(rec, "import_fault");
	json_object_set_new(rec, "sales_order_code", json_string(code));
	const json_t *stored = json_object_get(rec, "order");
	if (order && !(stored && orders_updated_ms(stored) > orders_updated_ms(order)))
		orders_take_snapshot(cfg, rec, order); /* never over a newer one a sync stored meanwhile */
	if (!kcg_order_state_booked(state) && !kcg_order_state_final(state)) {
		orders_set_state(rec, KCG_ORDER_BOOKED);
		orders_set_time(rec, "booked_at", t->now_ms);
		/* lines withdrawn before the booking were left out of it: only
		 * those withdrawn after it are Khaos's problem */
		json_t *gone = order ? kcg_order_lines_withdrawn(order) : NULL;
		if (gone && json_array_size(gone) > 0)
			json_object_set(rec, "withdrawn_lines", gone);
		json_decref(gone);
		rc = resolve_booked_ends(t, run->subject);
	} else if (kcg_order_state_final(state) && state != KCG_ORDER_CLOSED) {
		/* Mirakl withdrew it while kcgate booked it */
		rc = orders_raise_booked_cancelled(t, rec, state == KCG_ORDER_CANCELLED ? "cancelled" : "refused", NULL);
	}
	if (rc == 0)
		rc = orders_save(t, rec);
	json_decref(rec);
	/* what happened on Mirakl meanwhile (shipped, lines withdrawn) */
	if (rc == 0 && order && !kcg_order_state_final(state))
		rc = orders_decide(t, cfg, order);
	return rc;
}

static enum kcg_step booked(struct kcg_job_run *run, const char *code)
{
	json_object_set_new(run->result, "code", json_string(code));
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

/* order.book for an order that cannot be booked as it stands (the kind
 * in result "fault", the reason in "why"): not booked, a person told. An
 * unmapped shipping method waits for the map (SIGHUP retries it,
 * orders_reload()); a price mismatch or an unbookable order needs the
 * order looked at. */
static int map_failed_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const char *kind = kcg_json_str(run->result, "fault");
	const char *why = kcg_json_str(run->result, "why");
	char msg[KCG_ERROR_MAX + 600];
	struct kcg_exc exc = {
		.kind = kind, .severity = KCG_SEV_CRITICAL, .system = "mirakl", .owner = "operations",
		.subject = run->subject, .message = msg,
	};
	if (strcmp(kind, KCG_EXC_UNMAPPED_SHIPPING_METHOD) == 0) {
		exc.system = "kcgate";
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s is not booked in Khaos: %s. Add the code to [shipping_methods] (the Khaos "
			 "courier code) and reload the configuration (SIGHUP): the order is then booked by itself.",
			 run->subject, why);
	} else if (strcmp(kind, KCG_EXC_PRICE_MISMATCH) == 0) {
		exc.owner = "finance";
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s is not booked in Khaos: %s. kcgate books only what the customer paid, to the "
			 "penny. Check the order on Mirakl (prices, taxes, shipping); a tax code missing from "
			 "[khaos.tax_rates] is fixed there and by a reload (SIGHUP); otherwise book it by hand, or POST "
			 "/admin/jobs/%s/retry once Mirakl is right.",
			 run->subject, why, run->id);
	} else {
		snprintf(msg, sizeof(msg),
			 "Mirakl order %s is not booked in Khaos: %s. Nothing was sent to Khaos and nothing was cut "
			 "short. Book it in Khaos by hand, or POST /admin/jobs/%s/retry once the order on Mirakl can be "
			 "booked as it stands.",
			 run->subject, why, run->id);
	}
	return kcg_exc_raise(t, &exc, NULL);
}

/* Khaos answered ImportOrders with a Server fault, which FACTS.md §1.9 says
 * is also how it refuses an order's content (a discontinued item), and the
 * ask-first read had found nothing booked. A passing failure and a refusal
 * look alike, so the job retries; the same fault IMPORT_FAULTS_MAX times in
 * a row over at least [orders] import_refused_after_s is a refusal ("cap
 * the retries because stock errors will keep failing", FACTS.md §1.8): the
 * job dies and its dead hook raises khaos_rejected with Khaos's words. The
 * run of faults is kept in the record ("import_fault": why, count, first). */
#define IMPORT_FAULTS_MAX 3

static int import_fault_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	bool created;
	json_t *rec = orders_load(t, run->subject, &created);
	if (!rec)
		return -ENOMEM;
	json_object_set(rec, "import_fault", json_object_get(run->result, "import_fault"));
	int rc = orders_save(t, rec);
	json_decref(rec);
	return rc;
}

/* The run of identical ImportOrders faults, this one @p why counted in; a
 * refusal once it is long enough. */
static enum kcg_step import_fault(struct kcg_job_run *run, const struct kcg_config *cfg, const char *why)
{
	const json_t *seen = json_object_get(run->result, "seen_fault");
	bool same = strcmp(kcg_json_str(seen, "why"), why) == 0;
	uint64_t now = kcg_now_ms(), n = same ? kcg_json_u64(seen, "count") + 1 : 1;
	uint64_t first = same ? kcg_json_u64(seen, "first_ms") : now;
	json_object_set_new(run->result, "import_fault",
			    json_pack("{s:s, s:I, s:I}", "why", why, "count", (json_int_t)n, "first_ms", (json_int_t)first));
	run->apply = import_fault_apply;
	if (n >= IMPORT_FAULTS_MAX && now - first >= cfg->orders.import_refused_after_s * 1000u) {
		char r[KCG_ERROR_MAX + 100];
		snprintf(r, sizeof(r), "the same fault %" PRIu64 " times in a row over %" PRIu64 " s: %s", n,
			 (now - first) / 1000u, why);
		json_object_set_new(run->result, "rejected", json_string(r));
		snprintf(run->error, sizeof(run->error), "%s", why);
		return KCG_STEP_DEAD;
	}
	return kcg_job_failed(run, -EAGAIN, why);
}

/* The order cannot be booked as it stands: the job dies with its exception. */
static enum kcg_step map_failed(struct kcg_job_run *run, enum kcg_order_map_fault fault, const char *why)
{
	const char *kind = fault == KCG_ORDER_MAP_SHIPPING ? KCG_EXC_UNMAPPED_SHIPPING_METHOD
			   : fault == KCG_ORDER_MAP_PRICE || fault == KCG_ORDER_MAP_TAX_CODE ? KCG_EXC_PRICE_MISMATCH
											      : KCG_EXC_ORDER_UNBOOKABLE;
	json_object_set_new(run->result, "fault", json_string(kind));
	json_object_set_new(run->result, "why", json_string(why));
	snprintf(run->error, sizeof(run->error), "%s: %.150s", kind, why);
	run->apply = map_failed_apply;
	return KCG_STEP_DEAD;
}

enum kcg_step orders_book_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX], code[KCG_KHAOS_CODE_MAX], ref[ORDER_ID_MAX + 64];
	int rc;

	/* the ref fixed when the booking was decided (orders_booking_ref()); a job
	 * from before that computes it */
	const char *given = kcg_json_str(run->payload, "ref");
	bool too_long;
	if (*given && strlen(given) < sizeof(ref)) {
		memcpy(ref, given, strlen(given) + 1);
		too_long = kcg_utf8_chars(ref) > KCG_KHAOS_REF_MAX;
	} else {
		too_long = !khaos_ref(flow->cfg, run->subject, ref);
	}
	switch (run->phase) {
	case PH_START: {
		/* Only an order still to be booked: it may have been booked,
		 * held or withdrawn while this job waited. */
		json_t *rec = NULL;
		rc = kcg_orders_get(flow->store, run->subject, &rec);
		enum kcg_order_state st = rc == 0 ? orders_state_of(rec) : KCG_ORDER_SEEN;
		bool go = rc == 0 && (st == KCG_ORDER_SEEN || st == KCG_ORDER_ACCEPTED);
		/* the run of ImportOrders faults so far (import_fault()) */
		json_decref(run->result);
		run->result = json_object();
		if (rc == 0 && json_object_get(rec, "import_fault"))
			json_object_set(run->result, "seen_fault", json_object_get(rec, "import_fault"));
		/* withdrawn (or ended) with no sales order known: an earlier attempt
		 * may have sent ImportOrders and lost its answer (a crash, a time-out
		 * before the withdrawal): Khaos is asked, so a sales order it made is
		 * reported (booked_cancelled), never left to be shipped unseen */
		bool ended = rc == 0 && kcg_order_state_final(st) && !*kcg_json_str(rec, "sales_order_code");
		json_decref(rec);
		if (rc != 0 && rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, -EAGAIN, "cannot read the order record");
		if (ended && !too_long) {
			if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
				return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
			json_object_set_new(run->result, "withdrawn", json_true());
			run->phase = PH_STATUS;
			return kcg_job_call(run, kcg_khaos_order_status(&flow->cfg->khaos, ref, &run->call));
		}
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
		/* Book what Mirakl says now: address, lines and state fresh. */
		run->phase = PH_READ;
		return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, run->subject, &run->call));
	}
	case PH_READ: {
		json_t *order;
		rc = kcg_mirakl_or11_one_parse(&run->reply, run->subject, &order, why);
		if (rc != 0)
			return kcg_job_failed(run, rc == KCG_ENOTFOUND ? KCG_EPAYLOAD : rc, why);
		json_object_set_new(run->result, "order", order);
		if (kcg_order_next(KCG_ORDER_ACCEPTED, 0, flow->cfg->orders.book_when, order) != KCG_NEXT_BOOK) {
			/* withdrawn, or no address after all: the record follows. An
			 * earlier attempt may have sent ImportOrders before it was
			 * withdrawn (a lost answer, a crash): ask Khaos first, so a
			 * sales order it has is reported (booked_cancelled), never
			 * left to be shipped unseen. Whether an earlier attempt sent
			 * it is not known (a crash forgets), so always. */
			json_object_set_new(run->result, "withdrawn", json_true());
		}
		/* Always ask first: an earlier attempt (or a crash) may have booked
		 * it without us learning so. */
		run->phase = PH_STATUS;
		return kcg_job_call(run, kcg_khaos_order_status(&flow->cfg->khaos, ref, &run->call));
	}
	case PH_STATUS: {
		rc = kcg_khaos_order_status_parse(&flow->cfg->khaos, &run->reply, ref, code, NULL, why);
		if (rc == 0)
			return booked(run, code);
		if (rc != KCG_ENOTFOUND)
			return kcg_job_failed(run, rc, why);
		if (json_is_true(json_object_get(run->result, "withdrawn"))) {
			run->apply = book_apply; /* not in Khaos, and no longer to be booked */
			return KCG_STEP_DONE;
		}
		if (run->n_calls > 3) {
			/* ImportOrders said the ref exists, ExportOrderStatusEx says it
			 * does not: a person must look, with Khaos's own words */
			snprintf(run->error, sizeof(run->error),
				 "ImportOrders left %.20s unclear (%.80s); ExportOrderStatusEx does not find it: "
				 "a person must look in Khaos",
				 ref, kcg_json_str(run->result, "import_said"));
			json_object_set_new(run->result, "rejected", json_string(run->error));
			return KCG_STEP_DEAD;
		}
		run->phase = PH_IMPORT;
		struct kcg_khaos_sales_order so;
		/* the maps as they are now: a reload may swap them at any time */
		const struct kcg_order_map_config mc = {
			.shipping_methods = atomic_load(&flow->cfg->orders.shipping_methods),
			.tax_rates = atomic_load(&flow->cfg->orders.tax_rates),
		};
		enum kcg_order_map_fault fault;
		rc = kcg_order_map(json_object_get(run->result, "order"), &mc, &so, &fault, why);
		if (rc == 0) {
			free(so.associated_ref);
			so.associated_ref = strdup(ref);
			/* KCG_EPAYLOAD here: a value past a documented Khaos field limit */
			rc = so.associated_ref ? kcg_khaos_import_orders(&flow->cfg->khaos, &so, &run->call, why) : -ENOMEM;
		}
		kcg_khaos_sales_order_finish(&so);
		if (rc == KCG_EPAYLOAD)
			return map_failed(run, fault, why);
		if (rc == -EAGAIN)
			return kcg_job_failed(run, rc, why);
		return kcg_job_call(run, rc);
	}
	default:
		rc = kcg_khaos_import_parse(&flow->cfg->khaos, &run->reply, ref, code, why);
		if (rc == 0)
			return booked(run, code);
		if (rc == KCG_EDUPLICATE) {
			/* Khaos has it (skipped as a repeat) or may have it (an answer
			 * without a usable code): read its code, never import again. */
			json_object_set_new(run->result, "import_said", json_string(why));
			run->phase = PH_STATUS;
			return kcg_job_call(run, kcg_khaos_order_status(&flow->cfg->khaos, ref, &run->call));
		}
		if (rc == KCG_EPAYLOAD) /* Khaos said no: say why, to a person (the dead hook) */
			json_object_set_new(run->result, "rejected", json_string(why));
		if (rc == -EAGAIN && run->reply.transport_error == 0 && run->reply.status != 0 && strstr(why, "fault"))
			return import_fault(run, flow->cfg, why);
		return kcg_job_failed(run, rc, why);
	}
}
