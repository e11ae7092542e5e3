/*
 * despatch_ship.c: the despatch flow's Mirakl jobs. despatch.ship sends
 * OR23 (tracking) then OR24 (ship), exactly once: Mirakl has no
 * idempotency keys, so every run reads the order first (OR11 by
 * order_ids: a kill -9 raises no attempt count) and counts SHIPPED or
 * later as done, and a 400 from OR23 or OR24 reads the order to find out
 * why (still SHIPPING: parked or dead, never retried blindly).
 * despatch.shipment sends one ST01 shipment per box, ST11 read first.
 * mirakl.carriers reads SH21 into the cache.
 */
#include "despatch_private.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/orders.h"
#include "kcgate/peers/mirakl.h"

int despatch_mark_shipped(struct kcg_txn *t, const char *order_id, const json_t *tracking)
{
	int rc;
	json_t *d = despatch_load(t, order_id, &rc);
	if (!d)
		return rc;
	json_object_set(d, "tracking", (json_t *)tracking);
	json_object_set_new(d, "shipped_ms", json_integer((json_int_t)t->now_ms));
	json_object_del(d, "parked_jobs");
	rc = despatch_finish(t, d, ST_SHIPPED);
	if (rc == 0)
		rc = despatch_put(t, d);
	json_decref(d);
	if (rc == 0) /* despatch_finish() resolved shipping_deadline and unmapped_carrier */
		rc = kcg_orders_mark_shipped(t, order_id, tracking);
	return rc == KCG_ENOTFOUND ? 0 : rc;
}

/* What a step reads before it calls: the record, SH21, the order record. */
struct ship_read {
	const char *id;
	json_t *d, *sh21, *rec;
};

static int ship_read_fn(struct kcg_txn *t, void *arg)
{
	struct ship_read *r = arg;
	uint64_t fetched;
	int rc;
	r->d = despatch_get(t, r->id, &rc);
	r->sh21 = despatch_sh21(t, &fetched);
	if (rc == 0 && kcg_orders_record(t, r->id, &r->rec) != 0)
		r->rec = NULL;
	return rc;
}

static void ship_read_finish(struct ship_read *r)
{
	json_decref(r->d);
	json_decref(r->sh21);
	json_decref(r->rec);
}

static const char *order_of(const struct kcg_job_run *run)
{
	const char *id = kcg_json_str(run->payload, "order_id");
	return *id ? id : run->subject;
}

/* The job's record ends (shipped, shipped_cancelled): nothing to send. */
static bool finished(const json_t *d)
{
	const char *st = kcg_json_str(d, "state");
	return !strcmp(st, ST_SHIPPED) || !strcmp(st, ST_SHIPPED_CANCELLED) || !strcmp(st, ST_KHAOS_CANCELLED);
}

/* ---- unmapped carrier: the job dies, the order is parked ---- */

static int park_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const char *id = order_of(run);
	char msg[KCG_ERROR_MAX + 600];
	int rc;
	json_t *d = despatch_load(t, id, &rc);
	if (!d)
		return rc;
	json_object_set_new(d, "state", json_string(ST_PARKED));
	json_t *jobs = json_object_get(d, "parked_jobs");
	if (!json_is_array(jobs)) {
		jobs = json_array();
		json_object_set_new(d, "parked_jobs", jobs);
	}
	if (!despatch_listed(jobs, run->id)) /* every box parked in shipments mode */
		json_array_append_new(jobs, json_string(run->id));
	json_object_set_new(d, "parked_why", json_string(kcg_json_str(run->result, "why")));
	rc = despatch_put(t, d);
	json_decref(d);
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s is despatched in Khaos but not confirmed on Mirakl: %s. Add the courier to "
		 "[carriers] (a carrier code from GET /admin/carriers, or name:<carrier name> for a carrier Mirakl "
		 "does not register) and reload the configuration (SIGHUP): the despatch is then sent by itself.",
		 id, kcg_json_str(run->result, "why"));
	if (rc == 0)
		rc = despatch_raise(t, KCG_EXC_UNMAPPED_CARRIER, "kcgate", id, msg);
	/* unmapped_carrier says what to do and ends with the order (settle):
	 * the engine's dead_job for this parked job would only say it twice,
	 * and stay open after a cancel */
	if (rc == 0)
		rc = kcg_exc_resolve(t, KCG_EXC_DEAD_JOB, run->id, "auto");
	return rc == KCG_ENOTFOUND ? 0 : rc;
}

