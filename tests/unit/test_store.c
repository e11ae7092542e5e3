/*
 * test_store.c: the LMDB store and its group-committing writer, on a real
 * environment in a fresh directory under $KCG_TEST_TMP (or /tmp).
 *
 * Time is controlled through received_ms, the store's only clock for
 * dedupe expiry. To hold the writer at a known point, a "gate" request's
 * done() blocks (it runs in the writer thread) until the test releases it:
 * whatever is submitted meanwhile waits in the queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcgate/events.h"
#include "kcgate/store.h"

#include "tmpdir.h"

#define MiB (1024u * 1024u)

struct fixture {
	char dir[512];  /* the mkdtemp directory */
	char path[600]; /* the store inside it (created by the store) */
	struct kcg_store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (tmpdir_make(f->dir, sizeof(f->dir), "kcg-store") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	return tmpdir_teardown(f->store, f->dir, f);
}

static struct kcg_store_options options(struct fixture *f)
{
	return (struct kcg_store_options){
		.path = f->path,
		.map_size_bytes = 64 * MiB,
		.dedupe_ttl_ms = 1000,
		.max_batch = 64,
		.queue_limit = 1000,
	};
}

static struct kcg_store *open_store(struct fixture *f, const struct kcg_store_options *opt)
{
	const char *why = NULL;
	int rc = kcg_store_open(opt, &f->store, &why);
	if (rc != 0)
		fail_msg("kcg_store_open: %s at %s", kcg_strerror(rc), why ? why : "?");
	return f->store;
}

/* Synchronous ingest of a text body. */
static int put(struct kcg_store *s, const char *source, const char *key, const char *body, uint64_t ms,
	       char id[KCG_ID_LEN + 1])
{
	struct kcg_ingest req = {
		.source = source,
		.kind = "order",
		.dedupe_key = key,
		.body = body,
		.body_len = strlen(body),
		.received_ms = ms,
	};
	int rc = kcg_events_ingest(s, &req);
	if (id)
		memcpy(id, req.event_id, KCG_ID_LEN + 1);
	return rc;
}

/* ---- completion tracking for asynchronous submits ---- */

struct item {
	struct kcg_ingest ing;
	char key[64];
	atomic_int calls;
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done_count;

static void item_done(struct kcg_ingest *ing, void *arg)
{
	struct item *it = arg;
	atomic_fetch_add(&it->calls, 1);
	pthread_mutex_lock(&done_lock);
	done_count++;
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&done_lock);
}

static void reset_done(void)
{
	pthread_mutex_lock(&done_lock);
	done_count = 0;
	pthread_mutex_unlock(&done_lock);
}

static void wait_done(int n)
{
	pthread_mutex_lock(&done_lock);
	while (done_count < n)
		pthread_cond_wait(&done_cond, &done_lock);
	pthread_mutex_unlock(&done_lock);
}

static void item_init(struct item *it, const char *source, const char *key, const void *body, size_t len,
		      uint64_t ms)
{
	snprintf(it->key, sizeof(it->key), "%s", key);
	it->ing = (struct kcg_ingest){
		.source = source,
		.kind = "k",
		.dedupe_key = it->key,
		.body = body,
		.body_len = len,
		.received_ms = ms,
		.done = item_done,
		.arg = it,
	};
	atomic_init(&it->calls, 0);
}

/* ---- the gate: holds the writer inside a done() ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_entered, gate_open;

static void gate_done(struct kcg_ingest *ing, void *arg)
{
	pthread_mutex_lock(&gate_lock);
	gate_entered = true;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static struct kcg_ingest gate_req;

static void gate_close(struct kcg_store *s, uint64_t ms)
{
	static char key[64];
	static unsigned serial;
	snprintf(key, sizeof(key), "gate-%u", serial++);
	gate_entered = gate_open = false;
	gate_req = (struct kcg_ingest){
		.source = "mirakl", .kind = "gate", .dedupe_key = key, .body = "{}", .body_len = 2,
		.received_ms = ms, .done = gate_done,
	};
	assert_int_equal(kcg_events_submit(s, &gate_req), 0);
	pthread_mutex_lock(&gate_lock);
	while (!gate_entered)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* ---- commit accounting ---- */

