/**
 * kcgate/flow.h: the flow registry.
 *
 * A flow is one integration (Mirakl orders into Khaos, the SKU cache, ...)
 * described by a struct kcg_flow of operations: the LMDB databases it owns,
 * its configuration keys, its job kinds, its timers, its outbox hook on
 * ingested events and its admin routes. kcg_flows[] (src/flow.c) lists every
 * flow; main.c, the store, the configuration and the route table loop over it
 * and name no flow. Adding a flow means writing src/flows/NAME.c with its
 * struct kcg_flow and adding one line to kcg_flows[].
 *
 * Everything a flow does runs either in the job engine thread (steps,
 * timers) or inside a store transaction (on_event, the apply of a step);
 * they share one struct kcg_flow_ctx.
 */
#ifndef KCGATE_FLOW_H
#define KCGATE_FLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "kcgate/config.h"
#include "kcgate/engine.h"
#include "kcgate/jobs.h"
#include "kcgate/events.h"
#include "kcgate/exceptions.h"
#include "kcgate/store.h"

struct kcg_route;
struct kcg_flow_set;
struct kcg_stock_item;

/** What the flows' jobs, timers and hooks share (the job engine's ctx). */
struct kcg_flow_ctx {
	const struct kcg_config *cfg;
	struct kcg_store *store;
	const struct kcg_flow_set *set; /**< the enabled flows (for cross-flow hooks); may be NULL */
};

struct kcg_flow {
	const char *name;
	/** Whether the configuration runs this flow. */
	bool (*enabled)(const struct kcg_config *cfg);
	/** The LMDB databases it owns, NULL-terminated (opened for every flow,
	 * enabled or not, so records stay readable). Optional. */
	const char *const *dbs;
	/** Its configuration keys and their checks. Optional. */
	const struct kcg_config_keys *config;
	/** Its job kinds, NULL-terminated. Optional. */
	const struct kcg_job_kind *const *kinds;
	/** Fills @p out with its timers when they fit in @p cap; returns how
	 * many it has (more than @p cap: nothing written). Optional. */
	size_t (*timers)(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap);
	/** The outbox hook: runs inside the transaction that stores a new
	 * event; what it writes commits with the event, or neither does. Optional. */
	int (*on_event)(struct kcg_txn *txn, const struct kcg_event_meta_ref *ev, struct kcg_flow_ctx *ctx);
	/** Called inside a write transaction when a Khaos stock code becomes
	 * active (known and not discontinued) in the SKU cache, or when an
	 * active code's available level rises. Optional. */
	int (*on_sku_active)(struct kcg_txn *txn, const char *code, struct kcg_flow_ctx *ctx);
	/** Called inside the write transaction of a SKU cache refresh for every
	 * item Khaos reported (ExportStockStatus), after the cache has it.
	 * Optional. */
	int (*on_stock_item)(struct kcg_txn *txn, const struct kcg_stock_item *item, struct kcg_flow_ctx *ctx);
	/** Whether its on_stock_item needs the codes revised in Khaos without
	 * their stock figures moving (a price, a new code): when an enabled
	 * flow says so, the SKU cache asks GetStockList every [khaos]
	 * stock_list_interval_s and reads each code it names again
	 * (flows/skus.h, job skus.revised). */
	bool wants_revised_codes;
	/** Appends its Prometheus lines to *@p text (GET /metrics), for every
	 * flow, enabled or not (records stay readable). Optional. */
	int (*metrics)(struct kcg_store *store, const struct kcg_config *cfg, char **text);
	/** After a configuration reload (SIGHUP) swapped the map sections:
	 * give another chance to what waited on them; *@p n says how many
	 * (orders, jobs). Runs on the main thread, outside any transaction.
	 * Optional. */
	int (*on_reload)(struct kcg_flow_ctx *ctx, size_t *n);
	/** Called inside the transaction that raises an exception (any
	 * flow's or the core's): what it writes (an alert job) commits with
	 * the exception. Optional. */
	int (*on_exception)(struct kcg_txn *txn, const struct kcg_exc_raised *raised, struct kcg_flow_ctx *ctx);
	/** Its sync health figures, read in @p txn: appends objects
	 * {"name": "...", "value": "..."} (both strings, the name saying
	 * what and of which system) to the JSON array @p figures. What the
	 * daily digest (alerts) shows besides the queue's own. Optional. */
	int (*health)(struct kcg_txn *txn, struct kcg_flow_ctx *ctx, json_t *figures);
	/** How its finished records expire (kcg_store_retain()). Optional. */
	const struct kcg_retention_owner *retention;
	/** Its admin routes (rows like routes/routes.c's). Optional. */
	const struct kcg_route *routes;
	size_t n_routes;
};

