/*
 * despatch_watch.c: the despatch flow's timers (the poll; the watch:
 * SH21's age, the by-reference safety net, shipping_deadline), its reload
 * (parked despatches retried) and GET /admin/carriers.
 */
#include "despatch_private.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/orders.h"
#include "kcgate/http.h"
#include "kcgate/log.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_soap.h"
#include "kcgate/peers/mirakl.h"
#include "routes.h"

static void poll_timer(struct kcg_engine *engine, void *ctx)
{
	kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "despatch.poll", "range");
}

struct watch {
	const struct kcg_config *cfg;
	struct kcg_txn *t;
	json_t *ids;      /* order ids for the by-ref read */
	char refs[DESPATCH_REFS_MAX * (DESPATCH_ORDER_ID_MAX + 65)];
};

/* A deadline near for a booked order Khaos has not despatched? */
static int watch_deadline(struct watch *w, const json_t *rec, const json_t *d, const char *id)
{
	const char *dl = kcg_json_str(json_object_get(rec, "order"), "shipping_deadline");
	uint64_t deadline;
	const char *st = kcg_json_str(d, "state");
	/* sending and parked too: a despatch Mirakl refused, or one waiting
	 * for [carriers], is not shipped, and the deadline runs */
	if (!*dl || kcg_mirakl_parse_time(dl, &deadline) != 0 || !strcmp(st, ST_SHIPPED) ||
	    kcg_mirakl_state_shipped(kcg_json_str(rec, "mirakl_state")) ||
	    !kcg_despatch_deadline_near(deadline, w->cfg->despatch.deadline_alert_h * 3600000u, w->t->now_ms) ||
	    kcg_exc_is_open(w->t, KCG_EXC_SHIPPING_DEADLINE, id))
		return 0;
	char msg[1000];
	const char *problem = json_string_value(json_array_get(json_object_get(d, "khaos_problems"), 0));
	snprintf(msg, sizeof(msg),
		 "Mirakl order %s must be shipped by %.40s and Mirakl does not have it shipped (despatch: %s%s%.200s)%s%.250s. "
		 "Ship it in Khaos now (or, when Khaos has, see why Mirakl was not told: GET /admin/jobs?state=dead), "
		 "or agree a new date with the marketplace: late shipments are penalised.",
		 id, dl, st, !strcmp(st, ST_PARKED) ? ", waiting for [carriers]: " : "",
		 !strcmp(st, ST_PARKED) ? kcg_json_str(d, "parked_why") : "",
		 problem ? "; Khaos sent what kcgate cannot read: " : "", problem ? problem : "");
	return despatch_raise(w->t, KCG_EXC_SHIPPING_DEADLINE, "khaos", id, msg);
}

static int watch_one(json_t *rec, void *arg)
{
	struct watch *w = arg;
	const char *id = kcg_json_str(rec, "order_id"), *ref = kcg_json_str(rec, "khaos_ref");
	if (kcg_order_state_parse(kcg_json_str(rec, "state")) != KCG_ORDER_BOOKED || !*id ||
	    strlen(id) > DESPATCH_ORDER_ID_MAX)
		return 0;
	int rc;
	json_t *d = despatch_get(w->t, id, &rc);
	if (rc != 0)
		return rc;
	if (!d) {
		/* first seen booked: no poll has covered it yet, from now */
		d = despatch_new(id, ref);
		if (!d)
			return -ENOMEM;
		json_object_set_new(d, "checked_ms", json_integer((json_int_t)w->t->now_ms));
		rc = despatch_put(w->t, d);
	}
	const char *st = kcg_json_str(d, "state");
	bool open = !strcmp(st, ST_WAITING) || !strcmp(st, ST_PARTIAL);
	if (rc == 0 && open && *ref && !strchr(ref, ',') &&
	    kcg_json_u64(d, "checked_ms") + w->cfg->despatch.recheck_h * 3600000u <= w->t->now_ms &&
	    json_array_size(w->ids) < w->cfg->despatch.recheck_batch) {
		size_t n = strlen(w->refs);
		snprintf(w->refs + n, sizeof(w->refs) - n, "%s%s", n ? "," : "", ref);
		json_array_append_new(w->ids, json_string(id));
	}
	if (rc == 0)
		rc = watch_deadline(w, rec, d, id);
	json_decref(d);
	return rc;
}