static atomic_size_t commits, committed_requests;

static void count_commit(void *arg, size_t batch, uint64_t duration_ns)
{
	atomic_fetch_add(&commits, 1);
	atomic_fetch_add(&committed_requests, batch);
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	struct kcg_store *s = open_store(f, &opt);
	unsigned char body[4096];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (unsigned char)(i * 7); /* NULs and high bytes included */

	assert_true(kcg_store_ready(s));
	struct kcg_ingest req = {
		.source = "inriver", .kind = "EntityUpdated", .dedupe_key = "id:msg_1",
		.body = body, .body_len = sizeof(body), .received_ms = 1700000000123u,
	};
	assert_int_equal(kcg_events_ingest(s, &req), 0);
	assert_int_equal(strlen(req.event_id), KCG_ID_LEN);

	struct kcg_event_meta m;
	char *got = NULL;
	size_t len = 0;
	assert_int_equal(kcg_events_get(s, req.event_id, &m, &got, &len), 0);
	assert_string_equal(m.id, req.event_id);
	assert_string_equal(m.source, "inriver");
	assert_string_equal(m.kind, "EntityUpdated");
	assert_string_equal(m.status, "received");
	assert_string_equal(m.dedupe_key, "id:msg_1");
	assert_true(m.received_ms == 1700000000123u);
	assert_int_equal(len, sizeof(body));
	assert_memory_equal(got, body, sizeof(body));
	free(got);
	assert_int_equal(kcg_events_get(s, req.event_id, &m, NULL, NULL), 0);

	/* An empty body and an over-long kind (cut, like the payload module does). */
	char kind[200];
	memset(kind, 'x', sizeof(kind) - 1);
	kind[sizeof(kind) - 1] = '\0';
	struct kcg_ingest empty = {
		.source = "mirakl", .kind = kind, .dedupe_key = "id:empty", .received_ms = 1700000000200u,
	};
	assert_int_equal(kcg_events_ingest(s, &empty), 0);
	assert_int_equal(kcg_events_get(s, empty.event_id, &m, &got, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(strlen(m.kind), KCG_KIND_MAX - 1);
	free(got);

	assert_int_equal(kcg_events_get(s, "01ARZ3NDEKTSV4RRFFQ69G5FAV", &m, NULL, NULL), KCG_ENOTFOUND);
	assert_int_equal(kcg_events_get(s, "short", &m, NULL, NULL), KCG_ENOTFOUND);
	assert_int_equal(kcg_events_get(s, "", &m, NULL, NULL), KCG_ENOTFOUND);

	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.events == 2);
	assert_true(st.dedupe_keys == 2);
	assert_int_equal(st.n_counts, 2);
	for (size_t i = 0; i < st.n_counts; i++) {
		assert_string_equal(st.counts[i].status, "received");
		assert_true(st.counts[i].count == 1);
	}
	assert_true(st.page_size >= 512);
	assert_true(st.pages_used > 2);
	assert_true(st.map_size >= 64 * MiB);
	assert_true(kcg_store_used_bytes(s) == st.pages_used * st.page_size);
}

static void test_invalid(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	struct kcg_store *bad = NULL;
	const char *why = NULL;

	opt.max_batch = 0;
	assert_int_equal(kcg_store_open(&opt, &bad, &why), -EINVAL);
	assert_null(bad);
	assert_non_null(why);
	opt = options(f);
	opt.path = "/dev/null/store";
	assert_int_not_equal(kcg_store_open(&opt, &bad, NULL), 0);
	assert_null(bad);

	opt = options(f);
	struct kcg_store *s = open_store(f, &opt);
	char longkey[KCG_DEDUPE_KEY_MAX + 2];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(put(s, "mirakl", longkey, "{}", 1, NULL), -EINVAL);
	longkey[KCG_DEDUPE_KEY_MAX] = '\0'; /* exactly the maximum is fine */
	assert_int_equal(put(s, "mirakl", longkey, "{}", 1, NULL), 0);
	assert_int_equal(put(s, "mirakl", "", "{}", 1, NULL), -EINVAL);
	assert_int_equal(put(s, "", "k", "{}", 1, NULL), -EINVAL);
	assert_int_equal(put(s, "a-source-name-too-long", "k", "{}", 1, NULL), -EINVAL);
	struct kcg_ingest nodone = { .source = "mirakl", .kind = "k", .dedupe_key = "k" };
	assert_int_equal(kcg_events_submit(s, &nodone), -EINVAL);

	kcg_store_close(NULL); /* NULL-safe */
	kcg_store_stop(NULL);
	assert_false(kcg_store_ready(NULL));
}

static void test_duplicate(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	opt.dedupe_ttl_ms = 72ull * 3600 * 1000;
	struct kcg_store *s = open_store(f, &opt);
	char first[KCG_ID_LEN + 1], again[KCG_ID_LEN + 1], other[KCG_ID_LEN + 1];

	assert_int_equal(put(s, "mirakl", "id:abc", "{\"a\":1}", 5000, first), 0);
	assert_int_equal(put(s, "mirakl", "id:abc", "{\"a\":2}", 6000, again), KCG_EDUPLICATE);
	assert_string_equal(again, first);
	/* Same key from another source is another event. */
	assert_int_equal(put(s, "inriver", "id:abc", "{\"a\":1}", 6000, other), 0);
	assert_string_not_equal(other, first);
	assert_int_equal(put(s, "inriver", "id:abc", "{}", 7000, again), KCG_EDUPLICATE);
	assert_string_equal(again, other);

	/* The duplicate wrote nothing: the first body is kept, counts are per stored event. */
	char *body = NULL;
	size_t len;
	assert_int_equal(kcg_events_get(s, first, NULL, &body, &len), 0);
	assert_string_equal(body, "{\"a\":1}");
	free(body);
	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.events == 2 && st.dedupe_keys == 2);
	for (size_t i = 0; i < st.n_counts; i++)
		assert_true(st.counts[i].count == 1);

	/* Two requests with one key in one batch: the second is the first's duplicate. */
	gate_close(s, 8000);
	struct item a, b;
	reset_done();
	item_init(&a, "mirakl", "id:same-batch", "1", 1, 8000);
	item_init(&b, "mirakl", "id:same-batch", "2", 1, 8001);
	assert_int_equal(kcg_events_submit(s, &a.ing), 0);
	assert_int_equal(kcg_events_submit(s, &b.ing), 0);
	gate_release();
	wait_done(2);
	assert_int_equal(a.ing.result, 0);
	assert_int_equal(b.ing.result, KCG_EDUPLICATE);
	assert_string_equal(b.ing.event_id, a.ing.event_id);
}

