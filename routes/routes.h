/**
 * routes/routes.h: the route table, the one place a path exists.
 *
 * Each route is data: method, path (exact, or with one "{id}" standing for
 * one segment), who may call it, whether it takes a body and of what
 * media types, and its handler. http.c looks requests up here; 404 and 405
 * (with the Allow header) fall out of the table.
 */
#ifndef KCGATE_ROUTES_H
#define KCGATE_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcgate/http.h"
#include "kcgate/payload.h"

enum kcg_route_auth {
	KCG_ROUTE_OPEN,     /**< anyone (health, the inriver console test) */
	KCG_ROUTE_ADMIN,    /**< Authorization: Bearer <admin token> */
	KCG_ROUTE_WEBHOOK,  /**< the source's webhook authentication, checked by the handler over the raw body */
	KCG_ROUTE_SIGNIN,   /**< the console's sign-in: open, but behind the admin throttle (429) */
};

enum kcg_route_body {
	KCG_BODY_NONE,      /**< no body expected */
	KCG_BODY_JSON,      /**< application/json */
	KCG_BODY_JSON_CE,   /**< application/json or application/cloudevents+json */
	KCG_BODY_FORM_OR_JSON, /**< application/json or application/x-www-form-urlencoded (the sign-in form) */
};

struct kcg_route {
	const char *method;
	const char *path;
	enum kcg_route_auth auth;
	enum kcg_route_body body;
	void (*handler)(struct kcg_request *req);
	int arg;            /**< handler-specific (the inriver event, ...) */
	const char *source; /**< the webhook source ("mirakl", "inriver") or NULL */
};

/**
 * Finds the route for @p method and @p path (HEAD matches GET routes).
 * On a match returns it and copies a pattern's {id} segment into @p param.
 * Otherwise returns NULL; *@p allow then lists the methods the path does
 * accept ("" when the path is unknown: 404).
 */
const struct kcg_route *kcg_routes_match(const char *method, const char *path, char *param, size_t param_len,
					 char *allow, size_t allow_len);

#define KCG_ROUTE_LIST_DEFAULT 50 /**< entries of a listing without limit= */
#define KCG_ROUTE_LIST_MAX 1000   /**< most entries one listing returns */

/** limit= of a listing into *@p limit; answers 400 and returns false when it is bad. */
bool kcg_route_list_limit(struct kcg_request *req, uint64_t *limit);

/** @p s, or NULL when it is NULL or empty (an empty query parameter filters nothing). */
const char *kcg_route_nonempty(const char *s);

/** A time (ms since the epoch) as RFC 3339 JSON, or JSON null for 0 (none). */
json_t *kcg_route_time_or_null(uint64_t ms);

/** Answers 500 internal_error: "@p what failed: <kcg_strerror(rc)>". */
void kcg_route_store_error(struct kcg_request *req, const char *what, int rc);

/* Handlers, one file per group (a flow's own are in src/flows/). */
void kcg_route_health_live(struct kcg_request *req);
void kcg_route_health_ready(struct kcg_request *req);
void kcg_route_inriver_test(struct kcg_request *req);
void kcg_route_webhook_mirakl(struct kcg_request *req);
void kcg_route_webhook_inriver(struct kcg_request *req);
void kcg_route_admin_events(struct kcg_request *req);
void kcg_route_admin_event(struct kcg_request *req);
void kcg_route_admin_stats(struct kcg_request *req);
void kcg_route_admin_event_replay(struct kcg_request *req);
void kcg_route_metrics(struct kcg_request *req);
void kcg_route_admin_jobs(struct kcg_request *req);
void kcg_route_admin_job(struct kcg_request *req);
void kcg_route_admin_job_retry(struct kcg_request *req);
void kcg_route_admin_exceptions(struct kcg_request *req);
void kcg_route_admin_exception_resolve(struct kcg_request *req);
void kcg_route_admin_runbook(struct kcg_request *req);
void kcg_route_admin_overview(struct kcg_request *req);
void kcg_route_console_root(struct kcg_request *req);
void kcg_route_console_index(struct kcg_request *req);
void kcg_route_console_asset(struct kcg_request *req);
void kcg_route_console_signin(struct kcg_request *req);
void kcg_route_console_whoami(struct kcg_request *req);
void kcg_route_console_logout(struct kcg_request *req);

#endif
