/*
 * admin_views.c: the admin routes the console's pages are built on, for
 * scripts as much as for the console:
 *
 *   GET /admin/runbook                the runbook per team (kcgate/runbook.h)
 *   GET /admin/overview               is everything flowing? lanes, polls, open exceptions
 *                                     by team and severity, each figure with its status
 *                                     (ok, amber, red) and the threshold that decides it
 *   GET /admin/orders/{id}/timeline   one order's life: its record's times, every job
 *                                     about it, every exception about it, in time order
 *
 * Everything is read in one read transaction per request; nothing here writes.
 */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/engine.h"
#include "kcgate/exceptions.h"
#include "kcgate/flow.h"
#include "kcgate/flows/orders.h"
#include "kcgate/jobs.h"
#include "kcgate/json.h"
#include "kcgate/runbook.h"

#define DUE_AMBER_S 60      /* the oldest due job of a lane: amber past a minute */
#define DUE_RED_S 300       /* red past five */
#define POLL_AMBER_X 2      /* a poll: amber past 2 intervals without a success */
#define POLL_RED_X 5        /* red past 5 */
#define OPEN_SCAN 10000     /* open exceptions looked at for the counts */
#define TIMELINE_JOBS_SCAN 20000 /* job records looked at for one order's timeline */

void kcg_route_admin_runbook(struct kcg_request *req)
{
	json_t *j = kcg_runbook_json();
	if (!j) {
		kcg_http_respond_error(req, 500, "internal_error", "out of memory");
		return;
	}
	kcg_http_respond_json(req, 200, j);
}

static json_t *iso_or_null(uint64_t ms)
{
	char buf[32];
	if (!ms)
		return json_null();
	kcg_format_time(ms, buf, sizeof(buf));
	return json_string(buf);
}

/* A figure's verdict: {"status", "threshold"}, merged into @p o. */
static void verdict(json_t *o, const char *status, const char *threshold)
{
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "threshold", json_string(threshold));
}

/* The polls whose last success the Overview shows: the watermark each
 * flow commits when a whole poll succeeded (src/flows/: skus.c,
 * orders_private.h, despatch_private.h). */
struct poll_def {
	const char *flow, *name, *system, *meta;
};
static const struct poll_def polls[] = {
	{ "skus", "Khaos stock codes (ExportStockStatus)", "khaos", "khaos.stock.watermark" },
	{ "orders", "Mirakl orders (OR11)", "mirakl", "mirakl.or11.watermark" },
	{ "despatch", "Khaos despatches (ExportOrderStatusEx)", "khaos", "khaos.despatch.watermark" },
};

static uint64_t poll_interval_s(const struct kcg_config *cfg, const char *flow)
{
	return strcmp(flow, "skus") == 0 ? cfg->khaos.sku_refresh_s
	       : strcmp(flow, "orders") == 0 ? cfg->mirakl.poll_interval_s : cfg->despatch.poll_interval_s;
}

static const struct kcg_flow *flow_named(const char *name)
{
	for (const struct kcg_flow *const *f = kcg_flows; *f; f++)
		if (strcmp((*f)->name, name) == 0)
			return *f;
	return NULL;
}

struct overview {
	const struct kcg_config *cfg;
	struct kcg_engine *engine;
	json_t *out;
};

static json_t *lanes_json(struct kcg_txn *t, struct kcg_engine *engine, int *rc)
{
	struct kcg_jobs_stats m = { 0 };
	struct kcg_engine_stats es;
	*rc = kcg_jobs_stats(t, &m);
	kcg_engine_stats(engine, &es);
	json_t *lanes = json_array();
	char th[160];
	for (int l = 0; l < KCG_LANE_COUNT; l++) {
		uint64_t due_s = m.oldest_due_ms[l] / 1000, dead = m.count[l][KCG_JOB_DEAD];
		json_t *o = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I}", "lane", kcg_lane_name((enum kcg_lane)l),
				      "breaker_open", es.lane[l].breaker_open, "pending",
				      (json_int_t)m.count[l][KCG_JOB_PENDING], "running", (json_int_t)es.lane[l].running,
				      "dead", (json_int_t)dead, "oldest_due_s", (json_int_t)due_s);
		const char *st = es.lane[l].breaker_open || dead > 0 || due_s > DUE_RED_S ? "red"
				 : due_s > DUE_AMBER_S ? "amber" : "ok";
		snprintf(th, sizeof(th), "red: breaker open, any dead job, or the oldest due job waiting over %d s; "
			 "amber: over %d s", DUE_RED_S, DUE_AMBER_S);
		verdict(o, st, th);
		json_array_append_new(lanes, o);
	}
	return lanes;
}