static void test_expiry(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f); /* ttl 1000 ms */
	struct kcg_store *s = open_store(f, &opt);
	char id1[KCG_ID_LEN + 1], id2[KCG_ID_LEN + 1], got[KCG_ID_LEN + 1];

	assert_int_equal(put(s, "mirakl", "id:x", "{}", 10000, id1), 0);
	assert_int_equal(put(s, "mirakl", "id:x", "{}", 10999, got), KCG_EDUPLICATE);
	assert_string_equal(got, id1);
	/* Exactly ttl later the key counts as new. */
	assert_int_equal(put(s, "mirakl", "id:x", "{}", 11000, id2), 0);
	assert_string_not_equal(id2, id1);
	assert_int_equal(put(s, "mirakl", "id:x", "{}", 11500, got), KCG_EDUPLICATE);
	assert_string_equal(got, id2);
	/* Both events are kept; only the key moved on. */
	assert_int_equal(kcg_events_get(s, id1, NULL, NULL, NULL), 0);
	assert_int_equal(kcg_events_get(s, id2, NULL, NULL, NULL), 0);

	/* The renewed key's old index row went away with it: a sweep at a time
	 * when only the first sighting is expired removes nothing. */
	uint64_t removed = 99;
	assert_int_equal(kcg_store_sweep(s, 11500, &removed), 0);
	assert_true(removed == 0);
	assert_int_equal(kcg_store_sweep(s, 12000, &removed), 0);
	assert_true(removed == 1);
	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.dedupe_keys == 0);
	assert_true(st.events == 2);
}

