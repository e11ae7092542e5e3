/*
 * skus.c: the SKU cache (see flows/skus.h): the ExportStockStatus poll
 * (skus.refresh), the codes GetStockList says were revised (skus.revised)
 * and the WSDL's namespace (khaos.wsdl).
 */
#include "kcgate/flows/skus.h"
#include "kcgate/flows/stock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/json.h"
#include "kcgate/log.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/peers/khaos_soap.h"

#define DB_SKUS "skus"
#define WATERMARK "khaos.stock.watermark"
#define FULL_READ "khaos.stock.full_read" /* 1 once the stock flow read the whole catalogue */
#define POLL_OK "khaos.stock.last_ok_ms" /* the last complete poll of every code (stock_sync_stale) */
#define FULL_DUE "khaos.stock.full_due" /* when a whole-catalogue read was asked for (0: none due) */
#define REVISED_WATERMARK "khaos.stock.revised_watermark" /* GetStockList's: the start of its last applied read */
#define ALL "all"
/* Most codes one GetStockList answer may name and each be read alone
 * (one ExportStockStatus call per code); past it, one read of the whole
 * catalogue costs less than hundreds of single-code calls. */
#define REVISED_ONE_BY_ONE_MAX 100
/* Transient failures of one window before it is given up for one whole
 * read (an answer refused outright is given up at once): a window only
 * grows while it fails, so retrying it for ever could leave revisions
 * unread for good. */
#define REVISED_TRIES 3
#define WSDL_SUBJECT "namespace"
#define WSDL_REREAD "namespace.reread" /* the subject of a read that replaces what was learnt */

enum { PH_START, PH_READ };

static int64_t price_of(const json_t *rec, const char *name)
{
	json_t *p = json_object_get(rec, name);
	return json_is_integer(p) ? (int64_t)json_integer_value(p) : -1;
}

int kcg_skus_get(struct kcg_txn *t, const char *code, struct kcg_skus_code *out)
{
	json_t *rec;
	*out = (struct kcg_skus_code){ .status = -1, .sell_price = -1, .websell_price = -1 };
	int rc = kcg_txn_get_json(t, DB_SKUS, code, strlen(code), &rec);
	if (rc != 0)
		return rc;
	json_t *st = json_object_get(rec, "status");
	out->available = (int64_t)json_integer_value(json_object_get(rec, "available"));
	out->status = json_is_integer(st) ? (int)json_integer_value(st) : -1;
	out->discontinued = json_is_true(json_object_get(rec, "discontinued"));
	out->read_ms = kcg_json_u64(rec, "read_ms");
	out->sell_price = price_of(rec, "sell_price");
	out->websell_price = price_of(rec, "websell_price");
	json_decref(rec);
	return 0;
}

bool kcg_skus_active(struct kcg_txn *t, const char *code, bool *discontinued)
{
	struct kcg_skus_code c;
	bool known = kcg_skus_get(t, code, &c) == 0;
	*discontinued = c.discontinued;
	return known && !c.discontinued;
}

int kcg_skus_level(struct kcg_txn *t, const char *code, int64_t *available, bool *controlled, uint64_t *read_ms)
{
	struct kcg_skus_code c;
	int rc = kcg_skus_get(t, code, &c);
	*available = c.available;
	*controlled = c.status != KCG_STOCK_NOT_CONTROLLED;
	if (read_ms)
		*read_ms = c.read_ms;
	return rc;
}

int kcg_skus_each_active(struct kcg_txn *t, int (*fn)(const char *code, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_SKUS), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char code[KCG_KHAOS_CODE_MAX];
		if (k.mv_size == 0 || k.mv_size >= sizeof(code))
			continue;
		json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		bool active = json_is_object(rec) && !json_is_true(json_object_get(rec, "discontinued"));
		json_decref(rec);
		if (!active)
			continue;
		memcpy(code, k.mv_data, k.mv_size);
		code[k.mv_size] = '\0';
		rc = fn(code, arg);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int kcg_skus_refresh_one(struct kcg_txn *t, const char *code)
{
	if (!*code || strlen(code) >= KCG_JOB_SUBJECT_MAX || strcmp(code, ALL) == 0)
		return 0; /* not a code Khaos could be asked about alone */
	int rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "skus.refresh", code, NULL, 0, NULL);
	return rc == KCG_EDUPLICATE ? 0 : rc;
}

