/*
 * test_engine.c: the engine's lifecycle (create/start/stop/destroy) on a
 * real store, and the libcurl driver (net_curl.c) against a one-shot
 * local HTTP server. What the engine does with jobs is in test_jobs.c.
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

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "kcgate/engine.h"
#include "kcgate/exceptions.h"
#include "kcgate/jobs.h"
#include "kcgate/jobs_view.h"
#include "kcgate/net_curl.h"

#include "jobs_store.h"

struct fixture {
	char dir[256];
	struct kcg_store *store;
	struct kcg_config cfg;
};

static atomic_int runs;

static enum kcg_step step_ok(struct kcg_job_run *run, void *ctx)
{
	atomic_fetch_add(&runs, 1);
	return KCG_STEP_DONE;
}

static const struct kcg_job_kind kind_ok = { "t.ok", KCG_LANE_KHAOS, step_ok, NULL };
static const struct kcg_job_kind *const kinds[] = { &kind_ok, NULL };

/* A DONE outcome whose effects come in three parts, each committed on its
 * own, then the outcome with its apply (which sees run->part = 3). */
static int part_fn(struct kcg_txn *t, struct kcg_job_run *run)
{
	char name[32];
	snprintf(name, sizeof(name), "t.part.%u", run->part);
	int rc = kcg_meta_put_u64(t, name, kcg_meta_get_u64(t, name) + 1);
	return rc != 0 ? rc : run->part < 2;
}

static int parts_done(struct kcg_txn *t, struct kcg_job_run *run)
{
	return kcg_meta_put_u64(t, "t.parts", run->part);
}

static enum kcg_step step_parts(struct kcg_job_run *run, void *ctx)
{
	atomic_fetch_add(&runs, 1);
	run->apply_part = part_fn;
	run->apply = parts_done;
	return KCG_STEP_DONE;
}

static const struct kcg_job_kind kind_parts = { "t.parts", KCG_LANE_MIRAKL_STOCK, step_parts, NULL };
static const struct kcg_job_kind *const part_kinds[] = { &kind_parts, NULL };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	jobs_store_open(f->dir, sizeof(f->dir), "engine", &f->store, &f->cfg);
	atomic_store(&runs, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	jobs_store_close(f->store, f->dir);
	free(f);
	return 0;
}

static int enqueue_fn(struct kcg_txn *t, void *arg)
{
	return kcg_jobs_enqueue(t, KCG_LANE_KHAOS, "t.ok", "S", NULL, 0, arg);
}

static bool wait_done(struct fixture *f, struct kcg_engine *e, const char *id)
{
	for (int i = 0; i < 500; i++) {
		json_t *job = NULL;
		if (kcg_jobs_get(f->store, e, id, &job) == 0) {
			bool done = strcmp(json_string_value(json_object_get(job, "state")), "done") == 0;
			json_decref(job);
			if (done)
				return true;
		}
		usleep(10000);
	}
	return false;
}

static void test_null_is_safe(void **state)
{
	struct kcg_engine_stats st;
	kcg_engine_stop(NULL);
	kcg_engine_destroy(NULL);
	kcg_engine_kick(NULL);
	assert_false(kcg_engine_running(NULL, "01M800000000000000000000ZZ"));
	kcg_engine_stats(NULL, &st);
	assert_int_equal(st.lane[KCG_LANE_KHAOS].running, 0);
	assert_false(st.lane[KCG_LANE_KHAOS].breaker_open);
	kcg_net_curl_destroy(NULL);
	kcg_net_curl_wakeup(NULL);
}

/* Created, never started: nothing runs, kicks are harmless, destroy frees. */
static void test_create_runs_nothing(void **state)
{
	struct fixture *f = *state;
	struct kcg_engine_options eo = { .store = f->store, .cfg = &f->cfg, .kinds = kinds };
	struct kcg_engine *e = NULL;
	assert_int_equal(kcg_engine_create(&eo, &e), 0);
	char id[KCG_ID_LEN + 1];
	assert_int_equal(kcg_store_write_sync(f->store, enqueue_fn, id), 0);
	kcg_engine_kick(e);
	usleep(200000);
	assert_int_equal(atomic_load(&runs), 0);
	kcg_engine_stop(e); /* not started: nothing to halt */
	kcg_engine_destroy(e);
}

