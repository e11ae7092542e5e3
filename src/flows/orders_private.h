/*
 * orders_private.h: what the order flow's files share: orders.c (the
 * record, the decisions, the flow), orders_book.c, orders_accept.c,
 * orders_stock.c, orders_rules.c, orders_hook.c, orders_timeline.c and
 * orders_watch.c (the OR11 poll, the deadline watch, the reads,
 * retention); and the bench tests/bench/orders_history.c. Nothing else
 * includes it.
 */
#ifndef KCGATE_FLOWS_ORDERS_PRIVATE_H
#define KCGATE_FLOWS_ORDERS_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/flows/orders.h"
#include "kcgate/json.h"

#define ORDER_ID_MAX 100          /* longest Mirakl order id kept */
#define ORDERS_SCAN_MAX 100000    /* records one scan may look at */
#define WATERMARK_POLL "mirakl.or11.watermark"
/* when kcgate took the shop's orders over: the start of its first poll */
#define CUTOVER "orders.cutover_ms"
/* the OR11 poll in progress (all 0 when none): its start, its window, the
 * next page's offset, the total_count its first page said */
#define CURSOR_STARTED "mirakl.or11.cursor.started"
#define CURSOR_FROM "mirakl.or11.cursor.from"
#define CURSOR_OFFSET "mirakl.or11.cursor.offset"
#define CURSOR_TOTAL "mirakl.or11.cursor.total"
#define DB_ORDERS "orders"
#define DB_ORDERS_OPEN "orders_open" /* order_id -> "": the records whose state is not final */
#define DB_ORDERS_BOOKED "orders_booked" /* order_id -> "": the records in state booked (the despatch watch's walk) */
#define ORDERS_BOOKED_BUILT "orders.booked_index" /* meta: 1 once a store from before the index has it built */
#define DB_ORDERS_RESERVED "orders_reserved" /* stock code -> u64: accepted (or being accepted), not booked */
#define DB_ORDERS_HELD "orders_held" /* "<stock code>\0<order_id>" -> "": held records by the SKUs they wait on */
/* "<stock code>\0<order_id>" -> u64 quantity, u64 booked_ms: reservations a
 * booking ended, kept until the SKU cache holds a level read after it */
#define DB_ORDERS_UNSEEN "orders_unseen"
#define HELD_INDEX_BUILT "orders.held_index.v1" /* meta: orders_held holds every held record */

enum { PH_START, PH_READ, PH_STATUS, PH_IMPORT, PH_ACCEPT };

/* orders_rules.c helpers the rest shares: @p a equals @p b (NULL-safe);
 * @p s is one of the strings of @p list; an integer member (0 when none). */
bool orders_is(const char *a, const char *b);
bool orders_listed(const json_t *list, const char *s);
int64_t orders_int_of(const json_t *obj, const char *key);

/* The record of @p order_id: 0, KCG_ENOTFOUND, KCG_ESTORE or an LMDB code. */
int orders_get_record(struct kcg_txn *t, const char *order_id, json_t **out);


/* A record's state; none (or an unknown one) counts as seen. */
enum kcg_order_state orders_state_of(const json_t *rec);

/* Calls @p fn for each order record (parsed copies), in order id order, at
 * most ORDERS_SCAN_MAX; @p fn returns 0 to go on, 1 to stop, or an error. */
int orders_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg);

/* Calls @p fn for each open order record (the orders_open index, never
 * every record), at most ORDERS_SCAN_MAX; as orders_each(). */
int orders_open_each(struct kcg_txn *t, int (*fn)(json_t *rec, void *arg), void *arg);
/* As orders_open_each() over index @p name (DB_ORDERS_OPEN, DB_ORDERS_BOOKED:
 * order_id -> ""), each key's record read; over DB_ORDERS itself (the
 * values are the records), orders_each(). */
int orders_index_each(struct kcg_txn *t, const char *name, int (*fn)(json_t *rec, void *arg), void *arg);

/* Puts (or, @p put false, deletes) @p rec's orders_held keys: one per SKU
 * of its held_skus while its state is held; none otherwise. */
int orders_held_keys(struct kcg_txn *t, const json_t *rec, bool put);

/* The "<sku>\0<order id>" keys of orders_held and orders_unseen: the key
 * in @p key and its length, 0 when either part is empty or too long. */