/* The items of one poll, compact (a first run is the whole catalogue:
 * 100,000 items as JSON objects would be several times this). With the
 * stock flow's [stock.warehouses] the poll asks each mapped site in turn
 * (kcg_stock_sites()): items keep their site, the cache gets each code's
 * sum over the sites, the stock flow each site's own figure. */
struct items {
	struct kcg_stock_item *v;
	size_t n, cap;
	bool sum_sites;  /* SiteID -1: a code reported by several sites is their sum */
	int sites[KCG_STOCK_SITES_MAX];
	size_t n_sites;  /* 0: one call, as configured */
	size_t k;        /* the site asked now */
	size_t *group;   /* after the last answer: where each code's items start */
	size_t n_groups;
	uint64_t since;
};

static void items_free(void *p)
{
	struct items *it = p;
	free(it->v);
	free(it->group);
	free(it);
}

static int collect_item(const struct kcg_stock_item *item, void *arg)
{
	struct items *it = arg;
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 64;
		struct kcg_stock_item *v = realloc(it->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		it->v = v;
		it->cap = cap;
	}
	it->v[it->n] = *item;
	it->v[it->n++].site = it->n_sites ? it->sites[it->k] : 0;
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct kcg_stock_item *x = a, *y = b;
	int c = strcmp(x->code, y->code);
	return c ? c : (x->site > y->site) - (x->site < y->site);
}

/* @p b's figures added to @p m (one code at several sites). */
#define SITE_SUM_BOUND ((int64_t)1 << 40) /* as the order flow bounds levels: a hostile LEVEL cannot wrap a sum */

static int64_t site_bound(int64_t v)
{
	return v > SITE_SUM_BOUND ? SITE_SUM_BOUND : v < -SITE_SUM_BOUND ? -SITE_SUM_BOUND : v;
}

static int64_t bounded_sum(int64_t a, int64_t b)
{
	return site_bound(site_bound(a) + site_bound(b)); /* |a + b| <= 2^41: no overflow */
}

static void add_site(struct kcg_stock_item *m, const struct kcg_stock_item *b)
{
	m->available = bounded_sum(m->available, b->available);
	m->build_potential = bounded_sum(m->build_potential, b->build_potential);
	if (m->status != b->status && b->status != KCG_STOCK_DISCONTINUED)
		m->status = m->available > 0 ? KCG_STOCK_IN_STOCK : b->status;
	m->discontinued = m->status == KCG_STOCK_DISCONTINUED;
}

/* Sorted by code (then site), so the apply walks the databases in order;
 * one item per code and site: a code one site names twice keeps one
 * report (not expected), or, with SiteID -1, their sum (several sites). */
static int items_group(struct items *it)
{
	size_t w = 0;
	if (it->n > 1)
		qsort(it->v, it->n, sizeof(*it->v), cmp_item);
	for (size_t i = 0; i < it->n; i++) {
		if (w > 0 && cmp_item(&it->v[w - 1], &it->v[i]) == 0) {
			if (it->sum_sites)
				add_site(&it->v[w - 1], &it->v[i]);
			else
				it->v[w - 1] = it->v[i];
			continue;
		}
		it->v[w++] = it->v[i];
	}
	it->n = w;
	it->group = malloc((it->n + 1) * sizeof(*it->group));
	if (!it->group)
		return -ENOMEM;
	for (size_t i = 0; i < it->n; i++)
		if (i == 0 || strcmp(it->v[i - 1].code, it->v[i].code) != 0)
			it->group[it->n_groups++] = i;
	it->group[it->n_groups] = it->n;
	return 0;
}