/* Stop halts without freeing; start again picks up what is pending. */
static void test_stop_then_start_again(void **state)
{
	struct fixture *f = *state;
	struct kcg_engine_options eo = { .store = f->store, .cfg = &f->cfg, .kinds = kinds };
	struct kcg_engine *e = NULL;
	assert_int_equal(kcg_engine_create(&eo, &e), 0);
	assert_int_equal(kcg_engine_start(e), 0);
	assert_int_equal(kcg_engine_start(e), -EALREADY);
	kcg_engine_stop(e);
	kcg_engine_stop(e); /* idempotent */
	char id[KCG_ID_LEN + 1];
	assert_int_equal(kcg_store_write_sync(f->store, enqueue_fn, id), 0);
	kcg_engine_kick(e);
	usleep(200000);
	assert_int_equal(atomic_load(&runs), 0);
	assert_int_equal(kcg_engine_start(e), 0);
	assert_true(wait_done(f, e, id));
	assert_int_equal(atomic_load(&runs), 1);
	kcg_engine_destroy(e); /* stops first */
}

static int enqueue_parts(struct kcg_txn *t, void *arg)
{
	return kcg_jobs_enqueue(t, KCG_LANE_MIRAKL_STOCK, "t.parts", "S", NULL, 0, arg);
}

static int read_parts(struct kcg_txn *t, void *arg)
{
	uint64_t *v = arg;
	v[0] = kcg_meta_get_u64(t, "t.part.0");
	v[1] = kcg_meta_get_u64(t, "t.part.1");
	v[2] = kcg_meta_get_u64(t, "t.part.2");
	v[3] = kcg_meta_get_u64(t, "t.part.3");
	v[4] = kcg_meta_get_u64(t, "t.parts");
	return 0;
}

/* apply_part: every part once, in order, before the outcome; the job done
 * (on the stock lane, which runs like any other). */
static void test_apply_parts(void **state)
{
	struct fixture *f = *state;
	struct kcg_engine_options eo = { .store = f->store, .cfg = &f->cfg, .kinds = part_kinds };
	struct kcg_engine *e = NULL;
	assert_int_equal(kcg_engine_create(&eo, &e), 0);
	char id[KCG_ID_LEN + 1];
	assert_int_equal(kcg_store_write_sync(f->store, enqueue_parts, id), 0);
	assert_int_equal(kcg_engine_start(e), 0);
	assert_true(wait_done(f, e, id));
	uint64_t v[5];
	assert_int_equal(kcg_store_read(f->store, read_parts, v), 0);
	assert_true(v[0] == 1 && v[1] == 1 && v[2] == 1 && v[3] == 0);
	assert_int_equal(v[4], 3);
	assert_int_equal(atomic_load(&runs), 1);
	kcg_engine_destroy(e);
}

/* ---- the libcurl driver ---- */

struct server {
	int fd;
	unsigned short port;
	const char *answer;  /* written after the request's headers; NULL = never answer */
	pthread_t thread;
};

static void *serve_once(void *arg)
{
	struct server *s = arg;
	int c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	char buf[4096];
	size_t got = 0;
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	if (s->answer) {
		ssize_t w = write(c, s->answer, strlen(s->answer));
		(void)w;
	} else {
		usleep(500000);
	}
	close(c);
	return NULL;
}

static void server_start(struct server *s, const char *answer)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	s->answer = answer;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 4), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve_once, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

struct got {
	int calls;
	struct kcg_reply reply;
};

static void on_done(void *arg, struct kcg_reply *reply)
{
	struct got *g = arg;
	g->calls++;
	g->reply = *reply; /* takes what it owns */
}

static void call_get(struct kcg_call *c, unsigned short port)
{
	*c = (struct kcg_call){ .what = "test", .method = "GET", .timeout_s = 5 };
	assert_true(asprintf(&c->url, "http://127.0.0.1:%u/x", (unsigned)port) > 0);
}

