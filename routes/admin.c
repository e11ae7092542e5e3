/*
 * admin.c: the admin API (events, stats) and /metrics. The bearer token is
 * checked by http.c from the route table before any handler here runs.
 */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/dynbuf.h"
#include "kcgate/exceptions.h"
#include "kcgate/flow.h"
#include "kcgate/jobs_view.h"
#include "kcgate/metrics.h"

/* A stored string as JSON: as it is when it is UTF-8, else sanitised
 * (records stored before webhook-ids had to be printable ASCII may hold
 * any bytes; they must still be listed and readable). */
static json_t *str(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char clean[4 * KCG_DEDUPE_KEY_MAX + 8];
	kcg_printable(clean, sizeof(clean), s, strlen(s), KCG_PRINT_PERCENT | KCG_PRINT_ELLIPSIS);
	return json_string(clean);
}

static json_t *event_json(const struct kcg_event_meta *m)
{
	char when[32];
	kcg_format_time(m->received_ms, when, sizeof(when));
	return json_pack("{s:o, s:o, s:o, s:s, s:o, s:o}", "id", str(m->id), "source", str(m->source), "kind",
			 str(m->kind), "received_at", when, "status", str(m->status), "dedupe_key", str(m->dedupe_key));
}

void kcg_route_admin_events(struct kcg_request *req)
{
	const char *source = kcg_http_query(req, "source");
	const char *kind = kcg_http_query(req, "kind");
	const char *cursor = kcg_http_query(req, "cursor");
	uint64_t limit;

	if (source && strcmp(source, "mirakl") != 0 && strcmp(source, "inriver") != 0) {
		kcg_http_respond_error(req, 400, "invalid_request", "source: expected mirakl or inriver");
		return;
	}
	if (!kcg_route_list_limit(req, &limit))
		return;
	if (kind && !*kind)
		kind = NULL;
	if (cursor && !*cursor)
		cursor = NULL;

	struct kcg_event_meta *metas = calloc(limit, sizeof(*metas));
	if (!metas) {
		kcg_http_respond_error(req, 500, "internal_error", "out of memory");
		return;
	}
	size_t n = 0;
	char next[KCG_ID_LEN + 1];
	int rc = kcg_events_list(req->app->store, source, kind, cursor, limit, metas, &n, next);
	if (rc == -EINVAL) {
		kcg_http_respond_error(req, 400, "invalid_request", "cursor: not a cursor from an earlier page");
		goto out;
	}
	if (rc != 0) {
		kcg_http_respond_error(req, 500, "internal_error", "listing events failed: %s", kcg_strerror(rc));
		goto out;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, event_json(&metas[i]));
	kcg_http_respond_json(req, 200, json_pack("{s:o, s:o}", "events", list, "next_cursor",
						  next[0] ? json_string(next) : json_null()));
out:
	free(metas);
}

void kcg_route_admin_event(struct kcg_request *req)
{
	struct kcg_event_meta meta;
	char *body = NULL;
	size_t len = 0;

	int rc = kcg_events_get(req->app->store, req->param, &meta, &body, &len);
	if (rc == KCG_ENOTFOUND || rc == -EINVAL) {
		kcg_http_respond_error(req, 404, "not_found", "no event with id %s", req->param);
		return;
	}
	if (rc != 0) {
		kcg_http_respond_error(req, 500, "internal_error", "reading the event failed: %s", kcg_strerror(rc));
		return;
	}
	json_t *out = event_json(&meta);
	/* Bodies were validated as JSON before they were stored; keep the raw
	 * text if that ever stops being true rather than lose it. */
	json_t *payload = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	json_object_set_new(out, "body", payload ? payload : json_stringn(body, len));
	free(body);
	kcg_http_respond_json(req, 200, out);
}

json_t *kcg_route_time_or_null(uint64_t ms)
{
	char buf[32];
	if (!ms)
		return json_null();
	kcg_format_time(ms, buf, sizeof(buf));
	return json_string(buf);
}

/* The retention part of /admin/stats: the horizon, the oldest records
 * kept, and what the last sweep (and every sweep so far) deleted. */
static json_t *retention_json(const struct kcg_retention_stats *rs)
{
	json_t *last = json_object(), *total = json_object();
	for (size_t i = 0; i < rs->n_counters; i++) {
		json_object_set_new(last, rs->names[i], json_integer((json_int_t)rs->last.removed[i]));
		json_object_set_new(total, rs->names[i], json_integer((json_int_t)rs->removed_total[i]));
	}
	return json_pack("{s:I, s:o, s:o, s:{s:o, s:o, s:o, s:I, s:f, s:o}, s:o, s:I}", "retention_days",
			 (json_int_t)(rs->retention_ms / 86400000u), "oldest_event_at", kcg_route_time_or_null(rs->oldest_event_ms),
			 "oldest_finished_at", kcg_route_time_or_null(rs->oldest_finished_ms), "last_sweep", "started_at",
			 kcg_route_time_or_null(rs->last.started_ms), "finished_at", kcg_route_time_or_null(rs->last.finished_ms), "deleted",
			 last, "transactions", (json_int_t)rs->last.chunks, "longest_transaction_ms",
			 (double)rs->last.max_chunk_ns / 1e6, "error",
			 rs->last.result ? json_string(kcg_strerror(rs->last.result)) : json_null(), "deleted_total", total,
			 "sweep_errors", (json_int_t)rs->errors);
}

