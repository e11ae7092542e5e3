/*
 * stock_watch.c: the stock flow's watch (flows/stock.h): staleness
 * (stock_sync_stale), the drift check over OF21 (stock_drift, ghost_sku)
 * and the flow's metrics.
 */
#include "stock_private.h"

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/dynbuf.h"
#include "kcgate/exceptions.h"
#include "kcgate/flows/skus.h"
#include "kcgate/log.h"
#include "kcgate/metrics.h"
#include "kcgate/peers/mirakl.h"
#include "kcgate/peers/mirakl_stock.h"

#define STALE_SUBJECT "stock"

static _Atomic uint64_t process_start_ms; /* the first tick or view: the ages of "never" count from it */

/* Everything the ages need, read in one transaction. */
struct sync_read {
	uint64_t last_poll_ms, last_complete_ms, dirty;
	bool in_flight;
	json_t *state; /* kept when asked for (admin) */
};

static int sync_read(struct kcg_txn *t, struct sync_read *s)
{
	json_t *state = stock_sync_get(t);
	s->last_poll_ms = kcg_meta_get_u64(t, META_POLL_OK);
	s->last_complete_ms = (uint64_t)json_integer_value(json_object_get(state, "last_complete_ms"));
	const char *cur = json_string_value(json_object_get(state, "current"));
	s->in_flight = cur && *cur;
	int rc = stock_dirty_count(t, &s->dirty);
	if (s->state)
		json_decref(s->state);
	s->state = state;
	return rc;
}

static struct kcg_stock_ages ages_of(const struct kcg_config *cfg, const struct sync_read *s, uint64_t now)
{
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&process_start_ms, &zero, now);
	return kcg_stock_ages(now, atomic_load(&process_start_ms), s->last_poll_ms, s->last_complete_ms, s->dirty > 0 || s->in_flight,
			      cfg->stock.stale_after_s * 1000u);
}

