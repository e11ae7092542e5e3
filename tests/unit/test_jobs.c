/*
 * test_jobs.c: the job queue (jobs.c), run by the engine (engine.c) and
 * read through the admin views (jobs_view.c), on a real store, with job kinds
 * whose steps are scripted here (no peer needed; one kind calls a closed
 * port to exercise the transport-error path and the breaker).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>

#include "kcgate/exceptions.h"
#include "kcgate/engine.h"
#include "kcgate/jobs.h"
#include "kcgate/jobs_view.h"

#include "jobs_store.h"

struct fixture {
	char dir[256];
	struct kcg_store *store;
	struct kcg_config cfg;
	struct kcg_engine *engine;
};

static atomic_int runs_ok, runs_flaky, applied;

/* Done at once, and its apply leaves a mark. */
static int mark_apply(struct kcg_txn *t, struct kcg_job_run *run)
{
	atomic_fetch_add(&applied, 1);
	return 0;
}

static enum kcg_step step_ok(struct kcg_job_run *run, void *ctx)
{
	atomic_fetch_add(&runs_ok, 1);
	run->apply = mark_apply;
	return KCG_STEP_DONE;
}

/* Fails twice (transient), then succeeds. */
static enum kcg_step step_flaky(struct kcg_job_run *run, void *ctx)
{
	atomic_fetch_add(&runs_flaky, 1);
	if (run->attempts < 2) {
		snprintf(run->error, sizeof(run->error), "not yet (attempt %u)", run->attempts + 1);
		return KCG_STEP_RETRY;
	}
	return KCG_STEP_DONE;
}

/* Dies unless its payload says {"fixed":true}. */
static enum kcg_step step_fatal(struct kcg_job_run *run, void *ctx)
{
	if (run->attempts == 0 && !json_is_true(json_object_get(run->payload, "fixed")) &&
	    !getenv("KCG_TEST_FIXED")) {
		snprintf(run->error, sizeof(run->error), "refused for good");
		run->status = 400;
		return KCG_STEP_DEAD;
	}
	return KCG_STEP_DONE;
}

/* Calls a port nothing listens on: a transport error every time. */
static enum kcg_step step_refused(struct kcg_job_run *run, void *ctx)
{
	if (run->n_calls == 0) {
		run->call.what = "probe";
		run->call.method = "GET";
		run->call.url = strdup("http://127.0.0.1:1/nothing");
		run->call.timeout_s = 2;
		return KCG_STEP_CALL;
	}
	assert_int_equal(run->reply.status, 0);
	assert_true(run->reply.transport_error != 0);
	assert_true(kcg_reply_transient(&run->reply));
	snprintf(run->error, sizeof(run->error), "%s", run->reply.error);
	return KCG_STEP_RETRY;
}

static const struct kcg_job_kind kind_ok = { "t.ok", KCG_LANE_KHAOS, step_ok, NULL };
static const struct kcg_job_kind kind_flaky = { "t.flaky", KCG_LANE_KHAOS, step_flaky, NULL };
static const struct kcg_job_kind kind_fatal = { "t.fatal", KCG_LANE_MIRAKL, step_fatal, NULL };
static const struct kcg_job_kind kind_refused = { "t.refused", KCG_LANE_INRIVER, step_refused, NULL };
static const struct kcg_job_kind *const kinds[] = { &kind_ok, &kind_flaky, &kind_fatal, &kind_refused, NULL };

/* kcg_engine_create() then kcg_engine_start(); the engine is freed on failure. */
static int start_engine(const struct kcg_engine_options *opt, struct kcg_engine **out)
{
	int rc = kcg_engine_create(opt, out);
	if (rc != 0)
		return rc;
	rc = kcg_engine_start(*out);
	if (rc != 0) {
		kcg_engine_destroy(*out);
		*out = NULL;
	}
	return rc;
}

