/*
 * despatch.c: flow 3, Khaos despatches into Mirakl (see despatch.h): the
 * despatch record, the Khaos reads (despatch.poll by date range,
 * despatch.check by reference) and what their answer decides, in the
 * transaction that commits it; the flow's keys and its struct.
 */
#include "despatch_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/orders.h"
#include "kcgate/log.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/mirakl.h"

/* ---- the record ---- */

json_t *despatch_get(struct kcg_txn *t, const char *order_id, int *rc)
{
	json_t *d = NULL;
	*rc = kcg_txn_get_json(t, DB_DESPATCH, order_id, strlen(order_id), &d);
	if (*rc == KCG_ENOTFOUND || (*rc == 0 && !json_is_object(d))) {
		json_decref(d);
		*rc = 0;
		return NULL;
	}
	return *rc == 0 ? d : NULL;
}

int despatch_put(struct kcg_txn *t, json_t *d)
{
	const char *id = kcg_json_str(d, "order_id");
	json_object_set_new(d, "updated_ms", json_integer((json_int_t)t->now_ms));
	return kcg_txn_put_json(t, DB_DESPATCH, id, strlen(id), d);
}

json_t *despatch_load(struct kcg_txn *t, const char *order_id, int *rc)
{
	json_t *d = despatch_get(t, order_id, rc);
	if (!d && *rc == 0) {
		d = despatch_new(order_id, "");
		*rc = d ? 0 : -ENOMEM;
	}
	return d;
}

json_t *despatch_new(const char *order_id, const char *ref)
{
	return json_pack("{s:s, s:s, s:s, s:[], s:[]}", "order_id", order_id, "ref", ref, "state", ST_WAITING, "units_sent",
			 "units_queued");
}

int despatch_finish(struct kcg_txn *t, json_t *d, const char *state)
{
	const char *id = kcg_json_str(d, "order_id");
	json_object_set_new(d, "state", json_string(state));
	json_object_set_new(d, "finished_ms", json_integer((json_int_t)t->now_ms));
	int rc = kcg_store_retain(t, DB_DESPATCH, id, strlen(id), t->now_ms);
	/* the parked jobs' dead_job exceptions end with the despatch */
	size_t i;
	const json_t *j;
	json_array_foreach(json_object_get(d, "parked_jobs"), i, j) {
		if (rc == 0 && json_is_string(j))
			rc = kcg_exc_resolve(t, KCG_EXC_DEAD_JOB, json_string_value(j), "auto");
		if (rc == KCG_ENOTFOUND)
			rc = 0;
	}
	json_object_del(d, "parked_jobs");
	/* the despatch ended (shipped, or nothing more to ship): no deadline
	 * to keep, no carrier to map */
	static const char *const moot[] = { KCG_EXC_SHIPPING_DEADLINE, KCG_EXC_UNMAPPED_CARRIER, KCG_EXC_DESPATCH_SHORT };
	for (i = 0; rc == 0 && i < sizeof(moot) / sizeof(moot[0]); i++) {
		rc = kcg_exc_resolve(t, moot[i], id, "auto");
		if (rc == KCG_ENOTFOUND)
			rc = 0;
	}
	return rc;
}

/* A despatch record still at the end it reached at @p finished_ms goes. */
static int expire(struct kcg_txn *t, const void *key, size_t key_len, uint64_t finished_ms)
{
	char id[DESPATCH_ORDER_ID_MAX + 1];
	int rc;
	if (key_len > DESPATCH_ORDER_ID_MAX)
		return KCG_ENOTFOUND;
	memcpy(id, key, key_len);
	id[key_len] = '\0';
	json_t *d = despatch_get(t, id, &rc);
	bool same = d && kcg_json_u64(d, "finished_ms") == finished_ms;
	json_decref(d);
	if (rc != 0 || !same)
		return rc ? rc : KCG_ENOTFOUND;
	MDB_val k = { key_len, id };
	return mdb_del(t->txn, kcg_store_db(t->store, DB_DESPATCH), &k, NULL);
}

static const struct kcg_retention_owner despatch_retention = { DB_DESPATCH, expire };