/* Codes per write transaction: a first run's whole catalogue is written
 * in parts, so no transaction holds 100,000 items' pages at once (LMDB
 * keeps the pages of its largest transaction for reuse). */
#define ITEMS_PER_TXN 5000

/* apply_part: the codes of part run->part; the watermark moves only with
 * the outcome (refresh_apply), once every part is committed. */
static int refresh_apply_part(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct items *items = run->blob;
	int rc = 0;
	char when[32];
	kcg_format_time(t->now_ms, when, sizeof(when));
	uint64_t read_ms = kcg_json_u64(run->result, "started_ms");
	size_t n = items ? items->n_groups : 0;
	size_t from = (size_t)run->part * ITEMS_PER_TXN;
	size_t to = from + ITEMS_PER_TXN < n ? from + ITEMS_PER_TXN : n;
	for (size_t g = from; g < to; g++) {
		const struct kcg_stock_item *first = &items->v[items->group[g]], *end = &items->v[items->group[g + 1]];
		struct kcg_stock_item sum = *first;
		for (const struct kcg_stock_item *x = first + 1; x < end; x++)
			add_site(&sum, x);
		const struct kcg_stock_item *item = &sum;
		const char *code = item->code;
		json_t *old = NULL;
		bool known = kcg_txn_get_json(t, DB_SKUS, code, strlen(code), &old) == 0;
		bool was_active = known && !json_is_true(json_object_get(old, "discontinued"));
		bool active = !item->discontinued;
		bool rose = was_active && active && item->available > json_integer_value(json_object_get(old, "available"));
		bool same = known && json_integer_value(json_object_get(old, "available")) == item->available &&
			    json_integer_value(json_object_get(old, "build_potential")) == item->build_potential &&
			    json_integer_value(json_object_get(old, "status")) == item->status;
		json_decref(old);
		/* written even when the figures are the same: read_ms (when the
		 * read began) tells the order flow which bookings the level holds */
		json_t *rec = json_pack("{s:I, s:I, s:i, s:b, s:s, s:I}", "available", (json_int_t)item->available,
					"build_potential", (json_int_t)item->build_potential, "status", item->status,
					"discontinued", item->discontinued, "updated_at", when, "read_ms", (json_int_t)read_ms);
		if (rec && item->sell_price >= 0)
			json_object_set_new(rec, "sell_price", json_integer((json_int_t)item->sell_price));
		if (rec && item->websell_price >= 0)
			json_object_set_new(rec, "websell_price", json_integer((json_int_t)item->websell_price));
		rc = rec ? kcg_txn_put_json(t, DB_SKUS, code, strlen(code), rec) : -ENOMEM;
		json_decref(rec);
		/* the stock flow decides for itself, the overlap included: each
		 * site's item with [stock.warehouses], else the code's */
		for (const struct kcg_stock_item *x = items->n_sites ? first : item; rc == 0 && x < (items->n_sites ? end : item + 1); x++)
			rc = kcg_flows_stock_item(t, x, run->ctx);
		if (rc == 0 && !same && !was_active && active) {
			rc = kcg_exc_resolve(t, KCG_EXC_UNKNOWN_SKU, code, "auto");
			if (rc == 0)
				rc = kcg_flows_sku_active(t, code, run->ctx);
		} else if (rc == 0 && !same && rose) {
			/* more stock: orders held short on it may go now */
			rc = kcg_flows_sku_active(t, code, run->ctx);
		}
		if (rc != 0)
			return rc;
	}
	return to < n ? 1 : 0;
}

