/*
 * metrics.c: counters and fixed-bucket histograms on C11 atomics, and their
 * Prometheus text rendering.
 */
#include "kcgate/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A growing text buffer; on allocation failure it stays failed. */
struct buf {
	char *data;
	size_t len, cap;
	int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1;
		char *p = realloc(b->data, cap);
		if (!p) {
			b->failed = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
}

static void put_histogram(struct buf *b, const char *name, const char *help, struct histogram *h)
{
	put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cum = 0;
	for (size_t i = 0; i < h->n; i++) {
		cum += atomic_load(&h->buckets[i]);
		put(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
	}
	cum += atomic_load(&h->buckets[h->n]);
	put(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	put(b, "%s_sum %.9g\n%s_count %llu\n", name, atomic_load(&h->sum), name, (unsigned long long)cum);
}

char *kcg_metrics_render(uint64_t map_used_bytes, uint64_t map_size_bytes)
{
	struct buf b = { malloc(4096), 0, 4096, 0 };
	if (!b.data)
		return NULL;
	put(&b, "# HELP kcgate_webhooks_total Webhook requests by source and result.\n"
		"# TYPE kcgate_webhooks_total counter\n");
	for (int s = 0; s < KCG_SRC_COUNT; s++)
		for (int r = 0; r < KCG_RES_COUNT; r++)
			put(&b, "kcgate_webhooks_total{source=\"%s\",result=\"%s\"} %llu\n", source_names[s],
			    result_names[r], (unsigned long long)atomic_load(&webhooks[s][r]));
	put_histogram(&b, "kcgate_http_request_duration_seconds", "HTTP request duration, first header to answer.",
		      &durations);
	put_histogram(&b, "kcgate_store_commit_batch_size", "Requests committed per LMDB transaction (one fsync each).",
		      &batches);
	put(&b, "# HELP kcgate_store_map_used_bytes Bytes of the LMDB map in use.\n"
		"# TYPE kcgate_store_map_used_bytes gauge\nkcgate_store_map_used_bytes %llu\n",
	    (unsigned long long)map_used_bytes);
	put(&b, "# HELP kcgate_store_map_size_bytes The LMDB map size (store.map_size_mb).\n"
		"# TYPE kcgate_store_map_size_bytes gauge\nkcgate_store_map_size_bytes %llu\n",
	    (unsigned long long)map_size_bytes);
	if (b.failed) {
		free(b.data);
		return NULL;
	}
	return b.data;
}
