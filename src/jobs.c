/*
 * jobs.c: the job queue in LMDB and the engine thread that runs it on
 * libcurl's multi interface (see jobs.h for the model).
 *
 * The engine thread owns every run. A run's outcome is handed to the
 * store's writer as a struct kcg_write; until that commits, the job stays
 * pending in LMDB and the run stays in the engine's list (so it is not
 * picked up twice). The writer's done() only moves the run to a finished
 * list and wakes the engine, which frees it.
 *
 * Job counts per lane and state live in the meta database
 * ("jobs.<lane>.<state>" -> u64 BE), updated in the same transactions as
 * the jobs, so /metrics never scans the queue.
 */
#include "kcgate/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "kcgate/dynbuf.h"
#include "kcgate/exceptions.h"
#include "kcgate/log.h"
#include "kcgate/metrics.h"

#define DB_JOBS "jobs"
#define DB_DUE "jobs_due"
#define DB_LIVE "jobs_live"
#define POLL_MS 100            /* longest sleep of the engine between looks at the queue */
#define DUE_KEY_LEN (1 + 8 + KCG_ID_LEN)
#define LIVE_KEY_MAX (KCG_JOB_KIND_MAX + 1 + KCG_JOB_SUBJECT_MAX)
#define LIST_SCAN_MAX 100000   /* records one admin listing may look at */

static const char *const lane_names[KCG_LANE_COUNT] = { "mirakl", "khaos", "inriver" };
static const char *const state_names[] = { "pending", "done", "dead" };
enum { ST_PENDING, ST_DONE, ST_DEAD, ST_COUNT };

const char *const kcg_jobs_dbs[] = { DB_JOBS, DB_DUE, DB_LIVE, NULL };

enum kcg_step kcg_job_failed(struct kcg_job_run *run, int rc, const char *why)
{
	snprintf(run->error, sizeof(run->error), "%s", why);
	return rc == -EAGAIN ? KCG_STEP_RETRY : KCG_STEP_DEAD;
}

enum kcg_step kcg_job_call(struct kcg_job_run *run, int rc)
{
	if (rc == 0)
		return KCG_STEP_CALL;
	snprintf(run->error, sizeof(run->error), "cannot build the request: %s", kcg_strerror(rc));
	return KCG_STEP_DEAD;
}

const char *kcg_lane_name(enum kcg_lane lane)
{
	return lane < KCG_LANE_COUNT ? lane_names[lane] : "unknown";
}

static int lane_of(const char *name)
{
	for (int i = 0; i < KCG_LANE_COUNT; i++)
		if (name && strcmp(name, lane_names[i]) == 0)
			return i;
	return -1;
}

static int state_of(const char *name)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (name && strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

/* ---- the queue in LMDB ---- */

static void due_key(unsigned char key[DUE_KEY_LEN], int lane, uint64_t next_at, const char *id)
{
	key[0] = (unsigned char)lane;
	kcg_put_be64(key + 1, next_at);
	memcpy(key + 9, id, KCG_ID_LEN);
}

static size_t live_key(char key[LIVE_KEY_MAX], const char *kind, const char *subject)
{
	size_t kl = strlen(kind), sl = strlen(subject);
	memcpy(key, kind, kl);
	key[kl] = '\0';
	memcpy(key + kl + 1, subject, sl);
	return kl + 1 + sl;
}

/* Adds @p delta to the count of jobs of @p lane in @p state. */
static int bump(struct kcg_txn *t, int lane, int state, int64_t delta)
{
	char name[48];
	int n = snprintf(name, sizeof(name), "jobs.%s.%s", lane_names[lane], state_names[state]);
	return kcg_txn_add_u64(t, "meta", name, (size_t)n, delta);
}

static int put_record(struct kcg_txn *t, const char *id, json_t *rec)
{
	return kcg_txn_put_json(t, DB_JOBS, id, KCG_ID_LEN, rec);
}

/* Reads job @p id; *rec gets a new reference. */
static int get_record(struct kcg_txn *t, const char *id, json_t **rec)
{
	int rc = kcg_txn_get_json(t, DB_JOBS, id, KCG_ID_LEN, rec);
	if (rc == 0 && !json_is_object(*rec)) {
		json_decref(*rec);
		return KCG_ESTORE;
	}
	return rc;
}

static const char *rec_str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s ? s : "";
}

static uint64_t rec_u64(const json_t *rec, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(rec, key));
	return v > 0 ? (uint64_t)v : 0;
}

