/**
 * kcgate/flows/orders.h: flow 1, Mirakl orders into Khaos Control.
 *
 * A Mirakl webhook (the outbox hook, kcg_orders_on_event) or the OR11 poll
 * (mirakl.poll, every mirakl.poll_interval_s, the first at start; every
 * state, by update date) leads to one order.sync job per order. The
 * order's record (the orders database) follows the order to its end:
 *
 *   seen ──► accepted ──► booked ──► shipped ──► closed
 *    │▲   (OR21 by kcgate,  (Khaos sales   (SHIPPED, TO_COLLECT,
 *    ▼│    or by hand)       order code)    RECEIVED on Mirakl)
 *   held (unknown or discontinued SKU; released when the SKU appears;
 *         or short stock, released when a stock refresh raises the level)
 *
 *   side exits, from any open state: refused (REFUSED after a decision),
 *   auto_refused (REFUSED with acceptance_decision_date null), cancelled
 *   (CANCELED: a refused debit, a customer or an operator).
 *
 * Decide at WAITING_ACCEPTANCE: every line's offer_sku an active Khaos
 * stock code (the SKU cache) and, with [orders] accept_requires_stock,
 * its quantity covered by Khaos's available level less what kcgate has
 * accepted and not booked (kcg_order_stock_decide) -> order.accept (OR21
 * every waiting line), before any booking. Short stock: held with
 * short_stock ([orders] on_short_stock = hold), or OR21 refuses the short
 * lines (refuse; Mirakl's ORDER_PARTIAL_ACCEPTANCE_DISABLED then holds or
 * refuses the whole order, [orders] on_partial_disabled). Book at the booking point ([orders] book_when:
 * SHIPPING or later by default; or past acceptance with a shipping
 * address): order.book reads the order fresh (OR11 by order_ids), asks
 * Khaos ExportOrderStatusEx first and ImportOrders only if Khaos has no
 * order with that associated ref (exactly once even when an earlier
 * attempt's outcome is unknown). No usable shipping address there:
 * address_missing, not booked (checked again at the next sync). Khaos
 * refusing the import: khaos_rejected (the job dies; a person retries).
 * A booked order (or line) Mirakl cancels, refuses or refunds:
 * booked_cancelled, with the Khaos sales order code.
 *
 * Periodic work (the acceptance deadline watch, held releases, the
 * missing_in_khaos check after [orders] book_alert_min) walks the
 * orders_open index, never every record.
 *
 * Databases: orders (order_id -> JSON record, "state" by the names
 * below); orders_open (order_id -> "", present iff the state is not final,
 * kept in step by every save); orders_reserved (stock code -> u64, native
 * byte order: the quantities of orders kcgate decided to accept or has
 * accepted, not yet booked). Every save moves orders_reserved by the
 * difference between what the stored record reserved (its "reserved"
 * member) and what the new one does (kcg_order_reservation), in the same
 * transaction: exact whatever retries, replays or crashes happen. Watermark: "mirakl.or11.watermark" in the
 * store's meta database.
 *
 * The decisions are pure functions of a record's state and the Mirakl
 * order (kcg_order_next, kcg_order_is_late, ...), tested on their own.
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
	KCG_ORDER_SEEN,         /**< known, not decided yet */
	KCG_ORDER_HELD,         /**< a line's SKU is unknown or discontinued */
	KCG_ORDER_ACCEPTED,     /**< accepted on Mirakl, waiting for its booking point */
	KCG_ORDER_BOOKED,       /**< Khaos has the sales order (code stored) */
	KCG_ORDER_SHIPPED,      /**< booked, and Mirakl says SHIPPED, TO_COLLECT or RECEIVED (or the despatch flow told it so: kcg_orders_mark_shipped()) */
	KCG_ORDER_CLOSED,       /**< final: CLOSED on Mirakl */
	KCG_ORDER_REFUSED,      /**< final: refused on Mirakl after a decision */
	KCG_ORDER_AUTO_REFUSED, /**< final: refused by Mirakl, nobody decided in time */
	KCG_ORDER_CANCELLED,    /**< final: CANCELED on Mirakl */
	KCG_ORDER_STATES
};