static void test_sweep(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f); /* ttl 1000 ms */
	opt.queue_limit = 5000;
	struct kcg_store *s = open_store(f, &opt);
	uint64_t removed = 99;

	assert_int_equal(put(s, "mirakl", "k1", "{}", 1000, NULL), 0);
	assert_int_equal(put(s, "mirakl", "k2", "{}", 2000, NULL), 0);
	assert_int_equal(put(s, "mirakl", "k3", "{}", 3000, NULL), 0);
	assert_int_equal(put(s, "inriver", "k1", "{}", 3500, NULL), 0);

	assert_int_equal(kcg_store_sweep(s, 500, &removed), 0); /* before ttl: nothing can be old */
	assert_true(removed == 0);
	assert_int_equal(kcg_store_sweep(s, 1999, &removed), 0);
	assert_true(removed == 0);
	/* k1 (2000 ms old) and k2 (exactly ttl old) go; k3 and inriver's k1 stay. */
	assert_int_equal(kcg_store_sweep(s, 3000, &removed), 0);
	assert_true(removed == 2);
	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.dedupe_keys == 2);
	assert_true(st.events == 4);
	assert_int_equal(put(s, "mirakl", "k3", "{}", 3100, NULL), KCG_EDUPLICATE);
	assert_int_equal(put(s, "inriver", "k1", "{}", 3100, NULL), KCG_EDUPLICATE);
	assert_int_equal(put(s, "mirakl", "k1", "{}", 3100, NULL), 0); /* swept, so new */

	/* More keys than one sweep transaction deletes. */
	enum { N = 2500 };
	struct item *items = calloc(N, sizeof(*items));
	assert_non_null(items);
	reset_done();
	for (int i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "bulk-%d", i);
		item_init(&items[i], "mirakl", key, "{}", 2, 100000 + (uint64_t)i);
		assert_int_equal(kcg_events_submit(s, &items[i].ing), 0);
	}
	wait_done(N);
	for (int i = 0; i < N; i++)
		assert_int_equal(items[i].ing.result, 0);
	free(items);
	assert_int_equal(kcg_store_sweep(s, 100000 + 1000 + 1999, &removed), 0);
	assert_true(removed == 2000 + 3); /* bulk-0..1999 plus k3, inriver k1, mirakl k1 */
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.dedupe_keys == 500);
	assert_int_equal(kcg_store_sweep(s, UINT64_MAX / 2, &removed), 0);
	assert_true(removed == 500);
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.dedupe_keys == 0);
}