/* An admin retry as the route does it: the queue, then a kick. */
static int retry(struct fixture *f, const char *id)
{
	int rc = kcg_jobs_retry(f->store, id);
	if (rc == 0)
		kcg_engine_kick(f->engine);
	return rc;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	jobs_store_open(f->dir, sizeof(f->dir), "jobs", &f->store, &f->cfg);
	struct kcg_engine_options eo = { .store = f->store, .cfg = &f->cfg, .kinds = kinds };
	assert_int_equal(start_engine(&eo, &f->engine), 0);
	atomic_store(&runs_ok, 0);
	atomic_store(&runs_flaky, 0);
	atomic_store(&applied, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kcg_engine_destroy(f->engine);
	jobs_store_close(f->store, f->dir);
	free(f);
	return 0;
}

struct enq {
	enum kcg_lane lane;
	const char *kind, *subject;
	json_t *payload;
	char id[KCG_ID_LEN + 1];
	int rc;
};

static int enqueue_fn(struct kcg_txn *t, void *arg)
{
	struct enq *e = arg;
	e->rc = kcg_jobs_enqueue(t, e->lane, e->kind, e->subject, e->payload, 0, e->id);
	return e->rc == KCG_EDUPLICATE ? 0 : e->rc;
}

static int enqueue(struct fixture *f, struct enq *e)
{
	int rc = kcg_store_write_sync(f->store, enqueue_fn, e);
	kcg_engine_kick(f->engine);
	return rc ? rc : e->rc;
}

/* Waits (bounded) until job @p id is in @p state; returns its JSON. */
static json_t *wait_state(struct fixture *f, const char *id, const char *state)
{
	for (int i = 0; i < 500; i++) {
		json_t *job = NULL;
		if (kcg_jobs_get(f->store, f->engine, id, &job) == 0) {
			if (strcmp(json_string_value(json_object_get(job, "state")), state) == 0)
				return job;
			json_decref(job);
		}
		usleep(10000);
	}
	fail_msg("job %s never reached %s", id, state);
	return NULL;
}

static void test_done_once_with_effects(void **state)
{
	struct fixture *f = *state;
	struct enq e = { KCG_LANE_KHAOS, "t.ok", "A", NULL, "", 0 };
	assert_int_equal(enqueue(f, &e), 0);
	json_decref(wait_state(f, e.id, "done"));
	assert_int_equal(atomic_load(&runs_ok), 1);
	assert_int_equal(atomic_load(&applied), 1);
}

static void test_one_live_job_per_kind_and_subject(void **state)
{
	struct fixture *f = *state;
	kcg_engine_destroy(f->engine); /* nothing runs: both enqueues see the first pending */
	f->engine = NULL;
	struct enq a = { KCG_LANE_KHAOS, "t.ok", "same", NULL, "", 0 }, b = a;
	assert_int_equal(enqueue(f, &a), 0);
	assert_int_equal(enqueue(f, &b), KCG_EDUPLICATE);
	assert_string_equal(a.id, b.id);
	struct enq c = { KCG_LANE_KHAOS, "t.ok", "other", NULL, "", 0 };
	assert_int_equal(enqueue(f, &c), 0);
	assert_string_not_equal(a.id, c.id);
	/* The engine picks up what was pending when it starts (crash recovery). */
	struct kcg_engine_options eo = { .store = f->store, .cfg = &f->cfg, .kinds = kinds };
	assert_int_equal(start_engine(&eo, &f->engine), 0);
	json_decref(wait_state(f, a.id, "done"));
	json_decref(wait_state(f, c.id, "done"));
	/* Once done, the subject may have a new job. */
	struct enq d = { KCG_LANE_KHAOS, "t.ok", "same", NULL, "", 0 };
	assert_int_equal(enqueue(f, &d), 0);
	assert_string_not_equal(a.id, d.id);
}

static void test_retry_with_backoff(void **state)
{
	struct fixture *f = *state;
	struct enq e = { KCG_LANE_KHAOS, "t.flaky", "B", NULL, "", 0 };
	assert_int_equal(enqueue(f, &e), 0);
	json_t *job = wait_state(f, e.id, "done");
	assert_int_equal(json_integer_value(json_object_get(job, "attempts")), 2);
	assert_string_equal(json_string_value(json_object_get(job, "last_error")), "");
	json_decref(job);
	assert_int_equal(atomic_load(&runs_flaky), 3);
}

struct open_q {
	const char *id;
	bool open;
};

static int open_dead_fn(struct kcg_txn *t, void *arg)
{
	struct open_q *q = arg;
	q->open = kcg_exc_is_open(t, KCG_EXC_DEAD_JOB, q->id);
	return 0;
}

static bool dead_job_open(struct fixture *f, const char *id)
{
	struct open_q q = { id, false };
	assert_int_equal(kcg_store_read(f->store, open_dead_fn, &q), 0);
	return q.open;
}

static void test_dead_then_admin_retry(void **state)
{
	struct fixture *f = *state;
	struct enq e = { KCG_LANE_MIRAKL, "t.fatal", "C", NULL, "", 0 };
	assert_int_equal(enqueue(f, &e), 0);
	json_t *job = wait_state(f, e.id, "dead");
	assert_int_equal(json_integer_value(json_object_get(job, "last_status")), 400);
	assert_string_equal(json_string_value(json_object_get(job, "last_error")), "refused for good");
	assert_int_equal(json_integer_value(json_object_get(job, "attempts")), 1); /* one run, and it failed */
	json_decref(job);
	assert_true(dead_job_open(f, e.id));

	/* Only a dead job can be retried; retrying brings it back, and success resolves the exception. */
	struct enq ok = { KCG_LANE_KHAOS, "t.ok", "D", NULL, "", 0 };
	assert_int_equal(enqueue(f, &ok), 0);
	json_decref(wait_state(f, ok.id, "done"));
	assert_int_equal(retry(f, ok.id), -EINVAL);
	assert_int_equal(retry(f, "01M800000000000000000000ZZ"), KCG_ENOTFOUND);
	setenv("KCG_TEST_FIXED", "1", 1);
	assert_int_equal(retry(f, e.id), 0);
	json_decref(wait_state(f, e.id, "done"));
	unsetenv("KCG_TEST_FIXED");
	assert_false(dead_job_open(f, e.id));
}

static void test_transport_error_opens_breaker(void **state)
{
	struct fixture *f = *state;
	char subj[8];
	char ids[3][KCG_ID_LEN + 1];
	/* Backoff far longer than the test, so each job fails exactly once
	 * whatever the timing of the three calls. */
	kcg_engine_destroy(f->engine);
	f->cfg.jobs.retry_base_ms = 600000;
	f->cfg.jobs.retry_max_s = 3600;
	struct kcg_engine_options eo = { .store = f->store, .cfg = &f->cfg, .kinds = kinds };
	assert_int_equal(start_engine(&eo, &f->engine), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(subj, sizeof(subj), "R%d", i);
		struct enq e = { KCG_LANE_INRIVER, "t.refused", subj, NULL, "", 0 };
		assert_int_equal(enqueue(f, &e), 0);
		memcpy(ids[i], e.id, sizeof(ids[i]));
	}
	/* Each fails once (connection refused); after 3 the lane's breaker opens. */
	for (int i = 0; i < 3; i++) {
		for (int n = 0; n < 500; n++) {
			json_t *job = NULL;
			assert_int_equal(kcg_jobs_get(f->store, f->engine, ids[i], &job), 0);
			json_int_t attempts = json_integer_value(json_object_get(job, "attempts"));
			json_decref(job);
			if (attempts >= 1)
				break;
			usleep(10000);
		}
	}
	char *text = strdup("");
	assert_int_equal(kcg_jobs_metrics(f->store, f->engine, &text), 0);
	assert_non_null(strstr(text, "kcgate_lane_breaker_open{lane=\"inriver\"} 1"));
	assert_non_null(strstr(text, "kcgate_lane_breaker_open{lane=\"khaos\"} 0"));
	assert_non_null(strstr(text, "kcgate_jobs{lane=\"inriver\",state=\"pending\"} 3"));
	free(text);
	usleep(300000);
	for (int i = 0; i < 3; i++) {
		json_t *job = NULL;
		assert_int_equal(kcg_jobs_get(f->store, f->engine, ids[i], &job), 0);
		assert_int_equal(json_integer_value(json_object_get(job, "attempts")), 1);
		assert_non_null(strstr(json_string_value(json_object_get(job, "last_error")), "onnect"));
		json_decref(job);
	}
	/* Other lanes are not held back. */
	struct enq e = { KCG_LANE_KHAOS, "t.ok", "E", NULL, "", 0 };
	assert_int_equal(enqueue(f, &e), 0);
	json_decref(wait_state(f, e.id, "done"));
}

static void test_list_filters(void **state)
{
	struct fixture *f = *state;
	struct enq a = { KCG_LANE_KHAOS, "t.ok", "L1", NULL, "", 0 };
	struct enq b = { KCG_LANE_MIRAKL, "t.fatal", "L2", NULL, "", 0 };
	assert_int_equal(enqueue(f, &a), 0);
	assert_int_equal(enqueue(f, &b), 0);
	json_decref(wait_state(f, a.id, "done"));
	json_decref(wait_state(f, b.id, "dead"));
	json_t *list;
	char next[KCG_ID_LEN + 1];
	assert_int_equal(kcg_jobs_list(f->store, f->engine, "dead", NULL, 10, NULL, &list, next), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), b.id);
	json_decref(list);
	assert_int_equal(kcg_jobs_list(f->store, f->engine, NULL, "khaos", 1, NULL, &list, next), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(kcg_jobs_list(f->store, f->engine, "bogus", NULL, 10, NULL, &list, next), -EINVAL);
	assert_int_equal(kcg_jobs_list(f->store, f->engine, NULL, "ftp", 10, NULL, &list, next), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_done_once_with_effects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_live_job_per_kind_and_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_with_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_then_admin_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_error_opens_breaker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
