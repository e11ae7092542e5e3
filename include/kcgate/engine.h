/**
 * kcgate/engine.h: the job engine, the thread that runs the queue.
 *
 * One engine thread picks due jobs from the queue (jobs.h), runs their
 * steps, sends the calls they ask for through the libcurl driver
 * (net_curl.h) and writes each run's outcome through the store's writer
 * (kcg_jobs_record() inside a struct kcg_write). It never touches libcurl
 * or the job records itself.
 *
 * Lanes: one per peer system, and one for alerts; at most [lanes] <lane>
 * runs at a time on each, so one slow or failing system never holds back
 * another. A lane no given kind runs on is never looked at.
 *
 * Circuit breaker, per lane: jobs.breaker_failures consecutive transient
 * answers (no answer, 5xx, 408, 429) open it; no new run starts for
 * jobs.breaker_cooldown_s, then one probe at a time; an answer that is not
 * transient closes it, a failed probe keeps it open another cooldown.
 *
 * Retries: a RETRY outcome waits jobs.retry_base_ms x 2^(attempts-1), at
 * most jobs.retry_max_s, +-20% jitter, at least Retry-After; the queue
 * records it dead instead once past jobs.max_age_h.
 *
 * Outcomes: a run stays in the engine's memory (so it is not picked up
 * twice) until its outcome commits. One that cannot be written (the store
 * is full or stopping) leaves the job pending and kept from running again
 * for a backoff; one whose effects fail (its apply returns an error) is
 * recorded dead without them, so it is seen and does not repeat its calls
 * in a loop.
 *
 * Timers (pollers, watchers) run in the engine thread too: each first at
 * start, then every interval_ms.
 *
 * The engine logs what only it sees (a job dead or retrying, the breaker
 * opening and closing, an outcome not recorded): it runs on its own thread
 * and has no caller to return them to.
 *
 * Lifecycle (main thread): kcg_engine_create() allocates (nothing runs),
 * kcg_engine_start() runs the thread, kcg_engine_stop() halts it and
 * keeps the engine allocated, kcg_engine_destroy() frees it. Kicks, the
 * running marks and stats work from create to destroy, from any thread.
 */
#ifndef KCGATE_ENGINE_H
#define KCGATE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcgate/config.h"
#include "kcgate/jobs.h"
#include "kcgate/store.h"

struct kcg_engine;

/** A periodic task run in the engine thread (pollers, watchers). */
struct kcg_engine_timer {
	const char *name;
	uint64_t interval_ms;
	void (*fn)(struct kcg_engine *engine, void *ctx);
};

struct kcg_engine_options {
	struct kcg_store *store;
	const struct kcg_config *cfg;             /**< [lanes] and [jobs]; read at create */
	const struct kcg_job_kind *const *kinds;  /**< NULL-terminated */
	const struct kcg_engine_timer *timers;    /**< n_timers of them; each first runs at start */
	size_t n_timers;
	void *ctx;                                /**< passed to steps and timers */
};

/**
 * Allocates an engine (no thread yet). @p opt's arrays, store, config and
 * ctx must outlive it. @return 0 with *@p out, or -ENOMEM (nothing left).
 */
int kcg_engine_create(const struct kcg_engine_options *opt, struct kcg_engine **out);

/**
 * Starts the engine thread: what is pending and due runs (after a crash,
 * everything unfinished), and every timer runs once. Main thread only.
 * @return 0, -EALREADY (running) or -errno from pthread_create (not started).
 */
int kcg_engine_start(struct kcg_engine *engine);

/**
 * Stops the engine thread: no new runs; calls in flight are abandoned
 * (their jobs stay pending and run again at the next start); waits for
 * outcomes already handed to the store. Call before kcg_store_stop(). The
 * engine stays allocated (kicks, listings and metrics keep working) and
 * may be started again. Idempotent, NULL-safe; main thread only.
 */
void kcg_engine_stop(struct kcg_engine *engine);

/** kcg_engine_stop() if needed, then frees the engine. NULL-safe. */
void kcg_engine_destroy(struct kcg_engine *engine);

/** Wakes the engine (new jobs committed). Thread-safe, cheap. NULL-safe. */
void kcg_engine_kick(struct kcg_engine *engine);

/** Whether job @p id is being run now. Thread-safe; false for a NULL engine. */
bool kcg_engine_running(struct kcg_engine *engine, const char *id);

/** When the engine thread's loop last turned (wall clock, ms; 0 before it
 * first did): the service watchdog's sign of life. Thread-safe. */
uint64_t kcg_engine_heartbeat(struct kcg_engine *engine);

/** What the engine knows of each lane now (process totals since create). */
struct kcg_engine_stats {
	struct {
		unsigned running;        /**< runs begun and not yet recorded */
		uint64_t attempts;       /**< calls started */
		uint64_t dead;           /**< jobs recorded dead by this engine */
		bool breaker_open;
	} lane[KCG_LANE_COUNT];
};

/** Fills @p out; all zero for a NULL engine. Thread-safe. */
void kcg_engine_stats(struct kcg_engine *engine, struct kcg_engine_stats *out);

#endif