/* Items of the answer were skipped: one exception says which. */
static int raise_unreadable(struct kcg_txn *t, const char *why)
{
	char msg[600];
	snprintf(msg, sizeof(msg),
		 "Khaos's ExportStockStatus answer had stock items kcgate cannot read: %s. They were skipped (their "
		 "figures on Mirakl and the SKU cache are unchanged); every other item was taken. Fix the item in "
		 "Khaos (a code of at most 63 bytes, STATUS 0-5, a numeric LEVEL), then resolve this by hand: the "
		 "next change to the item brings it in.",
		 why);
	struct kcg_exc exc = {
		.kind = KCG_EXC_STOCK_ITEM_UNREADABLE, .severity = KCG_SEV_WARNING, .system = "khaos",
		.owner = "operations", .subject = "ExportStockStatus", .message = msg,
	};
	int rc = kcg_exc_raise(t, &exc, NULL);
	return rc == -EINVAL ? 0 : rc;
}

static int refresh_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	const char *skipped = json_string_value(json_object_get(run->result, "skipped"));
	int rc = skipped ? raise_unreadable(t, skipped) : 0;
	if (rc != 0)
		return rc;
	if (strcmp(run->subject, ALL) == 0) {
		rc = kcg_meta_put_u64(t, WATERMARK,
				      (uint64_t)json_integer_value(json_object_get(run->result, "started_ms")));
		if (rc == 0)
			rc = kcg_meta_put_u64(t, POLL_OK, t->now_ms);
		if (rc == 0 && json_is_true(json_object_get(run->result, "full")))
			rc = kcg_meta_put_u64(t, FULL_READ, 1);
		/* a whole read asked for (skus.revised) is done by a whole read
		 * that began after it was asked for, not by one already running */
		uint64_t due = kcg_meta_get_u64(t, FULL_DUE);
		if (rc == 0 && due && json_is_true(json_object_get(run->result, "whole")) &&
		    due <= kcg_json_u64(run->result, "started_ms"))
			rc = kcg_meta_put_u64(t, FULL_DUE, 0);
	}
	return rc;
}

static int watermark_fn(struct kcg_txn *t, void *arg)
{
	uint64_t *w = arg;
	w[0] = kcg_meta_get_u64(t, WATERMARK);
	w[1] = kcg_meta_get_u64(t, FULL_READ);
	w[2] = kcg_meta_get_u64(t, FULL_DUE);
	return 0;
}

/* ExportStockStatus for the poll's site it->k (or as configured). */
static int stock_call(const struct kcg_config *cfg, struct kcg_job_run *run, const struct items *it)
{
	char site[16];
	/* [stock] sites, when set, is the SiteID the stock flow polls; with
	 * [stock.warehouses] each mapped site in turn */
	struct kcg_khaos_config kc = cfg->khaos;
	if (cfg->stock.enabled == 1 && cfg->stock.sites)
		kc.stock_site_id = cfg->stock.sites;
	if (it->n_sites) {
		snprintf(site, sizeof(site), "%d", it->sites[it->k]);
		kc.stock_site_id = site;
	}
	bool all = strcmp(run->subject, ALL) == 0;
	int rc = kcg_khaos_stock_status(&kc, all ? "" : run->subject, it->since, &run->call);
	if (rc == 0 && cfg->stock.enabled == 1)
		run->call.max_reply_bytes = cfg->stock.max_answer_mb << 20;
	return rc;
}

