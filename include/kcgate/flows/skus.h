/**
 * kcgate/flows/skus.h: the SKU cache, Khaos stock codes as every flow sees
 * them (a flow of its own in the registry, shared by the others).
 *
 * Database: skus (stock code -> JSON {available, build_potential, status,
 * discontinued, updated_at, read_ms, sell_price?, websell_price?}):
 * ExportStockStatus's LEVEL, BUILD_POTENTIAL_CHILDREN and STATUS (0-5, -1
 * unknown); discontinued is STATUS 4; the prices in 1/10,000 of the unit
 * (KCG_KHAOS_PRICE_SCALE), absent when Khaos gave none.
 *
 * Job khaos.wsdl (lane khaos, subject "namespace"): with [khaos]
 * soap_namespace = auto, reads the service namespace from the WSDL
 * (kcg_khaos_wsdl()) at the first refresh tick, before any other Khaos
 * call can be built (those wait, retrying, until it is known); after
 * WSDL_TRIES transient failures, or an answer without a usable namespace,
 * it takes urn:IKosWebIntf-IKosWeb and logs a warning. In memory only:
 * read again at every start.
 *
 * Job skus.refresh (lane khaos): ExportStockStatus into the cache, since
 * the watermark "khaos.stock.watermark" for subject "all" (a timer every
 * khaos.sku_refresh_s, the first at start), or for one stock code (a miss,
 * see kcg_skus_refresh_one()). A code that becomes active (known and not
 * discontinued) resolves its unknown_sku exception and is handed to every
 * enabled flow's on_sku_active hook (the order flow releases held orders);
 * so is an active code whose available level rose (orders held on short
 * stock). The watermark moves only in the transaction that stores the items.
 * Every item read is handed to every enabled flow's on_stock_item hook. A
 * refresh "all" that begins while meta "khaos.stock.full_due" is set reads
 * the whole catalogue (LastUpdated "ever"), and clears it when it began
 * after it was set.
 *
 * Job skus.revised (lane khaos, subject "all"): only when an enabled flow
 * sets wants_revised_codes (flow.h; inriver), a timer every [khaos]
 * stock_list_interval_s (the first at start). GetStockList (REVISION_DATE
 * since the watermark "khaos.stock.revised_watermark" less [stock]
 * poll_overlap_s) names the codes revised in Khaos, which ExportStockStatus's
 * LastUpdated may not report (a price changed alone, a new code); each is
 * read again alone (kcg_skus_refresh_one()), so the hooks get fresh
 * figures and price. More than REVISED_ONE_BY_ONE_MAX (100) codes, or a
 * Count above what the list holds, sets "khaos.stock.full_due" and queues
 * a refresh "all" instead (logged). The first run (no watermark) asks
 * nothing and only starts the clock. The watermark (the start of the read)
 * moves only in the transaction that queues the reads. A window only grows
 * while it fails, so a failure is not retried for ever: an answer refused
 * outright (too big, too many items, one unreadable), or a window that
 * failed REVISED_TRIES (3) times, becomes the same one whole read, and the
 * watermark moves on (logged as a warning).
 */
#ifndef KCGATE_FLOWS_SKUS_H
#define KCGATE_FLOWS_SKUS_H

#include <stdbool.h>
#include <stdint.h>

/** Khaos reported STOCK_ITEMs the SKU cache could not read (no CODE or
 * one of 64 bytes or more, STATUS outside 0-5, LEVEL not a number): they
 * were skipped, the rest of the answer kept. Subject "ExportStockStatus";
 * the message names the first and counts them. Owner operations. */
#define KCG_EXC_STOCK_ITEM_UNREADABLE "stock_item_unreadable"

#include "kcgate/flow.h"
#include "kcgate/store.h"

extern const struct kcg_flow kcg_flow_skus;

/**
 * Is @p code an active Khaos stock code as far as the cache knows?
 * *@p discontinued tells a known but discontinued code from an unknown one.
 */
bool kcg_skus_active(struct kcg_txn *txn, const char *code, bool *discontinued);

/** A code as the cache holds it (kcg_skus_get()). */
struct kcg_skus_code {
	int64_t available;     /**< LEVEL */
	int status;            /**< STATUS 0-5, -1 unknown */
	bool discontinued;     /**< STATUS 4 */
	uint64_t read_ms;      /**< when the read that gave it began (0: unknown) */
	int64_t sell_price;    /**< SELL_PRICE in 1/10,000 of the unit; -1: none */
	int64_t websell_price; /**< WEBSELL_PRICE, the same way */
};

/** Everything the cache holds of @p code, in one read (kcg_skus_active()
 * and kcg_skus_level() read through it). @return 0, KCG_ENOTFOUND, or an
 * error; *@p out is zeroed, prices -1, unless 0. */
int kcg_skus_get(struct kcg_txn *txn, const char *code, struct kcg_skus_code *out);

/**
 * Khaos's available level (ExportStockStatus LEVEL) of @p code as far as
 * the cache knows, in *@p available; *@p controlled is false for an item
 * that is not stock-controlled (STATUS 5: no level to respect); *@p read_ms
 * (optional) when the read that gave it began (0: unknown, a record from
 * before it was kept): a booking after that is not in the level yet.
 * @return 0, or KCG_ENOTFOUND when the cache does not know the code.
 */
int kcg_skus_level(struct kcg_txn *txn, const char *code, int64_t *available, bool *controlled, uint64_t *read_ms);

/**
 * Calls @p fn with every active stock code the cache holds, in key order,
 * until it returns non-zero (returned). @return 0, fn's value or an LMDB code.
 */
int kcg_skus_each_active(struct kcg_txn *txn, int (*fn)(const char *code, void *arg), void *arg);

/**
 * Asks Khaos about @p code now rather than at the next refresh: a
 * skus.refresh job for that code, in @p txn. An equal job already pending
 * counts as done. @return 0 or an error.
 */
int kcg_skus_refresh_one(struct kcg_txn *txn, const char *code);

#endif
