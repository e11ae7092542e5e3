/*
 * stock.c: flow 2, Khaos stock to Mirakl (see flows/stock.h): the
 * records, the SKU cache's poll hook, the keys and the flow's struct. The
 * imports are stock_flush.c, the watch stock_watch.c, the admin views
 * stock_admin.c, the decisions stock_rules.c.
 */
#include "stock_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/inriver.h"
#include "kcgate/flows/orders.h"
#include "kcgate/flows/skus.h"
#include "kcgate/log.h"
#include "kcgate/peers/mirakl_stock.h"

/* ---- records and their keys ---- */

#define KEY_SEP '\x1f' /* between the code and the warehouse-code in a key */

void stock_key(char out[KCG_STOCK_KEY_MAX], const char *sku, const char *wh)
{
	if (wh && *wh)
		snprintf(out, KCG_STOCK_KEY_MAX, "%s%c%s", sku, KEY_SEP, wh);
	else
		snprintf(out, KCG_STOCK_KEY_MAX, "%s", sku);
}

const char *stock_key_split(const char *key, char sku[KCG_KHAOS_CODE_MAX])
{
	const char *sep = strchr(key, KEY_SEP);
	size_t n = sep ? (size_t)(sep - key) : strlen(key);
	if (n >= KCG_KHAOS_CODE_MAX)
		n = KCG_KHAOS_CODE_MAX - 1;
	memcpy(sku, key, n);
	sku[n] = '\0';
	return sep ? sep + 1 : NULL;
}

void stock_subject(char out[KCG_STOCK_KEY_MAX], const char *key)
{
	char sku[KCG_KHAOS_CODE_MAX];
	const char *wh = stock_key_split(key, sku);
	if (wh)
		snprintf(out, KCG_STOCK_KEY_MAX, "%s@%s", sku, wh);
	else
		snprintf(out, KCG_STOCK_KEY_MAX, "%s", sku);
}

const char *stock_warehouse_of(const struct kcg_config *cfg, int site)
{
	char k[16];
	snprintf(k, sizeof(k), "%d", site);
	return kcg_config_map_get(atomic_load(&cfg->stock.warehouses), k);
}

size_t kcg_stock_sites(const struct kcg_config *cfg, int sites[KCG_STOCK_SITES_MAX])
{
	const struct kcg_config_map *m = atomic_load(&cfg->stock.warehouses);
	size_t n = 0;
	uint64_t v;
	for (size_t i = 0; cfg->stock.enabled == 1 && m && i < m->n && n < KCG_STOCK_SITES_MAX; i++)
		if (kcg_parse_u64(m->entries[i].key, 0, 1000000, &v) == 0)
			sites[n++] = (int)v;
	return n;
}

size_t stock_keys_of(const struct kcg_config *cfg, const char *sku, char keys[][KCG_STOCK_KEY_MAX])
{
	int sites[KCG_STOCK_SITES_MAX];
	size_t n_sites = kcg_stock_sites(cfg, sites), n = 0;
	if (strlen(sku) >= KCG_KHAOS_CODE_MAX)
		return 0; /* no code Khaos reported: no record */
	if (!n_sites) {
		stock_key(keys[n++], sku, NULL);
		return n;
	}
	for (size_t i = 0; i < n_sites; i++) {
		const char *wh = stock_warehouse_of(cfg, sites[i]);
		if (wh)
			stock_key(keys[n++], sku, wh);
	}
	return n;
}

int kcg_stock_get(struct kcg_txn *t, const char *key, struct kcg_stock_rec *out)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(t->txn, kcg_store_db(t->store, DB_STOCK), &k, &v);
	if (rc == MDB_NOTFOUND)
		return KCG_ENOTFOUND;
	if (rc != 0)
		return rc;
	if (v.mv_size != sizeof(*out))
		return KCG_ESTORE;
	memcpy(out, v.mv_data, sizeof(*out));
	if (out->version != KCG_STOCK_REC_VERSION)
		return KCG_ESTORE;
	out->published_import[sizeof(out->published_import) - 1] = '\0';
	return 0;
}

int stock_put(struct kcg_txn *t, const char *sku, const struct kcg_stock_rec *rec)
{
	MDB_val k = { strlen(sku), (void *)sku }, v = { sizeof(*rec), (void *)rec };
	return mdb_put(t->txn, kcg_store_db(t->store, DB_STOCK), &k, &v, 0);
}

