/*
 * orders_admin.c: the order flow's admin routes (rows of kcg_flow_orders),
 * GET /admin/orders, GET /admin/orders/{id} and its /timeline. The bearer token is checked
 * by http.c before a handler runs.
 */
#include "kcgate/flows/orders_admin.h"

#include "kcgate/flows/orders.h"

static void admin_orders(struct kcg_request *req)
{
	uint64_t limit;
	if (!kcg_route_list_limit(req, &limit))
		return;
	const char *state = kcg_route_nonempty(kcg_http_query(req, "state"));
	if (state && kcg_order_state_parse(state) < 0) {
		kcg_http_respond_error(req, 400, "invalid_request",
				       "state: expected seen, held, accepted, booked, shipped, closed, refused, "
				       "auto_refused, cancelled");
		return;
	}
	json_t *orders;
	int rc = kcg_orders_list(req->app->store, state, limit, &orders);
	if (rc != 0) {
		kcg_route_store_error(req, "listing orders", rc);
		return;
	}
	kcg_http_respond_json(req, 200, json_pack("{s:o}", "orders", orders));
}

/* Answers one order's view: @p read's result for the {id} of the path. */
static void answer_order(struct kcg_request *req, int (*read)(struct kcg_store *, const char *, json_t **))
{
	json_t *out;
	int rc = read(req->app->store, req->param, &out);
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "no order %s", req->param);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "reading the order", rc);
		return;
	}
	kcg_http_respond_json(req, 200, out);
}

static void admin_order(struct kcg_request *req)
{
	answer_order(req, kcg_orders_get);
}

static void admin_order_timeline(struct kcg_request *req)
{
	answer_order(req, kcg_orders_timeline);
}

const struct kcg_route kcg_orders_routes[KCG_ORDERS_ROUTES] = {
	{ "GET", "/admin/orders",      KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_orders, 0, NULL },
	{ "GET", "/admin/orders/{id}", KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_order, 0, NULL },
	{ "GET", "/admin/orders/{id}/timeline", KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_order_timeline, 0, NULL },
};
