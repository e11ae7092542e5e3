/**
 * kcgate/metrics.h: process-wide counters and histograms, rendered in the
 * Prometheus text format for GET /metrics.
 *
 * Lock-free (C11 atomics): recording is cheap enough for every request.
 * The label sets are closed enums, so there is no allocation and no
 * unbounded cardinality.
 */
#ifndef KCGATE_METRICS_H
#define KCGATE_METRICS_H

#include <stddef.h>
#include <stdint.h>

/** Cap on the whole /metrics text (a few KiB in practice; the cap only bounds a bug). */
#define KCG_METRICS_TEXT_MAX (1024 * 1024)

/** What became of a webhook, the `result` label. */
enum kcg_metric_result {
	KCG_RES_ACCEPTED,      /**< stored */
	KCG_RES_DUPLICATE,     /**< seen before */
	KCG_RES_UNAUTHORIZED,  /**< 401 */
	KCG_RES_INVALID,       /**< 400, 411, 413, 415 */
	KCG_RES_UNAVAILABLE,   /**< 503: shutting down, store full, busy */
	KCG_RES_ERROR,         /**< 500 */
	KCG_RES_COUNT
};

/** Counts one webhook from @p source ("mirakl" or "inriver"; others are ignored). */
void kcg_metrics_webhook(const char *source, enum kcg_metric_result res);

/** Records one HTTP request's duration. */
void kcg_metrics_request(uint64_t duration_ns);

/** Records one store commit of @p batch requests (a store on_commit callback). */
void kcg_metrics_commit(void *unused, size_t batch, uint64_t duration_ns);

/**
 * Renders every metric as Prometheus text into a malloc'd string (the
 * caller frees it). @p map_used_bytes and @p map_size_bytes are sampled by
 * the caller from the store. @return the string, or NULL on ENOMEM.
 */
char *kcg_metrics_render(uint64_t map_used_bytes, uint64_t map_size_bytes);

#endif