json_t *despatch_sh21(struct kcg_txn *t, uint64_t *fetched_ms)
{
	json_t *c = NULL;
	*fetched_ms = 0;
	if (kcg_txn_get_json(t, DB_DESPATCH_CARRIERS, SH21_KEY, strlen(SH21_KEY), &c) != 0)
		return NULL;
	*fetched_ms = kcg_json_u64(c, "fetched_ms");
	json_t *list = json_incref(json_object_get(c, "carriers"));
	json_decref(c);
	return list;
}

int despatch_raise(struct kcg_txn *t, const char *kind, const char *system, const char *order_id, const char *msg)
{
	struct kcg_exc exc = {
		.kind = kind, .severity = KCG_SEV_CRITICAL, .system = system, .owner = "operations",
		.subject = order_id, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

int despatch_shipped_cancelled(struct kcg_txn *t, const char *order_id, const char *consignment, const char *courier,
			       const char *mirakl_state)
{
	char msg[900];
	snprintf(msg, sizeof(msg),
		 "Khaos shipped Mirakl order %s (consignment %.100s, courier %.100s) but Mirakl says the order is %.40s: "
		 "the customer will not be charged for goods on their way. Recall the parcel from the courier, or "
		 "settle it with the customer and the marketplace (refund or new order).",
		 order_id, consignment, courier, mirakl_state);
	int rc = despatch_raise(t, KCG_EXC_SHIPPED_CANCELLED, "mirakl", order_id, msg);
	/* "stop the despatch" (booked_cancelled) is moot once the parcel left */
	if (rc == 0)
		rc = kcg_exc_resolve(t, KCG_EXC_BOOKED_CANCELLED, order_id, "auto");
	return rc == KCG_ENOTFOUND ? 0 : rc;
}

/* Whether @p id's order record exists and was booked under @p ref (a
 * record without "khaos_ref" only under @p current, the ref the current
 * prefix gives); *@p rec gets it. */
static bool booked_under(struct kcg_txn *t, const char *id, const char *ref, bool current, json_t **rec)
{
	if (!*id || strlen(id) > DESPATCH_ORDER_ID_MAX || kcg_orders_record(t, id, rec) != 0 || !json_is_object(*rec)) {
		json_decref(*rec);
		*rec = NULL;
		return false;
	}
	const char *kept = kcg_json_str(*rec, "khaos_ref");
	if (*kept ? strcmp(kept, ref) == 0 : current)
		return true;
	json_decref(*rec);
	*rec = NULL;
	return false;
}

const char *despatch_order_of(struct kcg_txn *t, const struct kcg_config *cfg, const char *ref, char *id, json_t **rec)
{
	const char *prefix = cfg->khaos.order_ref_prefix ? cfg->khaos.order_ref_prefix : "";
	size_t n = strlen(prefix), len = strlen(ref);
	*rec = NULL;
	if (strncmp(ref, prefix, n) == 0 && len - n <= DESPATCH_ORDER_ID_MAX) {
		memcpy(id, ref + n, len - n + 1);
		if (booked_under(t, id, ref, true, rec))
			return id;
	}
	/* booked under another prefix (the setting changed since): the order
	 * record keeps the ref it was booked under, so each tail of the ref
	 * is a candidate order id, accepted only when its record says it was
	 * booked under this very ref (at most 64 keyed reads, refs being
	 * bounded by KCG_KHAOS_CODE_MAX) */
	for (size_t k = 0; k < len; k++) {
		if (k == n || len - k > DESPATCH_ORDER_ID_MAX)
			continue;
		memcpy(id, ref + k, len - k + 1);
		if (booked_under(t, id, ref, false, rec))
			return id;
	}
	return NULL;
}

/* Notes a courier Khaos wrote (GET /admin/carriers shows them); @p count:
 * one more despatch (a unit first seen), not a mere sighting. */
static int note_courier(struct kcg_txn *t, const char *courier, bool count)
{
	json_t *c = NULL;
	if (!*courier || strlen(courier) > KCG_DESPATCH_TEXT_MAX)
		return 0;
	int rc = kcg_txn_get_json(t, DB_DESPATCH_COURIERS, courier, strlen(courier), &c);
	if (rc != 0 && rc != KCG_ENOTFOUND)
		return rc;
	uint64_t n = kcg_json_u64(c, "seen");
	json_decref(c);
	c = json_pack("{s:I, s:I}", "seen_ms", (json_int_t)t->now_ms, "seen", (json_int_t)(n + (count ? 1 : 0)));
	rc = c ? kcg_txn_put_json(t, DB_DESPATCH_COURIERS, courier, strlen(courier), c) : -ENOMEM;
	json_decref(c);
	return rc;
}

/* The unit's tracking as sent to Mirakl's jobs. */
static json_t *unit_payload(const json_t *u)
{
	return json_pack("{s:s, s:s, s:s, s:O}", "courier", kcg_json_str(u, "courier"), "consignment",
			 kcg_json_str(u, "consignment"), "tracking_url", kcg_json_str(u, "tracking_url"), "items",
			 json_object_get(u, "items") ? json_object_get(u, "items") : json_null());
}

/* Shipments mode: each shipped unit not sent nor queued goes to ST01. */
static int queue_shipments(struct kcg_txn *t, json_t *d, const json_t *k, const char *id, bool all_sent)
{
	size_t i;
	const json_t *u;
	json_t *queued = json_object_get(d, "units_queued");
	int rc = 0;
	json_array_foreach(json_object_get(k, "units"), i, u) {
		/* a unit is its invoice and box: two boxes may share a consignment ref */
		const char *key = kcg_json_str(u, "key");
		if (!json_is_true(json_object_get(u, "shipped")) || !*key || despatch_unit_listed(queued, u))
			continue;
		/* the units before it alike (same consignment ref and items): ST11
		 * tells this one's shipment from theirs by counting */
		size_t twin = 0, j;
		const json_t *v;
		json_array_foreach(json_object_get(k, "units"), j, v) {
			if (j >= i)
				break;
			if (json_is_true(json_object_get(v, "shipped")) &&
			    !strcmp(kcg_json_str(v, "consignment"), kcg_json_str(u, "consignment")) &&
			    json_equal(json_object_get(v, "items"), json_object_get(u, "items")))
				twin++;
		}
		char subject[KCG_JOB_SUBJECT_MAX];
		snprintf(subject, sizeof(subject), "%s/%zu", id, json_array_size(queued) + 1);
		json_t *payload = unit_payload(u);
		if (payload) {
			json_object_set_new(payload, "order_id", json_string(id));
			json_object_set_new(payload, "unit_key", json_string(key));
			json_object_set_new(payload, "twin", json_integer((json_int_t)twin));
		}
		rc = payload ? kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "despatch.shipment", subject, payload, 0, NULL) : -ENOMEM;
		json_decref(payload);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
		if (rc != 0)
			return rc;
		json_array_append_new(queued, json_string(key));
	}
	json_object_set_new(d, "all_sent", json_boolean(all_sent));
	if (strcmp(kcg_json_str(d, "state"), ST_PARKED) != 0) /* a parked one waits for the reload */
		json_object_set_new(d, "state", json_string(ST_PARTIAL));
	return rc;
}

/* The records say shipped, with @p unit's tracking, without a call to
 * Mirakl (it knows already); takes @p d and @p rec. */
static int shipped_without_call(struct kcg_txn *t, const char *id, const json_t *unit, json_t *d, json_t *rec)
{
	json_t *tr = json_pack("{s:s, s:s}", "tracking_number", unit ? kcg_json_str(unit, "consignment") : "",
			       "khaos_courier", unit ? kcg_json_str(unit, "courier") : "");
	int rc = tr ? despatch_mark_shipped(t, id, tr) : -ENOMEM;
	json_decref(tr);
	json_decref(d);
	json_decref(rec);
	return rc;
}

/* Khaos says all issued (COMPLETE) while Mirakl lines were never sent: no
 * OR24 (it would ship them), a person decides. */
static int despatch_short(struct kcg_txn *t, const json_t *k, const json_t *order, const char *id)
{
	char msg[1500], list[600] = "";
	json_t *unsent = kcg_despatch_unsent(k, order);
	size_t i, n = 0;
	const json_t *l;
	if (!unsent)
		return -ENOMEM;
	json_array_foreach(unsent, i, l) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", json_string_value(l));
		if (w < 0 || (size_t)w >= sizeof(list) - n)
			break;
		n += (size_t)w;
	}
	json_decref(unsent);
	snprintf(msg, sizeof(msg),
		 "Khaos sales order %.64s says Mirakl order %s is complete (all issued), but these Mirakl lines were "
		 "never sent: %s. kcgate does not confirm the shipment (OR24 would ship the unsent lines too). Either "
		 "send the rest from Khaos, or refuse/cancel those lines on Mirakl (the customer is refunded); the "
		 "despatch then goes on by itself.",
		 kcg_json_str(k, "code"), id, list);
	return despatch_raise(t, KCG_EXC_DESPATCH_SHORT, "khaos", id, msg);
}

