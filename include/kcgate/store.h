/**
 * kcgate/store.h: the durable event store (LMDB) and its group-committing
 * writer thread.
 *
 * One LMDB environment in one directory. All writes go through one writer
 * thread: requests queue up, the writer takes every request waiting (up to
 * max_batch), writes them all in ONE transaction, commits (which fsyncs),
 * and only then completes each request. Many requests, one fsync: that is
 * what lets ingest answer "durable" fast. Reads run in parallel in their
 * own read-only transactions on the caller's thread.
 *
 * Databases inside the environment:
 *   events    event id (ULID, time-sortable) -> event record
 *   dedupe    source NUL dedupe key          -> first event id + seen time
 *   dedupe_t  seen time (BE u64) + source NUL key -> "" (the sweep index)
 *   counts    "source NUL status"             -> u64 count (for stats)
 *
 * A deduplication key stays for dedupe_ttl: a key seen longer ago than that
 * counts as new again, and a periodic sweep (in the writer thread, bounded
 * per transaction) deletes expired keys.
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

struct kcg_store_options {
	const char *path;          /**< directory, created (0700) if missing */
	uint64_t map_size_bytes;   /**< LMDB map size: the most the store may hold */
	uint64_t dedupe_ttl_ms;    /**< how long a dedupe key counts */
	size_t max_batch;          /**< most requests per transaction (>= 1) */
	size_t queue_limit;        /**< most requests waiting (>= 1); more get -EAGAIN */
	/** The other modules' databases, NULL-terminated (NULL = none). */
	const char *const *dbs;
	uint64_t sweep_interval_ms;/**< how often expired dedupe keys are swept (0 = 60 s) */
	/** Called by the writer thread after each commit with the batch size
	 * and the commit's duration; optional. */
	void (*on_commit)(void *arg, size_t batch, uint64_t duration_ns);
	void *on_commit_arg;
	/** The outbox hook for new events; optional (see kcg_event_hook). */
	kcg_event_hook on_event;
	void *on_event_arg;
};

/** One event to store. The caller owns it and keeps it alive until done(). */
struct kcg_ingest {
	/* in */
	const char *source;        /**< "mirakl" | "inriver" */
	const char *kind;
	const char *dedupe_key;    /**< <= KCG_DEDUPE_KEY_MAX bytes */
	const void *body;
	size_t body_len;
	uint64_t received_ms;      /**< also the clock for dedupe expiry */
	/* out, valid in done() */
	int result;                /**< 0 stored, KCG_EDUPLICATE, KCG_ESTOREFULL, KCG_ESHUTDOWN, KCG_ESTORE */
	char event_id[KCG_ID_LEN + 1]; /**< the new id, or the first one's for a duplicate */
	/** Called once, from the writer thread, after the commit is synced
	 * (or the request failed). Must not block. */
	void (*done)(struct kcg_ingest *req, void *arg);
	void *arg;
	struct kcg_write w;        /**< private to the store */
};

/** A new event as the outbox hook sees it (pointers valid during the call). */
struct kcg_event_meta_ref {
	const char *id;
	const char *source;
	const char *kind;
	const void *body;
	size_t body_len;
	uint64_t received_ms;
};

/** An event's metadata, as listed by the admin API. */
struct kcg_event_meta {
	char id[KCG_ID_LEN + 1];
	char source[KCG_SOURCE_MAX];
	char kind[KCG_KIND_MAX];
	char status[KCG_STATUS_MAX];
	char dedupe_key[KCG_DEDUPE_KEY_MAX + 1];
	uint64_t received_ms;
};

#define KCG_STATS_MAX 32

/** Most events one kcg_store_list_events() call examines, matching or not. */
#define KCG_LIST_SCAN_MAX 100000

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
 * Queues @p req for the writer. On 0, req->done will be called exactly once
 * later, from the writer thread. On failure done() is NOT called.
 * @return 0, -EAGAIN (queue_limit reached), KCG_ESHUTDOWN, or -EINVAL (no
 * done, source empty or >= KCG_SOURCE_MAX, dedupe_key empty or longer than
 * KCG_DEDUPE_KEY_MAX, body NULL with a length). A kind longer than
 * KCG_KIND_MAX - 1 is cut.
 */
int kcg_store_submit(struct kcg_store *store, struct kcg_ingest *req);

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

/**
 * Runs the outbox hook again for stored event @p id (admin replay), in one
 * write transaction, and waits. @return 0, KCG_ENOTFOUND, or the hook's error.
 */
int kcg_store_replay(struct kcg_store *store, const char *id);

/** kcg_store_submit() and wait for the result; returns req->result (or the
 * submit error). req->done and req->arg are used meanwhile, restored after. */
int kcg_store_ingest(struct kcg_store *store, struct kcg_ingest *req);

/**
 * Lists events newest first. @p source and @p kind filter when non-NULL.
 * @p cursor (NULL = from the newest) is a next_cursor from an earlier call
 * (any well-formed id works: listing starts just before it; @p cursor may
 * be the @p next_cursor buffer itself).
 * Fills up to @p limit entries of @p out and *@p n_out; @p next_cursor gets
 * the cursor for the next page, or "" when there is none. One call looks at
 * no more than KCG_LIST_SCAN_MAX events, so with a filter a page may come
 * back short, even empty, with a non-empty @p next_cursor.
 * @return 0, -EINVAL (bad cursor) or KCG_ESTORE.
 */
int kcg_store_list_events(struct kcg_store *store, const char *source, const char *kind, const char *cursor,
			  size_t limit, struct kcg_event_meta *out, size_t *n_out, char next_cursor[KCG_ID_LEN + 1]);

/**
 * Reads one event. *@p body gets a malloc'd copy of the raw body (the
 * caller frees it) and *@p body_len its length; pass NULL to skip it.
 * @return 0, KCG_ENOTFOUND, -ENOMEM or KCG_ESTORE.
 */
int kcg_store_get_event(struct kcg_store *store, const char *id, struct kcg_event_meta *meta, char **body,
			size_t *body_len);

/** Counts and sizes. @return 0 or KCG_ESTORE. */
int kcg_store_stats(struct kcg_store *store, struct kcg_store_stats *out);

/** Bytes of the map in use (pages_used * page_size); cheap. */
uint64_t kcg_store_used_bytes(struct kcg_store *store);

/** True while the writer thread runs and the store accepts requests. */
bool kcg_store_ready(struct kcg_store *store);

/**
 * Runs a sweep of dedupe keys seen before @p now_ms - dedupe_ttl in the
 * writer thread and waits for it. *@p removed (optional) gets the count.
 * @return 0, KCG_ESHUTDOWN or KCG_ESTORE.
 */
int kcg_store_sweep(struct kcg_store *store, uint64_t now_ms, uint64_t *removed);

#endif
