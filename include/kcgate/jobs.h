/**
 * kcgate/jobs.h: the durable job queue and the engine that runs it.
 *
 * Every outbound effect is a job in LMDB, written in the same transaction
 * as whatever caused it (the outbox pattern): kcg_jobs_enqueue() takes the
 * caller's write transaction. One engine thread drives libcurl's multi
 * interface: many calls in flight, a concurrency limit per lane ([lanes]),
 * and a circuit breaker per lane, so one slow or failing system never holds
 * back another.
 *
 * A job's handler (struct kcg_job_kind) is a small state machine run in the
 * engine thread: each step either asks for an HTTP call (built by a pure
 * client, see net.h) and is called again with the reply, or finishes the
 * run: done, retry later, or dead. The run's effects (its @c apply) are
 * written in the same transaction that records the outcome, so "the order
 * is booked" and "the booking job is done" commit together.
 *
 * Retries: transient failures (no answer, 5xx, 408, 429) back off
 * exponentially from jobs.retry_base_ms (x2 per attempt, +-20% jitter, at
 * most jobs.retry_max_s, at least Retry-After); a job that would retry past
 * jobs.max_age_h after its creation dies instead. A dead job raises a
 * dead_job exception and can be put back by kcg_jobs_retry().
 *
 * A run whose outcome cannot be written (the store is full or stopping) is
 * kept from running again for a backoff; one whose effects fail (its apply
 * returns an error) is recorded dead without them.
 *
 * Crash safety: "running" exists only in memory. A job is pending in LMDB
 * until its outcome commits, so a crash at any point means it runs again on
 * start; every handler is written so that a repeat does no harm.
 *
 * Databases:
 *   jobs       id -> JSON record {id, lane, kind, subject, payload, state,
 *              attempts, next_at, created_at, updated_at, last_status, last_error}
 *   jobs_due   lane (u8) + next_at (BE u64) + id -> "" for pending jobs
 *   jobs_live  kind NUL subject -> id, for pending jobs (one live job per kind and subject)
 */
#ifndef KCGATE_JOBS_H
#define KCGATE_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/net.h"
#include "kcgate/store.h"

/** The databases the queue owns, NULL-terminated (for kcg_store_options.dbs). */
extern const char *const kcg_jobs_dbs[];

enum kcg_lane { KCG_LANE_MIRAKL, KCG_LANE_KHAOS, KCG_LANE_INRIVER, KCG_LANE_COUNT };

#define KCG_JOB_KIND_MAX 32
#define KCG_JOB_SUBJECT_MAX 128

/** What a step asks the engine to do next. */
enum kcg_step {
	KCG_STEP_CALL,   /**< send run->call, then step again with run->reply */
	KCG_STEP_DONE,   /**< finished: write run->apply's effects, job done */
	KCG_STEP_RETRY,  /**< failed for now: back off and run again (run->error says why) */
	KCG_STEP_DEAD,   /**< failed for good: job dead, dead_job exception (run->error) */
};

struct kcg_job_run;

/** A kind of job: its name, its lane and its handler. */
struct kcg_job_kind {
	const char *name;
	enum kcg_lane lane;
	/**
	 * One step of a run. run->n_calls is 0 on the first step; later steps
	 * find the previous call's answer in run->reply. Never blocks.
	 */
	enum kcg_step (*step)(struct kcg_job_run *run, void *ctx);
	/** Optional: more effects when the job dies, in the transaction that
	 * records it (e.g. mark the order as stuck so nothing re-creates the
	 * job until a person retries it). */
	int (*dead)(struct kcg_txn *txn, struct kcg_job_run *run);
};

/** One execution of a job, owned by the engine. */
struct kcg_job_run {
	/* the job, as stored */
	char id[KCG_ID_LEN + 1];
	const struct kcg_job_kind *kind;
	char subject[KCG_JOB_SUBJECT_MAX];
	json_t *payload;            /**< borrowed from the engine for the run */
	uint32_t attempts;          /**< earlier runs that failed */
	uint64_t created_ms;
	void *ctx;                  /**< kcg_jobs_options.ctx, for apply */

	/* the exchange */
	unsigned n_calls;           /**< calls made so far in this run */
	struct kcg_call call;       /**< filled by a step returning KCG_STEP_CALL */
	struct kcg_reply reply;     /**< the answer to the last call */