static enum kcg_step skus_refresh(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	bool all = strcmp(run->subject, ALL) == 0;

	if (run->phase == PH_START) {
		uint64_t w[3] = { 0, 0, 0 };
		const struct kcg_config *cfg = flow->cfg;
		if (!kcg_khaos_soap_ready(&cfg->khaos))
			return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
		if (all && kcg_store_read(flow->store, watermark_fn, w) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the SKU watermark");
		/* the stock flow's first run reads the whole catalogue, even
		 * where the cache ran before it was enabled */
		bool full = all && cfg->stock.enabled == 1 && !w[1];
		/* or a whole read skus.revised asked for (too many codes revised) */
		uint64_t since = full || (all && w[2]) ? 0 : w[0];
		/* KSD "always recommend" a time buffer when polling for changes
		 * [WIG p.27]: the window starts poll_overlap_s before the last
		 * poll's start; what comes twice changes nothing. 0 stays 0 (the
		 * whole catalogue). */
		uint64_t overlap = cfg->stock.poll_overlap_s * 1000u;
		if (since)
			since = since > overlap ? since - overlap : 1;
		struct items *it = calloc(1, sizeof(*it));
		if (!it)
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		it->n_sites = kcg_stock_sites(cfg, it->sites);
		it->since = since;
		const char *site = cfg->stock.enabled == 1 && cfg->stock.sites ? cfg->stock.sites : cfg->khaos.stock_site_id;
		it->sum_sites = !it->n_sites && site && strcmp(site, "-1") == 0;
		run->blob = it;
		run->blob_free = items_free;
		run->phase = PH_READ;
		run->result = json_pack("{s:I, s:b, s:b}", "started_ms", (json_int_t)kcg_now_ms(), "full", full, "whole",
					all && since == 0);
		return kcg_job_call(run, stock_call(cfg, run, it));
	}
	struct items *it = run->blob;
	int rc = kcg_khaos_stock_status_parse(&flow->cfg->khaos, &run->reply, collect_item, it, why);
	if (rc != 0) {
		it->n = 0; /* nothing of a failed answer is kept */
		return kcg_job_failed(run, rc, why);
	}
	if (why[0] && !json_object_get(run->result, "skipped")) /* items skipped: the first site's word */
		json_object_set_new(run->result, "skipped", json_string(why));
	if (it->n_sites && ++it->k < it->n_sites) /* the next site */
		return kcg_job_call(run, stock_call(flow->cfg, run, it));
	if (items_group(it) != 0)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->apply_part = refresh_apply_part;
	run->apply = refresh_apply;
	return KCG_STEP_DONE;
}

/* ---- skus.revised: the codes GetStockList says were revised ---- */

/* The codes of one GetStockList answer, compact; past
 * REVISED_ONE_BY_ONE_MAX they are only counted (the whole catalogue is
 * read instead). */
struct revised {
	char (*code)[KCG_KHAOS_CODE_MAX];
	size_t n;
	size_t listed;
};

static void revised_free(void *p)
{
	struct revised *rv = p;
	free(rv->code);
	free(rv);
}

static int revised_code(const struct kcg_khaos_stock_info *info, void *arg)
{
	struct revised *rv = arg;
	if (++rv->listed > REVISED_ONE_BY_ONE_MAX)
		return 0;
	memcpy(rv->code[rv->n++], info->code, KCG_KHAOS_CODE_MAX);
	return 0;
}

static int revised_watermark_fn(struct kcg_txn *t, void *arg)
{
	*(uint64_t *)arg = kcg_meta_get_u64(t, REVISED_WATERMARK);
	return 0;
}

/* The outcome: each code read again through the cache (its apply hands
 * the item to every flow's on_stock_item), or one whole read asked for;
 * the watermark moves with it, in this transaction only. */
static int revised_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct revised *rv = run->blob;
	int rc = 0;
	if (json_is_true(json_object_get(run->result, "whole"))) {
		/* the next skus.refresh "all" that begins after now reads the
		 * whole catalogue (FULL_DUE, kept until one has); queued now */
		rc = kcg_meta_put_u64(t, FULL_DUE, t->now_ms);
		if (rc == 0)
			rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "skus.refresh", ALL, NULL, 0, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	} else {
		for (size_t i = 0; rv && rc == 0 && i < rv->n; i++)
			rc = kcg_skus_refresh_one(t, rv->code[i]);
	}
	if (rc == 0)
		rc = kcg_meta_put_u64(t, REVISED_WATERMARK, kcg_json_u64(run->result, "started_ms"));
	return rc;
}