/* Maps the payload's courier into run->result ("carrier_code" |
 * "carrier_name" + "carrier_url", "tracking_number"); a step outcome when
 * it cannot (-1 when it can). */
static int map_carrier(struct kcg_job_run *run, struct kcg_flow_ctx *flow, const json_t *sh21)
{
	struct kcg_despatch_carrier c;
	char why[KCG_ERROR_MAX];
	const char *cons = kcg_json_str(run->payload, "consignment");
	int rc = kcg_despatch_carrier(atomic_load(&flow->cfg->despatch.carriers), sh21, kcg_json_str(run->payload, "courier"),
				      cons, kcg_json_str(run->payload, "tracking_url"), &c, why);
	if (rc == -EAGAIN)
		return kcg_job_failed(run, -EAGAIN, "waiting for Mirakl's carrier list (job mirakl.carriers, SH21)");
	if (rc != 0) {
		json_object_set_new(run->result, "why", json_string(why));
		snprintf(run->error, sizeof(run->error), "%s: %.150s", KCG_EXC_UNMAPPED_CARRIER, why);
		run->apply = park_apply;
		return KCG_STEP_DEAD;
	}
	json_t *tr = json_object();
	if (*c.code)
		json_object_set_new(tr, "carrier_code", json_string(c.code));
	if (*c.name)
		json_object_set_new(tr, "carrier_name", json_string(c.name));
	if (*c.url)
		json_object_set_new(tr, "carrier_url", json_string(c.url));
	json_object_set_new(tr, "tracking_number", json_string(cons));
	json_object_set_new(tr, "khaos_courier", json_string(kcg_json_str(run->payload, "courier")));
	json_object_set_new(run->result, "tracking", tr);
	return -1;
}

/* ---- the ends of a despatch ---- */

static int shipped_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	return despatch_mark_shipped(t, order_of(run), json_object_get(run->result, "tracking"));
}

static int withdrawn_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const char *id = order_of(run);
	int rc;
	json_t *d = despatch_get(t, id, &rc);
	if (rc != 0)
		return rc;
	if (d) {
		rc = despatch_finish(t, d, ST_SHIPPED_CANCELLED);
		if (rc == 0)
			rc = despatch_put(t, d);
		json_decref(d);
	}
	return rc ? rc
		  : despatch_shipped_cancelled(t, id, kcg_json_str(run->payload, "consignment"),
					       kcg_json_str(run->payload, "courier"), kcg_json_str(run->result, "mirakl_state"));
}

static enum kcg_step read_order(struct kcg_job_run *run, struct kcg_flow_ctx *flow, int phase)
{
	run->phase = phase;
	return kcg_job_call(run, kcg_mirakl_or11_one(&flow->cfg->mirakl, order_of(run), &run->call));
}

static enum kcg_step send_tracking(struct kcg_job_run *run, struct kcg_flow_ctx *flow)
{
	const json_t *tr = json_object_get(run->result, "tracking");
	struct kcg_mirakl_tracking m = {
		.carrier_code = kcg_json_str(tr, "carrier_code"),
		.carrier_name = kcg_json_str(tr, "carrier_name"),
		.carrier_url = kcg_json_str(tr, "carrier_url"),
		.tracking_number = kcg_json_str(tr, "tracking_number"),
	};
	run->phase = PH_TRACKING;
	return kcg_job_call(run, kcg_mirakl_or23(&flow->cfg->mirakl, order_of(run), &m, &run->call));
}

