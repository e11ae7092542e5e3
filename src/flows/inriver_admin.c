/*
 * inriver_admin.c: the inriver flow's admin routes (rows of
 * kcg_flow_inriver): GET /admin/skus/{code} (one SKU across Khaos, inriver
 * and Mirakl), GET /admin/skus?problem=1 (every SKU with an open problem),
 * POST /admin/audit/skus (the mapping audit now); and its lines of GET
 * /metrics. The bearer token is checked by http.c before a handler runs.
 */
#include "inriver_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/stock.h"
#include "kcgate/dynbuf.h"
#include "kcgate/json.h"
#include "kcgate/metrics.h"

/* The kinds that make a SKU a problem, the SKU being their subject. */
static const char *const problem_kinds[] = {
	KCG_EXC_IDENTIFIER_DRIFT, KCG_EXC_DUPLICATE_SKU, KCG_EXC_UNLINKED_SKU, KCG_EXC_ARCHIVE_IN_KHAOS,
	KCG_EXC_GHOST_SKU,        KCG_EXC_UNKNOWN_SKU,   KCG_EXC_STOCK_DRIFT,  KCG_EXC_STOCK_IMPORT_LINE,
};
#define N_PROBLEM_KINDS (sizeof(problem_kinds) / sizeof(problem_kinds[0]))

struct view {
	const struct kcg_config *cfg;
	const char *sku;
	json_t *out;
};

static json_t *time_or_null(uint64_t ms)
{
	char t[32];
	if (!ms)
		return json_null();
	kcg_format_time(ms, t, sizeof(t));
	return json_string(t);
}

static int view_fn(struct kcg_txn *t, void *arg)
{
	struct view *v = arg;
	struct kcg_inriver_khaos k;
	ir_khaos(t, v->cfg, v->sku, &k); /* known: in the SKU cache */
	json_t *rec = ir_rec_get(t, v->sku);
	MDB_val key = { strlen(v->sku), (void *)v->sku }, d;
	bool waiting = mdb_get(t->txn, kcg_store_db(t->store, DB_IR_WAIT), &key, &d) == 0;
	json_t *problems = json_array();
	for (size_t i = 0; problems && i < N_PROBLEM_KINDS; i++)
		if (kcg_exc_is_open(t, problem_kinds[i], v->sku))
			json_array_append_new(problems, json_string(problem_kinds[i]));
	uint64_t id = kcg_json_u64(rec, "entity_id");
	v->out = json_pack("{s:s, s:{s:b, s:b, s:b, s:o}, s:{s:o, s:b, s:O?, s:O?, s:o, s:o, s:b, s:s}, s:o}", "sku", v->sku,
			   "khaos", "known", k.known, "active", k.known && !k.discontinued, "discontinued", k.discontinued,
			   "available", k.known ? json_integer((json_int_t)k.available) : json_null(), "inriver", "entity_id",
			   id ? json_integer((json_int_t)id) : json_null(), "linked", id > 0, "holders",
			   json_object_get(rec, "entity_ids"), "written",
			   json_object_get(rec, "written"), "written_at", time_or_null(kcg_json_u64(rec, "written_ms")),
			   "deleted_at", time_or_null(kcg_json_u64(rec, "deleted_ms")), "waiting_for_mirakl_zero", waiting,
			   "mirakl_gate", kcg_inriver_gate_name(ir_gate(t, v->cfg, rec)), "problems", problems);
	json_decref(rec);
	return v->out ? 0 : -ENOMEM;
}

int kcg_inriver_sku_view(struct kcg_store *store, const struct kcg_config *cfg, const char *sku, json_t **out)
{
	struct view v = { cfg, sku, NULL };
	*out = NULL;
	if (!*sku || strlen(sku) >= KCG_KHAOS_CODE_MAX)
		return KCG_ENOTFOUND;
	int rc = kcg_store_read(store, view_fn, &v);
	if (rc != 0) {
		json_decref(v.out);
		return rc;
	}
	/* Mirakl's side: the stock flow's view of the SKU (null when it has no record) */
	json_t *mirakl = NULL;
	if (kcg_stock_view(store, cfg, sku, &mirakl) != 0 || !mirakl)
		mirakl = json_null();
	json_object_set_new(v.out, "mirakl", mirakl);
	*out = v.out;
	return 0;
}

static void admin_sku(struct kcg_request *req)
{
	json_t *v;
	int rc = kcg_inriver_sku_view(req->app->store, req->app->cfg, req->param, &v);
	if (rc == KCG_ENOTFOUND) {
		kcg_http_respond_error(req, 404, "not_found", "not a stock code: %.100s (1 to %d bytes)", req->param,
				       KCG_KHAOS_CODE_MAX - 1);
		return;
	}
	if (rc != 0) {
		kcg_route_store_error(req, "reading the SKU", rc);
		return;
	}
	kcg_http_respond_json(req, 200, v);
}

/* Every SKU with an open problem: {"skus":[{"sku","problems":[{kind, id, message}]}]}, by SKU. */
static int problems_fn(struct kcg_txn *t, void *arg)
{
	json_t *by_sku = arg;
	for (size_t i = 0; i < N_PROBLEM_KINDS; i++) {
		json_t *list, *e;
		size_t j;
		int rc = kcg_exc_list(t, 1, problem_kinds[i], NULL, KCG_EXC_SCAN_MAX, &list);
		if (rc != 0)
			return rc;
		json_array_foreach(list, j, e) {
			const char *sku = kcg_json_str(e, "subject");
			json_t *arr = json_object_get(by_sku, sku);
			if (!arr) {
				arr = json_array();
				json_object_set_new(by_sku, sku, arr);
			}
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "kind", problem_kinds[i], "id",
							     kcg_json_str(e, "id"), "system", kcg_json_str(e, "system"),
							     "owner", kcg_json_str(e, "owner")));
		}
		json_decref(list);
	}
	return 0;
}