static int watch_fn(struct kcg_txn *t, void *arg)
{
	struct watch *w = arg;
	w->t = t;
	w->refs[0] = '\0';
	json_array_clear(w->ids);
	/* the booked records only (an index the order flow keeps), not every open one */
	int rc = kcg_orders_booked_each(t, watch_one, w);
	if (rc == 0 && json_array_size(w->ids) > 0) {
		json_t *payload = json_pack("{s:s, s:O}", "refs", w->refs, "order_ids", w->ids);
		rc = payload ? kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "despatch.check", "refs", payload, 0, NULL) : -ENOMEM;
		json_decref(payload);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	uint64_t fetched;
	json_t *sh21 = despatch_sh21(t, &fetched), *failed = NULL;
	bool due = !sh21 || fetched + SH21_MAX_AGE_MS <= t->now_ms;
	json_decref(sh21);
	/* SH21 daily after a success, hourly after a refusal (never each minute) */
	if (due && kcg_txn_get_json(t, DB_DESPATCH_CARRIERS, SH21_FAILED_KEY, strlen(SH21_FAILED_KEY), &failed) == 0 &&
	    kcg_json_u64(failed, "ms") + SH21_RETRY_FAILED_MS > t->now_ms)
		due = false;
	json_decref(failed);
	if (rc == 0 && due) {
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL, "mirakl.carriers", "sh21", NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	/* Khaos's couriers (GetSOPData), daily: mapped before go-live */
	json_t *sop = NULL;
	if (rc == 0 && (kcg_txn_get_json(t, DB_DESPATCH_CARRIERS, SOP_KEY, strlen(SOP_KEY), &sop) != 0 ||
			kcg_json_u64(sop, "fetched_ms") + SH21_MAX_AGE_MS <= t->now_ms)) {
		rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "khaos.couriers", "sop", NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	json_decref(sop);
	return rc;
}

static bool sh21_has(const json_t *sh21, const char *code);

static int sh21_read_fn(struct kcg_txn *t, void *arg)
{
	uint64_t fetched;
	*(json_t **)arg = despatch_sh21(t, &fetched);
	return 0;
}

/* SH21 read anew with codes it did not list before: the parked despatches
 * go again (those parked on a code Mirakl now registers are sent; the
 * others park again). Engine thread only. */
static void sh21_learned(struct kcg_flow_ctx *flow)
{
	static json_t *known; /* the codes last seen (NULL: not yet) */
	json_t *sh21 = NULL;
	if (kcg_store_read(flow->store, sh21_read_fn, &sh21) != 0 || !sh21)
		return;
	bool more = false;
	size_t i;
	const json_t *c;
	json_array_foreach(sh21, i, c) {
		if (known && !sh21_has(known, kcg_json_str(c, "code")))
			more = true;
	}
	json_decref(known);
	known = sh21;
	size_t n = 0;
	if (more && despatch_reload(flow, &n) == 0 && n)
		kcg_log_str(KCG_LOG_INFO, "SH21 lists new carrier codes: parked despatches retried", "");
}

/* ---- khaos.couriers: GetSOPData's couriers, for GET /admin/carriers ---- */

static int sop_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	json_t *c = json_pack("{s:I, s:O}", "fetched_ms", (json_int_t)t->now_ms, "couriers",
			      json_object_get(run->result, "couriers"));
	int rc = c ? kcg_txn_put_json(t, DB_DESPATCH_CARRIERS, SOP_KEY, strlen(SOP_KEY), c) : -ENOMEM;
	json_decref(c);
	return rc;
}

enum kcg_step despatch_sop_step(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	if (run->phase == PH_START) {
		if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
			return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
		run->phase = PH_READ;
		return kcg_job_call(run, kcg_khaos_sop_couriers(&flow->cfg->khaos, &run->call));
	}
	json_t *couriers;
	int rc = kcg_khaos_sop_couriers_parse(&flow->cfg->khaos, &run->reply, &couriers, why);
	if (rc != 0) /* a view for people only: not worth a dead job */
		return rc == -EAGAIN ? kcg_job_failed(run, rc, why) : KCG_STEP_DONE;
	run->result = json_pack("{s:o}", "couriers", couriers);
	if (!run->result)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->apply = sop_apply;
	return KCG_STEP_DONE;
}

static void watch_timer(struct kcg_engine *engine, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	static struct watch w; /* engine thread only; the refs buffer is large */
	w.cfg = flow->cfg;
	w.ids = json_array();
	int rc = w.ids ? kcg_store_write_sync(flow->store, watch_fn, &w) : -ENOMEM;
	if (rc != 0)
		kcg_log_str(KCG_LOG_WARN, "despatch watch (SH21, by-ref recheck, shipping deadline) failed", kcg_strerror(rc));
	json_decref(w.ids);
	w.ids = NULL;
	sh21_learned(flow);
}

size_t despatch_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap)
{
	if (cap < 2)
		return 2;
	out[0] = (struct kcg_engine_timer){ "despatch.poll", cfg->despatch.poll_interval_s * 1000u, poll_timer };
	out[1] = (struct kcg_engine_timer){ "despatch.watch", cfg->despatch.watch_interval_s * 1000u, watch_timer };
	return 2;
}