static int stale_fn(struct kcg_txn *t, void *arg)
{
	const struct kcg_config *cfg = arg;
	struct sync_read s = { 0 };
	int rc = sync_read(t, &s);
	json_decref(s.state);
	if (rc != 0)
		return rc;
	struct kcg_stock_ages a = ages_of(cfg, &s, t->now_ms);
	bool open = kcg_exc_is_open(t, KCG_EXC_STOCK_SYNC_STALE, STALE_SUBJECT);
	if (!a.stale)
		return open ? kcg_exc_resolve(t, KCG_EXC_STOCK_SYNC_STALE, STALE_SUBJECT, "auto") : 0;
	if (open)
		return 0; /* raised already; the admin view has the ages now */
	char msg[700];
	snprintf(msg, sizeof(msg),
		 "Mirakl's stock may be out of date: the last good Khaos stock poll was %" PRIu64 " s ago%s, the last "
		 "complete stock import %" PRIu64 " s ago%s ([stock] stale_after_s = %" PRIu64 "); %" PRIu64 " SKUs wait "
		 "to be sent. Check the jobs on lanes khaos and mirakl_stock (GET /admin/jobs) and GET /admin/sync; the "
		 "risk is overselling.",
		 a.poll_age_ms / 1000u, s.last_poll_ms ? "" : " (none since start)", a.import_age_ms / 1000u,
		 s.last_complete_ms ? "" : " (none yet)", cfg->stock.stale_after_s, s.dirty);
	struct kcg_exc exc = {
		.kind = KCG_EXC_STOCK_SYNC_STALE, .severity = KCG_SEV_CRITICAL, .system = "kcgate",
		.owner = "operations", .subject = STALE_SUBJECT, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

void stock_stale_timer(struct kcg_engine *engine, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	uint64_t zero = 0;
	(void)engine;
	atomic_compare_exchange_strong(&process_start_ms, &zero, kcg_now_ms());
	int rc = kcg_store_write_sync(flow->store, stale_fn, (void *)flow->cfg);
	if (rc != 0)
		kcg_log(KCG_LOG_WARN, "cannot check the stock's staleness", json_pack("{s:s}", "detail", kcg_strerror(rc)));
}

/* ---- drift: OF21, one page per job ---- */

static int offer_fn(const char *sku, int64_t quantity, void *arg)
{
	return json_array_append_new(arg, json_pack("[s, I]", sku, (json_int_t)quantity));
}

static int raise_ghost(struct kcg_txn *t, const char *sku, int64_t q, bool discontinued)
{
	char msg[600];
	snprintf(msg, sizeof(msg),
		 "Mirakl offer '%.100s' (quantity %" PRId64 ") is %s: a ghost SKU, left live after the product was "
		 "retired. Delete or deactivate the offer on Mirakl, or fix its shop_sku; kcgate resolves this when the "
		 "SKU becomes an active Khaos stock code.",
		 sku, q, discontinued ? "discontinued in Khaos" : "not a Khaos stock code kcgate knows");
	struct kcg_exc exc = {
		.kind = KCG_EXC_GHOST_SKU, .severity = KCG_SEV_WARNING, .system = "mirakl",
		.owner = "ecommerce", .subject = sku, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

static int raise_drift(struct kcg_txn *t, const char *sku, int64_t shown, const struct kcg_stock_rec *rec)
{
	char msg[700];
	snprintf(msg, sizeof(msg),
		 "Mirakl shows %" PRId64 " for offer '%.100s', but kcgate last published %" PRId64 " (import %s). "
		 "Someone or something else changed it on Mirakl. kcgate sends its figure again with the next stock "
		 "import and resolves this when Mirakl takes it.",
		 shown, sku, rec->published, rec->published_import[0] ? rec->published_import : "unknown");
	struct kcg_exc exc = {
		.kind = KCG_EXC_STOCK_DRIFT, .severity = KCG_SEV_WARNING, .system = "mirakl",
		.owner = "operations", .subject = sku, .message = msg,
	};
	return kcg_exc_raise(t, &exc, NULL);
}

#define PUBLISHED_BOUND ((int64_t)1 << 40)

/* A ghost seen in drift pass @p pass ("ghost" 0x1F code in stock_sync
 * -> u64 pass): those not seen again by the pass's end are gone. */
#define GHOST_PREFIX "ghost\x1f"

static int ghost_seen(struct kcg_txn *t, const char *sku, uint64_t pass)
{
	char key[sizeof(GHOST_PREFIX) + KCG_EXC_FIELD_MAX];
	int n = snprintf(key, sizeof(key), GHOST_PREFIX "%s", sku);
	if (n < 0 || (size_t)n >= sizeof(key) || n > 500)
		return 0;
	MDB_val k = { (size_t)n, key }, v = { sizeof(pass), &pass };
	return mdb_put(t->txn, kcg_store_db(t->store, DB_STOCK_SYNC), &k, &v, 0);
}

/* The pass ended: a ghost_sku whose offer it did not see (deleted, or
 * deactivated: OF21's "active" false) is resolved. */
static int ghosts_gone(struct kcg_txn *t, uint64_t pass)
{
	json_t *list = NULL, *e;
	size_t i;
	int rc = kcg_exc_list(t, 1, KCG_EXC_GHOST_SKU, NULL, 10000, &list);
	if (rc != 0)
		return rc;
	MDB_dbi db = kcg_store_db(t->store, DB_STOCK_SYNC);
	json_array_foreach(list, i, e) {
		const char *sku = json_string_value(json_object_get(e, "subject"));
		char key[sizeof(GHOST_PREFIX) + KCG_EXC_FIELD_MAX];
		int n = sku ? snprintf(key, sizeof(key), GHOST_PREFIX "%s", sku) : -1;
		if (n < 0 || (size_t)n >= sizeof(key))
			continue;
		MDB_val k = { (size_t)n, key }, v;
		uint64_t seen = 0;
		if (mdb_get(t->txn, db, &k, &v) == 0 && v.mv_size == sizeof(seen))
			memcpy(&seen, v.mv_data, sizeof(seen));
		if (pass && seen == pass)
			continue; /* still live */
		rc = kcg_exc_resolve(t, KCG_EXC_GHOST_SKU, sku, "auto");
		if (rc == 0) {
			rc = mdb_del(t->txn, db, &k, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : rc;
		}
		if (rc != 0)
			break;
	}
	json_decref(list);
	return rc;
}

/* One offer of the page against what kcgate knows; @p running: an import
 * is in flight (it decides: no drift is judged meanwhile). OF21 shows one
 * quantity per offer: with warehouses, it is compared with the sum of what
 * kcgate published for each, and a drift sends every warehouse again. */
static int drift_one(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, int64_t shown, bool running,
		     uint64_t pass)
{
	bool discontinued;
	char keys[KCG_STOCK_SITES_MAX][KCG_STOCK_KEY_MAX], subject[KCG_STOCK_KEY_MAX];
	struct kcg_stock_rec recs[KCG_STOCK_SITES_MAX];
	bool have[KCG_STOCK_SITES_MAX];
	if (strlen(sku) >= KCG_EXC_FIELD_MAX)
		return 0;
	if (!kcg_skus_active(t, sku, &discontinued)) {
		int rc = raise_ghost(t, sku, shown, discontinued);
		return rc == 0 ? ghost_seen(t, sku, pass) : rc;
	}
	if (strlen(sku) >= KCG_KHAOS_CODE_MAX)
		return 0;
	size_t n = stock_keys_of(cfg, sku, keys), found = 0;
	int64_t published = 0;
	bool judged = !running;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		have[i] = kcg_stock_get(t, keys[i], &recs[i]) == 0;
		found += have[i];
		if (have[i] && recs[i].published < 0)
			judged = false; /* never published (or refused): nothing to compare with */
		/* each bounded to 2^40 (as the order flow bounds levels): at most
		 * KCG_STOCK_SITES_MAX of them cannot wrap */
		if (have[i] && recs[i].published > 0)
			published += recs[i].published < PUBLISHED_BOUND ? recs[i].published : PUBLISHED_BOUND;
	}
	if (!found)
		return 0;
	/* Mirakl lowers an offer's quantity when an order is created (and gives
	 * it back on refusal or cancellation): less than kcgate published is
	 * the sales since, not a drift. Only more is (the overselling side). */
	bool drift = judged && shown > published;
	if (drift) {
		struct kcg_stock_rec sum = recs[0];
		for (size_t i = 0; !have[0] && i < n; i++)
			if (have[i])
				sum = recs[i];
		sum.published = published;
		rc = raise_drift(t, sku, shown, &sum);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!have[i])
			continue;
		recs[i].mirakl = shown;
		if (recs[i].failed >= 0) {
			/* the offer exists on Mirakl now: the refused line is sent again */
			recs[i].failed = -1;
			stock_subject(subject, keys[i]);
			rc = stock_refused_set(t, keys[i], false);
			if (rc == 0)
				rc = kcg_exc_resolve(t, KCG_EXC_STOCK_IMPORT_LINE, subject, "auto");
		} else if (drift) {
			/* what Mirakl really shows (one line), or unknown (per
			 * warehouse): the next flush repairs it */
			recs[i].published = n == 1 ? shown : -1;
		}
		if (rc == 0)
			rc = stock_put(t, keys[i], &recs[i]);
		if (rc == 0)
			rc = stock_recheck(t, cfg, keys[i], &recs[i]);
	}
	/* kcgate's figure is what Mirakl shows already: nothing to repair */
	if (rc == 0 && drift && n == 1 && !stock_is_dirty(t, keys[0]))
		rc = kcg_exc_resolve(t, KCG_EXC_STOCK_DRIFT, sku, "auto");
	return rc == -EINVAL ? 0 : rc;
}

static int apply_page(struct kcg_txn *t, struct kcg_job_run *run)
{
	struct kcg_flow_ctx *ctx = run->ctx;
	json_t *offers = json_object_get(run->result, "offers"), *o;
	size_t i;
	int rc = 0;
	json_t *state = stock_sync_get(t);
	const char *cur = json_string_value(json_object_get(state, "current"));
	bool running = cur && *cur;
	/* a pass starts at offset 0 */
	if (strcmp(run->subject, "0") == 0) {
		json_object_set_new(state, "drift_pass_ms", json_integer((json_int_t)t->now_ms));
		rc = stock_sync_put(t, state);
	}
	uint64_t pass = (uint64_t)json_integer_value(json_object_get(state, "drift_pass_ms"));
	json_decref(state);
	json_array_foreach(offers, i, o) {
		if (rc == 0)
			rc = drift_one(t, ctx->cfg, json_string_value(json_array_get(o, 0)),
				       (int64_t)json_integer_value(json_array_get(o, 1)), running, pass);
		if (rc != 0)
			return rc;
	}
	uint64_t next = (uint64_t)json_integer_value(json_object_get(run->result, "next"));
	if (!next && pass && (rc = ghosts_gone(t, pass)) != 0)
		return rc;
	if (next) {
		char subject[32];
		snprintf(subject, sizeof(subject), "%" PRIu64, next);
		rc = kcg_jobs_enqueue(t, KCG_LANE_MIRAKL_STOCK, "stock.drift", subject, NULL,
				      t->now_ms + ctx->cfg->stock.drift_page_delay_ms, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	return rc;
}

static int polled_once(struct kcg_txn *t, void *arg)
{
	*(uint64_t *)arg = kcg_meta_get_u64(t, META_POLL_OK);
	return 0;
}

static enum kcg_step stock_drift(struct kcg_job_run *run, void *ctx)
{
	struct kcg_flow_ctx *flow = ctx;
	char why[KCG_ERROR_MAX];
	uint64_t offset;
	if (kcg_parse_u64(run->subject, 0, UINT32_MAX, &offset) != 0)
		return kcg_job_failed(run, KCG_EPAYLOAD, "stock.drift: the subject is not an offset");
	if (run->n_calls == 0) {
		uint64_t polled = 0;
		if (kcg_store_read(flow->store, polled_once, &polled) != 0 || !polled)
			return kcg_job_failed(run, -EAGAIN, "waiting for the first Khaos stock poll (every offer would "
							    "look like a ghost)");
		return kcg_job_call(run, kcg_mirakl_of21(&flow->cfg->mirakl, offset, KCG_MIRAKL_PAGE_MAX, &run->call));
	}
	uint64_t total;
	size_t n;
	json_t *offers = json_array();
	int rc = offers ? kcg_mirakl_of21_parse(&run->reply, offer_fn, offers, &total, &n, why) : -EAGAIN;
	if (rc != 0) {
		json_decref(offers);
		return kcg_job_failed(run, rc, offers ? why : "out of memory");
	}
	uint64_t next = n > 0 && offset + n < total ? offset + n : 0;
	run->result = json_pack("{s:o, s:I}", "offers", offers, "next", (json_int_t)next);
	if (!run->result)
		return kcg_job_failed(run, -EAGAIN, "out of memory");
	run->apply = apply_page;
	return KCG_STEP_DONE;
}

const struct kcg_job_kind stock_kind_drift = { "stock.drift", KCG_LANE_MIRAKL_STOCK, stock_drift, NULL };

void stock_drift_timer(struct kcg_engine *engine, void *ctx)
{
	(void)engine;
	kcg_flow_enqueue_now(ctx, KCG_LANE_MIRAKL_STOCK, "stock.drift", "0");
}

/* ---- views and metrics ---- */

static int sync_view(struct kcg_txn *t, void *arg)
{
	struct sync_read *s = arg;
	return sync_read(t, s);
}

int kcg_stock_sync_view(struct kcg_store *store, const struct kcg_config *cfg, json_t **out)
{
	struct sync_read s = { 0 };
	*out = NULL;
	int rc = kcg_store_read(store, sync_view, &s);
	if (rc != 0) {
		json_decref(s.state);
		return rc;
	}
	struct kcg_stock_ages a = ages_of(cfg, &s, kcg_now_ms());
	*out = json_pack("{s:I, s:I, s:o?, s:O?, s:O?, s:I, s:b, s:O?}", "poll_age_s", (json_int_t)(a.poll_age_ms / 1000u),
			 "import_age_s", (json_int_t)(a.import_age_ms / 1000u), "last_poll_ms",
			 s.last_poll_ms ? json_integer((json_int_t)s.last_poll_ms) : NULL, "last_import",
			 json_object_get(s.state, "last_import"), "current_import", json_object_get(s.state, "current"),
			 "dirty", (json_int_t)s.dirty, "stale", a.stale, "last_complete_ms",
			 json_object_get(s.state, "last_complete_ms"));
	json_decref(s.state);
	return *out ? 0 : -ENOMEM;
}

int stock_metrics(struct kcg_store *store, const struct kcg_config *cfg, char **text)
{
	json_t *v;
	if (cfg->stock.enabled != 1)
		return 0;
	int rc = kcg_stock_sync_view(store, cfg, &v);
	if (rc != 0)
		return rc;
	json_t *last = json_object_get(v, "last_import");
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, KCG_METRICS_TEXT_MAX);
	kcg_dynbuf_addstr(&b, *text);
	kcg_dynbuf_printf(&b,
			  "# HELP kcgate_stock_poll_age_seconds Since the last good Khaos stock poll.\n"
			  "# TYPE kcgate_stock_poll_age_seconds gauge\nkcgate_stock_poll_age_seconds %lld\n"
			  "# HELP kcgate_stock_import_age_seconds Since the last COMPLETE stock import.\n"
			  "# TYPE kcgate_stock_import_age_seconds gauge\nkcgate_stock_import_age_seconds %lld\n"
			  "# HELP kcgate_stock_dirty SKUs whose figure waits to be sent to Mirakl.\n"
			  "# TYPE kcgate_stock_dirty gauge\nkcgate_stock_dirty %lld\n"
			  "# HELP kcgate_stock_last_import_lines The last stock import's lines, by result.\n"
			  "# TYPE kcgate_stock_last_import_lines gauge\n"
			  "kcgate_stock_last_import_lines{result=\"success\"} %lld\n"
			  "kcgate_stock_last_import_lines{result=\"error\"} %lld\n"
			  "# HELP kcgate_stock_stale 1 while Mirakl's stock may be out of date.\n"
			  "# TYPE kcgate_stock_stale gauge\nkcgate_stock_stale %d\n",
			  (long long)json_integer_value(json_object_get(v, "poll_age_s")),
			  (long long)json_integer_value(json_object_get(v, "import_age_s")),
			  (long long)json_integer_value(json_object_get(v, "dirty")),
			  (long long)json_integer_value(json_object_get(last, "lines_in_success")),
			  (long long)json_integer_value(json_object_get(last, "lines_in_error")),
			  json_is_true(json_object_get(v, "stale")));
	json_decref(v);
	char *out = kcg_dynbuf_take(&b, NULL);
	if (!out)
		return kcg_dynbuf_error(&b);
	free(*text);
	*text = out;
	return 0;
}