/* What a read of the order says: a step outcome, or -1 to send (SHIPPING). */
static int judge(struct kcg_job_run *run)
{
	char why[KCG_ERROR_MAX];
	json_t *order;
	int rc = kcg_mirakl_or11_one_parse(&run->reply, order_of(run), &order, why);
	if (rc != 0)
		return kcg_job_failed(run, rc == KCG_ENOTFOUND ? KCG_EPAYLOAD : rc, why);
	const char *s = kcg_mirakl_order_state(order);
	char st[48];
	snprintf(st, sizeof(st), "%s", s ? s : "");
	json_object_set_new(run->result, "mirakl_state", json_string(st));
	json_decref(order);
	if (kcg_mirakl_state_shipped(st)) {
		run->apply = shipped_apply; /* an earlier attempt shipped it */
		return KCG_STEP_DONE;
	}
	if (!strcmp(st, "CANCELED") || !strcmp(st, "REFUSED")) {
		run->apply = withdrawn_apply;
		return KCG_STEP_DONE;
	}
	if (strcmp(st, "SHIPPING") != 0) {
		kcg_why(why, "Mirakl order %.100s is %.40s, not SHIPPING: waiting", order_of(run), st);
		return kcg_job_failed(run, -EAGAIN, why);
	}
	return -1;
}

#define SH21_REFUSAL_KEY "sh21.refusal_refresh" /* when a refusal last asked for SH21 */

/* A carrier refusal: the order parks (unmapped_carrier) and SH21 is read
 * again, at most once a day on account of refusals. */
static int carrier_refused_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	json_t *c = NULL;
	int rc = kcg_txn_get_json(t, DB_DESPATCH_CARRIERS, SH21_REFUSAL_KEY, strlen(SH21_REFUSAL_KEY), &c);
	if (rc != 0 && rc != KCG_ENOTFOUND)
		return rc;
	uint64_t last = kcg_json_u64(c, "ms");
	json_decref(c);
	rc = 0;
	if (!last || last + SH21_MAX_AGE_MS <= t->now_ms) {
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "mirakl.carriers", "sh21", NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
		c = json_pack("{s:I}", "ms", (json_int_t)t->now_ms);
		if (rc == 0)
			rc = c ? kcg_txn_put_json(t, DB_DESPATCH_CARRIERS, SH21_REFUSAL_KEY, strlen(SH21_REFUSAL_KEY), c)
			       : -ENOMEM;
		json_decref(c);
	}
	return rc ? rc : park_apply(t, run);
}

/* Mirakl refused OR23 or OR24 (400) and the order is still SHIPPING: not
 * retried blindly. OR23 refused for a carrier code (Mirakl no longer
 * registers it, whatever the cached SH21 says) parks the order with
 * unmapped_carrier; any other refusal kills the job (dead_job, with
 * Mirakl's answer). */
static enum kcg_step refused(struct kcg_job_run *run)
{
	const char *answer = kcg_json_str(run->result, "refused"), *by = kcg_json_str(run->result, "refused_by");
	const char *code = kcg_json_str(json_object_get(run->result, "tracking"), "carrier_code");
	char why[KCG_ERROR_MAX];
	if (!strcmp(by, "OR23") && *code) {
		kcg_why(why, "Mirakl refused the tracking (OR23) with carrier code '%.60s': %.150s", code, answer);
		json_object_set_new(run->result, "why", json_string(why));
		snprintf(run->error, sizeof(run->error), "%s: %.150s", KCG_EXC_UNMAPPED_CARRIER, why);
		run->apply = carrier_refused_apply;
		return KCG_STEP_DEAD;
	}
	snprintf(run->error, sizeof(run->error), "Mirakl refused %.4s for order %.60s while it is SHIPPING: %.80s", by,
		 order_of(run), answer);
	return KCG_STEP_DEAD;
}