static int last_audit_fn(struct kcg_txn *t, void *arg)
{
	json_t **out = arg;
	if (kcg_txn_get_json(t, DB_IR_AUDIT, "last", 4, out) != 0)
		*out = json_null();
	return 0;
}

static void admin_skus(struct kcg_request *req)
{
	const char *p = kcg_http_query(req, "problem");
	if (!p || strcmp(p, "1") != 0) {
		kcg_http_respond_error(req, 400, "invalid_request",
				       "problem=1 is required: this lists the SKUs with an open problem (GET "
				       "/admin/skus/{code} shows any one SKU)");
		return;
	}
	uint64_t limit;
	if (!kcg_route_list_limit(req, &limit))
		return;
	json_t *by_sku = json_object(), *audit = NULL;
	int rc = by_sku ? kcg_store_read(req->app->store, problems_fn, by_sku) : -ENOMEM;
	if (rc == 0)
		rc = kcg_store_read(req->app->store, last_audit_fn, &audit);
	if (rc != 0) {
		json_decref(by_sku);
		kcg_route_store_error(req, "listing the SKU problems", rc);
		return;
	}
	json_t *skus = json_array();
	const char *sku;
	json_t *probs;
	size_t total = json_object_size(by_sku);
	json_object_foreach(by_sku, sku, probs) {
		if (json_array_size(skus) >= limit)
			break;
		json_array_append_new(skus, json_pack("{s:s, s:O}", "sku", sku, "problems", probs));
	}
	json_decref(by_sku);
	kcg_http_respond_json(req, 200, json_pack("{s:o, s:I, s:o}", "skus", skus, "total", (json_int_t)total,
						  "last_audit", audit ? audit : json_null()));
}

static int enqueue_audit(struct kcg_txn *t, void *arg)
{
	int rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER, KIND_AUDIT, "all", NULL, 0, arg);
	return rc == KCG_EDUPLICATE ? 0 : rc;
}

static void admin_audit(struct kcg_request *req)
{
	const struct kcg_config *cfg = req->app->cfg;
	if (!cfg->inriver.base_url || !req->app->engine) {
		kcg_http_respond_error(req, 409, "not_configured",
				       "the mapping audit needs the inriver flow ([inriver] base_url and api_key, [khaos] "
				       "soap_url)");
		return;
	}
	char id[KCG_ID_LEN + 1] = "";
	int rc = kcg_store_write_sync(req->app->store, enqueue_audit, id);
	if (rc != 0) {
		kcg_route_store_error(req, "queueing the audit", rc);
		return;
	}
	kcg_engine_kick(req->app->engine);
	kcg_http_respond_json(req, 202, json_pack("{s:s, s:s}", "job_id", id, "kind", KIND_AUDIT));
}

/* ---- metrics ---- */

struct counts {
	uint64_t linked, waiting, audit_ms;
};

static int counts_fn(struct kcg_txn *t, void *arg)
{
	struct counts *c = arg;
	MDB_stat st;
	if (mdb_stat(t->txn, kcg_store_db(t->store, DB_IR_IDS), &st) == 0)
		c->linked = st.ms_entries;
	if (mdb_stat(t->txn, kcg_store_db(t->store, DB_IR_WAIT), &st) == 0)
		c->waiting = st.ms_entries;
	c->audit_ms = kcg_meta_get_u64(t, META_IR_AUDITED);
	return 0;
}

int ir_metrics(struct kcg_store *store, const struct kcg_config *cfg, char **text)
{
	struct counts c = { 0 };
	if (!cfg->inriver.base_url)
		return 0;
	int rc = kcg_store_read(store, counts_fn, &c);
	if (rc != 0)
		return rc;
	uint64_t now = kcg_now_ms();
	long long age = c.audit_ms && now > c.audit_ms ? (long long)((now - c.audit_ms) / 1000) : -1;
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, KCG_METRICS_TEXT_MAX);
	kcg_dynbuf_addstr(&b, *text);
	kcg_dynbuf_printf(&b,
			  "# HELP kcgate_inriver_linked inriver items linked to a Khaos stock code.\n"
			  "# TYPE kcgate_inriver_linked gauge\nkcgate_inriver_linked %llu\n"
			  "# HELP kcgate_inriver_waiting Discontinued codes whose status waits for Mirakl's 0.\n"
			  "# TYPE kcgate_inriver_waiting gauge\nkcgate_inriver_waiting %llu\n"
			  "# HELP kcgate_inriver_audit_age_seconds Since the last mapping audit finished (-1: never).\n"
			  "# TYPE kcgate_inriver_audit_age_seconds gauge\nkcgate_inriver_audit_age_seconds %lld\n",
			  (unsigned long long)c.linked, (unsigned long long)c.waiting, age);
	char *out = kcg_dynbuf_take(&b, NULL);
	if (!out)
		return kcg_dynbuf_error(&b);
	free(*text);
	*text = out;
	return 0;
}

const struct kcg_route ir_routes[IR_ROUTES] = {
	{ "GET",  "/admin/skus/{id}",   KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_sku, 0, NULL },
	{ "GET",  "/admin/skus",        KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_skus, 0, NULL },
	{ "POST", "/admin/audit/skus",  KCG_ROUTE_ADMIN, KCG_BODY_NONE, admin_audit, 0, NULL },
};