/** "seen", "held", "accepted", "booked", "shipped", "closed", "refused",
 * "auto_refused", "cancelled" ("unknown" out of range). */
const char *kcg_order_state_name(enum kcg_order_state state);

/** The state named @p name, or -1. */
int kcg_order_state_parse(const char *name);

/** Whether @p state is an end (closed, refused, auto_refused, cancelled). */
bool kcg_order_state_final(enum kcg_order_state state);

/** Whether Khaos has (or had) a sales order for a record in @p state. */
bool kcg_order_state_booked(enum kcg_order_state state);

/** The largest line quantity kcgate books or counts; a line asking more is
 * not an order (order_unbookable; stock decisions count it as this many). */
#define KCG_ORDER_QTY_MAX 1000000

/** What an order needs next, given its record and the latest Mirakl order. */
enum kcg_order_next {
	KCG_NEXT_NOTHING,         /**< finished, waiting, or a dead job waits for a person */
	KCG_NEXT_CHECK_SKUS,      /**< seen or held, WAITING_ACCEPTANCE: accept once every SKU is active and the stock covers it */
	KCG_NEXT_ACCEPT,          /**< booked (an old record) and still waiting for acceptance: order.accept */
	KCG_NEXT_ACCEPTED,        /**< accepted on Mirakl (by kcgate or by hand), not at its booking point */
	KCG_NEXT_BOOK,            /**< at its booking point with a shipping address: order.book */
	KCG_NEXT_ADDRESS_MISSING, /**< at its booking point with no usable shipping address */
	KCG_NEXT_SHIPPED,         /**< booked, and Mirakl shipped it */
	KCG_NEXT_SHIPPED_UNBOOKED,/**< not booked, and Mirakl shows it shipped: never booked now (missing_in_khaos) */
	KCG_NEXT_CLOSED,          /**< CLOSED on Mirakl */
	KCG_NEXT_REFUSED,         /**< REFUSED on Mirakl after a decision */
	KCG_NEXT_AUTO_REFUSED,    /**< REFUSED on Mirakl, acceptance_decision_date null */
	KCG_NEXT_CANCELLED,       /**< CANCELED on Mirakl */
};

/** Which of an order's jobs died (a person retries it): each blocks only
 * its own step, never what follows (an order a dead acceptance left, then
 * accepted by hand, is still booked). */
enum {
	KCG_STUCK_ACCEPT = 1u << 0, /**< order.accept died: no new acceptance */
	KCG_STUCK_BOOK = 1u << 1,   /**< order.book died: no new booking */
};

/**
 * The decision at the heart of the flow: @p state is the record's, @p stuck
 * the KCG_STUCK_* of its dead jobs (the order still follows Mirakl to its
 * end), @p when the configured booking point, @p order the Mirakl order
 * (OR11 shape). Pure.
 */
enum kcg_order_next kcg_order_next(enum kcg_order_state state, unsigned stuck, enum kcg_book_when when,
				   const json_t *order);

/** Is @p order at its booking point (@p when), address or not? SHIPPING
 * (or, booking at acceptance, a debit state with an address); never past
 * it: a shipped order is not sent to the warehouse again. Pure. */
bool kcg_order_at_point(enum kcg_book_when when, const json_t *order);

/**
 * When @p order reached its booking point, by Mirakl's own dates: the
 * customer's payment (customer_debited_date) once paid, else the
 * acceptance (acceptance_decision_date); @p now_ms when Mirakl gives no
 * usable date or one in the future. An order kcgate first sees long after
 * (it was down, the order was accepted by hand) counts from then, so
 * missing_in_khaos does not wait book_alert_min more. Pure.
 */
uint64_t kcg_order_point_ms(const json_t *order, uint64_t now_ms);

/**
 * Whether @p order's shipping address can be booked in Khaos: an object
 * with street_1, city and zip_code, and a lastname (its own or the
 * customer's). Mirakl keeps it null before shipping (or acceptance). Pure.
 */
bool kcg_order_address_usable(const json_t *order);

