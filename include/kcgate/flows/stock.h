/**
 * kcgate/flows/stock.h: flow 2, Khaos stock to Mirakl.
 *
 * Reads: the SKU cache's poll (flows/skus.h: ExportStockStatus for the
 * changes since the watermark less [stock] poll_overlap_s, every [stock]
 * poll_interval_s; the whole catalogue on a first run) hands every item
 * to this flow's on_stock_item hook inside its write transaction; the
 * order flow's reservations (kcg_orders_reserved()).
 *
 * The figure Mirakl should show (kcg_stock_publishable(), pure): LEVEL
 * (+ BUILD_POTENTIAL_CHILDREN with [stock] include_build_potential), less
 * the buffer ([stock] buffer, or the SKU's [stock.buffers] entry), less
 * what kcgate accepted on Mirakl and Khaos has not booked, never below 0;
 * STATUS 4 (discontinued) -> 0; STATUS 5 (not stock-controlled) ->
 * [stock] uncontrolled_quantity, or the offer is left alone ("leave").
 * A SKU the inriver flow says may not be published (its item deleted in
 * inriver, or no item with [stock] require_inriver_link) -> 0.
 *
 * Dirty: a SKU whose publishable figure differs from the last one Mirakl
 * confirmed is in stock_dirty. Every [mirakl] stock_flush_interval_s the
 * job stock.flush (lane mirakl_stock) sends every dirty SKU in one STO01,
 * never two within 60 s ([mirakl] stock_rate_limits = mirakl), and one
 * import at a time. stock.import polls STO02 (>= 15 s apart) until
 * COMPLETE or FAILED, reads STO03 when there are error lines: a failed
 * line is a stock_import_line exception and is not sent again until its
 * figure changes, its exception is resolved or the drift check finds the
 * offer on Mirakl; a SKU counts as published only when its line
 * succeeded. Quantities are absolute, so sending one twice (a crash
 * between STO01 and its commit) is harmless: the next flush converges.
 * A whole catalogue is written in parts (the job's apply_part), 5,000
 * items or lines per transaction.
 *
 * Watch: stock_sync_stale (critical) when the last good Khaos poll, or,
 * while something waits to be published, the last COMPLETE import, is
 * older than [stock] stale_after_s; resolved when fresh. stock.drift
 * (every [stock] drift_check_interval_s) pages through OF21: a quantity
 * that differs from the last published is stock_drift (and the SKU is
 * sent again), an offer whose shop_sku is no active Khaos stock code is
 * ghost_sku.
 *
 * [stock.warehouses] (Khaos site id -> Mirakl warehouse-code): each mapped
 * site polled in turn (kcg_stock_sites()), one record and one STO01 line
 * per offer and warehouse (key: code 0x1F warehouse-code), the code's
 * buffer and reservations off each; OF21's quantity compared with their sum.
 *
 * Databases: stock (stock code, or code 0x1F warehouse -> struct kcg_stock_rec, native layout,
 * versioned), stock_dirty (code -> u64 ms it became dirty), stock_held
 * (code -> "": its last figure held units back, listed so the flush looks
 * at it again when they are freed; the figure itself always comes from
 * the order flow's kcg_orders_held_back()), stock_refused (code ->
 * "": Mirakl refused its line; the flush looks at them, so a resolve by
 * hand sends it again), stock_imports (import id -> the CSV sent, while the
 * import runs), stock_sync ("state" -> JSON: the import in flight, the
 * last STO01, the last import's outcome, the last COMPLETE).
 */
#ifndef KCGATE_FLOWS_STOCK_H
#define KCGATE_FLOWS_STOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "kcgate/flow.h"
#include "kcgate/peers/khaos.h"
#include "kcgate/store.h"

extern const struct kcg_flow kcg_flow_stock;

#define KCG_EXC_STOCK_IMPORT_LINE "stock_import_line" /**< Mirakl refused a stock line (STO03) */
#define KCG_EXC_STOCK_SYNC_STALE "stock_sync_stale"   /**< the Khaos poll or the imports are late */
#define KCG_EXC_STOCK_DRIFT "stock_drift"             /**< Mirakl shows another quantity than kcgate published */
#define KCG_EXC_GHOST_SKU "ghost_sku"                 /**< a Mirakl offer whose SKU is no active Khaos stock code */
#define KCG_EXC_STOCK_SKU_UNSENDABLE "stock_sku_unsendable" /**< a Khaos code no STO01 line can carry (control characters, too long) */

#define KCG_STOCK_REC_VERSION 2
#define KCG_STOCK_IMPORT_ID_MAX 32 /**< = KCG_MIRAKL_IMPORT_ID_MAX */

/** A SKU's stock record (the stock database). -1 = none for the quantities. */
struct kcg_stock_rec {
	uint32_t version;
	int32_t status;           /**< Khaos STATUS 0-5, -1 unknown */
	int64_t level;            /**< Khaos LEVEL */
	int64_t build;            /**< BUILD_POTENTIAL_CHILDREN */
	uint64_t changed_ms;      /**< when kcgate saw Khaos's figures change */
	int64_t published;        /**< the last quantity Mirakl confirmed (or showed: drift) */
	uint64_t published_ms;
	int64_t failed;           /**< the quantity whose line Mirakl refused: not sent again as is */
	int64_t mirakl;           /**< what OF21 showed at the last drift check */
	char published_import[KCG_STOCK_IMPORT_ID_MAX];
};