static void test_periodic_sweep(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	opt.sweep_interval_ms = 20;
	struct kcg_store *s = open_store(f, &opt);

	/* Seen in 1970: long expired by the wall clock the periodic sweep uses. */
	assert_int_equal(put(s, "mirakl", "old", "{}", 1000, NULL), 0);
	struct kcg_store_stats st;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(kcg_store_stats(s, &st), 0);
		if (st.dedupe_keys == 0)
			break;
		usleep(10000);
	}
	assert_true(st.dedupe_keys == 0);
	assert_true(st.events == 1);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	opt.dedupe_ttl_ms = 3600000;
	struct kcg_store *s = open_store(f, &opt);
	char ids[3][KCG_ID_LEN + 1], got[KCG_ID_LEN + 1];

	assert_int_equal(put(s, "mirakl", "id:1", "{\"n\":1}", 1000, ids[0]), 0);
	assert_int_equal(put(s, "inriver", "id:2", "{\"n\":2}", 2000, ids[1]), 0);
	assert_int_equal(put(s, "mirakl", "id:3", "{\"n\":3}", 3000, ids[2]), 0);
	kcg_store_close(s);
	f->store = NULL;

	s = open_store(f, &opt);
	for (int i = 0; i < 3; i++) {
		char *body = NULL;
		size_t len;
		char want[16];
		assert_int_equal(kcg_events_get(s, ids[i], NULL, &body, &len), 0);
		snprintf(want, sizeof(want), "{\"n\":%d}", i + 1);
		assert_string_equal(body, want);
		free(body);
	}
	assert_int_equal(put(s, "inriver", "id:2", "{}", 2500, got), KCG_EDUPLICATE);
	assert_string_equal(got, ids[1]);
	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.events == 3 && st.dedupe_keys == 3);
	uint64_t mirakl = 0, inriver = 0;
	for (size_t i = 0; i < st.n_counts; i++) {
		if (strcmp(st.counts[i].source, "mirakl") == 0)
			mirakl = st.counts[i].count;
		if (strcmp(st.counts[i].source, "inriver") == 0)
			inriver = st.counts[i].count;
	}
	assert_true(mirakl == 2 && inriver == 1);
	struct kcg_event_meta m[5];
	size_t n;
	char next[KCG_ID_LEN + 1];
	assert_int_equal(kcg_events_list(s, NULL, NULL, NULL, 5, m, &n, next), 0);
	assert_int_equal(n, 3);
	assert_string_equal(m[0].id, ids[2]);
}

/* ---- group commit ---- */

enum { THREADS = 8, PER_THREAD = 25, TOTAL = THREADS * PER_THREAD };

struct submitter {
	struct kcg_store *store;
	struct item *items;
	int base;
};

static void *submit_many(void *arg)
{
	struct submitter *sub = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		if (kcg_events_submit(sub->store, &sub->items[sub->base + i].ing) != 0)
			return (void *)1;
	}
	return NULL;
}

