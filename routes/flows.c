/*
 * flows.c: the admin API shared by the flows: jobs, exceptions, and the
 * replay of a stored event. The bearer token is checked by http.c from the
 * route table.
 */
#include "routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/engine.h"
#include "kcgate/jobs.h"
#include "kcgate/jobs_view.h"

bool kcg_route_list_limit(struct kcg_request *req, uint64_t *limit)
{
	const char *s = kcg_http_query(req, "limit");
	*limit = KCG_ROUTE_LIST_DEFAULT;
	if (s && kcg_parse_u64(s, 1, KCG_ROUTE_LIST_MAX, limit) != 0) {
		kcg_http_respond_error(req, 400, "invalid_request", "limit: expected a whole number from 1 to %d",
				       KCG_ROUTE_LIST_MAX);
		return false;
	}
	return true;
}

const char *kcg_route_nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

void kcg_route_store_error(struct kcg_request *req, const char *what, int rc)
{
	kcg_http_respond_error(req, 500, "internal_error", "%s failed: %s", what, kcg_strerror(rc));
}

void kcg_route_admin_jobs(struct kcg_request *req)
{
	uint64_t limit;
	if (!kcg_route_list_limit(req, &limit))
		return;
	json_t *jobs;
	char next[KCG_ID_LEN + 1];
	int rc = kcg_jobs_list(req->app->store, req->app->engine, kcg_route_nonempty(kcg_http_query(req, "state")),
			       kcg_route_nonempty(kcg_http_query(req, "lane")), limit, kcg_route_nonempty(kcg_http_query(req, "cursor")), &jobs,
			       next);
	if (rc == -EINVAL) {
		kcg_http_respond_error(req, 400, "invalid_request",
				       "state must be pending, running, done or dead; lane mirakl, khaos, inriver, alerts, mirakl_stock, inriver_push or alerts_mail; "
				       "cursor a next_cursor from an earlier page");
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "listing jobs", rc);
		return;
	}
	kcg_http_respond_json(req, 200, json_pack("{s:o, s:o}", "jobs", jobs, "next_cursor",
						  next[0] ? json_string(next) : json_null()));
}

void kcg_route_admin_job(struct kcg_request *req)
{
	json_t *job;
	int rc = kcg_jobs_get(req->app->store, req->app->engine, req->param, &job);
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "no job with id %s", req->param);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "reading the job", rc);
		return;
	}
	kcg_http_respond_json(req, 200, job);
}

void kcg_route_admin_job_retry(struct kcg_request *req)
{
	int rc = kcg_jobs_retry(req->app->store, req->param);
	if (rc == 0)
		kcg_engine_kick(req->app->engine); /* it is due now */
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "no job with id %s", req->param);
		return;
	}
	if (rc == -EINVAL) {
		kcg_http_respond_error(req, 409, "not_dead", "only a dead job can be retried; job %s is not dead", req->param);
		return;
	}
	if (rc == -EBUSY) {
		kcg_http_respond_error(req, 409, "superseded",
				       "a newer job of the same kind for the same subject is pending; job %s stays dead",
				       req->param);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "retrying the job", rc);
		return;
	}
	json_t *job = NULL;
	kcg_jobs_get(req->app->store, req->app->engine, req->param, &job);
	kcg_http_respond_json(req, 200, job ? job : json_pack("{s:s}", "id", req->param));
}

void kcg_route_admin_event_replay(struct kcg_request *req)
{
	int rc = kcg_events_replay(req->app->store, req->param);
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "no event with id %s", req->param);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "replaying the event", rc);
		return;
	}
	kcg_engine_kick(req->app->engine);
	kcg_http_respond_json(req, 200, json_pack("{s:s, s:b}", "event_id", req->param, "replayed", 1));
}

struct exc_query {
	int open;
	const char *kind, *owner;
	size_t limit;
	json_t *out;
	const char *severity;
};

static int exc_list_fn(struct kcg_txn *t, void *arg)
{
	struct exc_query *q = arg;
	return kcg_exc_list_severity(t, q->open, q->kind, q->owner, q->severity, q->limit, &q->out);
}

void kcg_route_admin_exceptions(struct kcg_request *req)
{
	uint64_t limit;
	if (!kcg_route_list_limit(req, &limit))
		return;
	const char *open = kcg_route_nonempty(kcg_http_query(req, "open"));
	struct exc_query q = { -1, kcg_route_nonempty(kcg_http_query(req, "kind")), kcg_route_nonempty(kcg_http_query(req, "owner")), limit,
			       NULL, NULL };
	if (open && strcmp(open, "1") != 0 && strcmp(open, "0") != 0) {
		kcg_http_respond_error(req, 400, "invalid_request", "open: expected 1 (open only) or 0 (resolved only)");
		return;
	}
	if (open)
		q.open = open[0] == '1';
	q.severity = kcg_route_nonempty(kcg_http_query(req, "severity"));
	if (q.severity && kcg_exc_severity_of(q.severity) < 0) {
		kcg_http_respond_error(req, 400, "invalid_request", "severity: expected critical, warning or info");
		return;
	}
	int rc = kcg_store_read(req->app->store, exc_list_fn, &q);
	if (rc != 0) {
		kcg_route_store_error(req, "listing exceptions", rc);
		return;
	}
	kcg_http_respond_json(req, 200, json_pack("{s:o}", "exceptions", q.out));
}

static int exc_resolve_fn(struct kcg_txn *t, void *arg)
{
	return kcg_exc_resolve_id(t, arg);
}

void kcg_route_admin_exception_resolve(struct kcg_request *req)
{
	int rc = kcg_store_write_sync(req->app->store, exc_resolve_fn, req->param);
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "no exception with id %s", req->param);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "resolving the exception", rc);
		return;
	}
	kcg_http_respond_json(req, 200, json_pack("{s:s, s:b}", "id", req->param, "resolved", 1));
}