/* What one ORDER_STATUS of Khaos's answer (@p k) decides, in @p t. */
static int take(struct kcg_txn *t, const struct kcg_config *cfg, const json_t *k)
{
	char idbuf[DESPATCH_ORDER_ID_MAX + 1], msg[900];
	json_t *rec;
	const char *ref = kcg_json_str(k, "ref");
	const char *id = despatch_order_of(t, cfg, ref, idbuf, &rec);
	if (!id)
		return 0; /* not an order kcgate booked */
	if (*kcg_json_str(k, "oversized")) {
		/* past the parser's caps: this order skipped, every other read */
		snprintf(msg, sizeof(msg),
			 "Khaos sales order %.64s (Mirakl order %s) has more invoices, boxes or items than kcgate reads "
			 "(%.300s): its despatch is not read and nothing is sent to Mirakl for it. Confirm the shipment "
			 "on Mirakl by hand (tracking, then ship), then resolve this.",
			 kcg_json_str(k, "code"), id, kcg_json_str(k, "oversized"));
		int r = kcg_exc_is_open(t, KCG_EXC_DESPATCH_UNREADABLE, id)
				? 0
				: despatch_raise(t, KCG_EXC_DESPATCH_UNREADABLE, "khaos", id, msg);
		json_decref(rec);
		return r;
	}
	int rc = note_courier(t, kcg_json_str(k, "courier"), false);
	size_t i;
	const json_t *u;
	json_t *d = rc == 0 ? despatch_get(t, id, &rc) : NULL;
	if (rc == 0 && !d)
		d = despatch_new(id, ref);
	if (!d) {
		json_decref(rec);
		return rc ? rc : -ENOMEM;
	}
	/* each shipped unit counts once for its courier, however often polls see it */
	json_t *noted = json_object_get(d, "units_noted");
	if (!json_is_array(noted)) {
		noted = json_array();
		json_object_set_new(d, "units_noted", noted);
	}
	json_array_foreach(json_object_get(k, "units"), i, u) {
		if (rc != 0 || !json_is_true(json_object_get(u, "shipped")))
			continue;
		bool fresh = *kcg_json_str(u, "key") && !despatch_listed(noted, kcg_json_str(u, "key")) &&
			     json_array_size(noted) < KCG_KHAOS_UNITS_MAX;
		rc = note_courier(t, kcg_json_str(u, "courier"), fresh);
		if (fresh)
			json_array_append_new(noted, json_string(kcg_json_str(u, "key")));
	}
	json_object_set_new(d, "checked_ms", json_integer((json_int_t)t->now_ms));
	const char *state = kcg_json_str(d, "state");
	int ost = kcg_order_state_parse(kcg_json_str(rec, "state"));
	const char *mstate = kcg_json_str(rec, "mirakl_state");
	const json_t *order = json_object_get(rec, "order");
	bool withdrawn = (ost >= 0 && kcg_order_state_final((enum kcg_order_state)ost) && ost != KCG_ORDER_CLOSED) ||
			 strcmp(mstate, "CANCELED") == 0 || strcmp(mstate, "REFUSED") == 0;
	bool booked = ost == KCG_ORDER_BOOKED || ost == KCG_ORDER_SHIPPED;
	if (rc == 0 && ost == KCG_ORDER_ACCEPTED && !withdrawn &&
	    !json_is_true(json_object_get(k, "cancelled")) && *kcg_json_str(k, "code") && kcg_despatch_unit(k)) {
		/* booked by hand in Khaos (the runbook's remedy when kcgate could
		 * not book an accepted order): Khaos's answer proves the sales
		 * order; the order flow records it, and the despatch goes on as
		 * for any booked order */
		rc = kcg_orders_booked_by_hand(t, id, ref, kcg_json_str(k, "code"));
		booked = rc == 0;
	}
	enum kcg_despatch_mode mode = json_is_true(json_object_get(d, "no_st01")) ? KCG_DESPATCH_MODE_ORDER : cfg->despatch.mode;
	enum kcg_despatch_next next = kcg_despatch_next(mode, k, order, json_object_get(d, "units_sent"));
	const json_t *unit = kcg_despatch_unit(k);
	if (json_array_size(json_object_get(k, "problems")))
		json_object_set(d, "khaos_problems", json_object_get(k, "problems"));

	if (rc == 0 && booked && !withdrawn && json_is_true(json_object_get(k, "complete")) && kcg_despatch_unit(k) &&
	    !json_is_true(json_object_get(k, "cancelled")) && strcmp(state, ST_SHIPPED) != 0 &&
	    !kcg_despatch_all_sent(k, order) && !kcg_exc_is_open(t, KCG_EXC_DESPATCH_SHORT, id))
		rc = despatch_short(t, k, order, id);
	if (rc != 0 || !strcmp(state, ST_SHIPPED) || !strcmp(state, ST_SHIPPED_CANCELLED) || next == KCG_DESPATCH_NOTHING) {
		/* finished, or nothing despatched yet */
	} else if (next == KCG_DESPATCH_KHAOS_CANCELLED) {
		if (strcmp(state, ST_KHAOS_CANCELLED) != 0 && !withdrawn && !kcg_mirakl_state_shipped(mstate) &&
		    ost != KCG_ORDER_SHIPPED) {
			snprintf(msg, sizeof(msg),
				 "Khaos sales order %s (associated ref %s) is cancelled in Khaos, but Mirakl order %s is "
				 "still %s and expects to be shipped. Ship it from Khaos after all (un-cancel or re-book), "
				 "or cancel it on Mirakl (the customer is refunded); either way the two must agree.",
				 kcg_json_str(k, "code"), ref, id, *mstate ? mstate : "open");
			rc = despatch_raise(t, KCG_EXC_KHAOS_CANCELLED, "khaos", id, msg);
		}
		/* cancelled in Khaos: nothing will ship (an exception if Mirakl disagrees) */
		if (rc == 0 && strcmp(state, ST_KHAOS_CANCELLED) != 0)
			rc = despatch_finish(t, d, ST_KHAOS_CANCELLED);
	} else if (withdrawn) {
		rc = despatch_shipped_cancelled(t, id, unit ? kcg_json_str(unit, "consignment") : "",
						unit ? kcg_json_str(unit, "courier") : "", *mstate ? mstate : "cancelled");
		if (rc == 0)
			rc = despatch_finish(t, d, ST_SHIPPED_CANCELLED);
	} else if (!booked) {
		/* shipped before kcgate booked it (not through kcgate): leave it */
	} else if (kcg_mirakl_state_shipped(mstate) && next != KCG_DESPATCH_SHIPMENTS) {
		/* Mirakl shipped already (by hand, or an earlier run): record it */
		return shipped_without_call(t, id, unit, d, rec);
	} else if (next == KCG_DESPATCH_SHIPMENTS) {
		rc = queue_shipments(t, d, k, id, kcg_despatch_all_sent(k, order));
	} else if (next == KCG_DESPATCH_SHIP && mode == KCG_DESPATCH_MODE_SHIPMENTS) {
		/* every unit sent by ST01 and every line shipped: done */
		return shipped_without_call(t, id, unit, d, rec);
	} else if (next == KCG_DESPATCH_SHIP && strcmp(state, ST_SENDING) != 0 && strcmp(state, ST_PARKED) != 0) {
		json_t *payload = unit_payload(unit);
		rc = payload ? kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "despatch.ship", id, payload, 0, NULL) : -ENOMEM;
		if (rc == KCG_EDUPLICATE)
			rc = 0;
		json_object_set(d, "unit", payload);
		json_decref(payload);
		json_object_set_new(d, "state", json_string(ST_SENDING));
	} else if (next == KCG_DESPATCH_PARTIAL && strcmp(state, ST_SENDING) != 0 && strcmp(state, ST_PARKED) != 0) {
		json_object_set_new(d, "state", json_string(ST_PARTIAL));
	}
	if (rc == 0)
		rc = despatch_put(t, d);
	json_decref(d);
	json_decref(rec);
	return rc;
}