/**
 * @p order's lines Mirakl cancelled, refused or refunded, as a new JSON
 * array of strings (empty when none; NULL only out of memory): the line id
 * for a whole line (state CANCELED or REFUSED); for a line still live with
 * cancelations or refunds, "<id>: <n> cancelation(s), <m> refund(s)", so
 * that each new one changes the list. Pure.
 */
json_t *kcg_order_lines_withdrawn(const json_t *order);

/**
 * Whether an order at its booking point since @p point_ms (0 = not there)
 * and not booked (@p state) lacks its Khaos sales order @p alert_ms later,
 * at @p now_ms. Pure.
 */
bool kcg_order_missing_in_khaos(enum kcg_order_state state, uint64_t point_ms, uint64_t alert_ms, uint64_t now_ms);

/** How an order's short lines are taken (from [orders] on_short_stock, and
 * on_partial_disabled once Mirakl refused a partial acceptance). */
enum kcg_cover_mode {
	KCG_COVER_MODE_HOLD,         /**< any short line holds the whole order */
	KCG_COVER_MODE_REFUSE_LINES, /**< the short lines are refused, the rest accepted */
	KCG_COVER_MODE_REFUSE_ORDER, /**< any short line refuses every line */
};

/** What Khaos's stock says about an order still to be accepted. */
enum kcg_cover {
	KCG_COVER_ALL,    /**< every line covered: accept every line */
	KCG_COVER_HOLD,   /**< not covered: hold the order (short_stock) */
	KCG_COVER_REFUSE, /**< refuse the lines listed, accept the others (none when all are listed) */
};

/**
 * The stock decision at WAITING_ACCEPTANCE. @p levels maps a stock code to
 * Khaos's available level (a JSON integer; a code absent or not an integer
 * is not stock-controlled: no limit); @p reserved maps a code to what
 * other orders kcgate accepted but has not booked hold of it (absent = 0).
 * Lines are taken in order (a line CANCELED or REFUSED takes nothing); a
 * line is covered when its quantity fits in level - reserved - what the
 * order's covered lines before it took. Each line that does not fit is
 * appended to @p shorts ({"line", "sku", "need", "available", "reserved"});
 * @p refuse (emptied first) gets the ids of the lines to refuse. Pure.
 * Out of memory it holds.
 */
enum kcg_cover kcg_order_stock_decide(const json_t *order, const json_t *levels, const json_t *reserved,
				      enum kcg_cover_mode mode, json_t *shorts, json_t *refuse);

/**
 * What an order record holds back from Khaos's available levels, as a new
 * JSON object (stock code -> quantity; empty when nothing; NULL only out
 * of memory): its lines' quantities while kcgate has decided to accept it
 * (@p state seen and @p accepting) or it is accepted and not yet booked;
 * lines CANCELED or REFUSED on Mirakl, or listed in @p refused (line ids
 * kcgate refuses), hold nothing; nor does an order Mirakl shows shipped
 * (shipped without Khaos: the goods have gone). Pure.
 */
json_t *kcg_order_reservation(enum kcg_order_state state, bool accepting, const json_t *order, const json_t *refused);

/**
 * Is an order in @p state, due for acceptance by @p deadline_ms (0 =
 * unknown), within @p alert_ms of its deadline at @p now_ms? Only orders
 * still to be accepted (seen, held) can be late. Pure.
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

/** What orders kcgate accepted (or is accepting) and has not booked hold
 * of @p sku (orders_reserved; 0 when none), for the stock flow. @return 0 or an LMDB code. */
int kcg_orders_reserved(struct kcg_txn *txn, const char *sku, uint64_t *n);

/** Calls @p fn for every stock code with a reservation, in code order,
 * until it returns non-zero (returned). @return 0, fn's value, or an LMDB code. */
int kcg_orders_reserved_each(struct kcg_txn *txn, int (*fn)(const char *sku, uint64_t n, void *arg), void *arg);

/** The ceiling of kcg_orders_held_back() (the order flow bounds levels to +-2^40). */
#define KCG_HELD_BACK_MAX ((uint64_t)1 << 40)