static void run_submitters(struct kcg_store *s, struct item *items, const char *prefix, bool gated)
{
	pthread_t th[THREADS];
	struct submitter sub[THREADS];

	for (int i = 0; i < TOTAL; i++) {
		char key[32];
		snprintf(key, sizeof(key), "%s-%d", prefix, i);
		item_init(&items[i], i % 2 ? "mirakl" : "inriver", key, NULL, 0, 50000);
		items[i].ing.body = items[i].key; /* the body outlives this loop */
		items[i].ing.body_len = strlen(items[i].key);
	}
	reset_done();
	if (gated)
		gate_close(s, 50000);
	atomic_store(&commits, 0);
	atomic_store(&committed_requests, 0);
	for (int t = 0; t < THREADS; t++) {
		sub[t] = (struct submitter){ s, items, t * PER_THREAD };
		assert_int_equal(pthread_create(&th[t], NULL, submit_many, &sub[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		void *ret;
		pthread_join(th[t], &ret);
		assert_null(ret);
	}
	if (gated)
		gate_release();
	wait_done(TOTAL);
	for (int i = 0; i < TOTAL; i++) {
		assert_int_equal(atomic_load(&items[i].calls), 1);
		assert_int_equal(items[i].ing.result, 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(items[i].ing.event_id, items[j].ing.event_id);
	}
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	opt.max_batch = 64;
	opt.on_commit = count_commit;
	struct kcg_store *s = open_store(f, &opt);
	struct item *items = calloc(TOTAL, sizeof(*items));
	assert_non_null(items);

	/* Writer held while 8 threads submit: the 200 go in ceil(200/64) commits. */
	run_submitters(s, items, "gated", true);
	assert_true(atomic_load(&committed_requests) == TOTAL);
	assert_true(atomic_load(&commits) == (TOTAL + 63) / 64);

	/* Free running: still one completion each, and batches form while a commit syncs. */
	run_submitters(s, items, "free", false);
	size_t c = atomic_load(&commits);
	assert_true(atomic_load(&committed_requests) == TOTAL);
	assert_true(c >= 1 && c < TOTAL);
	print_message("free-running: %d requests in %zu commits\n", TOTAL, c);

	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.events == 2 * TOTAL + 1);
	free(items);
}

/* ---- listing ---- */

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	struct kcg_store *s = open_store(f, &opt);
	char ids[10][KCG_ID_LEN + 1];

	for (int i = 0; i < 10; i++) {
		char key[16];
		snprintf(key, sizeof(key), "e%d", i);
		struct kcg_ingest req = {
			.source = i % 2 ? "inriver" : "mirakl",
			.kind = i % 3 ? "b" : "a",
			.dedupe_key = key, .body = "{}", .body_len = 2, .received_ms = 60000 + (uint64_t)i,
		};
		assert_int_equal(kcg_events_ingest(s, &req), 0);
		memcpy(ids[i], req.event_id, sizeof(ids[i]));
	}

	struct kcg_event_meta m[10];
	size_t n;
	char next[KCG_ID_LEN + 1], cur[KCG_ID_LEN + 1];

	/* All, in pages of 3, newest first. */
	int seen = 0;
	const char *cursor = NULL;
	for (int page = 0; page < 10; page++) {
		assert_int_equal(kcg_events_list(s, NULL, NULL, cursor, 3, m, &n, next), 0);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(m[i].id, ids[9 - seen]);
			assert_string_equal(m[i].status, "received");
			assert_true(m[i].received_ms == 60000 + (uint64_t)(9 - seen));
			seen++;
		}
		if (!next[0])
			break;
		assert_int_equal(n, 3);
		assert_string_equal(next, m[n - 1].id);
		memcpy(cur, next, sizeof(cur));
		cursor = cur;
	}
	assert_int_equal(seen, 10);

	/* An exact last page has no next cursor. */
	assert_int_equal(kcg_events_list(s, NULL, NULL, NULL, 10, m, &n, next), 0);
	assert_int_equal(n, 10);
	assert_string_equal(next, "");
	assert_int_equal(kcg_events_list(s, NULL, NULL, ids[5], 5, m, &n, next), 0);
	assert_int_equal(n, 5);
	assert_string_equal(m[0].id, ids[4]);
	assert_string_equal(next, "");

	/* Filters. */
	assert_int_equal(kcg_events_list(s, "inriver", NULL, NULL, 10, m, &n, next), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(m[i].source, "inriver");
		assert_string_equal(m[i].id, ids[9 - 2 * i]);
	}
	assert_int_equal(kcg_events_list(s, "mirakl", "a", NULL, 10, m, &n, next), 0);
	assert_int_equal(n, 2); /* e0, e6 */
	assert_string_equal(m[0].id, ids[6]);
	assert_string_equal(m[1].id, ids[0]);
	assert_string_equal(m[0].kind, "a");
	assert_int_equal(kcg_events_list(s, "inriver", "a", NULL, 1, m, &n, next), 0);
	assert_int_equal(n, 1); /* e9, then e3 remains */
	assert_string_equal(m[0].id, ids[9]);
	assert_string_equal(next, ids[9]);
	assert_int_equal(kcg_events_list(s, "inriver", "a", next, 1, m, &n, next), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].id, ids[3]);
	assert_int_equal(kcg_events_list(s, NULL, "nope", NULL, 10, m, &n, next), 0);
	assert_int_equal(n, 0);
	assert_string_equal(next, "");

	/* Cursors: any well-formed id works (beyond the newest, before the oldest). */
	assert_int_equal(kcg_events_list(s, NULL, NULL, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 2, m, &n, next), 0);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].id, ids[9]);
	assert_int_equal(kcg_events_list(s, NULL, NULL, "00000000000000000000000000", 2, m, &n, next), 0);
	assert_int_equal(n, 0);
	assert_string_equal(next, "");
	static const char *const bad[] = {
		"", "abc", "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAVV",
		"01arz3ndektsv4rrffq69g5fav", "01ARZ3NDEKTSV4RRFFQ69G5FAU", "81ARZ3NDEKTSV4RRFFQ69G5FAV",
		"01ARZ3NDEKTSV4RRFFQ69G5FA-",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kcg_events_list(s, NULL, NULL, bad[i], 3, m, &n, next) != -EINVAL)
			fail_msg("cursor '%s' was accepted", bad[i]);
		assert_int_equal(n, 0);
	}
}

