/*
 * routes.c: the route table. Adding an endpoint means adding a row here and
 * a handler in the file of its group; a flow's own admin routes are rows of
 * its struct kcg_flow (flow.h), matched after these.
 */
#include "routes.h"

#include "kcgate/flow.h"

#include <stdio.h>
#include <string.h>

static const struct kcg_route table[] = {
	{ "GET",  "/health/live",                 KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_health_live, 0, NULL },
	{ "GET",  "/health/ready",                KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_health_ready, 0, NULL },
	{ "GET",  "/api/test",                    KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_inriver_test, 0, NULL },
	{ "POST", "/webhooks/mirakl",             KCG_ROUTE_WEBHOOK, KCG_BODY_JSON,    kcg_route_webhook_mirakl, 0, "mirakl" },
	{ "POST", "/api/listeners/EntityCreated", KCG_ROUTE_WEBHOOK, KCG_BODY_JSON_CE, kcg_route_webhook_inriver, KCG_INRIVER_ENTITY_CREATED, "inriver" },
	{ "POST", "/api/listeners/EntityUpdated", KCG_ROUTE_WEBHOOK, KCG_BODY_JSON_CE, kcg_route_webhook_inriver, KCG_INRIVER_ENTITY_UPDATED, "inriver" },
	{ "POST", "/api/listeners/EntityDeleted", KCG_ROUTE_WEBHOOK, KCG_BODY_JSON_CE, kcg_route_webhook_inriver, KCG_INRIVER_ENTITY_DELETED, "inriver" },
	{ "POST", "/api/listeners/LinkCreated",   KCG_ROUTE_WEBHOOK, KCG_BODY_JSON_CE, kcg_route_webhook_inriver, KCG_INRIVER_LINK_CREATED, "inriver" },
	{ "POST", "/api/listeners/LinkDeleted",   KCG_ROUTE_WEBHOOK, KCG_BODY_JSON_CE, kcg_route_webhook_inriver, KCG_INRIVER_LINK_DELETED, "inriver" },
	{ "GET",  "/admin/events",                KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_events, 0, NULL },
	{ "GET",  "/admin/events/{id}",           KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_event, 0, NULL },
	{ "GET",  "/admin/stats",                 KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_stats, 0, NULL },
	{ "POST", "/admin/events/{id}/replay",    KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_event_replay, 0, NULL },
	{ "GET",  "/admin/jobs",                  KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_jobs, 0, NULL },
	{ "GET",  "/admin/jobs/{id}",             KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_job, 0, NULL },
	{ "POST", "/admin/jobs/{id}/retry",       KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_job_retry, 0, NULL },
	{ "GET",  "/admin/exceptions",            KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_exceptions, 0, NULL },
	{ "POST", "/admin/exceptions/{id}/resolve", KCG_ROUTE_ADMIN, KCG_BODY_NONE,    kcg_route_admin_exception_resolve, 0, NULL },
	{ "GET",  "/admin/runbook",               KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_runbook, 0, NULL },
	{ "GET",  "/admin/overview",              KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_admin_overview, 0, NULL },
	{ "GET",  "/console",                     KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_console_root, 0, NULL },
	{ "GET",  "/console/",                    KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_console_index, 0, NULL },
	{ "GET",  "/console/api/whoami",          KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_console_whoami, 0, NULL },
	{ "POST", "/console/session",             KCG_ROUTE_SIGNIN,  KCG_BODY_FORM_OR_JSON, kcg_route_console_signin, 0, NULL },
	{ "POST", "/console/logout",              KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_console_logout, 0, NULL },
	{ "GET",  "/console/{id}",                KCG_ROUTE_OPEN,    KCG_BODY_NONE,    kcg_route_console_asset, 0, NULL },
	{ "GET",  "/metrics",                     KCG_ROUTE_ADMIN,   KCG_BODY_NONE,    kcg_route_metrics, 0, NULL },
};

/* Does @p path fit @p pattern? A pattern may hold one "{id}": one
 * non-empty segment, copied to @p param. */
static bool path_matches(const char *pattern, const char *path, char *param, size_t param_len)
{
	const char *brace = strstr(pattern, "{id}");
	if (!brace)
		return strcmp(pattern, path) == 0;
	size_t prefix = (size_t)(brace - pattern);
	const char *suffix = brace + 4;
	size_t plen = strlen(path), slen = strlen(suffix);
	if (strncmp(pattern, path, prefix) != 0 || plen < prefix + slen || strcmp(path + plen - slen, suffix) != 0)
		return false;
	size_t n = plen - prefix - slen;
	if (n == 0 || n >= param_len || memchr(path + prefix, '/', n))
		return false;
	memcpy(param, path + prefix, n);
	param[n] = '\0';
	return true;
}

/* The row of @p rows for @p want and @p path, or NULL after adding the
 * methods the path accepts to @p allow. */
static const struct kcg_route *match_rows(const struct kcg_route *rows, size_t n, const char *want, const char *path,
					  char *param, size_t param_len, char *allow, size_t allow_len, size_t *used)
{
	for (size_t i = 0; i < n; i++) {
		const struct kcg_route *r = &rows[i];
		if (!path_matches(r->path, path, param, param_len))
			continue;
		if (strcmp(r->method, want) == 0)
			return r;
		if (!strstr(allow, r->method)) {
			int k = snprintf(allow + *used, allow_len - *used, "%s%s", *used ? ", " : "", r->method);
			if (k > 0 && (size_t)k < allow_len - *used)
				*used += (size_t)k;
		}
	}
	return NULL;
}

const struct kcg_route *kcg_routes_match(const char *method, const char *path, char *param, size_t param_len,
					 char *allow, size_t allow_len)
{
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	size_t used = 0;

	allow[0] = '\0';
	const struct kcg_route *r = match_rows(table, sizeof(table) / sizeof(table[0]), want, path, param, param_len,
					       allow, allow_len, &used);
	for (const struct kcg_flow *const *f = kcg_flows; !r && *f; f++)
		r = match_rows((*f)->routes, (*f)->n_routes, want, path, param, param_len, allow, allow_len, &used);
	if (r)
		return r;
	/* A GET route also answers HEAD. */
	if (strstr(allow, "GET") && used + 6 < allow_len)
		strcat(allow, ", HEAD");
	param[0] = '\0';
	return NULL;
}