	/* the outcome, set by the last step */
	char error[KCG_ERROR_MAX];  /**< why it failed (RETRY, DEAD) */
	long status;                /**< the peer's HTTP status behind the outcome, 0 if none */
	long retry_after_s;         /**< at least this long before the retry, -1 = no hint */
	/** Effects written with the outcome (any outcome), in the same
	 * transaction; optional. */
	int (*apply)(struct kcg_txn *txn, struct kcg_job_run *run);
	json_t *result;             /**< handler data across steps and for apply (decref'd by the engine) */
	int phase;                  /**< the handler's own step marker; 0 when a run begins */
};

/** A step's outcome from a client's parse result @p rc: RETRY for -EAGAIN
 * (transient), DEAD otherwise; @p why becomes run->error. */
enum kcg_step kcg_job_failed(struct kcg_job_run *run, int rc, const char *why);

/** A step's outcome after building run->call: CALL when @p rc is 0, else
 * DEAD with "cannot build the request". */
enum kcg_step kcg_job_call(struct kcg_job_run *run, int rc);

struct kcg_jobs;

/** A periodic task run in the engine thread (pollers, watchers). */
struct kcg_jobs_timer {
	const char *name;
	uint64_t interval_ms;
	void (*fn)(struct kcg_jobs *jobs, void *ctx);
};

struct kcg_jobs_options {
	struct kcg_store *store;
	const struct kcg_config *cfg;
	const struct kcg_job_kind *const *kinds; /**< NULL-terminated */
	const struct kcg_jobs_timer *timers;     /**< n_timers of them; each first runs at start */
	size_t n_timers;
	void *ctx;                               /**< passed to steps and timers */
};

/**
 * Starts the engine thread. @return 0 with *@p out, or -errno / -ENOMEM.
 */
int kcg_jobs_start(const struct kcg_jobs_options *opt, struct kcg_jobs **out);

/**
 * Stops the engine thread: no new runs; calls in flight are abandoned
 * (their jobs stay pending and run again at the next start); waits for
 * outcomes already handed to the store. Call before kcg_store_stop(). The
 * engine stays allocated (kicks, listings and metrics keep working) until
 * kcg_jobs_destroy(). Idempotent, NULL-safe; main thread only.
 */
void kcg_jobs_stop(struct kcg_jobs *jobs);

/** kcg_jobs_stop() if needed, then frees the engine. NULL-safe. */
void kcg_jobs_destroy(struct kcg_jobs *jobs);

/** Wakes the engine (new jobs committed). Thread-safe, cheap. NULL-safe. */
void kcg_jobs_kick(struct kcg_jobs *jobs);

/**
 * Adds a job inside @p txn (a write transaction): pending, due at
 * @p run_at_ms (0 = now). @p payload is copied (NULL = {}). If a pending job
 * of the same kind and subject exists, nothing is added and
 * KCG_EDUPLICATE is returned (not a failure). @p id_out (optional) gets the
 * new or the existing job's id.
 * @return 0, KCG_EDUPLICATE, -EINVAL (unknown lane/kind too long) or an LMDB code.
 */
int kcg_jobs_enqueue(struct kcg_txn *txn, enum kcg_lane lane, const char *kind, const char *subject,
		     const json_t *payload, uint64_t run_at_ms, char *id_out);

/**
 * Lists jobs newest first as a new JSON array in *@p out: filtered by
 * @p state ("pending", "running", "done", "dead" or NULL) and @p lane
 * ("mirakl", "khaos", "inriver" or NULL), at most @p limit, from @p cursor
 * (exclusive; NULL = newest). @p next gets the next page's cursor or "".
 * @p jobs (may be NULL) marks the ones running now.
 * @return 0, -EINVAL (bad filter or cursor) or an error.
 */
int kcg_jobs_list(struct kcg_store *store, struct kcg_jobs *jobs, const char *state, const char *lane, size_t limit,
		  const char *cursor, json_t **out, char next[KCG_ID_LEN + 1]);

/** One job as JSON (with its payload) in *@p out. @return 0, KCG_ENOTFOUND or an error. */
int kcg_jobs_get(struct kcg_store *store, struct kcg_jobs *jobs, const char *id, json_t **out);

/**
 * Puts a dead job back to pending, due now, with its attempts and age reset
 * (a person decided to try again). @return 0, KCG_ENOTFOUND, -EINVAL (not
 * dead), -EBUSY (a newer job of the same kind and subject is pending: this
 * one is superseded) or an error.
 */
int kcg_jobs_retry(struct kcg_store *store, struct kcg_jobs *jobs, const char *id);

/** Appends the jobs metrics (Prometheus text) to the malloc'd *@p text. @return 0 or -ENOMEM. */
int kcg_jobs_metrics(struct kcg_store *store, struct kcg_jobs *jobs, char **text);

/** "mirakl", "khaos", "inriver". */
const char *kcg_lane_name(enum kcg_lane lane);

#endif