int kcg_jobs_enqueue(struct kcg_txn *t, enum kcg_lane lane, const char *kind, const char *subject,
		     const json_t *payload, uint64_t run_at_ms, char *id_out)
{
	if (lane >= KCG_LANE_COUNT || !kind || !subject || !*kind || strlen(kind) >= KCG_JOB_KIND_MAX ||
	    strlen(subject) >= KCG_JOB_SUBJECT_MAX)
		return -EINVAL;

	char lk[LIVE_KEY_MAX];
	MDB_dbi live = kcg_store_db(t->store, DB_LIVE);
	MDB_val k = { live_key(lk, kind, subject), lk }, v;
	int rc = mdb_get(t->txn, live, &k, &v);
	if (rc == 0) {
		if (id_out && v.mv_size == KCG_ID_LEN) {
			memcpy(id_out, v.mv_data, KCG_ID_LEN);
			id_out[KCG_ID_LEN] = '\0';
		}
		return KCG_EDUPLICATE;
	}
	if (rc != MDB_NOTFOUND)
		return rc;

	char id[KCG_ID_LEN + 1];
	rc = kcg_make_id(t->now_ms, id);
	if (rc != 0)
		return rc;
	uint64_t next_at = run_at_ms ? run_at_ms : t->now_ms;
	json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:i, s:I, s:I, s:I, s:i, s:s}", "id", id, "lane",
				lane_names[lane], "kind", kind, "subject", subject, "payload",
				payload ? json_deep_copy(payload) : json_object(), "state", "pending", "attempts", 0, "next_at",
				(json_int_t)next_at, "created_at", (json_int_t)t->now_ms, "updated_at",
				(json_int_t)t->now_ms, "last_status", 0, "last_error", "");
	if (!rec)
		return -ENOMEM;
	rc = put_record(t, id, rec);
	json_decref(rec);
	if (rc != 0)
		return rc;
	unsigned char dk[DUE_KEY_LEN];
	due_key(dk, lane, next_at, id);
	MDB_val dkv = { DUE_KEY_LEN, dk }, empty = { 0, NULL };
	rc = mdb_put(t->txn, kcg_store_db(t->store, DB_DUE), &dkv, &empty, 0);
	if (rc != 0)
		return rc;
	v = (MDB_val){ KCG_ID_LEN, id };
	rc = mdb_put(t->txn, live, &k, &v, 0);
	if (rc != 0)
		return rc;
	rc = bump(t, lane, ST_PENDING, 1);
	if (rc == 0 && id_out)
		memcpy(id_out, id, KCG_ID_LEN + 1);
	return rc;
}

