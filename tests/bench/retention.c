/*
 * bench-retention: ./dev bench retention. How long the retention sweep
 * holds the store's writer at a time, with a store full of expired events.
 *
 *   bench-retention [--events N] [--sweep-batch B] [--dir DIR]
 *
 * 1. Opens a store in a temporary directory (or DIR) and loads N events
 *    (default 1,000,000) received 40 days ago, through the writer's group
 *    commit (as ingest does, batches of 1,000).
 * 2. Baseline: 20 write transactions of 1,000 new events each, timed one by
 *    one: what one ordinary ingest batch holds the writer for.
 * 3. Runs a sweep with a 30-day horizon and sweep_batch B (default 1,000),
 *    and reads its figures: transactions, the longest one, events deleted.
 *
 * Prints the machine, then as its last line
 *   retention: events=<N> deleted=<n> transactions=<t> longest_ms=<x>
 *   baseline_batch_ms=<y> ratio=<x/y> sweep_s=<total>
 * or "retention: FAILED: <why>" with exit status 1.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kcgate/events.h"
#include "kcgate/store.h"

#define DAY_MS (24ull * 3600 * 1000)
#define CHUNK 1000

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int fail(const char *why)
{
	printf("retention: FAILED: %s\n", why);
	return 1;
}

struct pending {
	struct kcg_ingest req;
	char key[48];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static size_t outstanding;
static int failures;

static void done(struct kcg_ingest *req, void *arg)
{
	pthread_mutex_lock(&lock);
	if (req->result != 0)
		failures++;
	outstanding--;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

/* Submits @p n events received from @p ms on, at most @p window in flight; waits for all. */
static int submit_many(struct kcg_store *s, struct pending *slots, size_t window, uint64_t first, uint64_t n,
		       uint64_t ms, const char *body)
{
	for (uint64_t i = 0; i < n; i++) {
		pthread_mutex_lock(&lock);
		while (outstanding >= window)
			pthread_cond_wait(&cond, &lock);
		outstanding++;
		pthread_mutex_unlock(&lock);
		struct pending *p = &slots[i % window];
		snprintf(p->key, sizeof(p->key), "id:bench-%llu", (unsigned long long)(first + i));
		p->req = (struct kcg_ingest){ .source = "mirakl", .kind = "ORDER", .dedupe_key = p->key, .body = body,
					      .body_len = strlen(body), .received_ms = ms + i / 1000, .done = done };
		int rc;
		while ((rc = kcg_events_submit(s, &p->req)) == -EAGAIN)
			usleep(100);
		if (rc != 0) {
			pthread_mutex_lock(&lock);
			outstanding--;
			failures++;
			pthread_mutex_unlock(&lock);
		}
	}
	pthread_mutex_lock(&lock);
	while (outstanding > 0)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return failures;
}

/* on_commit: the longest and the sum of the timed batches. */
static uint64_t commit_max_ns, commit_sum_ns, commit_n;
static bool timing;

static void on_commit(void *arg, size_t batch, uint64_t ns)
{
	if (!timing)
		return;
	commit_n++;
	commit_sum_ns += ns;
	if (ns > commit_max_ns)
		commit_max_ns = ns;
}

int main(int argc, char **argv)
{
	uint64_t n_events = 1000000, sweep_batch = 1000;
	char dir[512] = "";
	static const struct option opts[] = {
		{ "events", required_argument, NULL, 'n' },
		{ "sweep-batch", required_argument, NULL, 'b' },
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'n' && kcg_parse_u64(optarg, 1, 100000000, &n_events) == 0)
			continue;
		if (o == 'b' && kcg_parse_u64(optarg, 1, 1000000, &sweep_batch) == 0)
			continue;
		if (o == 'd' && strlen(optarg) < sizeof(dir) - 32) {
			snprintf(dir, sizeof(dir), "%s", optarg);
			continue;
		}
		fprintf(stderr, "usage: bench-retention [--events N] [--sweep-batch B] [--dir DIR]\n");
		return 2;
	}
	bool own_dir = !*dir;
	if (own_dir) {
		snprintf(dir, sizeof(dir), "/tmp/kcg-bench-retention-XXXXXX");
		if (!mkdtemp(dir))
			return fail("mkdtemp");
	}
	struct utsname u;
	uname(&u);
	printf("machine: %s %s, %ld cores\n", u.machine, u.release, sysconf(_SC_NPROCESSORS_ONLN));

	char path[600];
	snprintf(path, sizeof(path), "%s/db", dir);
	struct kcg_store_options opt = {
		.path = path,
		.map_size_bytes = 4ull << 30,
		.dedupe_ttl_ms = 72 * 3600 * 1000ull,
		.max_batch = CHUNK,
		.queue_limit = 4 * CHUNK,
		.retention_ms = 30 * DAY_MS,
		.sweep_batch = (size_t)sweep_batch,
		.sweep_interval_ms = 24 * 3600 * 1000ull, /* only the sweep asked for */
		.on_commit = on_commit,
	};
	struct kcg_store *s;
	if (kcg_store_open(&opt, &s, NULL) != 0)
		return fail("cannot open the store");
	struct pending *slots = calloc(4 * CHUNK, sizeof(*slots));
	const char *body = "{\"type\":\"ORDER\",\"data\":{\"order_id\":\"BENCH-0001-A\",\"state\":\"WAITING_ACCEPTANCE\","
			   "\"lines\":[{\"offer_sku\":\"SKU-1\",\"quantity\":2}]}}";
	uint64_t now = kcg_now_ms();
	uint64_t t0 = kcg_mono_ns();
	if (submit_many(s, slots, 4 * CHUNK, 0, n_events, now - 40 * DAY_MS, body) != 0)
		return fail("loading the events");
	fprintf(stderr, "loaded %llu events in %.1f s\n", (unsigned long long)n_events,
		(double)(kcg_mono_ns() - t0) / 1e9);

	/* the baseline: ordinary batches of CHUNK new events */
	timing = true;
	for (int i = 0; i < 20; i++)
		if (submit_many(s, slots, CHUNK, n_events + (uint64_t)i * CHUNK, CHUNK, now, body) != 0)
			return fail("the baseline batches");
	timing = false;
	double base_ms = commit_n ? (double)commit_sum_ns / (double)commit_n / 1e6 : 0;

	t0 = kcg_mono_ns();
	uint64_t removed = 0;
	if (kcg_store_sweep(s, now, &removed) != 0)
		return fail("the sweep");
	double sweep_s = (double)(kcg_mono_ns() - t0) / 1e9;
	struct kcg_retention_stats rs;
	if (kcg_store_retention_stats(s, &rs) != 0)
		return fail("reading the figures");
	double longest = (double)rs.last.max_chunk_ns / 1e6;
	kcg_store_close(s);
	free(slots);
	if (own_dir)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	if (rs.last.removed[1] != n_events)
		return fail("the sweep did not delete every expired event");
	printf("retention: events=%llu deleted=%llu transactions=%llu longest_ms=%.2f baseline_batch_ms=%.2f "
	       "ratio=%.2f sweep_s=%.2f\n",
	       (unsigned long long)n_events, (unsigned long long)rs.last.removed[1], (unsigned long long)rs.last.chunks,
	       longest, base_ms, base_ms > 0 ? longest / base_ms : 0, sweep_s);
	return 0;
}