enum kcg_step despatch_ship_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	int rc, o;
	switch (run->phase) {
	case PH_START: {
		struct ship_read r = { order_of(run), NULL, NULL, NULL };
		if (kcg_store_read(flow->store, ship_read_fn, &r) != 0) {
			ship_read_finish(&r);
			return kcg_job_failed(run, -EAGAIN, "cannot read the despatch record");
		}
		bool done = r.d && finished(r.d);
		run->result = json_object();
		o = done || !run->result ? -1 : map_carrier(run, flow, r.sh21);
		ship_read_finish(&r);
		if (done)
			return KCG_STEP_DONE;
		if (!run->result)
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		if (o >= 0)
			return (enum kcg_step)o;
		/* every run reads the order first (OR11 by order_ids): a crash
		 * (kill -9) between OR24 and its commit raises no attempt count,
		 * so "attempts > 0" cannot tell a first run from a repeat */
		return read_order(run, flow, PH_READ);
	}
	case PH_READ:
		o = judge(run);
		return o >= 0 ? (enum kcg_step)o : send_tracking(run, flow);
	case PH_WHY:
		o = judge(run);
		if (o >= 0)
			return (enum kcg_step)o;
		return refused(run);
	case PH_TRACKING:
		rc = kcg_mirakl_ship_parse(&run->reply, "OR23", why);
		if (rc == 0) {
			run->phase = PH_SHIP;
			return kcg_job_call(run, kcg_mirakl_or24(&flow->cfg->mirakl, order_of(run), &run->call));
		}
		break;
	default:
		rc = kcg_mirakl_ship_parse(&run->reply, "OR24", why);
		if (rc == 0) {
			run->apply = shipped_apply;
			return KCG_STEP_DONE;
		}
		break;
	}
	if (rc == KCG_EPAYLOAD) {
		/* a 400: the order's state says why (shipped already? cancelled?) */
		json_object_set_new(run->result, "refused", json_string(why));
		json_object_set_new(run->result, "refused_by", json_string(run->phase == PH_TRACKING ? "OR23" : "OR24"));
		return read_order(run, flow, PH_WHY);
	}
	return kcg_job_failed(run, rc, why);
}

/* ---- despatch.shipment: one ST01 shipment per box ---- */

static int shipment_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const char *id = order_of(run);
	int rc;
	json_t *d = despatch_get(t, id, &rc);
	if (rc != 0 || !d)
		return rc;
	if (json_is_true(json_object_get(run->result, "no_st01"))) {
		/* the platform has no ST01: OR23 + OR24 once everything is sent */
		json_object_set_new(d, "no_st01", json_true());
		json_object_set_new(d, "checked_ms", json_integer(0)); /* the watch reads it again now */
	} else {
		json_t *sent = json_object_get(d, "units_sent");
		if (!sent) {
			json_object_set_new(d, "units_sent", json_array());
			sent = json_object_get(d, "units_sent");
		}
		/* the unit's key (a job queued before units had keys: its consignment ref) */
		const char *key = kcg_json_str(run->payload, "unit_key");
		json_array_append_new(sent, json_string(*key ? key : kcg_json_str(run->payload, "consignment")));
	}
	/* a parked box that went: the record is parked while another still waits */
	json_t *jobs = json_object_get(d, "parked_jobs"), *j;
	size_t i;
	json_array_foreach(jobs, i, j) {
		if (strcmp(json_string_value(j) ? json_string_value(j) : "", run->id) == 0) {
			json_array_remove(jobs, i);
			break;
		}
	}
	if (!strcmp(kcg_json_str(d, "state"), ST_PARKED) && json_array_size(jobs) == 0)
		json_object_set_new(d, "state", json_string(ST_PARTIAL));
	bool all = json_is_true(json_object_get(d, "all_sent")) &&
		   json_array_size(json_object_get(d, "units_sent")) >= json_array_size(json_object_get(d, "units_queued"));
	rc = despatch_put(t, d);
	json_decref(d);
	if (rc == 0 && all && !json_is_true(json_object_get(run->result, "no_st01")))
		rc = despatch_mark_shipped(t, id, json_object_get(run->result, "tracking"));
	return rc;
}

#define ST11_PAGES_MAX 10 /* ST11 pages one retry reads looking for its shipment */

