/*
 * stock_admin.c: the stock flow's admin routes (rows of kcg_flow_stock),
 * GET /admin/stock/{sku} and GET /admin/sync. The bearer token is checked
 * by http.c before a handler runs.
 */
#include "stock_private.h"

#include "kcgate/flows/skus.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/orders.h"
#include "routes.h"

struct view {
	const struct kcg_config *cfg;
	const char *sku;
	json_t *out;
};

static json_t *qty_or_null(int64_t q)
{
	return q >= 0 ? json_integer((json_int_t)q) : json_null();
}

/* One record (@p key) as the view shows it: @p sku's figure, the
 * warehouse's with [stock.warehouses]. NULL when there is none. */
static json_t *line_view(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, const char *key,
			 const char *current)
{
	struct kcg_stock_rec rec;
	if (kcg_stock_get(t, key, &rec) != 0)
		return NULL;
	int64_t qty;
	uint64_t reserved;
	char subject[KCG_STOCK_KEY_MAX], changed[32] = "", published[32] = "";
	bool show = stock_figure(t, cfg, key, &rec, &qty, &reserved);
	uint64_t buffer = kcg_stock_buffer_of(atomic_load(&cfg->stock.buffers), sku, cfg->stock.buffer);
	stock_subject(subject, key);
	if (rec.changed_ms)
		kcg_format_time(rec.changed_ms, changed, sizeof(changed));
	if (rec.published_ms)
		kcg_format_time(rec.published_ms, published, sizeof(published));
	return json_pack(
		"{s:{s:I, s:I, s:i, s:s?}, s:I, s:I, s:o, s:b, s:{s:o, s:s?, s:s?}, s:o, s:o, s:{s:o, s:b, s:b}}",
		"khaos", "level", (json_int_t)rec.level, "build_potential", (json_int_t)rec.build, "status", rec.status,
		"changed_at", *changed ? changed : NULL, "buffer", (json_int_t)buffer, "reserved", (json_int_t)reserved,
		"publishable", show ? json_integer((json_int_t)qty) : json_string("leave"), "dirty", stock_is_dirty(t, key),
		"last_published", "quantity", qty_or_null(rec.published), "import_id",
		rec.published_import[0] ? rec.published_import : NULL, "at", *published ? published : NULL,
		"import_running", current ? json_string(current) : json_null(), "refused", qty_or_null(rec.failed),
		"drift", "mirakl_quantity", qty_or_null(rec.mirakl), "stock_drift_open",
		kcg_exc_is_open(t, KCG_EXC_STOCK_DRIFT, sku), "import_line_open",
		kcg_exc_is_open(t, KCG_EXC_STOCK_IMPORT_LINE, subject));
}

static int view_fn(struct kcg_txn *t, void *arg)
{
	struct view *v = arg;
	int sites[KCG_STOCK_SITES_MAX];
	size_t n_sites = kcg_stock_sites(v->cfg, sites);
	char key[KCG_STOCK_KEY_MAX];
	json_t *state = stock_sync_get(t);
	const char *current = json_string_value(json_object_get(state, "current"));
	int rc = 0;
	if (!n_sites) { /* one global quantity: the record itself */
		stock_key(key, v->sku, NULL);
		v->out = line_view(t, v->cfg, v->sku, key, current);
		if (v->out)
			json_object_set_new(v->out, "sku", json_string(v->sku));
		rc = v->out ? 0 : KCG_ENOTFOUND;
	} else { /* one per warehouse */
		json_t *lines = json_array();
		for (size_t i = 0; lines && i < n_sites; i++) {
			const char *wh = stock_warehouse_of(v->cfg, sites[i]);
			stock_key(key, v->sku, wh);
			json_t *l = wh ? line_view(t, v->cfg, v->sku, key, current) : NULL;
			if (!l)
				continue;
			json_object_set_new(l, "warehouse", json_string(wh));
			json_object_set_new(l, "site", json_integer(sites[i]));
			json_array_append_new(lines, l);
		}
		rc = !lines ? -ENOMEM : json_array_size(lines) ? 0 : KCG_ENOTFOUND;
		v->out = rc == 0 ? json_pack("{s:s, s:o}", "sku", v->sku, "warehouses", lines) : NULL;
		if (rc != 0)
			json_decref(lines);
	}
	json_decref(state);
	return rc;
}

int kcg_stock_view(struct kcg_store *store, const struct kcg_config *cfg, const char *sku, json_t **out)
{
	struct view v = { cfg, sku, NULL };
	*out = NULL;
	if (!*sku || strlen(sku) >= KCG_KHAOS_CODE_MAX)
		return KCG_ENOTFOUND;
	int rc = kcg_store_read(store, view_fn, &v);
	*out = v.out;
	return rc;
}

static void admin_stock(struct kcg_request *req)
{
	json_t *v;
	int rc = kcg_stock_view(req->app->store, req->app->cfg, req->param, &v);
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "no stock record for %.100s (not a code Khaos reported)",
				       req->param);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "reading the stock record", rc);
		return;
	}
	kcg_http_respond_json(req, 200, v);
}

/* The open stock exceptions, by kind (a count each). */
static int open_counts(struct kcg_txn *t, void *arg)
{
	json_t *out = arg;
	static const char *const kinds[] = { KCG_EXC_STOCK_IMPORT_LINE, KCG_EXC_STOCK_SYNC_STALE, KCG_EXC_STOCK_DRIFT,
					     KCG_EXC_GHOST_SKU, KCG_EXC_STOCK_SKU_UNSENDABLE,
					     KCG_EXC_STOCK_ITEM_UNREADABLE };
	json_t *all;
	int rc = kcg_exc_open_counts(t, &all);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		json_object_set_new(out, kinds[i], json_integer(json_integer_value(json_object_get(all, kinds[i]))));
	json_decref(all);
	return 0;
}

static void admin_sync(struct kcg_request *req)
{
	json_t *v, *open = json_object();
	int rc = open ? kcg_stock_sync_view(req->app->store, req->app->cfg, &v) : -ENOMEM;
	if (rc == 0) {
		rc = kcg_store_read(req->app->store, open_counts, open);
		json_object_set_new(v, "open_exceptions", open);
		open = NULL;
		json_object_set_new(v, "enabled", json_boolean(req->app->cfg->stock.enabled == 1));
		if (rc != 0)
			json_decref(v);
	}
	json_decref(open);
	if (rc != 0) {
		kcg_route_store_error(req, "reading the stock sync state", rc);
		return;
	}
	kcg_http_respond_json(req, 200, v);
}

const struct kcg_route stock_routes[STOCK_ROUTES] = {
	{ "GET", "/admin/stock/{id}", KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_stock, 0, NULL },
	{ "GET", "/admin/sync",       KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_sync, 0, NULL },
};
