/*
 * stock_private.h: what the stock flow's files share (stock.c: records,
 * keys, the poll hook and the struct; stock_flush.c: the imports;
 * stock_watch.c: staleness, drift, metrics; stock_admin.c: the admin
 * views). Nothing else includes it.
 */
#ifndef KCGATE_FLOWS_STOCK_PRIVATE_H
#define KCGATE_FLOWS_STOCK_PRIVATE_H

#include <jansson.h>

#include "kcgate/flows/stock.h"
#include "kcgate/jobs.h"
#include "routes.h"

#define DB_STOCK "stock"
#define DB_STOCK_DIRTY "stock_dirty"
#define DB_STOCK_HELD "stock_held"
#define DB_STOCK_REFUSED "stock_refused" /* code -> "": a line Mirakl refused, watched for its fix */
#define DB_STOCK_IMPORTS "stock_imports"
#define DB_STOCK_SYNC "stock_sync"
#define SYNC_KEY "state"
#define META_POLL_OK "khaos.stock.last_ok_ms" /* written by the SKU cache's poll */
#define META_POLL_START "khaos.stock.watermark" /* the SKU cache's: when the last complete poll began */

/* A record's key for @p sku at warehouse @p wh (NULL: the global line). */
void stock_key(char out[KCG_STOCK_KEY_MAX], const char *sku, const char *wh);

/* The stock code of @p key into @p sku; the warehouse-code, or NULL. */
const char *stock_key_split(const char *key, char sku[KCG_KHAOS_CODE_MAX]);

/* The exception subject of @p key: the code, or "code@warehouse". */
void stock_subject(char out[KCG_STOCK_KEY_MAX], const char *key);

/* [stock.warehouses]: the warehouse-code of Khaos site @p site, or NULL. */
const char *stock_warehouse_of(const struct kcg_config *cfg, int site);

/* The keys of @p sku's records into @p keys (KCG_STOCK_SITES_MAX of them):
 * one, or one per mapped warehouse ([stock.warehouses]); none for a code
 * longer than Khaos's. @return how many. */
size_t stock_keys_of(const struct kcg_config *cfg, const char *sku, char keys[][KCG_STOCK_KEY_MAX]);

/* Writes @p rec for @p sku. */
int stock_put(struct kcg_txn *t, const char *sku, const struct kcg_stock_rec *rec);

/* The figure for @p rec now (reservations and buffers read in @p t);
 * false: leave the offer alone. *@p reserved gets the reserved units. */
bool stock_figure(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, const struct kcg_stock_rec *rec,
		  int64_t *qty, uint64_t *reserved);

/* Notes that Mirakl refused @p sku's figure (or no longer does). */
int stock_refused_set(struct kcg_txn *t, const char *sku, bool refused);

/* Discontinued in Khaos and its last line refused by Mirakl (no offer):
 * not sent (a 0 would be refused again). */
bool stock_retired_unlisted(const struct kcg_stock_rec *rec);

/* Whether a STO01 line can carry @p key's code (and warehouse-code). */
bool stock_sendable(const char *key);

/* Whether @p key is in stock_dirty. */
bool stock_is_dirty(struct kcg_txn *t, const char *key);

/* Puts @p sku in stock_dirty (keeping an earlier time) or takes it out. */
int stock_dirty_set(struct kcg_txn *t, const char *sku, bool dirty);

/* After any change to @p rec: dirty when its figure must be sent, clean
 * otherwise. @p rec is not written. */
int stock_recheck(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, const struct kcg_stock_rec *rec);

/* The sync state (a new object; {} when none) and its write. */
json_t *stock_sync_get(struct kcg_txn *t);
int stock_sync_put(struct kcg_txn *t, json_t *state);

/* Calls @p fn for every key of @p db that is a stock code (1 to
 * KCG_KHAOS_CODE_MAX - 1 bytes), with its value, until it returns non-zero
 * (returned). @return 0, fn's value, or an LMDB code. */
int stock_each_key(struct kcg_txn *t, const char *db,
		   int (*fn)(struct kcg_txn *t, const char *sku, const MDB_val *v, void *arg), void *arg);

/* Entries in stock_dirty. */
int stock_dirty_count(struct kcg_txn *t, uint64_t *n);

/* The job kinds and timers of stock_flush.c and stock_watch.c. */
extern const struct kcg_job_kind stock_kind_flush, stock_kind_import, stock_kind_drift;
void stock_flush_timer(struct kcg_engine *engine, void *ctx);
void stock_stale_timer(struct kcg_engine *engine, void *ctx);
void stock_drift_timer(struct kcg_engine *engine, void *ctx);
int stock_metrics(struct kcg_store *store, const struct kcg_config *cfg, char **text);

/* The admin routes (stock_admin.c). */
#define STOCK_ROUTES 2
extern const struct kcg_route stock_routes[STOCK_ROUTES];

#endif