static struct kcg_stock_rules rules_of(const struct kcg_config *cfg)
{
	struct kcg_stock_rules r = { .include_build = cfg->stock.include_build_potential == 1,
				     .uncontrolled = KCG_STOCK_LEAVE };
	uint64_t q;
	const char *u = cfg->stock.uncontrolled_quantity;
	if (u && kcg_parse_u64(u, 0, 1000000000, &q) == 0)
		r.uncontrolled = (int64_t)q;
	return r;
}

/* With [stock.warehouses] the whole reservation and buffer of a code come
 * off each of its warehouses' figures: which warehouse will ship an order
 * is not known when it is accepted (never too many, at the price of too
 * few: the anti-overselling side). */
bool stock_figure(struct kcg_txn *t, const struct kcg_config *cfg, const char *key, const struct kcg_stock_rec *rec,
		  int64_t *qty, uint64_t *reserved)
{
	struct kcg_stock_rules rules = rules_of(cfg);
	char sku[KCG_KHAOS_CODE_MAX];
	int64_t level;
	bool controlled;
	uint64_t read_ms = 0;
	stock_key_split(key, sku);
	/* with read_ms 0 every booking counts: when that is none, nothing is
	 * held back and the level's read_ms is not needed (the usual case) */
	if (kcg_orders_held_back(t, sku, 0, reserved) != 0)
		*reserved = KCG_HELD_BACK_MAX; /* unreadable: nothing is offered rather than too much */
	/* else the read_ms of the level the record holds: the SKU cache writes
	 * both from the same poll, in the same transaction */
	else if (*reserved > 0 && kcg_skus_level(t, sku, &level, &controlled, &read_ms) == 0 &&
		 kcg_orders_held_back(t, sku, read_ms, reserved) != 0)
		*reserved = KCG_HELD_BACK_MAX;
	switch (kcg_inriver_sku_gate(t, cfg, sku)) {
	case KCG_INRIVER_GATE_ZERO:
		*qty = 0; /* deleted in inriver, or not linked when a link is required */
		return true;
	case KCG_INRIVER_GATE_HOLD:
		return false; /* a link is required and not known yet: send nothing */
	default:
		break;
	}
	uint64_t buffer = kcg_stock_buffer_of(atomic_load(&cfg->stock.buffers), sku, cfg->stock.buffer);
	return kcg_stock_publishable(&rules, rec->level, rec->build, rec->status, buffer, *reserved, qty);
}

/* @p key in list @p db (key -> ""), or not: stock_refused, stock_held. */
static int list_set(struct kcg_txn *t, const char *db_name, const char *key, bool in)
{
	MDB_dbi db = kcg_store_db(t->store, db_name);
	MDB_val k = { strlen(key), (void *)key }, v = { 0, "" };
	int rc = in ? mdb_put(t->txn, db, &k, &v, MDB_NOOVERWRITE) : mdb_del(t->txn, db, &k, NULL);
	return rc == MDB_NOTFOUND || rc == MDB_KEYEXIST ? 0 : rc;
}

int stock_refused_set(struct kcg_txn *t, const char *sku, bool refused)
{
	return list_set(t, DB_STOCK_REFUSED, sku, refused);
}

bool stock_is_dirty(struct kcg_txn *t, const char *key)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	return mdb_get(t->txn, kcg_store_db(t->store, DB_STOCK_DIRTY), &k, &v) == 0;
}

int stock_dirty_set(struct kcg_txn *t, const char *sku, bool dirty)
{
	MDB_dbi db = kcg_store_db(t->store, DB_STOCK_DIRTY);
	MDB_val k = { strlen(sku), (void *)sku }, v;
	if (!dirty) {
		int rc = mdb_del(t->txn, db, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	uint64_t now = t->now_ms;
	v = (MDB_val){ sizeof(now), &now };
	int rc = mdb_put(t->txn, db, &k, &v, MDB_NOOVERWRITE); /* the first time it became dirty stands */
	return rc == MDB_KEYEXIST ? 0 : rc;
}

bool stock_retired_unlisted(const struct kcg_stock_rec *rec)
{
	return rec->status == KCG_STOCK_DISCONTINUED && rec->failed == 0; /* its very 0 refused: no offer */
}

bool stock_sendable(const char *key)
{
	char sku[KCG_KHAOS_CODE_MAX];
	const char *wh = stock_key_split(key, sku);
	return strlen(key) < KCG_STOCK_KEY_MAX && kcg_mirakl_stock_sku_ok(sku) && (!wh || kcg_mirakl_stock_sku_ok(wh));
}

/* @p in with its control characters as \xNN (cut to fit @p out). */
static void printable(char *out, size_t cap, const char *in)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && n + 5 < cap; p++) {
		if (*p < 0x20 || *p == 0x7f)
			n += (size_t)snprintf(out + n, cap - n, "\\x%02X", *p);
		else
			out[n++] = (char)*p;
	}
	out[n] = '\0';
}

