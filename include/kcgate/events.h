/**
 * kcgate/events.h: the event log, every webhook and listener call kcgate
 * acknowledged, on top of the store (kcgate/store.h).
 *
 * An ingest is a write (struct kcg_write) of the store: it joins the
 * writer's next batch, so N concurrent requests cost one fsync, and its
 * done() runs only after the commit is synced: an acknowledged event is on
 * disk. Inside that transaction the outbox hook (kcg_store_options.on_event)
 * runs for every new event, so the jobs an event causes commit with it.
 *
 * Databases (the store's own):
 *   events    event id (ULID, time-sortable) -> event record
 *   dedupe    source NUL dedupe key          -> first event id + seen time
 *   dedupe_t  seen time (BE u64) + source NUL key -> "" (the sweep index)
 *   counts    "source NUL status"             -> u64 count (for stats)
 *
 * A deduplication key stays for dedupe_ttl: a key seen longer ago than that
 * counts as new again, and the store's sweep deletes expired keys. Events
 * older than the retention horizon are deleted by the same sweep, oldest
 * first (their ids sort by time).
 */
#ifndef KCGATE_EVENTS_H
#define KCGATE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcgate/common.h"
#include "kcgate/payload.h"
#include "kcgate/store.h"

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

/** Most events one kcg_events_list() call examines, matching or not. */
#define KCG_LIST_SCAN_MAX 100000

/**
 * Queues @p req for the writer. On 0, req->done will be called exactly once
 * later, from the writer thread. On failure done() is NOT called.
 * @return 0, -EAGAIN (queue_limit reached), KCG_ESHUTDOWN, or -EINVAL (no
 * done, source empty or >= KCG_SOURCE_MAX, dedupe_key empty or longer than
 * KCG_DEDUPE_KEY_MAX, body NULL with a length). A kind longer than
 * KCG_KIND_MAX - 1 is cut.
 */
int kcg_events_submit(struct kcg_store *store, struct kcg_ingest *req);

/**
 * Runs the outbox hook again for stored event @p id (admin replay), in one
 * write transaction, and waits. @return 0, KCG_ENOTFOUND, or the hook's error.
 */
int kcg_events_replay(struct kcg_store *store, const char *id);

/** kcg_events_submit() and wait for the result; returns req->result (or the
 * submit error). req->done and req->arg are used meanwhile, restored after. */
int kcg_events_ingest(struct kcg_store *store, struct kcg_ingest *req);

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
int kcg_events_list(struct kcg_store *store, const char *source, const char *kind, const char *cursor,
			  size_t limit, struct kcg_event_meta *out, size_t *n_out, char next_cursor[KCG_ID_LEN + 1]);

/**
 * Reads one event. *@p body gets a malloc'd copy of the raw body (the
 * caller frees it) and *@p body_len its length; pass NULL to skip it.
 * @return 0, KCG_ENOTFOUND, -ENOMEM or KCG_ESTORE.
 */
int kcg_events_get(struct kcg_store *store, const char *id, struct kcg_event_meta *meta, char **body,
			size_t *body_len);


#endif