/** Every flow, NULL-terminated: the one list (src/flow.c). */
extern const struct kcg_flow *const kcg_flows[];

#define KCG_FLOWS_MAX 16
#define KCG_FLOWS_DBS_MAX 32
#define KCG_FLOWS_KINDS_MAX 64
#define KCG_FLOWS_TIMERS_MAX 32

/** What the enabled flows bring to the store and the job engine. */
struct kcg_flow_set {
	struct kcg_flow_ctx ctx;
	const struct kcg_flow *enabled[KCG_FLOWS_MAX];
	size_t n_enabled;
	const char *dbs[KCG_FLOWS_DBS_MAX + 1];   /**< core modules' and every flow's, NULL-terminated */
	const struct kcg_job_kind *kinds[KCG_FLOWS_KINDS_MAX + 1]; /**< enabled flows', NULL-terminated */
	struct kcg_engine_timer timers[KCG_FLOWS_TIMERS_MAX];
	size_t n_timers;
	/** The core's (exceptions) and every flow's retention owners, NULL-terminated. */
	const struct kcg_retention_owner *owners[KCG_RETENTION_OWNERS_MAX + 1];
};

/**
 * Fills @p set for @p cfg: the enabled flows, every database name and
 * retention owner (the core's: jobs and exceptions, then each flow's), the
 * enabled flows' job kinds and timers. @return 0, or -E2BIG when a KCG_FLOWS_*_MAX is too small.
 */
int kcg_flow_set_init(struct kcg_flow_set *set, const struct kcg_config *cfg);

/** The store's outbox hook (kcg_store_options.on_event, arg = the set):
 * every enabled flow's on_event in turn; the first error stops it. */
int kcg_flow_set_on_event(struct kcg_txn *txn, const struct kcg_event_meta_ref *ev, void *set);

/** The store's exception hook (kcg_store_options.on_exception, arg = the
 * set): every enabled flow's on_exception in turn; the first error stops it. */
int kcg_flow_set_on_exception(struct kcg_txn *txn, const struct kcg_exc_raised *raised, void *set);

/** Every enabled flow's health figures appended to @p figures (see
 * struct kcg_flow.health); the first error stops it. */
int kcg_flow_set_health(struct kcg_txn *txn, struct kcg_flow_ctx *ctx, json_t *figures);

/** For a flow's health: appends {"name": @p name, "value": @p value} to
 * @p figures. @return 0 or -ENOMEM. */
int kcg_flow_health_add(json_t *figures, const char *name, const char *value);

/** Same with a time (UTC, ISO 8601) and how long ago it was, or "never"
 * for 0, as of @p now_ms. */
int kcg_flow_health_time(json_t *figures, const char *name, uint64_t ms, uint64_t now_ms);

/** Calls every enabled flow's on_sku_active hook (none when ctx->set is
 * NULL); the first error stops it. */
int kcg_flows_sku_active(struct kcg_txn *txn, const char *code, struct kcg_flow_ctx *ctx);

/** Calls every enabled flow's on_stock_item hook (none when ctx->set is
 * NULL); the first error stops it. */
int kcg_flows_stock_item(struct kcg_txn *txn, const struct kcg_stock_item *item, struct kcg_flow_ctx *ctx);

/** Every flow's metrics hook in turn, appending to *@p text. */
int kcg_flows_metrics(struct kcg_store *store, const struct kcg_config *cfg, char **text);

/** Calls every enabled flow's on_reload hook; *@p n gets their total.
 * Every hook runs; the first error is returned. */
int kcg_flow_set_reload(struct kcg_flow_set *set, size_t *n);

/**
 * For timers: adds a job due now in its own write transaction and waits for
 * the commit (an equal pending job counts as added). A failure is logged:
 * the timer's next tick tries again.
 */
void kcg_flow_enqueue_now(struct kcg_flow_ctx *ctx, enum kcg_lane lane, const char *kind, const char *subject);

#endif
