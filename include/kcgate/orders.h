/**
 * kcgate/orders.h: flow 1, Mirakl orders into Khaos Control.
 *
 * A Mirakl webhook (the outbox hook, kcg_orders_on_event) or the OR11 poll
 * (mirakl.poll, every mirakl.poll_interval_s, the first at start) leads to
 * one order.sync job per order. The order's record (the orders database)
 * is a small state machine:
 *
 *   seen ──► booked (Khaos sales order code stored) ──► accepted
 *     │▲
 *     ▼│ (unknown or discontinued SKU; released when the SKU appears)
 *    held                               cancelled (refused/cancelled on Mirakl)
 *
 * Jobs: order.sync (lane mirakl: read the order, decide), order.book (lane
 * khaos: ExportOrderStatusEx first, ImportOrders only if Khaos has no order
 * with that associated ref: exactly once even when an earlier attempt's
 * outcome is unknown), order.accept (lane mirakl: OR21 every line; after a
 * failure read the order first, lines already accepted count as done),
 * mirakl.poll, skus.refresh (lane khaos: ExportStockStatus into the SKU
 * cache; subject "all" on a timer, or one stock code on a miss).
 *
 * acceptance_deadline is raised for orders still not accepted
 * mirakl.acceptance_alert_h before created_date + acceptance_window_h: when
 * the order is seen, and by a timer every minute.
 *
 * Databases: orders (order_id -> JSON record), skus (stock code -> JSON
 * {available, discontinued, updated_at}), meta (watermarks).
 */
#ifndef KCGATE_ORDERS_H
#define KCGATE_ORDERS_H

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/jobs.h"
#include "kcgate/store.h"

/** What the flow's jobs and timers share (the jobs engine's ctx). */
struct kcg_flow {
	const struct kcg_config *cfg;
	struct kcg_store *store;
	struct kcg_jobs *jobs;   /**< set once the engine runs (for kicks) */
};

/** The job kinds of the flow, NULL-terminated, for kcg_jobs_options.kinds. */
extern const struct kcg_job_kind *const kcg_orders_kinds[];

/** The flow's timers (poll, SKU refresh, deadline watch) and their count. */
void kcg_orders_timers(const struct kcg_config *cfg, const struct kcg_jobs_timer **timers, size_t *n);

/**
 * The outbox hook (struct kcg_store_options.on_event): for a new Mirakl
 * event, an order.sync job per order id found in the body, in the same
 * transaction; an event with no order id raises unparseable_webhook
 * (kept, not lost). Other sources: nothing yet.
 */
int kcg_orders_on_event(struct kcg_txn *txn, const struct kcg_event_meta_ref *ev, void *arg);

/** One order's record as JSON in *@p out. @return 0, KCG_ENOTFOUND or an error. */
int kcg_orders_get(struct kcg_store *store, const char *order_id, json_t **out);

/**
 * Order records (without their Mirakl snapshot) in order id order as a new
 * JSON array in *@p out, filtered by @p state (NULL = any), at most @p limit.
 */
int kcg_orders_list(struct kcg_store *store, const char *state, size_t limit, json_t **out);

#endif
