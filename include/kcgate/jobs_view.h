/**
 * kcgate/jobs_view.h: the jobs as the admin API and /metrics show them.
 *
 * Read-only presentation over the queue (jobs.h) and the engine
 * (engine.h): records become JSON with ISO times, a pending job the engine
 * is running now shows as "running", and the counts in meta plus the
 * engine's process totals become Prometheus text. Every function reads in
 * its own read transaction and takes the engine for the live part; a NULL
 * engine (no flow configured) shows nothing running and zero totals.
 * Nothing here writes or logs.
 */
#ifndef KCGATE_JOBS_VIEW_H
#define KCGATE_JOBS_VIEW_H

#include <stddef.h>

#include <jansson.h>

#include "kcgate/engine.h"
#include "kcgate/jobs.h"
#include "kcgate/store.h"

/**
 * Lists jobs newest first as a new JSON array in *@p out: filtered by
 * @p state ("pending", "running", "done", "dead" or NULL) and @p lane
 * ("mirakl", "khaos", "inriver" or NULL), at most @p limit, from @p cursor
 * (exclusive; NULL = newest). @p next gets the next page's cursor or "".
 * One call looks at 100000 records at most (then @p next says where to go on).
 * @return 0, -EINVAL (bad filter or cursor) or an error (*@p out untouched).
 */
int kcg_jobs_list(struct kcg_store *store, struct kcg_engine *engine, const char *state, const char *lane,
		  size_t limit, const char *cursor, json_t **out, char next[KCG_ID_LEN + 1]);

/** One job as JSON (with its payload) in *@p out. @return 0, KCG_ENOTFOUND or an error. */
int kcg_jobs_get(struct kcg_store *store, struct kcg_engine *engine, const char *id, json_t **out);

/** Appends the jobs metrics (Prometheus text) to the malloc'd *@p text
 * (replaced on success, untouched on failure). @return 0, -ENOMEM or a store error. */
int kcg_jobs_metrics(struct kcg_store *store, struct kcg_engine *engine, char **text);

#endif
