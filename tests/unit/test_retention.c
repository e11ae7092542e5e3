/*
 * test_retention.c: the retention sweep on a real LMDB environment: events
 * past the horizon go, newer ones stay; finished records (resolved
 * exceptions, finished orders) go through their owners, open ones stay;
 * each sweep transaction deletes at most sweep_batch entries.
 *
 * The sweep's clock is the now_ms given to kcg_store_sweep(), so "30 days
 * later" is a number, not a wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/events.h"
#include "kcgate/exceptions.h"
#include "kcgate/flow.h"
#include "kcgate/flows/orders.h"
#include "kcgate/jobs.h"
#include "kcgate/jobs_view.h"
#include "kcgate/store.h"

#include "tmpdir.h"

#define DAY_MS (24ull * 3600 * 1000)
#define HORIZON (30 * DAY_MS)

struct fixture {
	char dir[512];
	struct kcg_store *store;
	struct kcg_flow_set set; /* every database and owner, as main.c opens them */
};

static int open_store(struct fixture *f, size_t sweep_batch)
{
	static const struct kcg_config cfg; /* no flow enabled; their databases still open */
	if (kcg_flow_set_init(&f->set, &cfg) != 0)
		return -1;
	char path[600];
	snprintf(path, sizeof(path), "%s/db", f->dir);
	struct kcg_store_options opt = {
		.path = path,
		.map_size_bytes = 256u << 20,
		.dedupe_ttl_ms = 3600 * 1000,
		.max_batch = 256,
		.queue_limit = 100000,
		.dbs = f->set.dbs,
		.owners = f->set.owners,
		.retention_ms = HORIZON,
		.sweep_batch = sweep_batch,
	};
	return kcg_store_open(&opt, &f->store, NULL);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (tmpdir_make(f->dir, sizeof(f->dir), "kcg-retention") != 0 || open_store(f, 100) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	return tmpdir_teardown(f->store, f->dir, f);
}

/* Stores one event received at @p ms; its id in @p id. */
static void ingest_at(struct kcg_store *s, uint64_t ms, const char *key, char id[KCG_ID_LEN + 1])
{
	struct kcg_ingest req = {
		.source = "mirakl", .kind = "test", .dedupe_key = key, .body = "{}", .body_len = 2, .received_ms = ms,
	};
	assert_int_equal(kcg_events_ingest(s, &req), 0);
	if (id)
		memcpy(id, req.event_id, KCG_ID_LEN + 1);
}

static bool has_event(struct kcg_store *s, const char *id)
{
	struct kcg_event_meta m;
	return kcg_events_get(s, id, &m, NULL, NULL) == 0;
}

static void test_events_past_horizon_go(void **state)
{
	struct fixture *f = *state;
	uint64_t now = 1000 * DAY_MS;
	char old1[KCG_ID_LEN + 1], old2[KCG_ID_LEN + 1], edge[KCG_ID_LEN + 1], fresh[KCG_ID_LEN + 1];
	ingest_at(f->store, now - HORIZON - 2 * DAY_MS, "id:a", old1);
	ingest_at(f->store, now - HORIZON - 1, "id:b", old2);
	ingest_at(f->store, now - HORIZON, "id:c", edge); /* exactly at the horizon: kept */
	ingest_at(f->store, now - DAY_MS, "id:d", fresh);

	uint64_t removed = 0;
	assert_int_equal(kcg_store_sweep(f->store, now, &removed), 0);
	assert_false(has_event(f->store, old1));
	assert_false(has_event(f->store, old2));
	assert_true(has_event(f->store, edge));
	assert_true(has_event(f->store, fresh));

	struct kcg_retention_stats rs;
	assert_int_equal(kcg_store_retention_stats(f->store, &rs), 0);
	assert_string_equal(rs.names[1], "events");
	assert_int_equal(rs.last.removed[1], 2);
	assert_int_equal(rs.removed_total[1], 2);
	assert_int_equal(rs.oldest_event_ms, now - HORIZON);
	assert_true(rs.last.chunks >= 3); /* one per sweeper at least */
}

/* Raises (and resolves when @p resolve) an exception for @p subject at the store's clock. */
struct exc_op {
	const char *subject;
	bool resolve;
};

static int exc_apply(struct kcg_txn *t, void *arg)
{
	const struct exc_op *op = arg;
	struct kcg_exc exc = { .kind = KCG_EXC_UNKNOWN_SKU, .severity = KCG_SEV_WARNING, .system = "mirakl",
			       .owner = "ecommerce", .subject = op->subject, .message = "test" };
	int rc = kcg_exc_raise(t, &exc, NULL);
	if (rc == 0 && op->resolve)
		rc = kcg_exc_resolve(t, KCG_EXC_UNKNOWN_SKU, op->subject, "auto");
	return rc;
}

static void exc(struct kcg_store *s, const char *subject, bool resolve)
{
	struct exc_op op = { subject, resolve };
	assert_int_equal(kcg_store_write_sync(s, exc_apply, &op), 0);
}

struct exc_state {
	const char *subject;
	int open; /* -1 gone, 0 resolved, 1 open */
};

static int exc_state_fn(struct kcg_txn *t, void *arg)
{
	struct exc_state *st = arg;
	json_t *list;
	int rc = kcg_exc_list(t, -1, KCG_EXC_UNKNOWN_SKU, NULL, 100, &list);
	if (rc != 0)
		return rc;
	st->open = -1;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
		if (strcmp(json_string_value(json_object_get(e, "subject")), st->subject) == 0)
			st->open = json_is_null(json_object_get(e, "resolved_at")) ? 1 : 0;
	json_decref(list);
	return 0;
}

static int exc_state(struct kcg_store *s, const char *subject)
{
	struct exc_state st = { subject, -2 };
	assert_int_equal(kcg_store_read(s, exc_state_fn, &st), 0);
	return st.open;
}

static void test_resolved_exceptions_go_open_ones_stay(void **state)
{
	struct fixture *f = *state;
	exc(f->store, "OPEN", false);
	exc(f->store, "RESOLVED", true);
	exc(f->store, "REOPENED", true);
	exc(f->store, "REOPENED", false); /* raised again: open, its old mark is stale */
	exc(f->store, "AGAIN", true);

	uint64_t later = kcg_now_ms() + HORIZON + DAY_MS;
	assert_int_equal(kcg_store_sweep(f->store, later, NULL), 0);
	assert_int_equal(exc_state(f->store, "OPEN"), 1);
	assert_int_equal(exc_state(f->store, "RESOLVED"), -1);
	assert_int_equal(exc_state(f->store, "REOPENED"), 1);
	assert_int_equal(exc_state(f->store, "AGAIN"), -1);

	/* the index went with the record: raising it again makes a new one */
	exc(f->store, "RESOLVED", false);
	assert_int_equal(exc_state(f->store, "RESOLVED"), 1);

	struct kcg_retention_stats rs;
	assert_int_equal(kcg_store_retention_stats(f->store, &rs), 0);
	bool found = false;
	for (size_t i = 2; i < rs.n_counters; i++) {
		if (strcmp(rs.names[i], "exceptions") == 0) {
			assert_int_equal(rs.last.removed[i], 2);
			found = true;
		}
	}
	assert_true(found);
}

static void test_nothing_goes_before_the_horizon(void **state)
{
	struct fixture *f = *state;
	uint64_t now = kcg_now_ms();
	char id[KCG_ID_LEN + 1];
	ingest_at(f->store, now - DAY_MS, "id:x", id);
	exc(f->store, "RESOLVED", true);
	assert_int_equal(kcg_store_sweep(f->store, now + HORIZON - DAY_MS, NULL), 0);
	assert_true(has_event(f->store, id));
	assert_int_equal(exc_state(f->store, "RESOLVED"), 0);
}

/* An order record written as the order flow writes it, finished or not. */
struct order_op {
	const char *id;
	const char *state;
	uint64_t finished_ms; /* 0: not finished */
};

static int order_apply(struct kcg_txn *t, void *arg)
{
	const struct order_op *op = arg;
	json_t *rec = json_pack("{s:s, s:s}", "order_id", op->id, "state", op->state);
	if (op->finished_ms)
		json_object_set_new(rec, "finished_ms", json_integer((json_int_t)op->finished_ms));
	int rc = kcg_txn_put_json(t, "orders", op->id, strlen(op->id), rec);
	json_decref(rec);
	if (rc == 0 && op->finished_ms)
		rc = kcg_store_retain(t, "orders", op->id, strlen(op->id), op->finished_ms);
	return rc;
}

static void put_order(struct kcg_store *s, const char *id, const char *st, uint64_t finished)
{
	struct order_op op = { id, st, finished };
	assert_int_equal(kcg_store_write_sync(s, order_apply, &op), 0);
}

static void test_finished_orders_go_unfinished_stay(void **state)
{
	struct fixture *f = *state;
	uint64_t t0 = 500 * DAY_MS;
	/* the ends of an order's life */
	put_order(f->store, "CLOSED-1", "closed", t0);
	put_order(f->store, "CANCELLED-1", "cancelled", t0 + 1);
	put_order(f->store, "REFUSED-1", "refused", t0 + 2);
	put_order(f->store, "AUTO-1", "auto_refused", t0 + 3);
	/* still under way: accepted waits for its booking, booked and shipped for their end */
	put_order(f->store, "ACCEPTED-1", "accepted", 0);
	put_order(f->store, "BOOKED-1", "booked", 0);
	put_order(f->store, "SHIPPED-1", "shipped", 0);
	put_order(f->store, "HELD-1", "held", 0);
	/* marked in an earlier life (accepted was final then) but not final now: stays */
	put_order(f->store, "OLDMARK-1", "accepted", t0);
	/* finished, then (by a later decision) finished again later: the later mark stands */
	put_order(f->store, "LATE-1", "closed", t0);
	put_order(f->store, "LATE-1", "closed", t0 + HORIZON);

	assert_int_equal(kcg_store_sweep(f->store, t0 + HORIZON + DAY_MS, NULL), 0);
	json_t *o;
	assert_int_equal(kcg_orders_get(f->store, "CLOSED-1", &o), KCG_ENOTFOUND);
	assert_int_equal(kcg_orders_get(f->store, "CANCELLED-1", &o), KCG_ENOTFOUND);
	assert_int_equal(kcg_orders_get(f->store, "REFUSED-1", &o), KCG_ENOTFOUND);
	assert_int_equal(kcg_orders_get(f->store, "AUTO-1", &o), KCG_ENOTFOUND);
	const char *stay[] = { "ACCEPTED-1", "SHIPPED-1", "OLDMARK-1" };
	for (size_t i = 0; i < sizeof(stay) / sizeof(stay[0]); i++) {
		assert_int_equal(kcg_orders_get(f->store, stay[i], &o), 0);
		json_decref(o);
	}
	assert_int_equal(kcg_orders_get(f->store, "BOOKED-1", &o), 0);
	json_decref(o);
	assert_int_equal(kcg_orders_get(f->store, "HELD-1", &o), 0);
	json_decref(o);
	assert_int_equal(kcg_orders_get(f->store, "LATE-1", &o), 0);
	json_decref(o);

	struct kcg_retention_stats rs;
	assert_int_equal(kcg_store_retention_stats(f->store, &rs), 0);
	assert_int_equal(rs.oldest_finished_ms, t0 + HORIZON);
}

/* Two jobs; the first runs to done (as the engine records it). */
struct jobs_op {
	char done_id[KCG_ID_LEN + 1];
	char pending_id[KCG_ID_LEN + 1];
	char dead_id[KCG_ID_LEN + 1];
};

static int jobs_apply(struct kcg_txn *t, void *arg)
{
	struct jobs_op *op = arg;
	int rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "test.done", "A", NULL, 0, op->done_id);
	if (rc == 0)
		rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "test.pending", "B", NULL, 0, op->pending_id);
	if (rc != 0)
		return rc;
	static const struct kcg_job_kind kind = { "test.done", KCG_LANE_KHAOS, NULL, NULL };
	struct kcg_job_run run = { .kind = &kind, .lane = KCG_LANE_KHAOS, .retry_after_s = -1 };
	memcpy(run.id, op->done_id, sizeof(run.id));
	enum kcg_step recorded;
	rc = kcg_jobs_record(t, &run, KCG_STEP_DONE, 0, 3600000, &recorded);
	if (rc != 0)
		return rc;
	/* a third one dies: dead jobs wait for a person, whatever their age */
	rc = kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "test.dead", "C", NULL, 0, op->dead_id);
	if (rc != 0)
		return rc;
	static const struct kcg_job_kind dead_kind = { "test.dead", KCG_LANE_KHAOS, NULL, NULL };
	struct kcg_job_run dead = { .kind = &dead_kind, .lane = KCG_LANE_KHAOS, .retry_after_s = -1 };
	memcpy(dead.id, op->dead_id, sizeof(dead.id));
	snprintf(dead.error, sizeof(dead.error), "refused");
	return kcg_jobs_record(t, &dead, KCG_STEP_DEAD, 0, 3600000, &recorded);
}