/* ---- despatch.poll: the date-range read, one call per poll ---- */

static int poll_state_fn(struct kcg_txn *t, void *arg)
{
	*(uint64_t *)arg = kcg_meta_get_u64(t, WATERMARK);
	return 0;
}

static int take_all(struct kcg_txn *t, struct kcg_job_run *run)
{
	const struct kcg_config *cfg = ((struct kcg_flow_ctx *)run->ctx)->cfg;
	size_t i;
	json_t *k;
	json_array_foreach(json_object_get(run->result, "orders"), i, k) {
		int rc = take(t, cfg, k);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int poll_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	if (!json_object_get(run->result, "orders"))
		return 0; /* failed: the watermark stays */
	int rc = take_all(t, run);
	/* committed with what it read: the next poll starts from here */
	if (rc == 0)
		rc = kcg_meta_put_u64(t, WATERMARK, kcg_json_u64(run->result, "to"));
	if (rc == 0 && json_is_true(json_object_get(run->result, "more"))) {
		/* catching up (kcgate or Khaos was down): the next window now */
		rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "despatch.poll", "range", NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	return rc;
}

/* Reads Khaos's answer into run->result "orders"; the apply does the rest. */
static enum kcg_step read_answer(struct kcg_job_run *run, struct kcg_flow_ctx *flow,
				 int (*apply)(struct kcg_txn *, struct kcg_job_run *))
{
	char why[KCG_ERROR_MAX];
	json_t *orders;
	int rc = kcg_khaos_despatch_parse(&flow->cfg->khaos, &run->reply, &orders, why);
	if (rc != 0)
		return kcg_job_failed(run, rc, why);
	json_object_set_new(run->result, "orders", orders);
	run->apply = apply;
	return KCG_STEP_DONE;
}

static enum kcg_step poll_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	const struct kcg_despatch_config *dc = &flow->cfg->despatch;
	if (run->phase != PH_START)
		return read_answer(run, flow, poll_apply);
	if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
		return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
	uint64_t mark = 0;
	if (kcg_store_read(flow->store, poll_state_fn, &mark) != 0)
		return kcg_job_failed(run, -EAGAIN, "cannot read the despatch watermark");
	/* whole seconds: Khaos's DateTime has none finer */
	uint64_t now = kcg_now_ms() / 1000u * 1000u, overlap = dc->poll_overlap_s * 1000u;
	uint64_t back = dc->first_lookback_h * 3600000u;
	uint64_t from = mark ? (mark > overlap ? mark - overlap : 0) : (now > back ? now - back : 0);
	if (from >= now)
		from = now - 1000u;
	/* a long outage is read back in windows, one answer at a time */
	uint64_t to = now - from > DESPATCH_WINDOW_MAX_MS ? from + DESPATCH_WINDOW_MAX_MS : now;
	run->result = json_pack("{s:I, s:I, s:b}", "from", (json_int_t)from, "to", (json_int_t)to, "more", to < now);
	if (!run->result)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->phase = PH_READ;
	struct kcg_khaos_status_query q = { NULL, from, to };
	return kcg_job_call(run, kcg_khaos_despatch_status(&flow->cfg->khaos, &q, &run->call));
}

/* ---- despatch.check: booked orders by reference (the safety net) ---- */

static int check_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	int rc = json_object_get(run->result, "orders") ? take_all(t, run) : 0;
	/* refs Khaos did not return were looked at too: not again before recheck_h */
	size_t i;
	json_t *id;
	json_array_foreach(json_object_get(run->payload, "order_ids"), i, id) {
		if (rc != 0 || !json_is_string(id) || strlen(json_string_value(id)) > DESPATCH_ORDER_ID_MAX)
			continue;
		json_t *d = despatch_get(t, json_string_value(id), &rc);
		if (d) {
			json_object_set_new(d, "checked_ms", json_integer((json_int_t)t->now_ms));
			rc = despatch_put(t, d);
		}
		json_decref(d);
	}
	return rc;
}