static enum kcg_step send_st01(struct kcg_job_run *run, struct kcg_flow_ctx *flow)
{
	run->phase = PH_ST01;
	return kcg_job_call(run, kcg_mirakl_st01(&flow->cfg->mirakl, json_object_get(run->result, "shipments"), &run->call));
}

enum kcg_step despatch_shipment_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	int o;
	if (run->phase == PH_START) {
		struct ship_read r = { order_of(run), NULL, NULL, NULL };
		if (kcg_store_read(flow->store, ship_read_fn, &r) != 0) {
			ship_read_finish(&r);
			return kcg_job_failed(run, -EAGAIN, "cannot read the despatch record");
		}
		bool done = !r.d || finished(r.d);
		json_t *lines = done ? NULL : kcg_despatch_st01_lines(run->payload, json_object_get(r.rec, "order"));
		run->result = json_object();
		o = done || !run->result ? -1 : map_carrier(run, flow, r.sh21);
		ship_read_finish(&r);
		if (done || o >= 0) {
			json_decref(lines);
			return done ? KCG_STEP_DONE : (enum kcg_step)o;
		}
		if (json_array_size(lines) == 0) {
			json_decref(lines);
			snprintf(run->error, sizeof(run->error),
				 "no line of Mirakl order %.60s matches the items of Khaos consignment %.40s", order_of(run),
				 kcg_json_str(run->payload, "consignment"));
			return KCG_STEP_DEAD;
		}
		const json_t *tr = json_object_get(run->result, "tracking");
		json_t *tracking = json_object();
		const char *keys[][2] = { { "carrier_code", "carrier_code" }, { "carrier_name", "carrier_name" },
					  { "carrier_url", "tracking_url" }, { "tracking_number", "tracking_number" } };
		for (size_t i = 0; i < 4; i++)
			if (*kcg_json_str(tr, keys[i][0]))
				json_object_set_new(tracking, keys[i][1], json_string(kcg_json_str(tr, keys[i][0])));
		json_t *list = json_pack("[{s:s, s:o, s:o, s:b}]", "order_id", order_of(run), "shipment_lines", lines,
					 "tracking", tracking, "shipped", 1);
		json_object_set_new(run->result, "shipments", list);
		/* every run lists the order's shipments first (ST11): after a
		 * crash the attempt count does not show that ST01 may have gone */
		run->phase = PH_ST11;
		return kcg_job_call(run, kcg_mirakl_st11(&flow->cfg->mirakl, order_of(run), NULL, &run->call));
	}
	if (run->phase == PH_ST11) {
		size_t matches = (size_t)kcg_json_u64(run->result, "st11_matches");
		char next[KCG_MIRAKL_TOKEN_MAX + 1];
		const json_t *lines = json_object_get(json_array_get(json_object_get(run->result, "shipments"), 0),
						      "shipment_lines");
		int rc = kcg_mirakl_st11_find(&run->reply, order_of(run), kcg_json_str(run->payload, "consignment"), lines,
					      &matches, next, why);
		json_object_set_new(run->result, "st11_matches", json_integer((json_int_t)matches));
		/* boxes alike (same consignment ref, same lines) before this one
		 * count first: this one is there when one more is */
		bool found = matches > kcg_json_u64(run->payload, "twin");
		if (rc == KCG_ENOTFOUND) /* no ST11 on this platform: ST01 says whether it goes */
			return send_st01(run, flow);
		if (rc != 0)
			return kcg_job_failed(run, rc, why);
		if (found) {
			run->apply = shipment_apply; /* an earlier attempt created it */
			return KCG_STEP_DONE;
		}
		if (*next && run->n_calls < ST11_PAGES_MAX)
			return kcg_job_call(run, kcg_mirakl_st11(&flow->cfg->mirakl, order_of(run), next, &run->call));
		if (*next)
			return kcg_job_failed(run, -EAGAIN, "ST11: the order's shipments run past the pages read");
		return send_st01(run, flow);
	}
	if (run->phase == PH_WHY) {
		o = judge(run); /* shipped whole (by hand), or cancelled? */
		return o >= 0 ? (enum kcg_step)o : kcg_job_failed(run, KCG_EPAYLOAD, kcg_json_str(run->result, "refused"));
	}
	int rc = kcg_mirakl_st01_parse(&run->reply, order_of(run), why);
	if (rc == 0 || rc == KCG_ENOTFOUND) {
		if (rc == KCG_ENOTFOUND)
			json_object_set_new(run->result, "no_st01", json_true());
		run->apply = shipment_apply;
		return KCG_STEP_DONE;
	}
	if (rc == KCG_EPAYLOAD) {
		json_object_set_new(run->result, "refused", json_string(why));
		return read_order(run, flow, PH_WHY);
	}
	return kcg_job_failed(run, rc, why);
}