/* skus.revised (subject "all"): GetStockList(REVISION_DATE since the
 * watermark less the stock poll's overlap) names the codes revised in
 * Khaos, which ExportStockStatus's LastUpdated may not see (a price
 * changed alone, a new code: docs/khaos-soap.md §4.4); each is read again
 * through the cache. The first run only starts the clock: the first full
 * read and the first inriver audit cover what came before. */
static enum kcg_step skus_revised(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	const struct kcg_config *cfg = flow->cfg;
	char why[KCG_ERROR_MAX];

	if (run->phase == PH_START) {
		uint64_t since = 0;
		if (!kcg_khaos_soap_ready(&cfg->khaos))
			return kcg_job_failed(run, -EAGAIN, "waiting for the Khaos namespace (job khaos.wsdl)");
		if (kcg_store_read(flow->store, revised_watermark_fn, &since) != 0)
			return kcg_job_failed(run, -EAGAIN, "cannot read the GetStockList watermark");
		run->result = json_pack("{s:I, s:b}", "started_ms", (json_int_t)kcg_now_ms(), "whole", false);
		if (!run->result)
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		if (since == 0) {
			run->apply = revised_apply;
			kcg_log(KCG_LOG_INFO, "GetStockList: first run, the clock starts now (the first full read and "
					      "the first inriver audit cover what came before)", NULL);
			return KCG_STEP_DONE;
		}
		/* the same time buffer as the stock poll [WIG p.27]: what comes
		 * twice is read twice, and changes nothing */
		uint64_t overlap = cfg->stock.poll_overlap_s * 1000u;
		since = since > overlap ? since - overlap : 1;
		struct revised *rv = calloc(1, sizeof(*rv));
		if (rv)
			rv->code = malloc(REVISED_ONE_BY_ONE_MAX * sizeof(*rv->code));
		if (!rv || !rv->code) {
			revised_free(rv);
			return kcg_job_failed(run, -EAGAIN, "out of memory");
		}
		run->blob = rv;
		run->blob_free = revised_free;
		run->apply = NULL; /* nothing is written until the answer is read */
		run->phase = PH_READ;
		return kcg_job_call(run, kcg_khaos_stock_list(&cfg->khaos, since, &run->call));
	}
	struct revised *rv = run->blob;
	struct kcg_khaos_stock_list list;
	int rc = kcg_khaos_stock_list_parse(&cfg->khaos, &run->reply, revised_code, rv, &list, why);
	if (rc == -EAGAIN && run->attempts + 1 < REVISED_TRIES) { /* transient: the same window again */
		rv->n = 0; /* nothing of a failed answer is kept */
		return kcg_job_failed(run, rc, why);
	}
	if (rc != 0) {
		/* an answer kcgate refuses (too big, too many items, a bad item:
		 * asking again brings the same), or a window that failed
		 * REVISED_TRIES times: one whole read covers it, the watermark
		 * moves on */
		rv->n = 0;
		json_object_set_new(run->result, "whole", json_true());
		kcg_log(KCG_LOG_WARN, "GetStockList: the window failed again: the whole catalogue is read instead",
			json_pack("{s:s, s:i}", "why", why, "tries", REVISED_TRIES));
		run->apply = revised_apply;
		return KCG_STEP_DONE;
	}
	if (why[0]) /* codes kcgate cannot keep: the SKU cache skips them too (stock_item_unreadable) */
		kcg_log(KCG_LOG_WARN, "GetStockList: stock codes skipped", json_pack("{s:s}", "why", why));
	/* Count above what List holds: the answer may be cut short
	 * (an assumption: Count is List's length, docs/khaos-soap.md §4.4) */
	bool short_list = list.count >= 0 && (uint64_t)list.count > list.listed + list.skipped;
	if (list.listed > REVISED_ONE_BY_ONE_MAX || short_list) {
		json_object_set_new(run->result, "whole", json_true());
		kcg_log(short_list ? KCG_LOG_WARN : KCG_LOG_INFO, /* a Count kcgate may misread: worth a look */
			short_list ? "GetStockList: Count is more than the list holds: the whole catalogue is read instead"
				   : "GetStockList: too many revised codes to read one by one: the whole catalogue is read "
				     "instead",
			json_pack("{s:I, s:I, s:i}", "listed", (json_int_t)list.listed, "count", (json_int_t)list.count,
				  "one_by_one_max", REVISED_ONE_BY_ONE_MAX));
	}
	json_object_set_new(run->result, "listed", json_integer((json_int_t)list.listed));
	run->apply = revised_apply;
	return KCG_STEP_DONE;
}

