/*
 * despatch_private.h: what the despatch flow's files share: despatch.c
 * (the record, the Khaos reads and what they decide, the flow),
 * despatch_ship.c (the Mirakl jobs: OR23 + OR24, ST01, SH21),
 * despatch_watch.c (the timers, the reload, GET /admin/carriers) and
 * despatch_rules.c (the pure decisions, despatch.h). Nothing else
 * includes it.
 */
#ifndef KCGATE_FLOWS_DESPATCH_PRIVATE_H
#define KCGATE_FLOWS_DESPATCH_PRIVATE_H

#include <jansson.h>

#include "kcgate/flows/despatch.h"
#include "kcgate/json.h"
#include "kcgate/jobs.h"
#include "kcgate/store.h"
#include "routes.h"

#define DB_DESPATCH "despatch"
#define DB_DESPATCH_CARRIERS "despatch_carriers"
#define DB_DESPATCH_COURIERS "despatch_couriers"
#define SH21_KEY "sh21"
#define SOP_KEY "khaos.couriers" /* {"fetched_ms", "couriers": [{"code","name"}]}: GetSOPData */
#define SH21_FAILED_KEY "sh21.failed" /* {"ms","why"}: SH21 refused for good, when */
#define SH21_RETRY_FAILED_MS (3600u * 1000u) /* after a refusal, SH21 again at most hourly */
#define WATERMARK "khaos.despatch.watermark"
#define SH21_MAX_AGE_MS (24u * 3600u * 1000u) /* Mirakl: SH21 at most once a day */
#define DESPATCH_ORDER_ID_MAX 100
#define DESPATCH_REFS_MAX 100 /* refs one by-ref read may carry */
#define DESPATCH_WINDOW_MAX_MS (6u * 3600u * 1000u) /* the longest range one poll asks for */

/* The record's states (stored by name). */
#define ST_WAITING "waiting"
#define ST_PARTIAL "partial"
#define ST_SENDING "sending"
#define ST_PARKED "parked"
#define ST_SHIPPED "shipped"
#define ST_KHAOS_CANCELLED "khaos_cancelled"
#define ST_SHIPPED_CANCELLED "shipped_cancelled"

enum { PH_START, PH_READ, PH_TRACKING, PH_SHIP, PH_WHY, PH_ST01, PH_ST11 };

/* despatch_rules.c: whether @p s is one of the strings of @p list. */
bool despatch_listed(const json_t *list, const char *s);
/* Whether unit @p u (of kcg_khaos_despatch_parse()) is in @p list: by its
 * key (invoice and box), or by its consignment ref in a record written
 * before units had keys. */
bool despatch_unit_listed(const json_t *list, const json_t *u);

/* despatch.c: the record of @p order_id (NULL when none: *@p rc 0) or an error in *rc. */
json_t *despatch_get(struct kcg_txn *t, const char *order_id, int *rc);
int despatch_put(struct kcg_txn *t, json_t *d);
/* The record of @p order_id, or a new one; NULL with the error in *rc. */
json_t *despatch_load(struct kcg_txn *t, const char *order_id, int *rc);
/* @p d reaches its end @p state (shipped, shipped_cancelled,
 * khaos_cancelled): finished_ms and a retention mark; the caller saves it. */
int despatch_finish(struct kcg_txn *t, json_t *d, const char *state);
/* A new record for an order booked under @p ref. */
json_t *despatch_new(const char *order_id, const char *ref);
/* The SH21 carriers cached (a new reference), or NULL when never read. */
json_t *despatch_sh21(struct kcg_txn *t, uint64_t *fetched_ms);
/* Raises @p kind (owner operations) for @p order_id with @p msg. */
int despatch_raise(struct kcg_txn *t, const char *kind, const char *system, const char *order_id, const char *msg);
/* Raises shipped_cancelled for @p order_id: Khaos shipped it (@p
 * consignment, @p courier), Mirakl says @p mirakl_state. */
int despatch_shipped_cancelled(struct kcg_txn *t, const char *order_id, const char *consignment, const char *courier,
			       const char *mirakl_state);
/* The order id an associated ref belongs to, or NULL; *@p rec gets the
 * order record. Through what was booked: the order record's "khaos_ref"
 * must be the ref (the current [khaos] order_ref_prefix is tried first,
 * then every other split of the ref, so a prefix changed since booking
 * still finds its orders). */
const char *despatch_order_of(struct kcg_txn *t, const struct kcg_config *cfg, const char *ref, char *id,
			      json_t **rec);

/* despatch_ship.c: the steps and the end of a despatch on Mirakl. */
enum kcg_step despatch_ship_step(struct kcg_job_run *run, void *ctx);
enum kcg_step despatch_shipment_step(struct kcg_job_run *run, void *ctx);
enum kcg_step despatch_carriers_step(struct kcg_job_run *run, void *ctx);
/* The record shipped (with the tracking sent), the order record too, the
 * shipping_deadline resolved. */
int despatch_mark_shipped(struct kcg_txn *t, const char *order_id, const json_t *tracking);

/* despatch_watch.c */
size_t despatch_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap);
int despatch_reload(struct kcg_flow_ctx *ctx, size_t *n);
/* khaos.couriers: GetSOPData's couriers into the cache (GET /admin/carriers). */
enum kcg_step despatch_sop_step(struct kcg_job_run *run, void *ctx);
#define DESPATCH_ROUTES 1
extern const struct kcg_route despatch_routes[DESPATCH_ROUTES];

#endif
