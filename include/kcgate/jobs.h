/**
 * kcgate/jobs.h: the durable job queue, and what a job is.
 *
 * Every outbound effect is a job in LMDB, written in the same transaction
 * as whatever caused it (the outbox pattern): kcg_jobs_enqueue() takes the
 * caller's write transaction. This module owns the job records and their
 * indexes and nothing else: no thread, no network. The engine (engine.h)
 * picks due jobs with kcg_jobs_due() and kcg_jobs_load_run(), runs them,
 * and writes each outcome with kcg_jobs_record(); the admin views
 * (jobs_view.h) read with kcg_jobs_read(), kcg_jobs_walk() and
 * kcg_jobs_stats().
 *
 * A job's handler (struct kcg_job_kind) is a small state machine run in the
 * engine thread: each step either asks for an HTTP call (built by a pure
 * client, see net.h) and is called again with the reply, or finishes the
 * run: done, retry later, or dead. The run's effects (its @c apply) are
 * written in the same transaction that records the outcome, so "the order
 * is booked" and "the booking job is done" commit together.
 *
 * States: a job is pending until an outcome commits; then done or dead, or
 * pending again with a later next_at (a retry). A retry that would fall
 * past jobs.max_age_h after the job's creation is recorded dead instead. A
 * dead job raises a dead_job exception (exceptions.h), which a later done
 * resolves; kcg_jobs_retry() puts a dead job back to pending. "running"
 * exists only in the engine's memory, so a crash at any point means the job
 * runs again on start; every handler is written so that a repeat does no
 * harm.
 *
 * Every function taking a struct kcg_txn changes nothing outside it: when
 * one fails, the caller aborts the transaction and nothing is left behind.
 *
 * Databases:
 *   jobs       id -> JSON record {id, lane, kind, subject, payload, state,
 *              attempts, next_at, created_at, updated_at, last_status, last_error}
 *   jobs_due   lane (u8) + next_at (BE u64) + id -> "" for pending jobs
 *   jobs_live  kind NUL subject -> id, for pending jobs (one live job per kind and subject)
 *   meta       "jobs.<lane>.<state>" -> u64 BE: the counts per lane and
 *              state, updated in the same transactions as the jobs (so
 *              /metrics never scans the queue)
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

/** Retention of done jobs (owner "jobs", for kcg_store_options.owners):
 * a done job goes once it is older than the horizon; pending and dead jobs
 * stay. */
extern const struct kcg_retention_owner kcg_jobs_retention;

/** Lanes; new ones go at the end (stored records name them by number).
 * Alerts have their own, one per channel (alerts: webhook posts,
 * alerts_mail: mails), each with its own slots and breaker, so a dead or
 * hanging mail server never holds back the webhook, orders or stock; mirakl_stock carries the stock imports (STO01-03,
 * OF21) so that an order backlog never delays them, nor they orders;
 * inriver_push carries Khaos -> inriver field writes (coalesced, low
 * priority), apart from both. */
enum kcg_lane { KCG_LANE_MIRAKL, KCG_LANE_KHAOS, KCG_LANE_INRIVER, KCG_LANE_ALERTS, KCG_LANE_MIRAKL_STOCK,
		KCG_LANE_INRIVER_PUSH, KCG_LANE_ALERTS_MAIL, KCG_LANE_COUNT };

/** A stored job's state ("running" is not one: it exists only in the engine). */
enum kcg_job_state { KCG_JOB_PENDING, KCG_JOB_DONE, KCG_JOB_DEAD, KCG_JOB_STATE_COUNT };

#define KCG_JOB_KIND_MAX 32
#define KCG_JOB_SUBJECT_MAX 128

/** "mirakl", "khaos", "inriver", "alerts" ("unknown" out of range). */
const char *kcg_lane_name(enum kcg_lane lane);

/** The lane named @p name, or -1 (also for NULL). */
int kcg_lane_of(const char *name);

/** "pending", "done", "dead" ("unknown" out of range). */
const char *kcg_job_state_name(enum kcg_job_state state);

/** The state named @p name, or -1 (also for NULL and "running"). */
int kcg_job_state_of(const char *name);

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
	enum kcg_lane lane;         /**< the lane it was queued on */
	char subject[KCG_JOB_SUBJECT_MAX];
	json_t *payload;            /**< borrowed from the engine for the run */
	uint32_t attempts;          /**< earlier runs that failed */
	uint64_t created_ms;
	void *ctx;                  /**< kcg_engine_options.ctx, for apply */

	/* the exchange */
	unsigned n_calls;           /**< calls made so far in this run */
	struct kcg_call call;       /**< filled by a step returning KCG_STEP_CALL */
	struct kcg_reply reply;     /**< the answer to the last call */

	/* the outcome, set by the last step */
	char error[KCG_ERROR_MAX];  /**< why it failed (RETRY, DEAD) */
	long status;                /**< the peer's HTTP status behind the outcome, 0 if none */
	long retry_after_s;         /**< at least this long before the retry, -1 = no hint
	                                 (the engine sets it from each reply's Retry-After) */
	/** Effects written with the outcome (any outcome), in the same
	 * transaction; optional. */
	int (*apply)(struct kcg_txn *txn, struct kcg_job_run *run);
	/** Optional, for a DONE outcome whose effects are too large for one
	 * transaction (a whole catalogue): written before the outcome, one
	 * part per write transaction of its own, run->part being the parts
	 * committed so far. Returns 1 while more parts remain, 0 after the
	 * last, or an error (the job then retries, nothing more written). A
	 * part may be applied twice (a batch redone) and a crash between parts
	 * leaves the job pending: parts must be repeatable. */
	int (*apply_part)(struct kcg_txn *txn, struct kcg_job_run *run);
	unsigned part;
	json_t *result;             /**< handler data across steps and for apply (decref'd by the engine) */
	int phase;                  /**< the handler's own step marker; 0 when a run begins */
	/** Handler data that is not JSON (a large parsed answer kept compact for
	 * apply); freed with blob_free when the run ends. Optional. */
	void *blob;
	void (*blob_free)(void *blob);
};