/* A filter that matches almost nothing must not scan the whole store in
 * one call: the page comes back short (even empty) with a cursor to go on. */
static void test_list_scan_bound(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	opt.queue_limit = KCG_LIST_SCAN_MAX + 100;
	opt.max_batch = 4096;
	struct kcg_store *s = open_store(f, &opt);
	enum { N = KCG_LIST_SCAN_MAX + 10 };
	struct item *items = calloc(N, sizeof(*items));
	assert_non_null(items);

	reset_done();
	for (int i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "scan-%d", i);
		item_init(&items[i], "mirakl", key, "{}", 2, 70000);
		items[i].ing.kind = i == 0 ? "rare" : "common"; /* only the oldest matches */
		assert_int_equal(kcg_events_submit(s, &items[i].ing), 0);
	}
	wait_done(N);
	char rare[KCG_ID_LEN + 1];
	memcpy(rare, items[0].ing.event_id, sizeof(rare));
	free(items);

	struct kcg_event_meta m[10];
	size_t n;
	char next[KCG_ID_LEN + 1];
	assert_int_equal(kcg_events_list(s, NULL, "rare", NULL, 10, m, &n, next), 0);
	assert_int_equal(n, 0);
	assert_int_equal(strlen(next), KCG_ID_LEN);
	assert_int_equal(kcg_events_list(s, NULL, "rare", next, 10, m, &n, next), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].id, rare);
	assert_string_equal(next, "");
}

/* ---- map full ---- */

#define BIG (100 * 1024)

static void test_map_full(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	opt.map_size_bytes = 1 * MiB;
	struct kcg_store *s = open_store(f, &opt);
	char *big = malloc(BIG + 1);
	assert_non_null(big);
	memset(big, 'b', BIG);
	big[BIG] = '\0';

	char ids[32][KCG_ID_LEN + 1];
	int stored = 0, rc = 0;
	for (int i = 0; i < 32; i++) {
		char key[16];
		snprintf(key, sizeof(key), "big-%d", i);
		big[0] = (char)('A' + i);
		rc = put(s, "mirakl", key, big, 1000 + (uint64_t)i, ids[stored]);
		if (rc != 0)
			break;
		stored++;
	}
	assert_int_equal(rc, KCG_ESTOREFULL);
	assert_true(stored >= 3);
	assert_true(kcg_store_ready(s));

	/* What was stored before is intact. */
	for (int i = 0; i < stored; i++) {
		char *body = NULL;
		size_t len;
		assert_int_equal(kcg_events_get(s, ids[i], NULL, &body, &len), 0);
		assert_int_equal(len, BIG);
		assert_int_equal(body[0], 'A' + i);
		free(body);
	}

	/* A mixed batch: the big one fails alone, the small ones around it are stored,
	 * and the failed one left nothing behind (its key is not a duplicate later). */
	char failed_key[16];
	snprintf(failed_key, sizeof(failed_key), "big-%d", stored);
	gate_close(s, 2000);
	struct item a, b, c;
	reset_done();
	item_init(&a, "mirakl", "small-a", "{}", 2, 2001);
	item_init(&b, "mirakl", "big-again", big, BIG, 2002);
	item_init(&c, "mirakl", "small-c", "{}", 2, 2003);
	assert_int_equal(kcg_events_submit(s, &a.ing), 0);
	assert_int_equal(kcg_events_submit(s, &b.ing), 0);
	assert_int_equal(kcg_events_submit(s, &c.ing), 0);
	gate_release();
	wait_done(3);
	assert_int_equal(a.ing.result, 0);
	assert_int_equal(b.ing.result, KCG_ESTOREFULL);
	assert_string_equal(b.ing.event_id, "");
	assert_int_equal(c.ing.result, 0);
	assert_int_equal(put(s, "mirakl", failed_key, "{}", 3000, NULL), 0);
	assert_int_equal(put(s, "mirakl", "big-again", "{}", 3000, NULL), 0);

	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(s, &st), 0);
	assert_true(st.events == (uint64_t)stored + 5); /* + gate, a, c and the two small retries */
	assert_true(st.pages_used * st.page_size <= 1 * MiB);

	/* A bigger map after a restart takes more. */
	kcg_store_close(s);
	f->store = NULL;
	opt.map_size_bytes = 4 * MiB;
	s = open_store(f, &opt);
	assert_int_equal(put(s, "mirakl", "big-after", big, 4000, NULL), 0);
	assert_int_equal(kcg_events_get(s, ids[0], NULL, NULL, NULL), 0);
	free(big);
}