size_t orders_sku_key(char key[2 * ORDER_ID_MAX + 2], const char *sku, const char *id);
/* Calls @p fn for each key of index @p name (DB_ORDERS_HELD,
 * DB_ORDERS_UNSEEN) under @p sku, with its order id (@p n bytes, not
 * NUL-terminated) and value; @p cur is the walk's (fn may
 * mdb_cursor_del). @p fn returns 0 to go on or an error. */
int orders_sku_walk(struct kcg_txn *t, const char *name, const char *sku,
		    int (*fn)(MDB_cursor *cur, const char *id, size_t n, const MDB_val *v, void *arg), void *arg);

/* Raises (or refreshes) missing_in_khaos for one record. */
int orders_raise_missing(struct kcg_txn *t, const json_t *rec, uint64_t alert_min);

/* An order still to be accepted whose alert time has passed? */
bool orders_is_late(const struct kcg_config *cfg, const json_t *rec, uint64_t now);

/* Raises (or refreshes) acceptance_deadline for one late order record. */
int orders_raise_deadline(struct kcg_txn *t, const json_t *rec);

/* Notes that a webhook named @p order_id while its order.sync was pending
 * (a running sync then reads the order again). */
int orders_hint(struct kcg_txn *t, const char *order_id);

/* Moves the record of @p given (a Mirakl order) and enqueues what comes
 * next, in @p t; keeps the newer of the stored and the given snapshot.
 * Idempotent. */
int orders_decide(struct kcg_txn *t, const struct kcg_config *cfg, const json_t *given);

/* The record and its saving (orders.c): the record of @p order_id or a new
 * one in state seen (*created); write it keeping orders_open and the
 * reserved stock in step; its state; a time member; Mirakl's
 * last_updated_date of an order (0 = unknown); what the flow keeps of a
 * Mirakl order; booked_cancelled for a booked order Mirakl withdrew
 * (@p lines: which, or NULL for the whole order). */
json_t *orders_load(struct kcg_txn *t, const char *order_id, bool *created);
int orders_save(struct kcg_txn *t, json_t *rec);
void orders_set_state(json_t *rec, enum kcg_order_state state);
void orders_set_time(json_t *rec, const char *key, uint64_t ms);
uint64_t orders_updated_ms(const json_t *order);
void orders_take_snapshot(const struct kcg_config *cfg, json_t *rec, const json_t *order);
int orders_raise_booked_cancelled(struct kcg_txn *t, const json_t *rec, const char *what, const json_t *lines);

/* orders_book.c: the associated ref an order is booked under, fixed (in
 * the record) the first time; the order.book step. */
const char *orders_booking_ref(const struct kcg_config *cfg, json_t *rec, const char *order_id,
			       char ref[ORDER_ID_MAX + 64]);
enum kcg_step orders_book_step(struct kcg_job_run *run, void *ctx);

/* Marks the record accepted on Mirakl (orders.c). */
void orders_mark_accepted(struct kcg_txn *t, json_t *rec);

/* orders_accept.c: the order.accept step. */
enum kcg_step orders_accept_step(struct kcg_job_run *run, void *ctx);

/* orders_stock.c: the reserved stock moved from @p before (the stored
 * record, NULL for a new one) to @p rec; whether @p rec is held for short
 * stock; every line's SKU an active stock code (else held, unknown_sku);
 * Khaos's level covering the lines (else held or lines refused,
 * short_stock). The last two set *rc on an error. */
int orders_move_reserved(struct kcg_txn *t, const json_t *before, json_t *rec);
bool orders_held_short(const json_t *rec);
bool orders_skus_good(struct kcg_txn *t, json_t *rec, const json_t *order, int *rc);
bool orders_stock_good(struct kcg_txn *t, const struct kcg_config *cfg, json_t *rec, const json_t *order, int *rc);

/* orders_hook.c: the outbox hook (kcg_flow.on_event). */
int orders_on_event(struct kcg_txn *t, const struct kcg_event_meta_ref *ev, struct kcg_flow_ctx *ctx);

/* orders_watch.c: the mirakl.poll step, the timers, retention. */
enum kcg_step orders_mirakl_poll(struct kcg_job_run *run, void *ctx);
size_t orders_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap);

/* The flow's sync health figures for the daily digest (orders_watch.c). */
int orders_health(struct kcg_txn *t, struct kcg_flow_ctx *ctx, json_t *figures);
extern const struct kcg_retention_owner orders_retention;

#endif
