/*
 * jobs_view.c: the admin views and Prometheus text of jobs (see
 * jobs_view.h). Reads the queue through jobs.h and asks the engine which
 * jobs run now; owns no data.
 */
#include "kcgate/jobs_view.h"

#include "kcgate/dynbuf.h"
#include "kcgate/json.h"
#include "kcgate/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_SCAN_MAX 100000   /* records one admin listing may look at */


/* The admin view of a record: times as ISO strings, "running" when it is. */
static json_t *job_view(struct kcg_engine *e, json_t *rec, bool with_payload)
{
	char buf[32];
	json_t *out = json_deep_copy(rec);
	if (!out)
		return NULL;
	static const char *const times[] = { "next_at", "created_at", "updated_at" };
	for (size_t i = 0; i < 3; i++) {
		kcg_format_time(kcg_json_u64(rec, times[i]), buf, sizeof(buf));
		json_object_set_new(out, times[i], json_string(buf));
	}
	bool pending = kcg_job_state_of(kcg_json_str(rec, "state")) == KCG_JOB_PENDING;
	if (pending && kcg_engine_running(e, kcg_json_str(rec, "id")))
		json_object_set_new(out, "state", json_string("running"));
	if (!pending)
		json_object_del(out, "next_at");
	if (!with_payload)
		json_object_del(out, "payload");
	return out;
}

struct list_req {
	struct kcg_engine *engine;
	const char *state;
	int lane;
	size_t limit;
	const char *cursor;
	json_t *out;
	char *next;
	size_t scanned;
	char last[KCG_ID_LEN + 1];
};

static int list_one(const char *id, json_t *rec, void *arg)
{
	struct list_req *l = arg;
	if (json_array_size(l->out) == l->limit || l->scanned == LIST_SCAN_MAX) {
		memcpy(l->next, l->last, sizeof(l->last));
		return 1;
	}
	l->scanned++;
	if (id)
		memcpy(l->last, id, sizeof(l->last));
	if (!rec)
		return 0;
	if (l->lane >= 0 && kcg_lane_of(kcg_json_str(rec, "lane")) != l->lane)
		return 0;
	json_t *view = job_view(l->engine, rec, false);
	if (!view)
		return 0;
	if (l->state && strcmp(kcg_json_str(view, "state"), l->state) != 0) {
		json_decref(view);
		return 0;
	}
	json_array_append_new(l->out, view);
	return 0;
}

static int list_fn(struct kcg_txn *t, void *arg)
{
	struct list_req *l = arg;
	return kcg_jobs_walk(t, l->cursor, list_one, l);
}

int kcg_jobs_list(struct kcg_store *store, struct kcg_engine *engine, const char *state, const char *lane,
		  size_t limit, const char *cursor, json_t **out, char next[KCG_ID_LEN + 1])
{
	next[0] = '\0';
	if (state && kcg_job_state_of(state) < 0 && strcmp(state, "running") != 0)
		return -EINVAL;
	if (lane && kcg_lane_of(lane) < 0)
		return -EINVAL;
	if (cursor && strlen(cursor) != KCG_ID_LEN)
		return -EINVAL;
	char from[KCG_ID_LEN + 1];
	if (cursor)
		cursor = memcpy(from, cursor, sizeof(from));
	struct list_req l = { engine, state, lane ? kcg_lane_of(lane) : -1, limit, cursor, json_array(), next, 0, "" };
	int rc = kcg_store_read(store, list_fn, &l);
	if (rc != 0) {
		json_decref(l.out);
		next[0] = '\0';
		return rc;
	}
	*out = l.out;
	return 0;
}

struct get_req {
	struct kcg_engine *engine;
	const char *id;
	json_t *out;
};

static int get_fn(struct kcg_txn *t, void *arg)
{
	struct get_req *g = arg;
	json_t *rec;
	int rc = kcg_jobs_read(t, g->id, &rec);
	if (rc != 0)
		return rc;
	g->out = job_view(g->engine, rec, true);
	json_decref(rec);
	return g->out ? 0 : -ENOMEM;
}

int kcg_jobs_get(struct kcg_store *store, struct kcg_engine *engine, const char *id, json_t **out)
{
	if (!id || strlen(id) != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	struct get_req g = { engine, id, NULL };
	int rc = kcg_store_read(store, get_fn, &g);
	if (rc == 0)
		*out = g.out;
	return rc;
}

static int stats_fn(struct kcg_txn *t, void *arg)
{
	return kcg_jobs_stats(t, arg);
}

int kcg_jobs_metrics(struct kcg_store *store, struct kcg_engine *engine, char **text)
{
	struct kcg_jobs_stats m = { 0 };
	int rc = kcg_store_read(store, stats_fn, &m);
	if (rc != 0)
		return rc;
	struct kcg_engine_stats es;
	kcg_engine_stats(engine, &es);
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, KCG_METRICS_TEXT_MAX);
	kcg_dynbuf_addstr(&b, *text ? *text : "");
	kcg_dynbuf_addstr(&b, "# HELP kcgate_jobs Jobs by lane and state (running ones are also pending).\n# TYPE kcgate_jobs gauge\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++) {
		const char *lane = kcg_lane_name((enum kcg_lane)l);
		for (int s = 0; s < KCG_JOB_STATE_COUNT; s++)
			kcg_dynbuf_printf(&b, "kcgate_jobs{lane=\"%s\",state=\"%s\"} %llu\n", lane,
				kcg_job_state_name((enum kcg_job_state)s), (unsigned long long)m.count[l][s]);
		kcg_dynbuf_printf(&b, "kcgate_jobs{lane=\"%s\",state=\"running\"} %u\n", lane, es.lane[l].running);
	}
	kcg_dynbuf_addstr(&b, "# HELP kcgate_jobs_oldest_due_seconds How long the oldest due job of a lane has waited.\n"
	      "# TYPE kcgate_jobs_oldest_due_seconds gauge\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_jobs_oldest_due_seconds{lane=\"%s\"} %.3f\n", kcg_lane_name((enum kcg_lane)l),
			(double)m.oldest_due_ms[l] / 1000.0);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_job_attempts_total Calls made by jobs since start.\n# TYPE kcgate_job_attempts_total counter\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_job_attempts_total{lane=\"%s\"} %llu\n", kcg_lane_name((enum kcg_lane)l),
			(unsigned long long)es.lane[l].attempts);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_jobs_dead_total Jobs that died since start.\n# TYPE kcgate_jobs_dead_total counter\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_jobs_dead_total{lane=\"%s\"} %llu\n", kcg_lane_name((enum kcg_lane)l),
			(unsigned long long)es.lane[l].dead);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_lane_breaker_open 1 while a lane's circuit breaker is open.\n# TYPE kcgate_lane_breaker_open gauge\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_lane_breaker_open{lane=\"%s\"} %d\n", kcg_lane_name((enum kcg_lane)l),
			es.lane[l].breaker_open ? 1 : 0);
	char *out = kcg_dynbuf_take(&b, NULL);
	if (!out)
		return kcg_dynbuf_error(&b);
	free(*text);
	*text = out;
	return 0;
}
