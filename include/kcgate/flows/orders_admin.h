/**
 * kcgate/flows/orders_admin.h: the order flow's admin routes,
 * GET /admin/orders (?state=, ?limit=), GET /admin/orders/{id} and
 * GET /admin/orders/{id}/timeline, as rows
 * of the route table (routes/routes.h) that kcg_flow_orders carries.
 */
#ifndef KCGATE_FLOWS_ORDERS_ADMIN_H
#define KCGATE_FLOWS_ORDERS_ADMIN_H

#include "routes.h"

#define KCG_ORDERS_ROUTES 3
extern const struct kcg_route kcg_orders_routes[KCG_ORDERS_ROUTES];

#endif