static json_t *polls_json(struct kcg_txn *t, const struct kcg_config *cfg)
{
	json_t *arr = json_array();
	char th[160];
	for (size_t i = 0; i < sizeof(polls) / sizeof(polls[0]); i++) {
		const struct kcg_flow *f = flow_named(polls[i].flow);
		bool on = f && f->enabled && f->enabled(cfg);
		uint64_t last = on ? kcg_meta_get_u64(t, polls[i].meta) : 0;
		uint64_t every = poll_interval_s(cfg, polls[i].flow);
		json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:I}", "flow", polls[i].flow, "name", polls[i].name,
				      "system", polls[i].system, "enabled", on, "last_success", iso_or_null(last),
				      "age_s", last && t->now_ms >= last ? json_integer((json_int_t)((t->now_ms - last) / 1000))
								      : json_null(),
				      "interval_s", (json_int_t)every);
		uint64_t age = last && t->now_ms >= last ? (t->now_ms - last) / 1000 : 0;
		snprintf(th, sizeof(th), "red: no success for %d intervals (%llu s); amber: %d (%llu s)", POLL_RED_X,
			 (unsigned long long)(every * POLL_RED_X), POLL_AMBER_X, (unsigned long long)(every * POLL_AMBER_X));
		const char *st = !on ? "off" : !last ? "amber" : age > every * POLL_RED_X ? "red"
							: age > every * POLL_AMBER_X ? "amber" : "ok";
		verdict(o, st, !on ? "the flow is not enabled in this configuration" : !last ? "no complete poll yet" : th);
		json_array_append_new(arr, o);
	}
	return arr;
}

/* Open exceptions by owning team and severity. */
static json_t *exceptions_json(struct kcg_txn *t, int *rc)
{
	json_t *list = NULL;
	*rc = kcg_exc_list(t, 1, NULL, NULL, OPEN_SCAN, &list);
	if (*rc != 0)
		return NULL;
	json_t *teams = json_object();
	for (size_t i = 0; kcg_runbook_teams[i]; i++)
		json_object_set_new(teams, kcg_runbook_teams[i], json_pack("{s:i, s:i, s:i}", "critical", 0, "warning", 0, "info", 0));
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) {
		const char *owner = kcg_json_str(e, "owner"), *sev = kcg_json_str(e, "severity");
		json_t *team = json_object_get(teams, owner);
		if (!team) {
			team = json_pack("{s:i, s:i, s:i}", "critical", 0, "warning", 0, "info", 0);
			json_object_set_new(teams, owner, team);
		}
		json_object_set_new(team, sev, json_integer(json_integer_value(json_object_get(team, sev)) + 1));
	}
	size_t total = json_array_size(list);
	json_decref(list);
	json_t *o = json_pack("{s:I, s:o}", "open", (json_int_t)total, "by_team", teams);
	json_t *crit;
	const char *team;
	bool any_crit = false;
	json_object_foreach(teams, team, crit)
		any_crit |= json_integer_value(json_object_get(crit, "critical")) > 0;
	verdict(o, any_crit ? "red" : total ? "amber" : "ok", "red: any critical exception open; amber: any open");
	return o;
}

static int overview_fn(struct kcg_txn *t, void *arg)
{
	struct overview *ov = arg;
	int rc = 0;
	json_t *lanes = lanes_json(t, ov->engine, &rc);
	json_t *exc = rc == 0 ? exceptions_json(t, &rc) : NULL;
	if (rc != 0) {
		json_decref(lanes);
		return rc;
	}
	json_t *flows = json_object();
	for (const struct kcg_flow *const *f = kcg_flows; *f; f++)
		json_object_set_new(flows, (*f)->name, json_boolean((*f)->enabled && (*f)->enabled(ov->cfg)));
	ov->out = json_pack("{s:o, s:o, s:o, s:o, s:o}", "now", iso_or_null(t->now_ms), "flows", flows, "lanes", lanes,
			    "polls", polls_json(t, ov->cfg), "exceptions", exc);
	return ov->out ? 0 : -ENOMEM;
}

void kcg_route_admin_overview(struct kcg_request *req)
{
	struct overview ov = { req->app->cfg, req->app->engine, NULL };
	int rc = kcg_store_read(req->app->store, overview_fn, &ov);
	if (rc != 0) {
		kcg_route_store_error(req, "reading the overview", rc);
		return;
	}
	kcg_http_respond_json(req, 200, ov.out);
}

/* ---------------------------------------------------------------- timeline */

struct timeline {
	const char *order_id;
	const json_t *held_skus; /* the SKUs it is held on: their exceptions are its story too */
	json_t *entries;
	size_t scanned;
};

/* Is @p subject the order or a SKU it is held on? */
static bool about(const struct timeline *tl, const char *subject)
{
	if (strcmp(subject, tl->order_id) == 0)
		return true;
	size_t i;
	json_t *s;
	json_array_foreach(tl->held_skus, i, s)
		if (json_is_string(s) && strcmp(json_string_value(s), subject) == 0)
			return true;
	return false;
}

static void entry(json_t *entries, const char *at, const char *what, const char *cause, const char *ref_kind,
		  const char *ref)
{
	if (!at || !*at)
		return;
	json_array_append_new(entries, json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "at", at, "what", what, "cause", cause,
						 "ref_kind", ref_kind, "ref", ref));
}

