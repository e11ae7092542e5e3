/**
 * kcgate/flows/orders.h: flow 1, Mirakl orders into Khaos Control.
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
 * mirakl.poll. The SKU cache (flows/skus.h) is asked about every line's
 * SKU; a code that becomes active there releases the orders held on it
 * (on_sku_active).
 *
 * acceptance_deadline is raised for orders still not accepted
 * mirakl.acceptance_alert_h before created_date + acceptance_window_h: when
 * the order is seen, and by a timer every minute.
 *
 * Database: orders (order_id -> JSON record, "state" by the names below).
 * Watermark: "mirakl.or11.watermark" in the store's meta database.
 *
 * The decisions are pure functions of a record's state and the Mirakl
 * order (kcg_order_next, kcg_order_is_late), tested on their own.
 */
#ifndef KCGATE_FLOWS_ORDERS_H
#define KCGATE_FLOWS_ORDERS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/flow.h"
#include "kcgate/store.h"

extern const struct kcg_flow kcg_flow_orders;

/** An order record's state (stored by name). */
enum kcg_order_state {
	KCG_ORDER_SEEN,      /**< known, to be booked */
	KCG_ORDER_HELD,      /**< a line's SKU is unknown or discontinued */
	KCG_ORDER_BOOKED,    /**< Khaos has the sales order; acceptance follows */
	KCG_ORDER_ACCEPTED,  /**< accepted on Mirakl: nothing left to do */
	KCG_ORDER_CANCELLED, /**< refused, cancelled or closed on Mirakl */
	KCG_ORDER_STATES
};

/** "seen", "held", "booked", "accepted", "cancelled". */
const char *kcg_order_state_name(enum kcg_order_state state);

/** The state named @p name, or -1. */
int kcg_order_state_parse(const char *name);

/** What an order needs next, given its record and the latest Mirakl order. */
enum kcg_order_next {
	KCG_NEXT_NOTHING,    /**< finished, waiting, or a dead job waits for a person */
	KCG_NEXT_ACCEPT,     /**< booked and still waiting for acceptance: order.accept */
	KCG_NEXT_ACCEPTED,   /**< booked and accepted on Mirakl (by kcgate or by hand) */
	KCG_NEXT_CANCELLED,  /**< refused, cancelled or closed on Mirakl */
	KCG_NEXT_CHECK_SKUS, /**< seen or held, past Mirakl's checks: book once every SKU is active */
};

/**
 * The decision at the heart of the flow: @p state is the record's, @p stuck
 * whether one of its jobs died (a person retries it), @p order the Mirakl
 * order (OR11/OR12 shape). Pure.
 */
enum kcg_order_next kcg_order_next(enum kcg_order_state state, bool stuck, const json_t *order);

/**
 * Is an order in @p state, due for acceptance by @p deadline_ms (0 =
 * unknown), within @p alert_ms of its deadline at @p now_ms? Only orders
 * still to be accepted (seen, held, booked) can be late. Pure.
 */
bool kcg_order_is_late(enum kcg_order_state state, uint64_t deadline_ms, uint64_t alert_ms, uint64_t now_ms);

#define KCG_ORDER_IDS_MAX 1000 /**< most order ids one webhook may cause jobs for */

/**
 * Collects the order ids a Mirakl webhook @p body names ("order_id" members
 * at the top level, under "data", in arrays, down to 4 levels, and
 * "order_ids" lists) as the keys of @p ids (a JSON object used as a set),
 * at most KCG_ORDER_IDS_MAX in all, in the order found. Ids that are empty
 * or longer than 100 bytes are skipped. Pure. @return true when the body
 * named more ids than that (the rest were left out).
 */
bool kcg_order_ids_find(const json_t *body, json_t *ids);

/**
 * Is an order created at @p created_ms (0 = unknown) one whose record, had
 * kcgate finished it, would already be gone with retention @p retention_ms
 * (0 = records are kept) at @p now_ms? Such an order, seen again with no
 * record (a late webhook: shipped, closed, refunded), is not taken up again:
 * no second booking check, no false deadline alert. Pure.
 */
bool kcg_order_forgotten(uint64_t created_ms, uint64_t retention_ms, uint64_t now_ms);

/** One order's record as JSON in *@p out. @return 0, KCG_ENOTFOUND or an error. */
int kcg_orders_get(struct kcg_store *store, const char *order_id, json_t **out);

/**
 * Order records (without their Mirakl snapshot) in order id order as a new
 * JSON array in *@p out, filtered by @p state (NULL = any), at most @p limit.
 */
int kcg_orders_list(struct kcg_store *store, const char *state, size_t limit, json_t **out);

#endif
