/*
 * health.c: what load balancers and inriver's extension platform probe.
 * Open to everyone and cheap: no store access beyond a flag.
 */
#include "routes.h"

#include <string.h>

void kcg_route_health_live(struct kcg_request *req)
{
	kcg_http_respond_json(req, 200, json_pack("{s:s}", "status", "live"));
}

void kcg_route_health_ready(struct kcg_request *req)
{
	if (atomic_load(&req->app->shutting_down)) {
		kcg_http_respond_error(req, 503, "shutting_down", "kcgate is shutting down");
		return;
	}
	if (!kcg_store_ready(req->app->store)) {
		kcg_http_respond_error(req, 503, "store_unavailable", "the store's writer is not running");
		return;
	}
	kcg_http_respond_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

/* The inriver console's "Test" button. */
void kcg_route_inriver_test(struct kcg_request *req)
{
	static const char text[] = "kcgate inriver listener: OK\n";
	kcg_http_respond_text(req, 200, "text/plain; charset=utf-8", text, strlen(text));
}