/* A figure no STO01 line can carry (a code with control characters, or
 * longer than Mirakl's offer-sku): said once, and the record left out of
 * stock_dirty (it would wait forever, and keep stock_sync_stale open). */
static int raise_unsendable(struct kcg_txn *t, const char *key, int64_t qty)
{
	char subject[KCG_STOCK_KEY_MAX], shown[4 * KCG_STOCK_KEY_MAX + 8], msg[1200];
	stock_subject(subject, key);
	printable(shown, sizeof(shown), subject);
	if (kcg_exc_is_open(t, KCG_EXC_STOCK_SKU_UNSENDABLE, shown))
		return 0;
	snprintf(msg, sizeof(msg),
		 "Khaos stock code '%s' cannot be sent to Mirakl in a stock import (quantity %" PRId64 "): an offer-sku "
		 "of at most %d bytes without control characters is needed. kcgate does not send it and does not "
		 "count it as waiting. Fix the code in Khaos (or the offer on Mirakl); kcgate sends the new code's "
		 "figure once Khaos reports it.",
		 shown, qty, KCG_MIRAKL_SKU_MAX - 1);
	struct kcg_exc exc = {
		.kind = KCG_EXC_STOCK_SKU_UNSENDABLE, .severity = KCG_SEV_WARNING, .system = "khaos",
		.owner = "ecommerce", .subject = shown, .message = msg,
	};
	int rc = kcg_exc_raise(t, &exc, NULL);
	return rc == -EINVAL ? 0 : rc;
}

int stock_recheck(struct kcg_txn *t, const struct kcg_config *cfg, const char *key, const struct kcg_stock_rec *rec)
{
	int64_t qty;
	uint64_t reserved;
	bool push = false;
	char subject[KCG_STOCK_KEY_MAX];
	bool show = stock_figure(t, cfg, key, rec, &qty, &reserved);
	/* stock_held lists the records whose last figure held units back, so
	 * the flush looks at them again when the orders' side frees them (a
	 * refusal, a poll: neither lists the code any more). Only a list of
	 * candidates: the figure always comes from kcg_orders_held_back(). */
	int rc = list_set(t, DB_STOCK_HELD, key, reserved > 0);
	if (rc != 0)
		return rc;
	if (show) {
		stock_subject(subject, key);
		bool refused_open = rec->failed == qty && kcg_exc_is_open(t, KCG_EXC_STOCK_IMPORT_LINE, subject);
		push = kcg_stock_needs_push(rec, qty, refused_open);
	}
	if (push && !stock_sendable(key)) {
		push = false;
		rc = raise_unsendable(t, key, qty);
	} else if (push && stock_retired_unlisted(rec)) {
		/* retired in Khaos, and Mirakl refused its 0 line (no offer):
		 * there is nothing to set to 0; the drift check sends it if the
		 * offer appears */
		push = false;
		stock_subject(subject, key);
		rc = kcg_exc_resolve(t, KCG_EXC_STOCK_IMPORT_LINE, subject, "auto");
		if (rc == 0)
			rc = stock_refused_set(t, key, false);
		rc = rc == -EINVAL ? 0 : rc;
	}
	return rc != 0 ? rc : stock_dirty_set(t, key, push);
}