static enum kcg_step check_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	if (run->phase != PH_START)
		return read_answer(run, flow, check_apply);
	const char *refs = kcg_json_str(run->payload, "refs");
	if (!*refs)
		return KCG_STEP_DONE;
	if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
		return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
	run->result = json_object();
	run->phase = PH_READ;
	struct kcg_khaos_status_query q = { refs, 0, 0 };
	return kcg_job_call(run, kcg_khaos_despatch_status(&flow->cfg->khaos, &q, &run->call));
}

/* ---- the flow ---- */

static bool despatch_enabled(const struct kcg_config *cfg)
{
	return cfg->despatch.enabled && cfg->mirakl.base_url && cfg->khaos.soap_url;
}

static void despatch_checks(struct kcg_config_check *c, const struct kcg_config *cfg)
{
	/* the overlap must leave each poll a window of its own */
	if (cfg->despatch.poll_interval_s && cfg->despatch.poll_overlap_s >= 86400 &&
	    kcg_config_line(c, &cfg->despatch.poll_overlap_s))
		kcg_config_error(c, &cfg->despatch.poll_overlap_s, "must be less than a day");
}

static const struct kcg_config_choice mode_choices[] = {
	{ "order", KCG_DESPATCH_MODE_ORDER },
	{ "shipments", KCG_DESPATCH_MODE_SHIPMENTS },
	{ NULL, 0 },
};

