/*
 * skus.c: the SKU cache (see flows/skus.h).
 */
#include "kcgate/flows/skus.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/json.h"
#include "kcgate/log.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_soap.h"

#define DB_SKUS "skus"
#define WATERMARK "khaos.stock.watermark"
#define ALL "all"
#define WSDL_SUBJECT "namespace"
#define WSDL_REREAD "namespace.reread" /* the subject of a read that replaces what was learnt */

enum { PH_START, PH_READ };

bool kcg_skus_active(struct kcg_txn *t, const char *code, bool *discontinued)
{
	json_t *rec;
	*discontinued = false;
	if (kcg_txn_get_json(t, DB_SKUS, code, strlen(code), &rec) != 0)
		return false;
	*discontinued = json_is_true(json_object_get(rec, "discontinued"));
	json_decref(rec);
	return !*discontinued;
}

int kcg_skus_level(struct kcg_txn *t, const char *code, int64_t *available, bool *controlled, uint64_t *read_ms)
{
	json_t *rec;
	*available = 0;
	*controlled = true;
	if (read_ms)
		*read_ms = 0;
	int rc = kcg_txn_get_json(t, DB_SKUS, code, strlen(code), &rec);
	if (rc != 0)
		return rc;
	*available = (int64_t)json_integer_value(json_object_get(rec, "available"));
	*controlled = json_integer_value(json_object_get(rec, "status")) != KCG_STOCK_NOT_CONTROLLED;
	if (read_ms)
		*read_ms = kcg_json_u64(rec, "read_ms");
	json_decref(rec);
	return 0;
}

int kcg_skus_refresh_one(struct kcg_txn *t, const char *code)
{
	if (!*code || strlen(code) >= KCG_JOB_SUBJECT_MAX || strcmp(code, ALL) == 0)
		return 0; /* not a code Khaos could be asked about alone */
	int rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "skus.refresh", code, NULL, 0, NULL);
	return rc == KCG_EDUPLICATE ? 0 : rc;
}

static int collect_item(const struct kcg_stock_item *item, void *arg)
{
	json_t *items = arg;
	return json_array_append_new(items, json_pack("{s:s, s:I, s:I, s:i, s:b}", "code", item->code, "available",
						      (json_int_t)item->available, "build_potential",
						      (json_int_t)item->build_potential, "status", item->status,
						      "discontinued", item->discontinued));
}

static int refresh_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	size_t i;
	json_t *item;
	int rc = 0;
	json_array_foreach(json_object_get(run->result, "items"), i, item) {
		const char *code = json_string_value(json_object_get(item, "code"));
		bool discontinued, controlled;
		bool was_active = kcg_skus_active(t, code, &discontinued);
		bool active = !json_is_true(json_object_get(item, "discontinued"));
		int64_t before;
		bool rose = was_active && active && kcg_skus_level(t, code, &before, &controlled, NULL) == 0 &&
			    json_integer_value(json_object_get(item, "available")) > before;
		json_t *rec = json_pack("{s:O, s:O, s:O, s:O}", "available", json_object_get(item, "available"),
					"build_potential", json_object_get(item, "build_potential"), "status",
					json_object_get(item, "status"), "discontinued", json_object_get(item, "discontinued"));
		char when[32];
		kcg_format_time(t->now_ms, when, sizeof(when));
		json_object_set_new(rec, "updated_at", json_string(when));
		/* when the read began: bookings after it are not in this level */
		json_object_set(rec, "read_ms", json_object_get(run->result, "started_ms"));
		rc = kcg_txn_put_json(t, DB_SKUS, code, strlen(code), rec);
		json_decref(rec);
		if (rc == 0 && !was_active && active) {
			rc = kcg_exc_resolve(t, KCG_EXC_UNKNOWN_SKU, code, "auto");
			if (rc == 0)
				rc = kcg_flows_sku_active(t, code, run->ctx);
		} else if (rc == 0 && rose) {
			/* more stock: orders held short on it may go now */
			rc = kcg_flows_sku_active(t, code, run->ctx);
		}
		if (rc != 0)
			return rc;
	}
	if (strcmp(run->subject, ALL) == 0)
		rc = kcg_meta_put_u64(t, WATERMARK,
				      (uint64_t)json_integer_value(json_object_get(run->result, "started_ms")));
	return rc;
}

static int watermark_fn(struct kcg_txn *t, void *arg)
{
	*(uint64_t *)arg = kcg_meta_get_u64(t, WATERMARK);
	return 0;
}