/* ---- queue limit and shutdown ---- */

static void test_queue_limit(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	opt.queue_limit = 2;
	struct kcg_store *s = open_store(f, &opt);
	struct item it[4];

	gate_close(s, 1000);
	reset_done();
	item_init(&it[0], "mirakl", "q0", "{}", 2, 1001);
	item_init(&it[1], "mirakl", "q1", "{}", 2, 1002);
	item_init(&it[2], "mirakl", "q2", "{}", 2, 1003);
	assert_int_equal(kcg_events_submit(s, &it[0].ing), 0);
	assert_int_equal(kcg_events_submit(s, &it[1].ing), 0);
	assert_int_equal(kcg_events_submit(s, &it[2].ing), -EAGAIN);
	gate_release();
	wait_done(2);
	assert_int_equal(it[0].ing.result, 0);
	assert_int_equal(it[1].ing.result, 0);
	assert_int_equal(atomic_load(&it[2].calls), 0); /* refused: done() is never called */
	/* Room again once the writer took them. */
	assert_int_equal(kcg_events_submit(s, &it[2].ing), 0);
	wait_done(3);
	assert_int_equal(it[2].ing.result, 0);
}

static void *stop_thread(void *arg)
{
	kcg_store_stop(arg);
	return NULL;
}

static void test_shutdown(void **state)
{
	struct fixture *f = *state;
	struct kcg_store_options opt = options(f);
	struct kcg_store *s = open_store(f, &opt);
	struct item it[5];
	pthread_t th;

	/* Queued before stop: all committed and completed by stop. */
	gate_close(s, 1000);
	reset_done();
	for (int i = 0; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof(key), "s%d", i);
		item_init(&it[i], "inriver", key, "{}", 2, 1001 + (uint64_t)i);
		assert_int_equal(kcg_events_submit(s, &it[i].ing), 0);
	}
	assert_int_equal(pthread_create(&th, NULL, stop_thread, s), 0);
	while (kcg_store_ready(s))
		usleep(1000);
	/* Closing began: refused at once, even though the writer is still busy. */
	struct item late;
	item_init(&late, "inriver", "late", "{}", 2, 2000);
	assert_int_equal(kcg_events_submit(s, &late.ing), KCG_ESHUTDOWN);
	assert_int_equal(put(s, "inriver", "late", "{}", 2000, NULL), KCG_ESHUTDOWN);
	gate_release();
	pthread_join(th, NULL);
	assert_int_equal(done_count, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(atomic_load(&it[i].calls), 1);
		assert_int_equal(it[i].ing.result, 0);
	}
	assert_int_equal(atomic_load(&late.calls), 0);

	/* Stopped: reads still work, writes and sweeps are refused, stop is idempotent. */
	assert_false(kcg_store_ready(s));
	assert_int_equal(kcg_events_get(s, it[4].ing.event_id, NULL, NULL, NULL), 0);
	assert_int_equal(kcg_store_sweep(s, 99999, NULL), KCG_ESHUTDOWN);
	assert_int_equal(kcg_events_submit(s, &late.ing), KCG_ESHUTDOWN);
	kcg_store_stop(s);
	kcg_store_close(s);
	f->store = NULL;

	s = open_store(f, &opt);
	for (int i = 0; i < 5; i++)
		assert_int_equal(kcg_events_get(s, it[i].ing.event_id, NULL, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_scan_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