static const struct kcg_config_choice bool_choices[] = {
	{ "true", 1 },
	{ "false", 0 },
	{ NULL, 0 },
};

static const struct kcg_config_key despatch_keys[] = {
	KCG_KEY_ENUM("despatch", "enabled", despatch.enabled, "true", bool_choices),
	/* one ExportOrderStatusEx by date range per poll; KSD recommend a time buffer [WIG p.27] */
	KCG_KEY_U64("despatch", "poll_interval_s", despatch.poll_interval_s, "60", 1, 86400),
	KCG_KEY_U64("despatch", "poll_overlap_s", despatch.poll_overlap_s, "300", 0, 86399),
	KCG_KEY_U64("despatch", "first_lookback_h", despatch.first_lookback_h, "72", 1, 8760),
	/* the safety net: booked orders no poll covered for this long, by ref */
	KCG_KEY_U64("despatch", "recheck_h", despatch.recheck_h, "6", 1, 720),
	KCG_KEY_U64("despatch", "recheck_batch", despatch.recheck_batch, "50", 1, DESPATCH_REFS_MAX),
	KCG_KEY_ENUM("despatch", "mode", despatch.mode, "order", mode_choices),
	KCG_KEY_U64("despatch", "deadline_alert_h", despatch.deadline_alert_h, "12", 1, 720),
	/* the watch: SH21's age, the safety net, shipping_deadline */
	KCG_KEY_U64("despatch", "watch_interval_s", despatch.watch_interval_s, "60", 1, 3600),
	/* Khaos courier (as Khaos writes it) -> Mirakl carrier code or name:<name>[|<url>]; SIGHUP reloads */
	KCG_KEY_MAP_FREE("carriers", despatch.carriers, kcg_despatch_check_carrier),
};