/* ---- mirakl.carriers: SH21 into the cache ---- */

static int carriers_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	json_t *c = json_pack("{s:I, s:O}", "fetched_ms", (json_int_t)t->now_ms, "carriers",
			      json_object_get(run->result, "carriers"));
	int rc = c ? kcg_txn_put_json(t, DB_DESPATCH_CARRIERS, SH21_KEY, strlen(SH21_KEY), c) : -ENOMEM;
	json_decref(c);
	if (rc == 0) {
		MDB_val k = { strlen(SH21_FAILED_KEY), SH21_FAILED_KEY };
		rc = mdb_del(t->txn, kcg_store_db(t->store, DB_DESPATCH_CARRIERS), &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc == 0)
		rc = kcg_exc_resolve(t, KCG_EXC_CARRIERS_UNAVAILABLE, SH21_KEY, "auto");
	return rc == KCG_ENOTFOUND ? 0 : rc;
}

/* SH21 refused for good (403, 404, an answer kcgate cannot read): noted
 * (the watch asks again at most hourly) with one exception naming it;
 * despatches mapped to name: carriers go on without SH21. */
static int carriers_failed_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const char *why = kcg_json_str(run->result, "why");
	json_t *a = json_pack("{s:I, s:s}", "ms", (json_int_t)t->now_ms, "why", why);
	int rc = a ? kcg_txn_put_json(t, DB_DESPATCH_CARRIERS, SH21_FAILED_KEY, strlen(SH21_FAILED_KEY), a) : -ENOMEM;
	json_decref(a);
	if (rc != 0 || kcg_exc_is_open(t, KCG_EXC_CARRIERS_UNAVAILABLE, SH21_KEY))
		return rc;
	char msg[600];
	snprintf(msg, sizeof(msg),
		 "Mirakl's carrier list (SH21) cannot be read: %.300s. Despatches mapped to a carrier code wait (they "
		 "cannot be checked); those mapped to name:<carrier> go on. Check the API key's rights and the "
		 "platform; kcgate asks again every hour and resolves this when it can read the list.",
		 why);
	struct kcg_exc exc = {
		.kind = KCG_EXC_CARRIERS_UNAVAILABLE, .severity = KCG_SEV_CRITICAL, .system = "mirakl",
		.owner = "operations", .subject = SH21_KEY, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

enum kcg_step despatch_carriers_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	if (run->phase == PH_START) {
		run->phase = PH_READ;
		return kcg_job_call(run, kcg_mirakl_sh21(&flow->cfg->mirakl, &run->call));
	}
	json_t *carriers;
	int rc = kcg_mirakl_sh21_parse(&run->reply, &carriers, why);
	if (rc == -EAGAIN)
		return kcg_job_failed(run, rc, why);
	if (rc != 0) {
		/* for good: done (not dead: no dead_job an hour), noted, one exception */
		run->result = json_pack("{s:s}", "why", why);
		if (!run->result)
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		run->apply = carriers_failed_apply;
		return KCG_STEP_DONE;
	}
	run->result = json_pack("{s:o}", "carriers", carriers);
	if (!run->result)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->apply = carriers_apply;
	return KCG_STEP_DONE;
}