/* Takes a pending job off the due index and the live map. */
static int unschedule(struct kcg_txn *t, int lane, const json_t *rec)
{
	unsigned char dk[DUE_KEY_LEN];
	char lk[LIVE_KEY_MAX];
	due_key(dk, lane, rec_u64(rec, "next_at"), rec_str(rec, "id"));
	MDB_val k = { DUE_KEY_LEN, dk };
	int rc = mdb_del(t->txn, kcg_store_db(t->store, DB_DUE), &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	k = (MDB_val){ live_key(lk, rec_str(rec, "kind"), rec_str(rec, "subject")), lk };
	MDB_val v;
	/* Only if the live entry is this job (a newer one may own the subject). */
	rc = mdb_get(t->txn, kcg_store_db(t->store, DB_LIVE), &k, &v);
	if (rc == 0 && v.mv_size == KCG_ID_LEN && memcmp(v.mv_data, rec_str(rec, "id"), KCG_ID_LEN) == 0)
		rc = mdb_del(t->txn, kcg_store_db(t->store, DB_LIVE), &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Makes a job pending again, due at @p next_at (a retry, or an admin retry). */
static int reschedule(struct kcg_txn *t, int lane, json_t *rec, uint64_t next_at)
{
	unsigned char dk[DUE_KEY_LEN];
	json_object_set_new(rec, "next_at", json_integer((json_int_t)next_at));
	due_key(dk, lane, next_at, rec_str(rec, "id"));
	MDB_val k = { DUE_KEY_LEN, dk }, empty = { 0, NULL };
	int rc = mdb_put(t->txn, kcg_store_db(t->store, DB_DUE), &k, &empty, 0);
	if (rc != 0)
		return rc;
	char lk[LIVE_KEY_MAX];
	k = (MDB_val){ live_key(lk, rec_str(rec, "kind"), rec_str(rec, "subject")), lk };
	MDB_val v = { KCG_ID_LEN, (void *)rec_str(rec, "id") };
	return mdb_put(t->txn, kcg_store_db(t->store, DB_LIVE), &k, &v, 0);
}

/* ---- the engine ---- */

struct slot {
	struct kcg_job_run run;
	struct kcg_jobs *engine;
	int lane;
	uint64_t backoff_ms;       /* for a RETRY outcome */
	uint64_t not_before;       /* cooling: the job may not run again before this (ms) */
	bool effects_failed;       /* the outcome's effects could not be written */
	enum kcg_step asked;       /* the outcome the run asked for */
	enum kcg_step outcome;     /* what was recorded (a RETRY past the horizon is DEAD) */
	CURL *easy;
	struct curl_slist *headers;
	char *buf;                 /* the answer being received */
	size_t len, cap;
	bool too_long;
	struct kcg_write w;
	struct slot *next;
};

struct lane_state {
	unsigned limit;
	unsigned in_flight;        /* runs begun and not finished */
	unsigned failures;         /* consecutive transient failures */
	uint64_t open_until;       /* breaker: no new runs before this (ms) */
	atomic_bool open;          /* read by /metrics from server threads */
};

struct kcg_jobs {
	struct kcg_store *store;
	const struct kcg_config *cfg;
	const struct kcg_job_kind *const *kinds;
	const struct kcg_jobs_timer *timers;
	size_t n_timers;
	uint64_t *timer_next;
	void *ctx;
	CURLM *multi;
	pthread_t thread;
	struct lane_state lanes[KCG_LANE_COUNT];

	pthread_mutex_t lock;      /* guards the three below */
	struct slot *runs;         /* every run not yet freed (engine thread writes) */
	struct slot *finished;     /* outcomes committed, waiting to be freed */
	struct slot *cooling;      /* outcomes that could not be written: not before not_before */
	unsigned writes_pending;   /* outcomes handed to the store */
	pthread_cond_t written;
	atomic_bool stopping;
	bool joined;               /* the engine thread has been joined (main thread only) */

	/* process totals for /metrics */
	atomic_uint_fast64_t attempts_total[KCG_LANE_COUNT];
	atomic_uint_fast64_t dead_total[KCG_LANE_COUNT];
};

static const struct kcg_job_kind *find_kind(struct kcg_jobs *e, const char *name)
{
	for (size_t i = 0; e->kinds[i]; i++)
		if (strcmp(e->kinds[i]->name, name) == 0)
			return e->kinds[i];
	return NULL;
}

static bool is_running(struct kcg_jobs *e, const char *id)
{
	for (struct slot *s = e->runs; s; s = s->next)
		if (memcmp(s->run.id, id, KCG_ID_LEN) == 0)
			return true;
	return false;
}

/* A job whose last outcome could not be written waits before it runs again. */
static bool is_cooling(struct kcg_jobs *e, const char *id)
{
	for (struct slot *s = e->cooling; s; s = s->next)
		if (memcmp(s->run.id, id, KCG_ID_LEN) == 0)
			return true;
	return false;
}

void kcg_jobs_kick(struct kcg_jobs *e)
{
	if (e)
		curl_multi_wakeup(e->multi);
}

static void free_slot(struct slot *s)
{
	kcg_call_finish(&s->run.call);
	kcg_reply_finish(&s->run.reply);
	json_decref(s->run.payload);
	json_decref(s->run.result);
	curl_slist_free_all(s->headers);
	free(s->buf);
	free(s);
}

/* Backoff for the attempt that just failed: base * 2^(attempts-1), capped,
 * +-20% jitter, at least Retry-After. */
static uint64_t backoff_ms(struct kcg_jobs *e, uint32_t attempts, long retry_after_s)
{
	uint64_t max = e->cfg->jobs.retry_max_s * 1000u;
	uint64_t d = e->cfg->jobs.retry_base_ms;
	for (uint32_t i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	uint32_t r = 0;
	RAND_bytes((unsigned char *)&r, sizeof(r));
	double jitter = 0.8 + 0.4 * ((double)r / (double)UINT32_MAX);
	d = (uint64_t)((double)d * jitter);
	if (retry_after_s > 0 && d < (uint64_t)retry_after_s * 1000u)
		d = (uint64_t)retry_after_s * 1000u;
	return d;
}

/* Writer thread: records a run's outcome and its effects, in one transaction. */
static int outcome_apply(struct kcg_txn *t, void *arg)
{
	struct slot *s = arg;
	struct kcg_job_run *run = &s->run;
	const struct kcg_config *cfg = s->engine->cfg;
	json_t *rec;
	int rc = get_record(t, run->id, &rec);
	if (rc == KCG_ENOTFOUND)
		return 0; /* nothing to record against */
	if (rc != 0)
		return rc;
	if (strcmp(rec_str(rec, "state"), "pending") != 0)
		goto out; /* recorded already (a replayed outcome): keep the first */

	/* The store may run this again (a batch that failed is redone write by
	 * write): change nothing outside the transaction but s->outcome, which
	 * comes out the same each time. */
	enum kcg_step outcome = s->asked;
	char error[KCG_ERROR_MAX];
	memcpy(error, run->error, sizeof(error));
	uint32_t attempts = (uint32_t)rec_u64(rec, "attempts");
	uint64_t next_at = 0;
	if (outcome != KCG_STEP_DONE)
		attempts++; /* attempts counts the runs that failed */
	if (outcome == KCG_STEP_RETRY) {
		next_at = t->now_ms + s->backoff_ms;
		if (next_at > rec_u64(rec, "created_at") + cfg->jobs.max_age_h * 3600000u) {
			outcome = KCG_STEP_DEAD;
			snprintf(error, sizeof(error), "gave up after %u attempts (jobs.max_age_h): %.150s", attempts,
				 run->error);
		}
	}
	s->outcome = outcome;
	json_object_set_new(rec, "attempts", json_integer(attempts));
	json_object_set_new(rec, "updated_at", json_integer((json_int_t)t->now_ms));
	json_object_set_new(rec, "last_status", json_integer(run->status));
	json_object_set_new(rec, "last_error", json_string(outcome == KCG_STEP_DONE ? "" : error));

	rc = unschedule(t, s->lane, rec);
	if (rc != 0)
		goto out;
	switch (outcome) {
	case KCG_STEP_RETRY:
		rc = reschedule(t, s->lane, rec, next_at);
		break;
	case KCG_STEP_DONE:
		json_object_set_new(rec, "state", json_string("done"));
		rc = bump(t, s->lane, ST_PENDING, -1);
		if (rc == 0)
			rc = bump(t, s->lane, ST_DONE, 1);
		if (rc == 0) /* it may have died before and been retried by hand */
			rc = kcg_exc_resolve(t, KCG_EXC_DEAD_JOB, run->id, "auto");
		break;
	default: {
		json_object_set_new(rec, "state", json_string("dead"));
		rc = bump(t, s->lane, ST_PENDING, -1);
		if (rc == 0)
			rc = bump(t, s->lane, ST_DEAD, 1);
		char msg[512];
		snprintf(msg, sizeof(msg), "job %s (%s for %s) is dead after %u attempt(s): %s. Fix the cause, then POST /admin/jobs/%s/retry.",
			 run->id, run->kind->name, run->subject, attempts, error,
			 run->id);
		struct kcg_exc exc = {
			.kind = KCG_EXC_DEAD_JOB,
			.severity = KCG_SEV_CRITICAL,
			.system = lane_names[s->lane],
			.owner = "operations",
			.subject = run->id,
			.message = msg,
		};
		if (rc == 0)
			rc = kcg_exc_raise(t, &exc, NULL);
		if (rc == 0 && run->kind->dead)
			rc = run->kind->dead(t, run);
		break;
	}
	}
	if (rc == 0)
		rc = put_record(t, run->id, rec);
	if (rc == 0 && run->apply)
		rc = run->apply(t, run);
out:
	json_decref(rec);
	return rc;
}

static bool store_unavailable(int rc)
{
	return rc == KCG_ESTOREFULL || rc == KCG_ESHUTDOWN || rc == -EAGAIN;
}

/* Writer thread: the outcome is on disk (or failed to get there). */
static void outcome_done(struct kcg_write *w, void *arg)
{
	struct slot *s = arg;
	struct kcg_jobs *e = s->engine;
	struct kcg_job_run *run = &s->run;

	if (w->result != 0 && !store_unavailable(w->result) && !s->effects_failed) {
		/* The handler's effects failed (a bug or data it cannot take):
		 * record the job as dead without them, so it is seen and does not
		 * repeat its calls in a loop. */
		s->effects_failed = true;
		s->asked = s->outcome = KCG_STEP_DEAD;
		char why[KCG_ERROR_MAX];
		snprintf(why, sizeof(why), "its result could not be recorded (%s): %.120s", kcg_strerror(w->result),
			 run->error);
		memcpy(run->error, why, sizeof(why));
		run->apply = NULL;
		*w = (struct kcg_write){ .apply = outcome_apply, .arg = s, .done = outcome_done };
		if (kcg_store_write(e->store, w) == 0)
			return;
	}
	if (w->result != 0)
		kcg_log(KCG_LOG_WARN, "job outcome not recorded; the job will run again later",
			json_pack("{s:s, s:s, s:s}", "job", run->id, "kind", run->kind->name, "detail",
				  kcg_strerror(w->result)));
	else if (s->outcome == KCG_STEP_DEAD)
		atomic_fetch_add(&e->dead_total[s->lane], 1);
	pthread_mutex_lock(&e->lock);
	/* Off the runs list, onto the finished list (the engine frees it), or,
	 * when nothing was recorded, onto the cooling list: the job is still
	 * pending and must not run again at once. */
	for (struct slot **pp = &e->runs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	if (w->result != 0) {
		s->not_before = kcg_now_ms() + backoff_ms(e, run->attempts + 1, -1);
		s->next = e->cooling;
		e->cooling = s;
	} else {
		s->next = e->finished;
		e->finished = s;
	}
	e->writes_pending--;
	pthread_cond_broadcast(&e->written);
	/* Kick before unlocking: once unlocked, a stopping engine may be freed. */
	kcg_jobs_kick(e);
	pthread_mutex_unlock(&e->lock);
}

/* Engine thread: the run is over; hand its outcome to the store. */
static void finish(struct kcg_jobs *e, struct slot *s, enum kcg_step outcome)
{
	struct kcg_job_run *run = &s->run;
	struct lane_state *ls = &e->lanes[s->lane];

	ls->in_flight--;
	s->asked = s->outcome = outcome;
	if (outcome == KCG_STEP_RETRY)
		s->backoff_ms = backoff_ms(e, run->attempts + 1, run->retry_after_s);
	if (outcome != KCG_STEP_DONE)
		kcg_log(outcome == KCG_STEP_DEAD ? KCG_LOG_WARN : KCG_LOG_INFO,
			outcome == KCG_STEP_DEAD ? "job dead" : "job will retry",
			json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "job", run->id, "lane", lane_names[s->lane], "kind",
				  run->kind->name, "subject", run->subject, "attempt", (int)run->attempts + 1, "status",
				  (int)run->status, "error", run->error));
	s->w = (struct kcg_write){ .apply = outcome_apply, .arg = s, .done = outcome_done };
	pthread_mutex_lock(&e->lock);
	e->writes_pending++;
	pthread_mutex_unlock(&e->lock);
	int rc = kcg_store_write(e->store, &s->w);
	if (rc != 0) {
		s->w.result = rc;
		outcome_done(&s->w, s);
	}
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t len = size * n;
	uint64_t max = s->engine->cfg->jobs.max_reply_bytes;
	if (s->len + len > max) {
		s->too_long = true;
		return 0; /* aborts the transfer */
	}
	if (s->len + len + 1 > s->cap) {
		size_t cap = (s->len + len + 1) * 2;
		char *p = realloc(s->buf, cap);
		if (!p)
			return 0;
		s->buf = p;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t len = size * n;
	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char v[32];
		size_t vl = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
		memcpy(v, data + 12, vl);
		v[vl] = '\0';
		char *p = v;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\r\n ")] = '\0';
		uint64_t secs;
		/* HTTP dates are possible too; they are rare and treated as absent. */
		if (kcg_parse_u64(p, 0, 86400, &secs) == 0)
			s->run.retry_after_s = (long)secs;
	}
	return len;
}

/* Engine thread: sends run->call. */
static int start_call(struct kcg_jobs *e, struct slot *s)
{
	struct kcg_call *c = &s->run.call;
	CURL *h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	curl_slist_free_all(s->headers);
	s->headers = NULL;
	for (size_t i = 0; i < c->n_headers; i++) {
		struct curl_slist *l = curl_slist_append(s->headers, c->headers[i]);
		if (!l) {
			curl_easy_cleanup(h);
			return -ENOMEM;
		}
		s->headers = l;
	}
	s->headers = curl_slist_append(s->headers, "Expect:"); /* no 100-continue round trip */
	s->len = 0;
	s->too_long = false;
	s->run.retry_after_s = -1;
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	if (strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? c->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(c->body ? c->body_len : 0));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)(c->timeout_s ? c->timeout_s : 30));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(h, CURLOPT_PRIVATE, s);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "kcgate/" KCGATE_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (curl_multi_add_handle(e->multi, h) != CURLM_OK) {
		curl_easy_cleanup(h);
		return -ENOMEM;
	}
	s->easy = h;
	atomic_fetch_add(&e->attempts_total[s->lane], 1);
	return 0;
}

/* Engine thread: runs steps until one asks for a call or the run ends. */
static void advance(struct kcg_jobs *e, struct slot *s)
{
	enum kcg_step st = s->run.kind->step(&s->run, e->ctx);
	if (st == KCG_STEP_CALL) {
		int rc = start_call(e, s);
		if (rc == 0)
			return;
		snprintf(s->run.error, sizeof(s->run.error), "cannot start %s: %s", s->run.call.what, kcg_strerror(rc));
		st = KCG_STEP_RETRY;
	}
	finish(e, s, st);
}

/* Engine thread: a call came back (or failed). */
static void call_done(struct kcg_jobs *e, struct slot *s, CURLcode code)
{
	struct kcg_reply *r = &s->run.reply;
	struct lane_state *ls = &e->lanes[s->lane];

	kcg_reply_finish(r);
	r->retry_after_s = s->run.retry_after_s;
	if (code == CURLE_OK) {
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &r->status);
		r->body = s->buf;
		r->len = s->len;
		s->buf = NULL;
		s->len = s->cap = 0;
	} else {
		r->transport_error = (int)code;
		snprintf(r->error, sizeof(r->error), "%s%s", s->too_long ? "answer longer than jobs.max_reply_bytes: " : "",
			 curl_easy_strerror(code));
	}
	curl_multi_remove_handle(e->multi, s->easy);
	curl_easy_cleanup(s->easy);
	s->easy = NULL;
	kcg_call_finish(&s->run.call);
	s->run.n_calls++;
	s->run.status = r->status;

	/* The breaker counts answers that say "this system is not well". */
	if (kcg_reply_transient(r)) {
		if (++ls->failures >= e->cfg->jobs.breaker_failures && !ls->open) {
			ls->open = true;
			ls->open_until = kcg_now_ms() + e->cfg->jobs.breaker_cooldown_s * 1000u;
			kcg_log(KCG_LOG_WARN, "circuit breaker open",
				json_pack("{s:s, s:i, s:i}", "lane", lane_names[s->lane], "failures", (int)ls->failures,
					  "cooldown_s", (int)e->cfg->jobs.breaker_cooldown_s));
		} else if (ls->open) {
			ls->open_until = kcg_now_ms() + e->cfg->jobs.breaker_cooldown_s * 1000u; /* the probe failed */
		}
	} else {
		if (ls->open)
			kcg_log(KCG_LOG_INFO, "circuit breaker closed", json_pack("{s:s}", "lane", lane_names[s->lane]));
		ls->failures = 0;
		ls->open = false;
	}
	advance(e, s);
}

struct due {
	struct kcg_jobs *engine;
	int lane;
	unsigned want;
	uint64_t now;
	struct slot *got;
};

/* Read txn: the first @p want due jobs of a lane that are not running. */
static int collect_due(struct kcg_txn *t, void *arg)
{
	struct due *d = arg;
	struct kcg_jobs *e = d->engine;
	MDB_cursor *cur;
	unsigned char start[DUE_KEY_LEN] = { 0 };
	start[0] = (unsigned char)d->lane;
	MDB_val k = { 1, start }, v;
	unsigned n = 0, looked = 0;

	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_DUE), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && n < d->want;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *key = k.mv_data;
		if (k.mv_size != DUE_KEY_LEN || key[0] != d->lane || kcg_get_be64(key + 1) > d->now)
			break;
		if (++looked > 1000)
			break;
		char id[KCG_ID_LEN + 1];
		memcpy(id, key + 9, KCG_ID_LEN);
		id[KCG_ID_LEN] = '\0';
		if (is_running(e, id) || is_cooling(e, id))
			continue;
		json_t *rec;
		if (get_record(t, id, &rec) != 0)
			continue;
		const struct kcg_job_kind *kind = find_kind(e, rec_str(rec, "kind"));
		struct slot *s = kind ? calloc(1, sizeof(*s)) : NULL;
		if (!s) {
			json_decref(rec);
			continue; /* an unknown kind stays pending: visible in the admin API */
		}
		s->engine = e;
		s->lane = d->lane;
		memcpy(s->run.id, id, sizeof(id));
		s->run.kind = kind;
		snprintf(s->run.subject, sizeof(s->run.subject), "%s", rec_str(rec, "subject"));
		s->run.payload = json_incref(json_object_get(rec, "payload"));
		s->run.attempts = (uint32_t)rec_u64(rec, "attempts");
		s->run.created_ms = rec_u64(rec, "created_at");
		s->run.retry_after_s = -1;
		s->run.ctx = e->ctx;
		json_decref(rec);
		s->next = d->got;
		d->got = s;
		n++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Engine thread: starts what is due on one lane, within its limits. */
static void dispatch(struct kcg_jobs *e, int lane, uint64_t now)
{
	struct lane_state *ls = &e->lanes[lane];
	unsigned limit = ls->limit;
	if (ls->open) {
		if (now < ls->open_until)
			return;
		limit = 1; /* half open: one probe at a time */
	}
	if (ls->in_flight >= limit)
		return;
	struct due d = { .engine = e, .lane = lane, .want = limit - ls->in_flight, .now = now };
	pthread_mutex_lock(&e->lock);
	int rc = kcg_store_read(e->store, collect_due, &d);
	pthread_mutex_unlock(&e->lock);
	if (rc != 0)
		kcg_log(KCG_LOG_WARN, "cannot read due jobs", json_pack("{s:s, s:s}", "lane", lane_names[lane], "detail",
									  kcg_strerror(rc)));
	while (d.got) {
		struct slot *s = d.got;
		d.got = s->next;
		pthread_mutex_lock(&e->lock);
		s->next = e->runs;
		e->runs = s;
		pthread_mutex_unlock(&e->lock);
		ls->in_flight++;
		advance(e, s);
	}
}

static void free_finished(struct kcg_jobs *e, uint64_t now)
{
	pthread_mutex_lock(&e->lock);
	struct slot *s = e->finished;
	e->finished = NULL;
	for (struct slot **pp = &e->cooling; *pp;) {
		struct slot *c = *pp;
		if (now >= c->not_before) {
			*pp = c->next;
			c->next = s;
			s = c;
			continue;
		}
		pp = &c->next;
	}
	pthread_mutex_unlock(&e->lock);
	while (s) {
		struct slot *next = s->next;
		free_slot(s);
		s = next;
	}
}

static void *engine_main(void *arg)
{
	struct kcg_jobs *e = arg;

	while (!atomic_load(&e->stopping)) {
		uint64_t now = kcg_now_ms();
		free_finished(e, now);
		for (size_t i = 0; i < e->n_timers; i++) {
			if (now >= e->timer_next[i]) {
				e->timer_next[i] = now + e->timers[i].interval_ms;
				e->timers[i].fn(e, e->ctx);
			}
		}
		for (int lane = 0; lane < KCG_LANE_COUNT; lane++)
			dispatch(e, lane, now);

		int running;
		curl_multi_perform(e->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(e->multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct slot *s = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			call_done(e, s, msg->data.result);
		}
		curl_multi_poll(e->multi, NULL, 0, POLL_MS, NULL);
	}

	/* Abandon calls in flight: their jobs are still pending in LMDB. */
	pthread_mutex_lock(&e->lock);
	for (struct slot **pp = &e->runs; *pp;) {
		struct slot *s = *pp;
		if (s->easy) {
			curl_multi_remove_handle(e->multi, s->easy);
			curl_easy_cleanup(s->easy);
			s->easy = NULL;
			*pp = s->next;
			free_slot(s);
			continue;
		}
		pp = &s->next;
	}
	while (e->writes_pending > 0)
		pthread_cond_wait(&e->written, &e->lock);
	pthread_mutex_unlock(&e->lock);
	free_finished(e, UINT64_MAX);
	return NULL;
}

int kcg_jobs_start(const struct kcg_jobs_options *opt, struct kcg_jobs **out)
{
	struct kcg_jobs *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->store = opt->store;
	e->cfg = opt->cfg;
	e->kinds = opt->kinds;
	e->timers = opt->timers;
	e->n_timers = opt->n_timers;
	e->ctx = opt->ctx;
	e->timer_next = calloc(opt->n_timers ? opt->n_timers : 1, sizeof(*e->timer_next));
	e->lanes[KCG_LANE_MIRAKL].limit = (unsigned)opt->cfg->lanes.mirakl;
	e->lanes[KCG_LANE_KHAOS].limit = (unsigned)opt->cfg->lanes.khaos;
	e->lanes[KCG_LANE_INRIVER].limit = (unsigned)opt->cfg->lanes.inriver;
	e->multi = curl_multi_init();
	if (!e->timer_next || !e->multi)
		goto fail;
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->written, NULL);
	int rc = pthread_create(&e->thread, NULL, engine_main, e);
	if (rc != 0) {
		pthread_cond_destroy(&e->written);
		pthread_mutex_destroy(&e->lock);
		curl_multi_cleanup(e->multi);
		free(e->timer_next);
		free(e);
		return -rc;
	}
	*out = e;
	return 0;
fail:
	if (e->multi)
		curl_multi_cleanup(e->multi);
	free(e->timer_next);
	free(e);
	return -ENOMEM;
}

void kcg_jobs_stop(struct kcg_jobs *e)
{
	if (!e || e->joined)
		return;
	atomic_store(&e->stopping, true);
	kcg_jobs_kick(e);
	pthread_join(e->thread, NULL);
	e->joined = true;
}

void kcg_jobs_destroy(struct kcg_jobs *e)
{
	if (!e)
		return;
	kcg_jobs_stop(e);
	curl_multi_cleanup(e->multi);
	pthread_cond_destroy(&e->written);
	pthread_mutex_destroy(&e->lock);
	free(e->timer_next);
	free(e);
}

/* ---- admin ---- */

static bool is_running_locked(struct kcg_jobs *e, const char *id)
{
	if (!e)
		return false;
	pthread_mutex_lock(&e->lock);
	bool r = is_running(e, id);
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* The admin view of a record: times as ISO strings, "running" when it is. */
static json_t *job_view(struct kcg_jobs *e, json_t *rec, bool with_payload)
{
	char buf[32];
	json_t *out = json_deep_copy(rec);
	if (!out)
		return NULL;
	static const char *const times[] = { "next_at", "created_at", "updated_at" };
	for (size_t i = 0; i < 3; i++) {
		kcg_format_time(rec_u64(rec, times[i]), buf, sizeof(buf));
		json_object_set_new(out, times[i], json_string(buf));
	}
	if (strcmp(rec_str(rec, "state"), "pending") == 0 && is_running_locked(e, rec_str(rec, "id")))
		json_object_set_new(out, "state", json_string("running"));
	if (strcmp(rec_str(rec, "state"), "pending") != 0)
		json_object_del(out, "next_at");
	if (!with_payload)
		json_object_del(out, "payload");
	return out;
}

struct list_req {
	struct kcg_jobs *engine;
	const char *state;
	int lane;
	size_t limit;
	const char *cursor;
	json_t *out;
	char *next;
};

static int list_fn(struct kcg_txn *t, void *arg)
{
	struct list_req *l = arg;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t scanned = 0;
	char last[KCG_ID_LEN + 1] = "";

	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_JOBS), &cur);
	if (rc != 0)
		return rc;
	if (l->cursor) {
		k = (MDB_val){ KCG_ID_LEN, (void *)l->cursor };
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : mdb_cursor_get(cur, &k, &v, MDB_LAST);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		if (json_array_size(l->out) == l->limit || scanned == LIST_SCAN_MAX) {
			memcpy(l->next, last, sizeof(last));
			break;
		}
		scanned++;
		if (k.mv_size == KCG_ID_LEN) {
			memcpy(last, k.mv_data, KCG_ID_LEN);
			last[KCG_ID_LEN] = '\0';
		}
		json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		if (!rec)
			continue;
		json_t *view = (l->lane < 0 || lane_of(rec_str(rec, "lane")) == l->lane) ? job_view(l->engine, rec, false)
											: NULL;
		json_decref(rec);
		if (!view)
			continue;
		if (l->state && strcmp(rec_str(view, "state"), l->state) != 0) {
			json_decref(view);
			continue;
		}
		json_array_append_new(l->out, view);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

int kcg_jobs_list(struct kcg_store *store, struct kcg_jobs *jobs, const char *state, const char *lane, size_t limit,
		  const char *cursor, json_t **out, char next[KCG_ID_LEN + 1])
{
	next[0] = '\0';
	if (state && state_of(state) < 0 && strcmp(state, "running") != 0)
		return -EINVAL;
	if (lane && lane_of(lane) < 0)
		return -EINVAL;
	if (cursor && strlen(cursor) != KCG_ID_LEN)
		return -EINVAL;
	char from[KCG_ID_LEN + 1];
	if (cursor)
		cursor = memcpy(from, cursor, sizeof(from));
	struct list_req l = { jobs, state, lane ? lane_of(lane) : -1, limit, cursor, json_array(), next };
	int rc = kcg_store_read(store, list_fn, &l);
	if (rc != 0) {
		json_decref(l.out);
		next[0] = '\0';
		return rc;
	}
	*out = l.out;
	return 0;
}

struct get_req {
	struct kcg_jobs *engine;
	const char *id;
	json_t *out;
};

static int get_fn(struct kcg_txn *t, void *arg)
{
	struct get_req *g = arg;
	json_t *rec;
	int rc = get_record(t, g->id, &rec);
	if (rc != 0)
		return rc;
	g->out = job_view(g->engine, rec, true);
	json_decref(rec);
	return g->out ? 0 : -ENOMEM;
}

int kcg_jobs_get(struct kcg_store *store, struct kcg_jobs *jobs, const char *id, json_t **out)
{
	if (!id || strlen(id) != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	struct get_req g = { jobs, id, NULL };
	int rc = kcg_store_read(store, get_fn, &g);
	if (rc == 0)
		*out = g.out;
	return rc;
}

static int retry_fn(struct kcg_txn *t, void *arg)
{
	const char *id = arg;
	json_t *rec;
	int rc = get_record(t, id, &rec);
	if (rc != 0)
		return rc;
	int lane = lane_of(rec_str(rec, "lane"));
	if (strcmp(rec_str(rec, "state"), "dead") != 0 || lane < 0) {
		json_decref(rec);
		return -EINVAL;
	}
	/* Another job for the same kind and subject may have been created
	 * since this one died: two live ones could both act (two bookings). */
	char lk[LIVE_KEY_MAX];
	MDB_val k = { live_key(lk, rec_str(rec, "kind"), rec_str(rec, "subject")), lk }, v;
	rc = mdb_get(t->txn, kcg_store_db(t->store, DB_LIVE), &k, &v);
	if (rc == 0 && (v.mv_size != KCG_ID_LEN || memcmp(v.mv_data, id, KCG_ID_LEN) != 0)) {
		json_decref(rec);
		return -EBUSY;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		json_decref(rec);
		return rc;
	}
	/* A person decided to try again: a fresh retry horizon. */
	json_object_set_new(rec, "state", json_string("pending"));
	json_object_set_new(rec, "attempts", json_integer(0));
	json_object_set_new(rec, "created_at", json_integer((json_int_t)t->now_ms));
	json_object_set_new(rec, "updated_at", json_integer((json_int_t)t->now_ms));
	rc = reschedule(t, lane, rec, t->now_ms);
	if (rc == 0)
		rc = bump(t, lane, ST_DEAD, -1);
	if (rc == 0)
		rc = bump(t, lane, ST_PENDING, 1);
	if (rc == 0)
		rc = put_record(t, id, rec);
	json_decref(rec);
	return rc;
}

int kcg_jobs_retry(struct kcg_store *store, struct kcg_jobs *jobs, const char *id)
{
	if (!id || strlen(id) != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	int rc = kcg_store_write_sync(store, retry_fn, (void *)id);
	if (rc == 0)
		kcg_jobs_kick(jobs);
	return rc;
}

struct metrics_req {
	uint64_t counts[KCG_LANE_COUNT][ST_COUNT];
	uint64_t oldest_due_ms[KCG_LANE_COUNT];
};

static int metrics_fn(struct kcg_txn *t, void *arg)
{
	struct metrics_req *m = arg;
	MDB_dbi meta = kcg_store_db(t->store, "meta");
	MDB_cursor *cur;
	MDB_val k, v;
	for (int l = 0; l < KCG_LANE_COUNT; l++) {
		for (int s = 0; s < ST_COUNT; s++) {
			char name[48];
			snprintf(name, sizeof(name), "jobs.%s.%s", lane_names[l], state_names[s]);
			k = (MDB_val){ strlen(name), name };
			if (mdb_get(t->txn, meta, &k, &v) == 0 && v.mv_size == 8)
				m->counts[l][s] = kcg_get_be64(v.mv_data);
		}
	}
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_DUE), &cur);
	if (rc != 0)
		return rc;
	for (int l = 0; l < KCG_LANE_COUNT; l++) {
		unsigned char start[1] = { (unsigned char)l };
		k = (MDB_val){ 1, start };
		if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == DUE_KEY_LEN &&
		    ((unsigned char *)k.mv_data)[0] == l) {
			uint64_t at = kcg_get_be64((unsigned char *)k.mv_data + 1);
			m->oldest_due_ms[l] = at < t->now_ms ? t->now_ms - at : 0;
		}
	}
	mdb_cursor_close(cur);
	return 0;
}

int kcg_jobs_metrics(struct kcg_store *store, struct kcg_jobs *e, char **text)
{
	struct metrics_req m = { 0 };
	int rc = kcg_store_read(store, metrics_fn, &m);
	if (rc != 0)
		return rc;
	unsigned running[KCG_LANE_COUNT] = { 0 };
	if (e) {
		pthread_mutex_lock(&e->lock);
		for (struct slot *s = e->runs; s; s = s->next)
			running[s->lane]++;
		pthread_mutex_unlock(&e->lock);
	}
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, KCG_METRICS_TEXT_MAX);
	kcg_dynbuf_addstr(&b, *text ? *text : "");
	kcg_dynbuf_addstr(&b, "# HELP kcgate_jobs Jobs by lane and state (running ones are also pending).\n# TYPE kcgate_jobs gauge\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++) {
		for (int s = 0; s < ST_COUNT; s++)
			kcg_dynbuf_printf(&b, "kcgate_jobs{lane=\"%s\",state=\"%s\"} %llu\n", lane_names[l],
					  state_names[s], (unsigned long long)m.counts[l][s]);
		kcg_dynbuf_printf(&b, "kcgate_jobs{lane=\"%s\",state=\"running\"} %u\n", lane_names[l], running[l]);
	}
	kcg_dynbuf_addstr(&b, "# HELP kcgate_jobs_oldest_due_seconds How long the oldest due job of a lane has waited.\n"
			      "# TYPE kcgate_jobs_oldest_due_seconds gauge\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_jobs_oldest_due_seconds{lane=\"%s\"} %.3f\n", lane_names[l],
				  (double)m.oldest_due_ms[l] / 1000.0);
	kcg_dynbuf_addstr(&b, "# HELP kcgate_job_attempts_total Calls made by jobs since start.\n# TYPE kcgate_job_attempts_total counter\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_job_attempts_total{lane=\"%s\"} %llu\n", lane_names[l],
				  (unsigned long long)(e ? atomic_load(&e->attempts_total[l]) : 0));
	kcg_dynbuf_addstr(&b, "# HELP kcgate_jobs_dead_total Jobs that died since start.\n# TYPE kcgate_jobs_dead_total counter\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_jobs_dead_total{lane=\"%s\"} %llu\n", lane_names[l],
				  (unsigned long long)(e ? atomic_load(&e->dead_total[l]) : 0));
	kcg_dynbuf_addstr(&b, "# HELP kcgate_lane_breaker_open 1 while a lane's circuit breaker is open.\n# TYPE kcgate_lane_breaker_open gauge\n");
	for (int l = 0; l < KCG_LANE_COUNT; l++)
		kcg_dynbuf_printf(&b, "kcgate_lane_breaker_open{lane=\"%s\"} %d\n", lane_names[l],
				  e && atomic_load(&e->lanes[l].open) ? 1 : 0);
	char *out = kcg_dynbuf_take(&b, NULL);
	if (!out)
		return kcg_dynbuf_error(&b);
	free(*text);
	*text = out;
	return 0;
}