static const struct kcg_config_keys despatch_config = {
	despatch_keys, sizeof(despatch_keys) / sizeof(despatch_keys[0]), despatch_checks
};

static const struct kcg_job_kind kind_poll = { "despatch.poll", KCG_LANE_KHAOS, poll_step, NULL };
static const struct kcg_job_kind kind_check = { "despatch.check", KCG_LANE_KHAOS, check_step, NULL };
static const struct kcg_job_kind kind_ship = { "despatch.ship", KCG_LANE_MIRAKL, despatch_ship_step, NULL };
static const struct kcg_job_kind kind_shipment = { "despatch.shipment", KCG_LANE_MIRAKL, despatch_shipment_step, NULL };
static const struct kcg_job_kind kind_carriers = { "mirakl.carriers", KCG_LANE_MIRAKL, despatch_carriers_step, NULL };
static const struct kcg_job_kind kind_sop = { "khaos.couriers", KCG_LANE_KHAOS, despatch_sop_step, NULL };

const struct kcg_flow kcg_flow_despatch = {
	.name = "despatch",
	.enabled = despatch_enabled,
	.dbs = (const char *const[]){ DB_DESPATCH, DB_DESPATCH_CARRIERS, DB_DESPATCH_COURIERS, NULL },
	.config = &despatch_config,
	.kinds = (const struct kcg_job_kind *const[]){ &kind_poll, &kind_check, &kind_ship, &kind_shipment,
						       &kind_carriers, &kind_sop, NULL },
	.timers = despatch_timers,
	.on_reload = despatch_reload,
	.retention = &despatch_retention,
	.routes = despatch_routes,
	.n_routes = DESPATCH_ROUTES,
};