/**
 * The units of @p sku that Khaos's level read at @p read_ms (the SKU
 * cache's read_ms of that code, kcg_skus_level()) does not yet show as
 * gone and that must not be sold again: orders_reserved (accepted, not
 * booked) plus the units booked at or after @p read_ms (orders_unseen).
 * The one rule both flows use: the order flow's stock check and the stock
 * flow's published figure. Read-only (the order flow prunes seen bookings
 * on its own writes); capped at KCG_HELD_BACK_MAX. @return 0 or an LMDB code.
 */
int kcg_orders_held_back(struct kcg_txn *txn, const char *sku, uint64_t read_ms, uint64_t *n);

/** Calls @p fn once for every stock code with booked units in
 * orders_unseen (some may be seen by the level already: ask
 * kcg_orders_held_back()), until it returns non-zero (returned). @return 0,
 * fn's value, or an LMDB code. */
int kcg_orders_unseen_each(struct kcg_txn *txn, int (*fn)(const char *sku, void *arg), void *arg);

/** One order's record as JSON in *@p out. @return 0, KCG_ENOTFOUND or an error. */
int kcg_orders_get(struct kcg_store *store, const char *order_id, json_t **out);

/**
 * Order @p order_id's timeline as a new JSON object in *@p out:
 * {"order_id", "now": {state, mirakl_state, sales_order_code, held_skus},
 * "timeline": [{"at", "what", "cause", "ref_kind", "ref"}] sorted by time,
 * "jobs_scan_complete"}: the record's times, the jobs whose subject is the
 * order (the newest 20,000 job records looked at), the exceptions about the
 * order or a SKU it is held on. @return 0, KCG_ENOTFOUND or an error.
 */
int kcg_orders_timeline(struct kcg_store *store, const char *order_id, json_t **out);

/**
 * Order records (without their Mirakl snapshot) in order id order as a new
 * JSON array in *@p out, filtered by @p state (NULL = any), at most @p limit.
 */
int kcg_orders_list(struct kcg_store *store, const char *state, size_t limit, json_t **out);

/* ---- for the despatch flow (flows/despatch.h) ---- */

/** The record of @p order_id read in @p t (a parsed copy in *@p out).
 * @return 0, KCG_ENOTFOUND, or an error. */
int kcg_orders_record(struct kcg_txn *t, const char *order_id, json_t **out);

/** Calls @p fn for each open order record (parsed copies, the orders_open
 * index), at most 100,000; @p fn returns 0 to go on, 1 to stop, or an error. */
int kcg_orders_open_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg);

/** Calls @p fn for each record in state booked (parsed copies, the
 * orders_booked index, built once from the open records for a store from
 * before it: @p t must then be a write transaction), at most 100,000;
 * @p fn returns 0 to go on, 1 to stop, or an error. */
int kcg_orders_booked_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg);

/**
 * Khaos despatched order @p order_id and Mirakl knows (OR24 or ST01 done,
 * or its state read as SHIPPED or later): a booked record becomes shipped
 * (shipped_at) and keeps @p tracking ({carrier_code | carrier_name,
 * tracking_number, ...}, copied) as "tracking"; a record already shipped
 * (the OR11 poll saw it first) only gains the tracking. In @p t.
 * @return 0 (also when there is no record), or an error.
 */
int kcg_orders_mark_shipped(struct kcg_txn *t, const char *order_id, const json_t *tracking);

/**
 * Khaos shows sales order @p code under associated ref @p ref for order
 * @p order_id, which kcgate knows but did not book (booked by hand, the
 * runbook's remedy for order_unbookable, khaos_rejected, ...): an open
 * record not booked becomes booked (sales_order_code, "booked_by_hand",
 * khaos_ref when it had none) and what a booking ends is resolved
 * (missing_in_khaos, address_missing, khaos_rejected, price_mismatch,
 * unmapped_shipping_method, order_unbookable). Nothing for an unknown,
 * booked or final record. In @p t. @return 0 or an error.
 */
int kcg_orders_booked_by_hand(struct kcg_txn *t, const char *order_id, const char *ref, const char *code);

#endif