/** A new record: Khaos's figures unknown, nothing published. */
void kcg_stock_rec_init(struct kcg_stock_rec *rec);

/** What the figure depends on besides the record. */
struct kcg_stock_rules {
	bool include_build;     /**< [stock] include_build_potential */
	int64_t uncontrolled;   /**< [stock] uncontrolled_quantity: KCG_STOCK_LEAVE or >= 0 */
};

/**
 * The quantity Mirakl should show for a SKU with Khaos's @p level,
 * @p build and @p status, less @p buffer and @p reserved, never below 0
 * (see the header comment). @return false when the offer is to be left
 * alone (STATUS 5 with uncontrolled "leave"). Pure.
 */
bool kcg_stock_publishable(const struct kcg_stock_rules *rules, int64_t level, int64_t build, int status,
			   uint64_t buffer, uint64_t reserved, int64_t *qty);

/**
 * Whether @p qty (publishable) must be sent for @p rec: it differs from
 * what Mirakl confirmed, and it is not the very figure Mirakl refused
 * (unless @p line_refused_open is false: the stock_import_line exception
 * was resolved, by hand or by a fix). What an import in flight carries is
 * not the record's business: one import runs at a time, and its end
 * checks each of its SKUs again. Pure.
 */
bool kcg_stock_needs_push(const struct kcg_stock_rec *rec, int64_t qty, bool line_refused_open);

/** The buffer of @p sku: its [stock.buffers] entry, else @p dflt. */
uint64_t kcg_stock_buffer_of(const struct kcg_config_map *buffers, const char *sku, uint64_t dflt);

/** Ages (ms) and the staleness verdict. */
struct kcg_stock_ages {
	uint64_t poll_age_ms;    /**< since the last good Khaos poll (now when there never was one: since start) */
	uint64_t import_age_ms;  /**< since the last COMPLETE import, or since start */
	bool waiting;            /**< something is dirty or in flight */
	bool stale;
};

/**
 * Staleness at @p now_ms: the poll older than @p stale_ms, or, while
 * something waits (@p waiting), the last COMPLETE import older than it
 * (quiet stock with nothing to send is not stale). A time of 0 (never)
 * counts from @p start_ms, the process start. Pure.
 */
struct kcg_stock_ages kcg_stock_ages(uint64_t now_ms, uint64_t start_ms, uint64_t last_poll_ms,
				     uint64_t last_complete_ms, bool waiting, uint64_t stale_ms);

/** The floor under the flush interval and the STO02 poll, in ms:
 * 60,000 and 15,000 against Mirakl, 1,000 for kcgate-sim. */
uint64_t kcg_stock_flush_floor_ms(const struct kcg_config *cfg);
uint64_t kcg_stock_status_poll_ms(const struct kcg_config *cfg);

#define KCG_STOCK_SITES_MAX 16      /**< most [stock.warehouses] entries */
#define KCG_STOCK_WAREHOUSE_MAX 32  /**< longest warehouse-code, NUL included */
/** A record's key: the stock code, or with [stock.warehouses] the code, 0x1F
 * and the warehouse-code. */
#define KCG_STOCK_KEY_MAX (KCG_KHAOS_CODE_MAX + KCG_STOCK_WAREHOUSE_MAX)

/**
 * The Khaos sites the poll asks one by one: the keys of [stock.warehouses]
 * (site ids) when the flow runs with it, into @p sites (at most
 * KCG_STOCK_SITES_MAX, in file order). @return how many; 0: one poll with
 * [stock] sites / [khaos] stock_site_id as usual (one global quantity).
 */
size_t kcg_stock_sites(const struct kcg_config *cfg, int sites[KCG_STOCK_SITES_MAX]);

/** Checks @p sku's figures again (its record, or each of its warehouses'
 * with [stock.warehouses]) after something outside the stock flow changed
 * them (the inriver flow: a link made or an item deleted); dirty when one
 * must be sent. No record: nothing to do. @return 0 or an error. */
int kcg_stock_recheck_sku(struct kcg_txn *txn, const struct kcg_config *cfg, const char *sku);

/** Reads the record under @p key (a stock code, or with [stock.warehouses]
 * code 0x1F warehouse-code). @return 0, KCG_ENOTFOUND, or an error. */
int kcg_stock_get(struct kcg_txn *txn, const char *key, struct kcg_stock_rec *out);

/** A stock code over all its records: the one record, or with
 * [stock.warehouses] one per mapped warehouse. */
struct kcg_stock_code {
	size_t records;      /**< how many records the code has */
	size_t retired_zero; /**< of them: discontinued in Khaos, and Mirakl shows nothing: 0 confirmed by a
			      *   COMPLETE import, or its line refused (no offer: nothing to set to 0) */
	int64_t published;   /**< the sum of what Mirakl confirmed; -1 when nothing ever was */
};

/** Sums @p sku's records into @p out. @return 0, KCG_ENOTFOUND (no record), or an error. */
int kcg_stock_code_get(struct kcg_txn *txn, const struct kcg_config *cfg, const char *sku, struct kcg_stock_code *out);

/** GET /admin/stock/{sku} as JSON (NULL = not known), and GET /admin/sync. */
int kcg_stock_view(struct kcg_store *store, const struct kcg_config *cfg, const char *sku, json_t **out);
int kcg_stock_sync_view(struct kcg_store *store, const struct kcg_config *cfg, json_t **out);

#endif