/* Whether any enabled flow wants the codes revised in Khaos (struct
 * kcg_flow.wants_revised_codes): GetStockList is asked only then. */
static bool revisions_wanted(const struct kcg_config *cfg)
{
	for (size_t i = 0; kcg_flows[i]; i++)
		if (kcg_flows[i]->wants_revised_codes && kcg_flows[i]->enabled(cfg))
			return true;
	return false;
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
static const struct kcg_job_kind kind_revised = { "skus.revised", KCG_LANE_KHAOS, skus_revised, NULL };

static void refresh_timer(struct kcg_engine *engine, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	if (!kcg_khaos_soap_ready(&flow->cfg->khaos))
		kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "khaos.wsdl", WSDL_SUBJECT);
	else if (atomic_load(&on_fallback))
		kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "khaos.wsdl", WSDL_REREAD);
	kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "skus.refresh", ALL);
}

/* The first tick is at start (the job waits for the namespace, as the
 * refresh does). */
static void revised_timer(struct kcg_engine *engine, void *ctx)
{
	kcg_flow_enqueue_now(ctx, KCG_LANE_KHAOS, "skus.revised", ALL);
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
	size_t n = revisions_wanted(cfg) ? 2 : 1;
	if (cap < n)
		return n;
	/* the stock flow polls for changes more often than the cache needs */
	uint64_t every = cfg->khaos.sku_refresh_s;
	if (cfg->stock.enabled == 1 && cfg->stock.poll_interval_s && cfg->stock.poll_interval_s < every)
		every = cfg->stock.poll_interval_s;
	out[0] = (struct kcg_engine_timer){ "skus.refresh", every * 1000u, refresh_timer };
	if (n == 2)
		out[1] = (struct kcg_engine_timer){ "skus.revised", cfg->khaos.stock_list_interval_s * 1000u,
						    revised_timer };
	return n;
}

static int skus_health(struct kcg_txn *t, struct kcg_flow_ctx *ctx, json_t *figures)
{
	int rc = kcg_flow_health_time(figures, "Khaos stock codes (ExportStockStatus): last refresh began",
				      kcg_meta_get_u64(t, WATERMARK), t->now_ms);
	if (rc == 0 && revisions_wanted(ctx->cfg))
		rc = kcg_flow_health_time(figures, "Khaos revised stock codes (GetStockList): last read began",
					  kcg_meta_get_u64(t, REVISED_WATERMARK), t->now_ms);
	return rc;
}

static bool skus_enabled(const struct kcg_config *cfg)
{
	return cfg->khaos.soap_url != NULL;
}

static const struct kcg_config_key skus_keys[] = {
	KCG_KEY_U64("khaos", "sku_refresh_s", khaos.sku_refresh_s, "300", 10, 86400),
	KCG_KEY_U64("khaos", "stock_list_interval_s", khaos.stock_list_interval_s, "300", 10, 86400),
};

static const struct kcg_config_keys skus_config = { skus_keys, sizeof(skus_keys) / sizeof(skus_keys[0]), NULL };

const struct kcg_flow kcg_flow_skus = {
	.name = "skus",
	.enabled = skus_enabled,
	.dbs = (const char *const[]){ DB_SKUS, NULL },
	.config = &skus_config,
	.kinds = (const struct kcg_job_kind *const[]){ &kind_refresh, &kind_wsdl, &kind_revised, NULL },
	.timers = skus_timers,
	.on_reload = skus_reload,
	.health = skus_health,
};