void kcg_route_admin_stats(struct kcg_request *req)
{
	struct kcg_store_stats st;
	int rc = kcg_store_stats(req->app->store, &st);
	if (rc != 0) {
		kcg_http_respond_error(req, 500, "internal_error", "reading store statistics failed: %s", kcg_strerror(rc));
		return;
	}
	json_t *events = json_object();
	for (size_t i = 0; i < st.n_counts; i++) {
		json_t *src = json_object_get(events, st.counts[i].source);
		if (!src) {
			src = json_object();
			json_object_set_new(events, st.counts[i].source, src);
		}
		json_object_set_new(src, st.counts[i].status, json_integer((json_int_t)st.counts[i].count));
	}
	json_t *store = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "events", (json_int_t)st.events, "dedupe_keys",
				  (json_int_t)st.dedupe_keys, "page_size", (json_int_t)st.page_size, "pages_used",
				  (json_int_t)st.pages_used, "used_bytes", (json_int_t)(st.pages_used * st.page_size),
				  "map_size_bytes", (json_int_t)st.map_size);
	struct kcg_retention_stats rs;
	rc = kcg_store_retention_stats(req->app->store, &rs);
	if (rc != 0) {
		json_decref(events);
		json_decref(store);
		kcg_http_respond_error(req, 500, "internal_error", "reading retention statistics failed: %s",
				       kcg_strerror(rc));
		return;
	}
	kcg_http_respond_json(req, 200,
			      json_pack("{s:o, s:o, s:o}", "events", events, "store", store, "retention", retention_json(&rs)));
}

/* Appends the open exceptions per kind to the metrics text. */
static int exceptions_metrics(struct kcg_txn *t, void *arg)
{
	char **text = arg;
	json_t *counts;
	int rc = kcg_exc_open_counts(t, &counts);
	if (rc != 0)
		return rc;
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, KCG_METRICS_TEXT_MAX);
	kcg_dynbuf_addstr(&b, *text);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_exceptions_open Open exceptions by kind.\n"
			      "# TYPE kcgate_exceptions_open gauge\n");
	const char *kind;
	json_t *n;
	json_object_foreach(counts, kind, n)
		kcg_dynbuf_printf(&b, "kcgate_exceptions_open{kind=\"%s\"} %lld\n", kind,
				  (long long)json_integer_value(n));
	json_decref(counts);
	char *out = kcg_dynbuf_take(&b, NULL);
	if (!out)
		return kcg_dynbuf_error(&b);
	free(*text);
	*text = out;
	return 0;
}

/* Appends the retention figures to the metrics text. */
static int retention_metrics(struct kcg_store *store, char **text)
{
	struct kcg_retention_stats rs;
	int rc = kcg_store_retention_stats(store, &rs);
	if (rc != 0)
		return rc;
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, KCG_METRICS_TEXT_MAX);
	kcg_dynbuf_addstr(&b, *text);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_retention_deleted_total Records deleted by the sweep (dedupe keys, retention).\n"
			      "# TYPE kcgate_retention_deleted_total counter\n");
	for (size_t i = 0; i < rs.n_counters; i++)
		kcg_dynbuf_printf(&b, "kcgate_retention_deleted_total{what=\"%s\"} %llu\n", rs.names[i],
				  (unsigned long long)rs.removed_total[i]);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_retention_last_sweep_deleted Records the last sweep deleted.\n"
			      "# TYPE kcgate_retention_last_sweep_deleted gauge\n");
	for (size_t i = 0; i < rs.n_counters; i++)
		kcg_dynbuf_printf(&b, "kcgate_retention_last_sweep_deleted{what=\"%s\"} %llu\n", rs.names[i],
				  (unsigned long long)rs.last.removed[i]);
	kcg_dynbuf_printf(&b,
			  "# HELP kcgate_retention_oldest_seconds Unix time of the oldest record kept (0 = none).\n"
			  "# TYPE kcgate_retention_oldest_seconds gauge\n"
			  "kcgate_retention_oldest_seconds{what=\"event\"} %.3f\n"
			  "kcgate_retention_oldest_seconds{what=\"finished\"} %.3f\n"
			  "# HELP kcgate_retention_sweep_longest_transaction_seconds The longest transaction of the last "
			  "sweep.\n"
			  "# TYPE kcgate_retention_sweep_longest_transaction_seconds gauge\n"
			  "kcgate_retention_sweep_longest_transaction_seconds %.6f\n"
			  "# HELP kcgate_retention_sweep_errors_total Sweeps that ended on an error (they run again a minute later).\n"
			  "# TYPE kcgate_retention_sweep_errors_total counter\n"
			  "kcgate_retention_sweep_errors_total %llu\n",
			  (double)rs.oldest_event_ms / 1e3, (double)rs.oldest_finished_ms / 1e3,
			  (double)rs.last.max_chunk_ns / 1e9, (unsigned long long)rs.errors);
	char *out = kcg_dynbuf_take(&b, NULL);
	if (!out)
		return kcg_dynbuf_error(&b);
	free(*text);
	*text = out;
	return 0;
}

void kcg_route_metrics(struct kcg_request *req)
{
	char *text = kcg_metrics_render(kcg_store_used_bytes(req->app->store), req->app->cfg->store.map_size_mb << 20);
	if (text && (kcg_jobs_metrics(req->app->store, req->app->engine, &text) != 0 ||
		     kcg_store_read(req->app->store, exceptions_metrics, &text) != 0 ||
		     retention_metrics(req->app->store, &text) != 0 ||
		     kcg_flows_metrics(req->app->store, req->app->cfg, &text) != 0)) {
		free(text);
		text = NULL;
	}
	if (!text) {
		kcg_http_respond_error(req, 500, "internal_error", "out of memory");
		return;
	}
	kcg_http_respond_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
	free(text);
}
