/*
 * store_private.h: what store.c (the environment and its writer), events.c
 * (the event log) and retention.c (the retention sweep) share. Nothing
 * outside these three includes it.
 */
#ifndef KCGATE_STORE_PRIVATE_H
#define KCGATE_STORE_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "kcgate/events.h"
#include "kcgate/store.h"

/* A kcg_store_sweep() call waiting for the writer; lives on the caller's stack. */
struct sweep_req {
	uint64_t now_ms;
	uint64_t removed;
	int result;
	bool done;
	struct sweep_req *next;
};

/*
 * One kind of clean-up, run by the writer a chunk (one transaction of at
 * most @p budget deletions) at a time between batches: the dedupe keys
 * (events.c), the events past retention (events.c), the finished records
 * past retention (retention.c). A chunk sets *more when entries may remain
 * and adds what it deleted to @p removed (indexed like struct
 * kcg_sweep_stats' counters).
 */
struct sweeper {
	int (*chunk)(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed, bool *more);
};

struct kcg_store {
	MDB_env *env;
	MDB_dbi events, dedupe, dedupe_t, counts, meta, retain;
	uint64_t page_size;
	uint64_t dedupe_ttl_ms;
	uint64_t retention_ms;       /* 0: keep everything */
	size_t sweep_batch;          /* deletions per sweep transaction */
	uint64_t sweep_interval_ms;
	size_t max_batch;
	size_t queue_limit;
	void (*on_commit)(void *arg, size_t batch, uint64_t duration_ns);
	void *on_commit_arg;
	kcg_event_hook on_event;
	void *on_event_arg;
	kcg_exc_hook on_exception;
	void *on_exception_arg;
	struct {
		const char *name;  /* borrowed from the module that declared it */
		MDB_dbi dbi;
	} dbs[KCG_STORE_DBS_MAX];  /* the other modules' databases */
	size_t n_dbs;
	const struct kcg_retention_owner *owners[KCG_RETENTION_OWNERS_MAX];
	size_t n_owners;

	pthread_t writer;
	pthread_mutex_t lock;      /* guards everything below */
	pthread_cond_t wake;       /* writer: work arrived or closing */
	pthread_cond_t swept;      /* sweep callers: a sweep_req is done */
	struct kcg_write *head, *tail;
	size_t queued;
	struct sweep_req *sweeps;  /* explicit sweeps, LIFO is fine */
	bool closing;
	bool running;
	struct kcg_sweep_stats last_sweep; /* the last finished sweep */
	uint64_t removed_total[KCG_SWEEP_COUNTERS];
	uint64_t sweep_errors;             /* sweeps that ended on an error */

	pthread_mutex_t stop_lock; /* serialises kcg_store_stop() (join once) */
	bool joined;
};

/* LMDB's codes (errno values > 0, MDB_* < 0) as kcgate's. */
int store_mdb_err(int rc);

/* The one counter read-modify-write: @p delta added to the u64 BE value
 * under @p key (missing = 0, never below 0). */
int store_add_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len, int64_t delta);

/*
 * The one loop of every sweeper: visits the first (oldest) entry of @p dbi
 * again and again, at most @p budget times. @p visit returns 0 to delete
 * the entry (it may write other databases first), STORE_STOP to keep it
 * and stop, or an error. *@p more: the budget ran out first.
 */
#define STORE_STOP 1
int store_drain(MDB_txn *txn, MDB_dbi dbi, size_t budget,
		int (*visit)(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg), void *arg, bool *more);

/* The first entry of @p dbi: 0 or MDB_NOTFOUND (or an LMDB error). */
int store_first(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);

/* The sweepers, in the order a sweep runs them. */
int events_sweep_dedupe(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed, bool *more);
int events_sweep_retention(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed,
			   bool *more);
uint64_t events_oldest(struct kcg_store *s, MDB_txn *txn);
int retention_sweep(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed, bool *more);
uint64_t retention_oldest(struct kcg_store *s, MDB_txn *txn);

#endif
