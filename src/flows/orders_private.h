/*
 * orders_private.h: what orders.c (the record, the decisions, the booking
 * and acceptance jobs, the flow) and orders_watch.c (the OR11 poll, the
 * deadline watch, the reads, retention) share. Nothing else includes it.
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
/* the OR11 poll in progress (all 0 when none): its start, its window, the
 * next page's offset, the total_count its first page said */
#define CURSOR_STARTED "mirakl.or11.cursor.started"
#define CURSOR_FROM "mirakl.or11.cursor.from"
#define CURSOR_OFFSET "mirakl.or11.cursor.offset"
#define CURSOR_TOTAL "mirakl.or11.cursor.total"
#define DB_ORDERS "orders"
#define DB_ORDERS_OPEN "orders_open" /* order_id -> "": the records whose state is not final */
#define DB_ORDERS_RESERVED "orders_reserved" /* stock code -> u64: accepted (or being accepted), not booked */

enum { PH_START, PH_READ, PH_STATUS, PH_IMPORT, PH_ACCEPT };

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

/* orders_hook.c: the outbox hook (kcg_flow.on_event). */
int orders_on_event(struct kcg_txn *t, const struct kcg_event_meta_ref *ev, struct kcg_flow_ctx *ctx);

/* orders_watch.c: the mirakl.poll step, the timers, retention. */
enum kcg_step orders_mirakl_poll(struct kcg_job_run *run, void *ctx);
size_t orders_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap);
extern const struct kcg_retention_owner orders_retention;

#endif
