/*
 * metrics.c: counters and fixed-bucket histograms on C11 atomics, and their
 * Prometheus text rendering.
 */
#include "kcgate/metrics.h"
#include "kcgate/dynbuf.h"

#include <stdatomic.h>
#include <string.h>

/* The `source` label's values. */
#define KCG_SRC_COUNT 2
static const char *const source_names[KCG_SRC_COUNT] = { "mirakl", "inriver" };
static const char *const result_names[KCG_RES_COUNT] = {
	"accepted", "duplicate", "unauthorized", "invalid", "unavailable", "error",
};

static atomic_uint_fast64_t webhooks[KCG_SRC_COUNT][KCG_RES_COUNT];

/* Request durations in seconds. */
static const double duration_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
#define N_DURATION (sizeof(duration_bounds) / sizeof(duration_bounds[0]))
/* Requests per commit. */
static const double batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
#define N_BATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))

struct histogram {
	const double *bounds;
	size_t n;
	atomic_uint_fast64_t buckets[16]; /* per bound, not cumulative; [n] is +Inf */
	atomic_uint_fast64_t count;
	_Atomic double sum;
};

static struct histogram durations = { duration_bounds, N_DURATION, { 0 }, 0, 0 };
static struct histogram batches = { batch_bounds, N_BATCH, { 0 }, 0, 0 };

static void observe(struct histogram *h, double v)
{
	size_t i = 0;
	while (i < h->n && v > h->bounds[i])
		i++;
	atomic_fetch_add(&h->buckets[i], 1);
	atomic_fetch_add(&h->count, 1);
	double old = atomic_load(&h->sum);
	while (!atomic_compare_exchange_weak(&h->sum, &old, old + v))
		;
}

void kcg_metrics_webhook(const char *source, enum kcg_metric_result res)
{
	for (int s = 0; source && s < KCG_SRC_COUNT; s++)
		if (strcmp(source, source_names[s]) == 0 && res < KCG_RES_COUNT)
			atomic_fetch_add(&webhooks[s][res], 1);
}

void kcg_metrics_request(uint64_t duration_ns)
{
	observe(&durations, (double)duration_ns / 1e9);
}

void kcg_metrics_commit(void *unused, size_t batch, uint64_t duration_ns)
{
	observe(&batches, (double)batch);
}

static void put_histogram(struct kcg_dynbuf *b, const char *name, const char *help, struct histogram *h)
{
	kcg_dynbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cum = 0;
	for (size_t i = 0; i < h->n; i++) {
		cum += atomic_load(&h->buckets[i]);
		kcg_dynbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
				  (unsigned long long)cum);
	}
	cum += atomic_load(&h->buckets[h->n]);
	kcg_dynbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	kcg_dynbuf_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, atomic_load(&h->sum), name,
			  (unsigned long long)cum);
}

char *kcg_metrics_render(uint64_t map_used_bytes, uint64_t map_size_bytes)
{
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, KCG_METRICS_TEXT_MAX);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_webhooks_total Webhook requests by source and result.\n"
			      "# TYPE kcgate_webhooks_total counter\n");
	for (int s = 0; s < KCG_SRC_COUNT; s++)
		for (int r = 0; r < KCG_RES_COUNT; r++)
			kcg_dynbuf_printf(&b, "kcgate_webhooks_total{source=\"%s\",result=\"%s\"} %llu\n",
					  source_names[s], result_names[r],
					  (unsigned long long)atomic_load(&webhooks[s][r]));
	put_histogram(&b, "kcgate_http_request_duration_seconds", "HTTP request duration, first header to answer.",
		      &durations);
	put_histogram(&b, "kcgate_store_commit_batch_size", "Requests committed per LMDB transaction (one fsync each).",
		      &batches);
	kcg_dynbuf_printf(&b, "# HELP kcgate_store_map_used_bytes Bytes of the LMDB map in use.\n"
			      "# TYPE kcgate_store_map_used_bytes gauge\nkcgate_store_map_used_bytes %llu\n",
			  (unsigned long long)map_used_bytes);
	kcg_dynbuf_printf(&b, "# HELP kcgate_store_map_size_bytes The LMDB map size (store.map_size_mb).\n"
			      "# TYPE kcgate_store_map_size_bytes gauge\nkcgate_store_map_size_bytes %llu\n",
			  (unsigned long long)map_size_bytes);
	return kcg_dynbuf_take(&b, NULL); /* NULL after a failure, which freed the text */
}