static int timeline_job(const char *id, json_t *rec, void *arg)
{
	struct timeline *tl = arg;
	if (++tl->scanned > TIMELINE_JOBS_SCAN)
		return 1;
	if (!id || !rec || strcmp(kcg_json_str(rec, "subject"), tl->order_id) != 0)
		return 0;
	char what[160];
	const char *kind = kcg_json_str(rec, "kind"), *state = kcg_json_str(rec, "state");
	snprintf(what, sizeof(what), "job %s queued (%s lane)", kind, kcg_json_str(rec, "lane"));
	entry(tl->entries, kcg_json_str(rec, "created_at"), what, NULL, "job", id);
	if (strcmp(state, "pending") != 0) {
		snprintf(what, sizeof(what), "job %s %s after %lld attempt(s)", kind, state,
			 (long long)json_integer_value(json_object_get(rec, "attempts")));
		const char *err = kcg_json_str(rec, "last_error");
		entry(tl->entries, kcg_json_str(rec, "updated_at"), what, *err ? err : NULL, "job", id);
	}
	return 0;
}

static int timeline_fn(struct kcg_txn *t, void *arg)
{
	struct timeline *tl = arg;
	int rc = kcg_jobs_walk(t, NULL, timeline_job, tl);
	json_t *exc = NULL;
	if (rc == 0)
		rc = kcg_exc_list(t, -1, NULL, NULL, OPEN_SCAN, &exc);
	if (rc != 0)
		return rc;
	size_t i;
	json_t *e;
	char what[160];
	json_array_foreach(exc, i, e) {
		if (!about(tl, kcg_json_str(e, "subject")))
			continue;
		snprintf(what, sizeof(what), "exception %s raised for %s (%s, %s at fault)", kcg_json_str(e, "kind"),
			 kcg_json_str(e, "subject"), kcg_json_str(e, "severity"), kcg_json_str(e, "system"));
		entry(tl->entries, kcg_json_str(e, "first_seen"), what, kcg_json_str(e, "message"), "exception",
		      kcg_json_str(e, "id"));
		if (json_is_string(json_object_get(e, "resolved_at"))) {
			snprintf(what, sizeof(what), "exception %s resolved (%s)", kcg_json_str(e, "kind"),
				 kcg_json_str(e, "resolved_by"));
			entry(tl->entries, kcg_json_str(e, "resolved_at"), what, NULL, "exception", kcg_json_str(e, "id"));
		}
	}
	json_decref(exc);
	return 0;
}

/* The order's own times, as the order record keeps them. */
static void order_times(json_t *entries, const json_t *o)
{
	static const struct {
		const char *field, *what;
	} times[] = {
		{ "first_seen", "first seen by kcgate" }, { "accepted_at", "accepted on Mirakl" },
		{ "book_point_ms", "reached its booking point" }, { "booked_at", "booked in Khaos" },
		{ "shipped_at", "shipped (Khaos despatch sent to Mirakl)" }, { "finished_ms", "finished" },
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		const json_t *v = json_object_get(o, times[i].field);
		char buf[32];
		const char *at = json_string_value(v);
		if (json_is_integer(v) && json_integer_value(v) > 0) {
			kcg_format_time((uint64_t)json_integer_value(v), buf, sizeof(buf));
			at = buf;
		}
		entry(entries, at, times[i].what, NULL, "order", NULL);
	}
}

static int by_at(const void *a, const void *b)
{
	return strcmp(kcg_json_str(*(json_t *const *)a, "at"), kcg_json_str(*(json_t *const *)b, "at"));
}

void kcg_route_admin_order_timeline(struct kcg_request *req)
{
	json_t *order;
	int rc = kcg_orders_get(req->app->store, req->param, &order);
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "no order %s", req->param);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "reading the order", rc);
		return;
	}
	struct timeline tl = { req->param, json_object_get(order, "held_skus"), json_array(), 0 };
	order_times(tl.entries, order);
	rc = kcg_store_read(req->app->store, timeline_fn, &tl);
	if (rc != 0) {
		json_decref(order);
		json_decref(tl.entries);
		kcg_route_store_error(req, "reading the order's jobs and exceptions", rc);
		return;
	}
	size_t n = json_array_size(tl.entries);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		json_decref(order);
		json_decref(tl.entries);
		kcg_http_respond_error(req, 500, "internal_error", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(tl.entries, i));
	qsort(v, n, sizeof(*v), by_at);
	json_t *sorted = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(sorted, v[i]);
	free(v);
	json_decref(tl.entries);
	json_t *side = json_pack("{s:O?, s:O?, s:O?, s:O?}", "state", json_object_get(order, "state"), "mirakl_state",
				 json_object_get(order, "mirakl_state"), "sales_order_code",
				 json_object_get(order, "sales_order_code"), "held_skus", json_object_get(order, "held_skus"));
	kcg_http_respond_json(req, 200, json_pack("{s:s, s:o, s:o, s:b}", "order_id", req->param, "now", side,
						  "timeline", sorted, "jobs_scan_complete",
						  tl.scanned <= TIMELINE_JOBS_SCAN));
	json_decref(order);
}
