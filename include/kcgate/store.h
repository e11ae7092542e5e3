/**
 * kcgate/store.h: the durable store (LMDB) and its group-committing writer
 * thread. The event log on top of it is kcgate/events.h.
 *
 * One LMDB environment in one directory. All writes go through one writer
 * thread: requests queue up, the writer takes every request waiting (up to
 * max_batch), writes them all in ONE transaction, commits (which fsyncs),
 * and only then completes each request. Many requests, one fsync: that is
 * what lets ingest answer "durable" fast. Reads run in parallel in their
 * own read-only transactions on the caller's thread.
 *
 * Databases inside the environment: the event log's (events.h), meta
 * (small named u64 values: watermarks, counters), retain (the retention
 * index: finish time (BE u64) + owner NUL record key -> ""), and those the
 * other modules declare (kcg_store_options.dbs).
 *
 * A periodic sweep in the writer thread (bounded per transaction, ingest
 * runs between two of its transactions) deletes expired dedupe keys, and
 * events and finished records past the retention horizon.
 *
 * When the map is full, the batch is retried one request per transaction so
 * that whatever fits is still stored; the rest fail with KCG_ESTOREFULL and
 * nothing of theirs is written. The process stays up.
 */
#ifndef KCGATE_STORE_H
#define KCGATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "kcgate/common.h"
#include "kcgate/payload.h"

#define KCG_SOURCE_MAX 16      /**< longest source name ("mirakl", "inriver") */
#define KCG_DEDUPE_KEY_MAX 300 /**< longest dedupe key ("id:" + webhook-id, or "sha256:" + hex) */
#define KCG_STATUS_MAX 16

struct kcg_store;

/**
 * Other modules keep their own named databases in the same environment (so
 * their writes share the ingest's transactions). Each module declares its
 * names (NULL-terminated lists, kcg_store_options.dbs) and documents their
 * layout; the store opens them and knows nothing of what is in them. The
 * store's own are events, dedupe, dedupe_t, counts and meta.
 */
#define KCG_STORE_DBS_MAX 48 /**< most databases in one environment */

/** A transaction handed to a module's callback: write (in the writer
 * thread) or read-only (on the caller's thread). */
struct kcg_txn {
	MDB_txn *txn;
	struct kcg_store *store;
	uint64_t now_ms;           /**< wall clock when the transaction began */
};

/**
 * The handle of the database named @p name (the store's own or one passed
 * in kcg_store_options.dbs), valid for the store's lifetime. Asking for a
 * name never registered is a programming error: the process aborts.
 */
MDB_dbi kcg_store_db(struct kcg_store *store, const char *name);

/**
 * Reads the JSON value under @p key in @p db; *@p out gets a new reference.
 * @return 0, KCG_ENOTFOUND, KCG_ESTORE (not JSON) or an LMDB code.
 */
int kcg_txn_get_json(struct kcg_txn *txn, const char *db, const void *key, size_t key_len, json_t **out);

/** Writes @p val as compact JSON under @p key in @p db. @return 0, -ENOMEM or an LMDB code. */
int kcg_txn_put_json(struct kcg_txn *txn, const char *db, const void *key, size_t key_len, const json_t *val);

/**
 * Adds @p delta to the big-endian u64 counter under @p key in @p db (a
 * missing key counts as 0; the result never goes below 0).
 * @return 0 or an LMDB code.
 */
int kcg_txn_add_u64(struct kcg_txn *txn, const char *db, const void *key, size_t key_len, int64_t delta);

/** The u64 under @p name in the store's meta database (0 when missing). */
uint64_t kcg_meta_get_u64(struct kcg_txn *txn, const char *name);

/** Sets the u64 under @p name in the meta database. @return 0 or an LMDB code. */
int kcg_meta_put_u64(struct kcg_txn *txn, const char *name, uint64_t value);

/**
 * A write of another module, run by the writer thread inside its batch
 * transaction. If anything in the batch fails, the batch is redone one
 * write per transaction, so a failing write leaves nothing and the others
 * are stored: apply() may therefore run more than once, and must change
 * nothing outside the transaction that a second run would not set the same
 * way. The caller owns the write and keeps it alive until done().
 */
struct kcg_write {
	/** Does the work; 0 or an error (LMDB code, -errno or KCG_E*). Must not block. */
	int (*apply)(struct kcg_txn *txn, void *arg);
	void *arg;
	/** Out: 0, apply()'s error, KCG_ESTOREFULL, KCG_ESTORE or KCG_ESHUTDOWN. */
	int result;
	/** Called once from the writer thread after the commit is synced (or
	 * the write failed). May free the write. Must not block. */
	void (*done)(struct kcg_write *w, void *arg);
	struct kcg_write *next;    /**< private to the store */
};