static int job_state(struct kcg_store *s, const char *id)
{
	json_t *job;
	int rc = kcg_jobs_get(s, NULL, id, &job);
	if (rc != 0)
		return rc;
	const char *st = json_string_value(json_object_get(job, "state"));
	rc = st && strcmp(st, "done") == 0 ? 1 : st && strcmp(st, "dead") == 0 ? 3 : 2;
	json_decref(job);
	return rc;
}

static void test_done_jobs_go_pending_and_dead_stay(void **state)
{
	struct fixture *f = *state;
	struct jobs_op op;
	assert_int_equal(kcg_store_write_sync(f->store, jobs_apply, &op), 0);
	assert_int_equal(job_state(f->store, op.done_id), 1);

	assert_int_equal(kcg_store_sweep(f->store, kcg_now_ms() + HORIZON - DAY_MS, NULL), 0);
	assert_int_equal(job_state(f->store, op.done_id), 1); /* not yet */
	assert_int_equal(kcg_store_sweep(f->store, kcg_now_ms() + HORIZON + DAY_MS, NULL), 0);
	assert_int_equal(job_state(f->store, op.done_id), KCG_ENOTFOUND);
	assert_int_equal(job_state(f->store, op.pending_id), 2);
	assert_int_equal(job_state(f->store, op.dead_id), 3);
}

/* A sweep never deletes more than sweep_batch entries in one transaction. */
static void test_bounded_per_transaction(void **state)
{
	struct fixture *f = *state;
	uint64_t now = 1000 * DAY_MS;
	for (int i = 0; i < 1050; i++) {
		char key[32];
		snprintf(key, sizeof(key), "id:%d", i);
		ingest_at(f->store, now - HORIZON - DAY_MS + (uint64_t)i, key, NULL);
	}
	assert_int_equal(kcg_store_sweep(f->store, now, NULL), 0);
	struct kcg_retention_stats rs;
	assert_int_equal(kcg_store_retention_stats(f->store, &rs), 0);
	assert_int_equal(rs.last.removed[1], 1050);
	/* 1050 events at 100 per transaction: 11 transactions for them alone */
	assert_true(rs.last.chunks >= 11);
	struct kcg_store_stats st;
	assert_int_equal(kcg_store_stats(f->store, &st), 0);
	assert_int_equal(st.events, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_events_past_horizon_go, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolved_exceptions_go_open_ones_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_goes_before_the_horizon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_orders_go_unfinished_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_jobs_go_pending_and_dead_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_per_transaction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
