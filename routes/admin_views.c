/*
 * admin_views.c: the admin routes the console's pages are built on, for
 * scripts as much as for the console:
 *
 *   GET /admin/runbook                the runbook per team (kcgate/runbook.h)
 *   GET /admin/overview               is everything flowing? lanes, polls, open exceptions
 *                                     by team and severity, each figure with its status
 *                                     (ok, amber, red) and the threshold that decides it
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
#include "kcgate/jobs.h"
#include "kcgate/json.h"
#include "kcgate/runbook.h"

#define DUE_AMBER_S 60      /* the oldest due job of a lane: amber past a minute */
#define DUE_RED_S 300       /* red past five */
#define POLL_AMBER_X 2      /* a poll: amber past 2 intervals without a success */
#define POLL_RED_X 5        /* red past 5 */
#define OPEN_SCAN 10000     /* open exceptions looked at for the counts */

void kcg_route_admin_runbook(struct kcg_request *req)
{
	json_t *j = kcg_runbook_json();
	if (!j) {
		kcg_http_respond_error(req, 500, "internal_error", "out of memory");
		return;
	}
	kcg_http_respond_json(req, 200, j);
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
		bool aged = last && t->now_ms >= last;
		uint64_t age = aged ? (t->now_ms - last) / 1000 : 0;
		json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o, s:I}", "flow", polls[i].flow, "name", polls[i].name,
				      "system", polls[i].system, "enabled", on, "last_success", kcg_route_time_or_null(last),
				      "age_s", aged ? json_integer((json_int_t)age) : json_null(), "interval_s", (json_int_t)every);
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
	ov->out = json_pack("{s:o, s:o, s:o, s:o, s:o}", "now", kcg_route_time_or_null(t->now_ms), "flows", flows, "lanes", lanes,
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