static void run_until(struct kcg_net_curl *nc, struct got *g)
{
	for (int i = 0; i < 100 && g->calls == 0; i++)
		kcg_net_curl_run(nc, 50);
}

static void test_driver_answer_and_retry_after(void **state)
{
	struct server s;
	server_start(&s, "HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy!");
	struct kcg_net_curl *nc = NULL;
	assert_int_equal(kcg_net_curl_create(1 << 20, on_done, &nc), 0);
	struct kcg_call c;
	call_get(&c, s.port);
	struct got g = { 0 };
	assert_int_equal(kcg_net_curl_send(nc, &c, &g), 0);
	run_until(nc, &g);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.reply.status, 503);
	assert_int_equal(g.reply.transport_error, 0);
	assert_int_equal(g.reply.retry_after_s, 7);
	assert_int_equal(g.reply.len, 5);
	assert_string_equal(g.reply.body, "busy!");
	kcg_reply_finish(&g.reply);
	kcg_call_finish(&c);
	kcg_net_curl_destroy(nc);
	server_stop(&s);
}

static void test_driver_reply_cap(void **state)
{
	struct server s;
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\n01234567890123456789");
	struct kcg_net_curl *nc = NULL;
	assert_int_equal(kcg_net_curl_create(10, on_done, &nc), 0);
	struct kcg_call c;
	call_get(&c, s.port);
	struct got g = { 0 };
	assert_int_equal(kcg_net_curl_send(nc, &c, &g), 0);
	run_until(nc, &g);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.reply.status, 0);
	assert_true(g.reply.transport_error != 0);
	assert_true(kcg_reply_transient(&g.reply));
	assert_non_null(strstr(g.reply.error, "jobs.max_reply_bytes"));
	kcg_reply_finish(&g.reply);
	kcg_call_finish(&c);
	kcg_net_curl_destroy(nc);
	server_stop(&s);
}

/* A call's own bound replaces the driver's, both ways. */
static void test_driver_call_bound(void **state)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
				     "01234567890123456789";
	for (int big = 0; big < 2; big++) {
		struct server s;
		server_start(&s, answer);
		struct kcg_net_curl *nc = NULL;
		assert_int_equal(kcg_net_curl_create(big ? 10 : 1000, on_done, &nc), 0);
		struct kcg_call c;
		call_get(&c, s.port);
		c.max_reply_bytes = big ? 30 : 5;
		struct got g = { 0 };
		assert_int_equal(kcg_net_curl_send(nc, &c, &g), 0);
		run_until(nc, &g);
		if (big) {
			assert_int_equal(g.reply.status, 200);
			assert_int_equal(g.reply.len, 20);
		} else {
			assert_int_equal(g.reply.status, 0);
			assert_non_null(strstr(g.reply.error, "longer than 5 bytes"));
		}
		kcg_reply_finish(&g.reply);
		kcg_call_finish(&c);
		kcg_net_curl_destroy(nc);
		server_stop(&s);
	}
}

static void test_driver_abandon(void **state)
{
	struct server s;
	server_start(&s, NULL); /* never answers */
	struct kcg_net_curl *nc = NULL;
	assert_int_equal(kcg_net_curl_create(1 << 20, on_done, &nc), 0);
	struct kcg_call c;
	call_get(&c, s.port);
	struct got g = { 0 };
	assert_int_equal(kcg_net_curl_send(nc, &c, &g), 0);
	for (int i = 0; i < 4; i++)
		kcg_net_curl_run(nc, 20);
	kcg_net_curl_abandon_all(nc);
	kcg_net_curl_run(nc, 20);
	assert_int_equal(g.calls, 0);
	kcg_call_finish(&c);
	kcg_net_curl_destroy(nc);
	server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_is_safe),
		cmocka_unit_test_setup_teardown(test_create_runs_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_then_start_again, setup, teardown),
		cmocka_unit_test(test_driver_answer_and_retry_after),
		cmocka_unit_test_setup_teardown(test_apply_parts, setup, teardown),
		cmocka_unit_test(test_driver_reply_cap),
		cmocka_unit_test(test_driver_call_bound),
		cmocka_unit_test(test_driver_abandon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