static enum kcg_step skus_refresh(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	bool all = strcmp(run->subject, ALL) == 0;

	if (run->phase == PH_START) {
		uint64_t since = 0;
		if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
			return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
		if (all && kcg_store_read(flow->store, watermark_fn, &since) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the SKU watermark");
		run->phase = PH_READ;
		run->result = json_pack("{s:I}", "started_ms", (json_int_t)kcg_now_ms());
		return kcg_job_call(run, kcg_khaos_stock_status(&flow->cfg->khaos, all ? "" : run->subject, since,
								&run->call));
	}
	json_t *items = json_array();
	json_object_set_new(run->result, "items", items);
	int rc = kcg_khaos_stock_status_parse(&flow->cfg->khaos, &run->reply, collect_item, items, why);
	if (rc != 0)
		return kcg_job_failed(run, rc, why);
	run->apply = refresh_apply;
	return KCG_STEP_DONE;
}

/* Whether the namespace in use is the fallback, taken for a WSDL that
 * answered but named none: read again at every refresh and reload. */
static atomic_bool on_fallback;

/* Takes the fallback namespace, saying why. */
static enum kcg_step wsdl_fallback(struct kcg_job_run *run, const char *why)
{
	kcg_khaos_soap_learn(KCG_KHAOS_FALLBACK_NS);
	atomic_store(&on_fallback, true);
	kcg_log(KCG_LOG_WARN, "Khaos namespace not read from the WSDL: using the fallback",
		json_pack("{s:s, s:s}", "namespace", KCG_KHAOS_FALLBACK_NS, "why", why));
	return KCG_STEP_DONE;
}

/* khaos.wsdl: with [khaos] soap_namespace = auto, read the namespace from
 * the WSDL at start, before any other Khaos call is built. A WSDL that
 * cannot be had for now is asked again (backoff; the refresh timer
 * schedules it while nothing is learnt): Khaos calls wait rather than go
 * out in a namespace that may be wrong. Only a WSDL that answers but names
 * no namespace gives the fallback, which is read again at every refresh
 * and on SIGHUP (subject WSDL_REREAD), and replaced once a WSDL names one. */
static enum kcg_step khaos_wsdl(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX], ns[KCG_KHAOS_NS_MAX];
	const char *conf = flow->cfg->khaos.soap_namespace;
	bool reread = strcmp(run->subject, WSDL_REREAD) == 0 && conf && strcmp(conf, "auto") == 0;

	if (!reread && kcg_khaos_soap_ready(&flow->cfg->khaos))
		return KCG_STEP_DONE; /* explicit, or learnt already */
	if (run->phase == PH_START) {
		run->phase = PH_READ;
		int rc = kcg_khaos_wsdl(&flow->cfg->khaos, &run->call);
		if (rc == -EINVAL)
			return wsdl_fallback(run, "soap_url has no /soap/ to derive the WSDL address from");
		return kcg_job_call(run, rc);
	}
	int rc = kcg_khaos_wsdl_parse(&run->reply, ns, why);
	if (rc == -EAGAIN)
		return kcg_job_failed(run, rc, why);
	if (rc != 0)
		return reread && kcg_khaos_soap_ready(&flow->cfg->khaos) ? KCG_STEP_DONE : wsdl_fallback(run, why);
	kcg_khaos_soap_learn(ns);
	atomic_store(&on_fallback, false);
	kcg_log(KCG_LOG_INFO, "Khaos namespace read from the WSDL", json_pack("{s:s}", "namespace", ns));
	return KCG_STEP_DONE;
}

static const struct kcg_job_kind kind_refresh = { "skus.refresh", KCG_LANE_KHAOS, skus_refresh, NULL };
static const struct kcg_job_kind kind_wsdl = { "khaos.wsdl", KCG_LANE_KHAOS, khaos_wsdl, NULL };

static void refresh_timer(struct kcg_engine *engine, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
		kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "khaos.wsdl", WSDL_SUBJECT);
	else if (atomic_load(&on_fallback))
		kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "khaos.wsdl", WSDL_REREAD);
	kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "skus.refresh", ALL);
}

/* on_reload: with soap_namespace = auto, the WSDL is read again (Khaos may
 * have moved, or a person fixed what made kcgate take the fallback). */
static int skus_reload(struct kcg_flow_ctx *ctx, size_t *n)
{
	const char *conf = ctx->cfg->khaos.soap_namespace;
	*n = 0;
	if (conf && strcmp(conf, "auto") == 0)
		kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "khaos.wsdl", WSDL_REREAD);
	return 0;
}

static size_t skus_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap)
{
	if (cap < 1)
		return 1;
	out[0] = (struct kcg_engine_timer){ "skus.refresh", cfg->khaos.sku_refresh_s * 1000u, refresh_timer };
	return 1;
}

static int skus_health(struct kcg_txn *t, struct kcg_flow_ctx *ctx, json_t *figures)
{
	return kcg_flow_health_time(figures, "Khaos stock codes (GetStockList): last full refresh began",
				    kcg_meta_get_u64(t, WATERMARK), t->now_ms);
}

static bool skus_enabled(const struct kcg_config *cfg)
{
	return cfg->khaos.soap_url != NULL;
}

static const struct kcg_config_key skus_keys[] = {
	KCG_KEY_U64("khaos", "sku_refresh_s", khaos.sku_refresh_s, "300", 10, 86400),
};

static const struct kcg_config_keys skus_config = { skus_keys, sizeof(skus_keys) / sizeof(skus_keys[0]), NULL };

const struct kcg_flow kcg_flow_skus = {
	.name = "skus",
	.enabled = skus_enabled,
	.dbs = (const char *const[]){ DB_SKUS, NULL },
	.config = &skus_config,
	.kinds = (const struct kcg_job_kind *const[]){ &kind_refresh, &kind_wsdl, NULL },
	.timers = skus_timers,
	.on_reload = skus_reload,
	.health = skus_health,
};