/**
 * Called inside the ingest's transaction for every NEW event (not for
 * duplicates): the outbox hook. What it writes commits with the event, or
 * neither does (the request then fails). 0 or an error.
 */
struct kcg_event_meta_ref;
typedef int (*kcg_event_hook)(struct kcg_txn *txn, const struct kcg_event_meta_ref *ev, void *arg);

/**
 * Called inside the transaction that raises an exception (exceptions.h,
 * kcg_exc_raise()): what it writes (an alert job) commits with the
 * exception, or neither does. 0 or an error (the raise then fails).
 */
struct kcg_exc_raised;
typedef int (*kcg_exc_hook)(struct kcg_txn *txn, const struct kcg_exc_raised *raised, void *arg);

struct kcg_store_options {
	const char *path;          /**< directory, created (0700) if missing */
	uint64_t map_size_bytes;   /**< LMDB map size: the most the store may hold */
	uint64_t dedupe_ttl_ms;    /**< how long a dedupe key counts */
	size_t max_batch;          /**< most requests per transaction (>= 1) */
	size_t queue_limit;        /**< most requests waiting (>= 1); more get -EAGAIN */
	/** The other modules' databases, NULL-terminated (NULL = none). */
	const char *const *dbs;
	uint64_t sweep_interval_ms;/**< how often the sweep runs (0 = 60 s) */
	uint64_t retention_ms;     /**< events and finished records older than this are deleted; 0 = keep all */
	size_t sweep_batch;        /**< most deletions per sweep transaction (0 = 500) */
	/** The modules whose finished records expire (kcg_store_retain()),
	 * NULL-terminated, at most KCG_RETENTION_OWNERS_MAX (NULL = none). */
	const struct kcg_retention_owner *const *owners;
	/** Called by the writer thread after each commit with the batch size
	 * and the commit's duration; optional. */
	void (*on_commit)(void *arg, size_t batch, uint64_t duration_ns);
	void *on_commit_arg;
	/** The outbox hook for new events; optional (see kcg_event_hook). */
	kcg_event_hook on_event;
	void *on_event_arg;
	/** Called for every raise of an exception; optional (see kcg_exc_hook). */
	kcg_exc_hook on_exception;
	void *on_exception_arg;
};

#define KCG_STATS_MAX 32

struct kcg_store_stats {
	struct {
		char source[KCG_SOURCE_MAX];
		char status[KCG_STATUS_MAX];
		uint64_t count;
	} counts[KCG_STATS_MAX];
	size_t n_counts;
	uint64_t events;           /**< entries in events */
	uint64_t dedupe_keys;      /**< entries in dedupe */
	uint64_t page_size;
	uint64_t pages_used;       /**< last used page + 1 */
	uint64_t map_size;         /**< bytes */
};

/**
 * Opens (creating if needed) the store at opt->path and starts its writer.
 * @return 0 with *@p out set, or -errno (-EINVAL for a NULL path or a zero
 * map_size_bytes, max_batch or queue_limit) / KCG_ESTORE; nothing is left open
 * on failure. *@p why (optional) gets a static description of the step that failed.
 */
int kcg_store_open(const struct kcg_store_options *opt, struct kcg_store **out, const char **why);

/**
 * Stops the writer: new submits fail with KCG_ESHUTDOWN, everything already
 * queued is committed and completed (done() called), the environment is
 * synced. Reads keep working and the store stays allocated, so threads that
 * still hold it are safe until kcg_store_close(). Idempotent.
 */
void kcg_store_stop(struct kcg_store *store);

/**
 * kcg_store_stop() if not done yet, then closes LMDB and frees the store.
 * NULL-safe. Every request submitted before has had its done() called when
 * this returns.
 */
void kcg_store_close(struct kcg_store *store);

/**
 * Queues a module's write for the writer. On 0, w->done is called exactly
 * once later, from the writer thread; on failure it is not.
 * @return 0, -EINVAL, -EAGAIN (queue_limit reached) or KCG_ESHUTDOWN.
 */
int kcg_store_write(struct kcg_store *store, struct kcg_write *w);

/** Runs @p apply in the writer's next transaction and waits for the commit.
 * @return its result (see struct kcg_write), or the queueing error. */