/* Calls @p fn with each JSON value of @p db (parsed copies), at most 100,000. */
static int each_value(struct kcg_txn *t, const char *db, int (*fn)(const char *key, size_t klen, json_t *v, void *arg),
		      void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, db), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n++ < 100000; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		json_t *j = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		int r = j ? fn(k.mv_data, k.mv_size, j, arg) : 0;
		json_decref(j);
		if (r != 0) {
			rc = r;
			break;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- reload: parked despatches go again ---- */

static int parked_one(const char *key, size_t klen, json_t *d, void *arg)
{
	size_t i;
	json_t *job;
	if (strcmp(kcg_json_str(d, "state"), ST_PARKED) != 0)
		return 0;
	json_array_foreach(json_object_get(d, "parked_jobs"), i, job) {
		if (json_is_string(job))
			json_array_append(arg, job);
	}
	return 0;
}

static int parked_fn(struct kcg_txn *t, void *arg)
{
	return each_value(t, DB_DESPATCH, parked_one, arg);
}

int despatch_reload(struct kcg_flow_ctx *ctx, size_t *n)
{
	json_t *jobs = json_array(), *job;
	size_t i;
	*n = 0;
	if (!jobs)
		return -ENOMEM;
	int rc = kcg_store_read(ctx->store, parked_fn, jobs);
	json_array_foreach(jobs, i, job) {
		if (rc != 0)
			break;
		int r = kcg_jobs_retry(ctx->store, json_string_value(job));
		if (r == 0)
			(*n)++;
		else if (r != -EINVAL && r != KCG_ENOTFOUND && r != -EBUSY) /* moved on meanwhile */
			rc = r;
	}
	json_decref(jobs);
	return rc;
}

/* ---- GET /admin/carriers ---- */

struct carriers_view {
	const struct kcg_config_map *map;
	json_t *sh21, *couriers, *unmapped, *unknown;
	uint64_t fetched;
};

static bool sh21_has(const json_t *sh21, const char *code)
{
	size_t i;
	const json_t *c;
	json_array_foreach(sh21, i, c) {
		if (strcmp(kcg_json_str(c, "code"), code) == 0)
			return true;
	}
	return false;
}

/* What [carriers] value @p v means next to SH21: "name", "code", "unknown_code". */
static const char *value_status(const struct carriers_view *cv, const char *v)
{
	if (!v)
		return "unmapped";
	if (strncmp(v, "name:", 5) == 0)
		return "name";
	return !cv->sh21 ? "code (SH21 not read yet)" : sh21_has(cv->sh21, v) ? "code" : "unknown_code";
}

static int courier_one(const char *key, size_t klen, json_t *c, void *arg)
{
	struct carriers_view *cv = arg;
	char name[KCG_DESPATCH_TEXT_MAX + 1];
	if (klen > KCG_DESPATCH_TEXT_MAX)
		return 0;
	memcpy(name, key, klen);
	name[klen] = '\0';
	const char *v = kcg_config_map_get(cv->map, name);
	const char *status = value_status(cv, v);
	char at[40];
	kcg_format_time(kcg_json_u64(c, "seen_ms"), at, sizeof(at));
	json_array_append_new(cv->couriers, json_pack("{s:s, s:s?, s:s, s:I, s:s}", "courier", name, "maps_to", v, "status",
						      status, "despatches", (json_int_t)kcg_json_u64(c, "seen"),
						      "last_seen", at));
	if (!v)
		json_array_append_new(cv->unmapped, json_string(name));
	return 0;
}

static bool listed_courier(const json_t *list, const char *name)
{
	size_t i;
	const json_t *c;
	json_array_foreach(list, i, c) {
		if (strcmp(kcg_json_str(c, "courier"), name) == 0)
			return true;
	}
	return false;
}

static int carriers_fn(struct kcg_txn *t, void *arg)
{
	struct carriers_view *cv = arg;
	cv->sh21 = despatch_sh21(t, &cv->fetched);
	int rc = each_value(t, DB_DESPATCH_COURIERS, courier_one, cv);
	/* the couriers Khaos knows (GetSOPData), none despatched yet: mappable before go-live */
	json_t *sop = NULL, *c;
	size_t i;
	if (rc == 0 && kcg_txn_get_json(t, DB_DESPATCH_CARRIERS, SOP_KEY, strlen(SOP_KEY), &sop) == 0) {
		json_array_foreach(json_object_get(sop, "couriers"), i, c) {
			const char *name = kcg_json_str(c, "name");
			if (!*name || listed_courier(cv->couriers, name))
				continue;
			const char *v = kcg_config_map_get(cv->map, name);
			json_array_append_new(cv->couriers, json_pack("{s:s, s:s, s:s?, s:s, s:i}", "courier", name,
								      "khaos_code", kcg_json_str(c, "code"), "maps_to", v,
								      "status", value_status(cv, v), "despatches", 0));
			if (!v)
				json_array_append_new(cv->unmapped, json_string(name));
		}
	}
	json_decref(sop);
	return rc;
}

static void admin_carriers(struct kcg_request *req)
{
	struct carriers_view cv = { atomic_load(&req->app->cfg->despatch.carriers), NULL, json_array(), json_array(),
				    json_array(), 0 };
	int rc = kcg_store_read(req->app->store, carriers_fn, &cv);
	if (rc != 0) {
		json_decref(cv.sh21);
		json_decref(cv.couriers);
		json_decref(cv.unmapped);
		json_decref(cv.unknown);
		kcg_route_store_error(req, "reading the carriers", rc);
		return;
	}
	json_t *map = json_array();
	for (size_t i = 0; cv.map && i < cv.map->n; i++) {
		const char *v = cv.map->entries[i].value, *status = value_status(&cv, v);
		json_array_append_new(map, json_pack("{s:s, s:s, s:s}", "courier", cv.map->entries[i].key, "maps_to", v,
						     "status", status));
		if (!strcmp(status, "unknown_code"))
			json_array_append_new(cv.unknown, json_string(v));
	}
	char at[40] = "";
	if (cv.fetched)
		kcg_format_time(cv.fetched, at, sizeof(at));
	kcg_http_respond_json(req, 200,
			      json_pack("{s:o, s:o, s:o, s:s?, s:{s:o, s:o}}", "khaos_couriers", cv.couriers, "map", map,
					"mirakl_carriers", cv.sh21 ? cv.sh21 : json_array(), "mirakl_fetched_at",
					cv.fetched ? at : NULL, "missing", "couriers_unmapped", cv.unmapped,
					"codes_unknown_to_mirakl", cv.unknown));
}

const struct kcg_route despatch_routes[DESPATCH_ROUTES] = {
	{ "GET", "/admin/carriers", KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_carriers, 0, NULL },
};