int kcg_stock_recheck_sku(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku)
{
	char keys[KCG_STOCK_SITES_MAX][KCG_STOCK_KEY_MAX];
	size_t n = stock_keys_of(cfg, sku, keys);
	for (size_t i = 0; i < n; i++) {
		struct kcg_stock_rec rec;
		int rc = kcg_stock_get(t, keys[i], &rec);
		if (rc == KCG_ENOTFOUND || rc == KCG_ESTORE)
			continue; /* no record: the next poll brings one, checked then */
		if (rc == 0)
			rc = stock_recheck(t, cfg, keys[i], &rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int kcg_stock_code_get(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, struct kcg_stock_code *out)
{
	char keys[KCG_STOCK_SITES_MAX][KCG_STOCK_KEY_MAX];
	size_t n = stock_keys_of(cfg, sku, keys);
	*out = (struct kcg_stock_code){ .published = -1 };
	for (size_t i = 0; i < n; i++) {
		struct kcg_stock_rec rec;
		int rc = kcg_stock_get(t, keys[i], &rec);
		if (rc == KCG_ENOTFOUND || rc == KCG_ESTORE)
			continue;
		if (rc != 0)
			return rc;
		out->records++;
		/* 0 confirmed, or no offer: Mirakl refused its 0 line (nothing to set to 0) */
		out->retired_zero += rec.status == KCG_STOCK_DISCONTINUED && (rec.published == 0 || stock_retired_unlisted(&rec));
		if (rec.published >= 0)
			out->published = (out->published < 0 ? 0 : out->published) + rec.published;
	}
	return out->records ? 0 : KCG_ENOTFOUND;
}

json_t *stock_sync_get(struct kcg_txn *t)
{
	json_t *s;
	if (kcg_txn_get_json(t, DB_STOCK_SYNC, SYNC_KEY, strlen(SYNC_KEY), &s) == 0 && json_is_object(s))
		return s;
	return json_object();
}

int stock_sync_put(struct kcg_txn *t, json_t *state)
{
	return kcg_txn_put_json(t, DB_STOCK_SYNC, SYNC_KEY, strlen(SYNC_KEY), state);
}

int stock_each_key(struct kcg_txn *t, const char *db,
		   int (*fn)(struct kcg_txn *t, const char *sku, const MDB_val *v, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char sku[KCG_STOCK_KEY_MAX];
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, db), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size >= sizeof(sku))
			continue; /* not a record this flow writes */
		memcpy(sku, k.mv_data, k.mv_size);
		sku[k.mv_size] = '\0';
		rc = fn(t, sku, &v, arg);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int stock_dirty_count(struct kcg_txn *t, uint64_t *n)
{
	MDB_stat st;
	*n = 0;
	int rc = mdb_stat(t->txn, kcg_store_db(t->store, DB_STOCK_DIRTY), &st);
	if (rc == 0)
		*n = st.ms_entries;
	return rc;
}

/* ---- the poll hook ---- */

/* on_stock_item: Khaos reported @p it (new, changed, or the overlap
 * again). Records what changed and marks the SKU dirty when its figure
 * must be sent. An active code that Mirakl showed as a ghost is one no more. */
static int stock_item(struct kcg_txn *t, const struct kcg_stock_item *it, struct kcg_flow_ctx *ctx)
{
	struct kcg_stock_rec rec;
	char key[KCG_STOCK_KEY_MAX];
	int sites[KCG_STOCK_SITES_MAX];
	if (kcg_stock_sites(ctx->cfg, sites) > 0) { /* one record per warehouse */
		const char *wh = stock_warehouse_of(ctx->cfg, it->site);
		if (!wh)
			return 0; /* a site [stock.warehouses] does not map (a reload since the poll began) */
		stock_key(key, it->code, wh);
	} else {
		stock_key(key, it->code, NULL);
	}
	int rc = kcg_stock_get(t, key, &rec);
	bool is_new = rc == KCG_ENOTFOUND;
	if (is_new || rc == KCG_ESTORE)
		kcg_stock_rec_init(&rec); /* a record of another layout is started again */
	else if (rc != 0)
		return rc;
	if (!is_new && rec.level == it->available && rec.build == it->build_potential && rec.status == it->status)
		return stock_recheck(t, ctx->cfg, key, &rec); /* the same level, read later: bookings it shows leave the figure */
	bool was_active = !is_new && rec.status != KCG_STOCK_DISCONTINUED;
	rec.level = it->available;
	rec.build = it->build_potential;
	rec.status = it->status;
	rec.changed_ms = t->now_ms;
	rc = stock_put(t, key, &rec);
	if (rc == 0)
		rc = stock_recheck(t, ctx->cfg, key, &rec);
	if (rc == 0 && !was_active && !it->discontinued)
		rc = kcg_exc_resolve(t, KCG_EXC_GHOST_SKU, it->code, "auto");
	return rc == -EINVAL ? 0 : rc; /* a code too long for the register has no exception to resolve */
}

/* ---- reload: buffers may have changed ---- */

static int recheck_one(struct kcg_txn *t, const char *sku, const MDB_val *v, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	struct kcg_stock_rec rec;
	if (v->mv_size != sizeof(rec))
		return 0;
	memcpy(&rec, v->mv_data, sizeof(rec));
	return rec.version == KCG_STOCK_REC_VERSION ? stock_recheck(t, ctx->cfg, sku, &rec) : 0;
}

static int recheck_all(struct kcg_txn *t, void *arg)
{
	return stock_each_key(t, DB_STOCK, recheck_one, arg);
}

static int stock_reload(struct kcg_flow_ctx *ctx, size_t *n)
{
	*n = 0;
	return kcg_store_write_sync(ctx->store, recheck_all, ctx);
}

/* ---- keys ---- */

static const struct kcg_config_choice bool_choices[] = {
	{ "true", 1 },
	{ "false", 0 },
	{ NULL, 0 },
};

static const struct kcg_config_choice rate_choices[] = {
	{ "mirakl", KCG_RATE_MIRAKL },
	{ "sim", KCG_RATE_SIM },
	{ NULL, 0 },
};

/* SiteID: an integer >= 0, or -1 for every site [WIG]. */
static const char *check_sites(const char *v)
{
	uint64_t n;
	if (strcmp(v, "-1") == 0 || kcg_parse_u64(v, 0, 1000000, &n) == 0)
		return NULL;
	return "must be a Khaos site id (an integer), or -1 for every site";
}

static const char *check_uncontrolled(const char *v)
{
	uint64_t n;
	if (strcmp(v, "leave") == 0 || kcg_parse_u64(v, 0, 1000000000, &n) == 0)
		return NULL;
	return "must be leave (the offer is left alone) or a quantity (0 to 1000000000)";
}

static const char *check_buffer(const char *v)
{
	uint64_t n;
	return kcg_parse_u64(v, 0, 1000000000, &n) == 0 ? NULL : "must be a quantity (0 to 1000000000)";
}

/* [stock.warehouses] values: a Mirakl warehouse-code (it travels in the CSV). */
static const char *check_warehouse(const char *v)
{
	if (strlen(v) >= KCG_STOCK_WAREHOUSE_MAX)
		return "a warehouse-code of at most 31 bytes";
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == 0x1f)
			return "a warehouse-code without control characters";
	return NULL;
}

static void stock_checks(struct kcg_config_check *c, const struct kcg_config *cfg)
{
	const struct kcg_stock_config *s = &cfg->stock;
	bool sim = cfg->mirakl.stock_rate_limits == KCG_RATE_SIM;
	if (s->enabled == 1 && (!cfg->mirakl.base_url || !cfg->khaos.soap_url))
		kcg_config_error(c, &s->enabled, "needs [mirakl] base_url and [khaos] soap_url");
	/* Mirakl: STO01 "maximum usage: once per minute" [MMP STO01] */
	if (!sim && cfg->mirakl.stock_flush_interval_s && cfg->mirakl.stock_flush_interval_s < 60)
		kcg_config_error(c, &cfg->mirakl.stock_flush_interval_s,
				 "must be at least 60 (Mirakl takes a stock import at most once a minute); "
				 "only stock_rate_limits = sim (kcgate-sim) allows less");
	if (!sim && s->poll_interval_s && s->poll_interval_s < 10)
		kcg_config_error(c, &s->poll_interval_s, "must be at least 10 (Khaos warns against polling per request)");
	if (!sim && s->drift_check_interval_s && s->drift_check_interval_s < 300)
		kcg_config_error(c, &s->drift_check_interval_s, "must be at least 300 (OF21 pages through every offer)");
	if (sim)
		kcg_config_warn(c, &cfg->mirakl.stock_rate_limits,
				"sim: the stock flow keeps kcgate-sim's limits, not Mirakl's (tests only: never against "
				"a real Mirakl)");
	const struct kcg_config_map *wh = atomic_load(&s->warehouses);
	for (size_t i = 0; wh && i < wh->n; i++) {
		uint64_t site;
		if (kcg_parse_u64(wh->entries[i].key, 0, 1000000, &site) != 0)
			kcg_config_error(c, &s->warehouses, "'%.40s' is not a Khaos site id (an integer 0..1000000)",
					 wh->entries[i].key);
	}
	if (wh && wh->n > KCG_STOCK_SITES_MAX)
		kcg_config_error(c, &s->warehouses, "at most %d warehouses", KCG_STOCK_SITES_MAX);
	if (wh && wh->n > 0 && s->sites)
		kcg_config_error(c, &s->sites, "leave it out with [stock.warehouses]: each mapped site is polled");
}

static const struct kcg_config_key stock_keys[] = {
	KCG_KEY_ENUM("stock", "enabled", stock.enabled, "false", bool_choices),
	KCG_KEY_U64("stock", "poll_interval_s", stock.poll_interval_s, "60", 1, 86400),
	KCG_KEY_U64("stock", "poll_overlap_s", stock.poll_overlap_s, "120", 0, 86400),
	KCG_KEY_STR("stock", "sites", stock.sites, KCG_CFG_STRING, NULL, check_sites),
	KCG_KEY_U64("stock", "max_answer_mb", stock.max_answer_mb, "64", 1, 1024),
	KCG_KEY_U64("stock", "buffer", stock.buffer, "0", 0, 1000000000),
	KCG_KEY_ENUM("stock", "include_build_potential", stock.include_build_potential, "false", bool_choices),
	KCG_KEY_STR("stock", "uncontrolled_quantity", stock.uncontrolled_quantity, KCG_CFG_STRING, "leave",
		    check_uncontrolled),
	KCG_KEY_U64("stock", "stale_after_s", stock.stale_after_s, "900", 5, 604800),
	KCG_KEY_U64("stock", "drift_check_interval_s", stock.drift_check_interval_s, "3600", 1, 604800),
	KCG_KEY_U64("stock", "drift_page_delay_ms", stock.drift_page_delay_ms, "1000", 0, 60000),
	KCG_KEY_MAP("stock.buffers", stock.buffers, check_buffer),
	KCG_KEY_MAP("stock.warehouses", stock.warehouses, check_warehouse),
	KCG_KEY_U64("mirakl", "stock_flush_interval_s", mirakl.stock_flush_interval_s, "300", 1, 86400),
	KCG_KEY_ENUM("mirakl", "stock_rate_limits", mirakl.stock_rate_limits, "mirakl", rate_choices),
};

static const struct kcg_config_keys stock_config = { stock_keys, sizeof(stock_keys) / sizeof(stock_keys[0]),
						     stock_checks };

static size_t stock_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap)
{
	if (cap < 3)
		return 3;
	uint64_t stale_tick = cfg->stock.stale_after_s * 1000u / 4;
	if (stale_tick > 30000)
		stale_tick = 30000;
	if (stale_tick < 1000)
		stale_tick = 1000;
	out[0] = (struct kcg_engine_timer){ "stock.flush", cfg->mirakl.stock_flush_interval_s * 1000u, stock_flush_timer };
	out[1] = (struct kcg_engine_timer){ "stock.stale", stale_tick, stock_stale_timer };
	out[2] = (struct kcg_engine_timer){ "stock.drift", cfg->stock.drift_check_interval_s * 1000u, stock_drift_timer };
	return 3;
}

static bool stock_enabled(const struct kcg_config *cfg)
{
	return cfg->stock.enabled == 1 && cfg->mirakl.base_url && cfg->khaos.soap_url;
}

const struct kcg_flow kcg_flow_stock = {
	.name = "stock",
	.enabled = stock_enabled,
	.dbs = (const char *const[]){ DB_STOCK, DB_STOCK_DIRTY, DB_STOCK_HELD, DB_STOCK_REFUSED, DB_STOCK_IMPORTS,
				      DB_STOCK_SYNC, NULL },
	.config = &stock_config,
	.kinds = (const struct kcg_job_kind *const[]){ &stock_kind_flush, &stock_kind_import, &stock_kind_drift, NULL },
	.timers = stock_timers,
	.on_stock_item = stock_item,
	.metrics = stock_metrics,
	.on_reload = stock_reload,
	.routes = stock_routes,
	.n_routes = STOCK_ROUTES,
};