int kcg_store_write_sync(struct kcg_store *store, int (*apply)(struct kcg_txn *txn, void *arg), void *arg);

/** Runs @p fn in a read-only transaction on this thread; returns what it returns. */
int kcg_store_read(struct kcg_store *store, int (*fn)(struct kcg_txn *txn, void *arg), void *arg);

/** Counts and sizes. @return 0 or KCG_ESTORE. */
int kcg_store_stats(struct kcg_store *store, struct kcg_store_stats *out);

/** Bytes of the map in use (pages_used * page_size); cheap. */
uint64_t kcg_store_used_bytes(struct kcg_store *store);

/** The exception hook given at open (NULL if none); *@p arg gets its argument. */
kcg_exc_hook kcg_store_exc_hook(struct kcg_store *store, void **arg);

/** True while the writer thread runs and the store accepts requests. */
bool kcg_store_ready(struct kcg_store *store);

/**
 * Retention. A module whose records finish (a job done, an exception
 * resolved, an order at its end) marks each with kcg_store_retain() in the
 * transaction that finishes it. The sweep walks the marks oldest first and,
 * for those older than retention_ms, asks the owner to delete the record;
 * events go by their own key order. Each sweep transaction deletes at most
 * sweep_batch entries, so its cost follows what it deletes, not what the
 * store holds, and ingest runs between two of them.
 */
#define KCG_RETENTION_OWNERS_MAX 14

struct kcg_retention_owner {
	const char *name;          /**< unique, short: "jobs", "exceptions", "orders" */
	/**
	 * Deletes record @p key (and its index entries) if it is still the
	 * one finished at @p finished_ms: 0 when deleted, KCG_ENOTFOUND when
	 * it is gone or was reopened since (a later mark stands for it), or
	 * an error (the sweep stops and tries again next time).
	 */
	int (*expire)(struct kcg_txn *txn, const void *key, size_t key_len, uint64_t finished_ms);
};

/**
 * Marks record @p key of @p owner (a name in kcg_store_options.owners)
 * finished at @p finished_ms, in @p txn. Marking again (finished again
 * later) adds a new mark; the old one expires as KCG_ENOTFOUND. A store
 * opened without @p owner keeps its records: nothing is marked.
 * @return 0, -EINVAL (an empty key, or longer than KCG_RETAIN_KEY_MAX) or an LMDB code.
 */
int kcg_store_retain(struct kcg_txn *txn, const char *owner, const void *key, size_t key_len, uint64_t finished_ms);

#define KCG_RETAIN_KEY_MAX 400

/** Counters of a sweep: [0] dedupe keys, [1] events, [2 + i] owner i's records. */
#define KCG_SWEEP_COUNTERS (2 + KCG_RETENTION_OWNERS_MAX)

struct kcg_sweep_stats {
	uint64_t started_ms;       /**< wall clock; 0 = no sweep finished yet */
	uint64_t finished_ms;
	uint64_t removed[KCG_SWEEP_COUNTERS];
	int result;                /**< 0, or the error it ended on (kcg_strerror); it runs again next time */
	uint64_t chunks;           /**< transactions it took */
	uint64_t max_chunk_ns;     /**< the longest one held the writer this long */
};

struct kcg_retention_stats {
	uint64_t retention_ms;     /**< 0 = keep everything */
	const char *names[KCG_SWEEP_COUNTERS]; /**< "dedupe_keys", "events", then the owners' names */
	size_t n_counters;
	struct kcg_sweep_stats last;               /**< the last finished sweep */
	uint64_t removed_total[KCG_SWEEP_COUNTERS]; /**< since the process started */
	uint64_t errors;           /**< sweeps that ended on an error since the process started */
	uint64_t oldest_event_ms;  /**< received time of the oldest event kept; 0 = none */
	uint64_t oldest_finished_ms; /**< time of the oldest retention mark kept (a finished record, or a stale
				      *   mark of one reopened since, gone at the next sweep past it); 0 = none */
};

/** Fills @p out. @return 0 or KCG_ESTORE. */
int kcg_store_retention_stats(struct kcg_store *store, struct kcg_retention_stats *out);

/**
 * Runs a whole sweep (dedupe keys, then events and finished records past
 * retention) as of @p now_ms in the writer thread and waits for it.
 * *@p removed (optional) gets how many entries it deleted.
 * @return 0, KCG_ESHUTDOWN or KCG_ESTORE.
 */
int kcg_store_sweep(struct kcg_store *store, uint64_t now_ms, uint64_t *removed);

#endif