/** A step's outcome from a client's parse result @p rc: RETRY for -EAGAIN
 * (transient), DEAD otherwise; @p why becomes run->error. */
enum kcg_step kcg_job_failed(struct kcg_job_run *run, int rc, const char *why);

/** A step's outcome after building run->call: CALL when @p rc is 0, else
 * DEAD with "cannot build the request". */
enum kcg_step kcg_job_call(struct kcg_job_run *run, int rc);

/**
 * Adds a job inside @p txn (a write transaction): pending, due at
 * @p run_at_ms (0 = now). @p payload is copied (NULL = {}). If a pending job
 * of the same kind and subject exists, nothing is added and
 * KCG_EDUPLICATE is returned (not a failure). @p id_out (optional) gets the
 * new or the existing job's id. The engine does not learn of it by itself:
 * kick it (kcg_engine_kick()) once the transaction commits.
 * @return 0, KCG_EDUPLICATE, -EINVAL (unknown lane/kind too long) or an LMDB code.
 */
int kcg_jobs_enqueue(struct kcg_txn *txn, enum kcg_lane lane, const char *kind, const char *subject,
		     const json_t *payload, uint64_t run_at_ms, char *id_out);

/**
 * Puts a dead job back to pending, due now, with its attempts and age reset
 * (a person decided to try again), in its own write transaction; the caller
 * then kicks the engine. @return 0, KCG_ENOTFOUND, -EINVAL (not dead),
 * -EBUSY (a newer job of the same kind and subject is pending: this one is
 * superseded) or an error.
 */
int kcg_jobs_retry(struct kcg_store *store, const char *id);

/* ---- for the engine ---- */

/**
 * Walks the pending jobs of @p lane due at @p now_ms, oldest due first,
 * calling @p fn with each one's id (NUL-terminated) until it returns
 * non-zero; looks at 1000 at most per call. @p fn's errors are its own: a
 * non-zero return only stops the walk. @return 0 or an LMDB code.
 */
int kcg_jobs_due(struct kcg_txn *txn, enum kcg_lane lane, uint64_t now_ms,
		 int (*fn)(struct kcg_txn *txn, const char *id, void *arg), void *arg);

/**
 * Fills the stored part of @p run (id, kind, lane, subject, payload,
 * attempts, created_ms; retry_after_s = -1) from job @p id, its kind found
 * in @p kinds (NULL-terminated). run->payload gets a new reference; the
 * rest of @p run is left as it was (zero it first).
 * @return 0, KCG_ENOTFOUND, -ENOENT (a kind not in @p kinds; the job stays
 * pending, visible in the admin API), KCG_ESTORE or an LMDB code.
 */
int kcg_jobs_load_run(struct kcg_txn *txn, const char *id, const struct kcg_job_kind *const *kinds,
		      struct kcg_job_run *run);

/** Frees what @p run owns (call, reply, payload, result) and zeroes those
 * fields; the rest stays. NULL-safe. */
void kcg_job_run_finish(struct kcg_job_run *run);

/**
 * Records the outcome @p asked of @p run inside @p txn, with run->apply's
 * effects (and the kind's dead() when it dies): DONE resolves a dead_job
 * exception; RETRY reschedules @p retry_in_ms from now, or dies when that
 * is past @p max_age_ms after the job's creation; DEAD raises dead_job.
 * Sets *@p recorded to the outcome written (a RETRY may become DEAD). A job
 * no longer pending (or gone) is left alone: 0, *@p recorded untouched.
 * Changes nothing outside @p txn but *@p recorded, so it may run again.
 * @return 0, or the first error (the caller aborts @p txn).
 */
int kcg_jobs_record(struct kcg_txn *txn, struct kcg_job_run *run, enum kcg_step asked, uint64_t retry_in_ms,
		    uint64_t max_age_ms, enum kcg_step *recorded);

/* ---- for the admin views ---- */

/** Reads job @p id's record; *@p rec gets a new reference.
 * @return 0, KCG_ENOTFOUND, KCG_ESTORE (not an object) or an LMDB code. */
int kcg_jobs_read(struct kcg_txn *txn, const char *id, json_t **rec);

/**
 * Walks the job records newest first, from just before @p before (an id;
 * NULL = the newest), calling @p fn with each key as an id (NULL if the key
 * is malformed) and its record (borrowed; NULL if unreadable) until it
 * returns non-zero. @return 0 or an LMDB code.
 */
int kcg_jobs_walk(struct kcg_txn *txn, const char *before,
		  int (*fn)(const char *id, json_t *rec, void *arg), void *arg);

/** The counts kept in meta, and how long each lane's oldest due job waits. */
struct kcg_jobs_stats {
	uint64_t count[KCG_LANE_COUNT][KCG_JOB_STATE_COUNT];
	uint64_t oldest_due_ms[KCG_LANE_COUNT]; /**< 0 when none is overdue */
};

/** Fills @p out (zero it first). @return 0 or an LMDB code. */
int kcg_jobs_stats(struct kcg_txn *txn, struct kcg_jobs_stats *out);

#endif
