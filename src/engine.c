/*
 * engine.c: the job engine thread (see engine.h for the model).
 *
 * The engine thread owns every run (struct slot). A run's outcome is handed
 * to the store's writer as a struct kcg_write; until that commits, the job
 * stays pending in LMDB and the run stays on the engine's runs list (so it
 * is not picked up twice). The writer's done() only moves the run to the
 * finished list (or, when nothing could be written, the cooling list) and
 * wakes the engine, which frees it.
 *
 * Locking: e->lock guards the runs, finished and cooling lists and
 * writes_pending, which the writer thread and the server threads (running
 * marks, stats) also touch. Lane state other than the breaker flag, the
 * timers and the driver belong to the engine thread alone.
 */
#include "kcgate/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "kcgate/log.h"
#include "kcgate/net_curl.h"

#define POLL_MS 100            /* longest sleep of the engine between looks at the queue */

struct slot {
	struct kcg_job_run run;
	struct kcg_engine *engine;
	uint64_t backoff_ms;       /* for a RETRY outcome */
	uint64_t not_before;       /* cooling: the job may not run again before this (ms) */
	bool effects_failed;       /* the outcome's effects could not be written */
	bool in_call;              /* run.call is in flight in the driver */
	enum kcg_step asked;       /* the outcome the run asked for */
	enum kcg_step outcome;     /* what was recorded (a RETRY past the horizon is DEAD) */
	int part_more;             /* run.apply_part's last answer */
	struct kcg_write w;
	struct slot *next;
};

struct lane_state {
	bool used;                 /* some kind runs on it: else it is never looked at */
	unsigned limit;
	unsigned in_flight;        /* runs begun and not finished */
	unsigned failures;         /* consecutive transient failures */
	uint64_t open_until;       /* breaker: no new runs before this (ms) */
	atomic_bool open;          /* read by /metrics from server threads */
};

struct kcg_engine {
	struct kcg_store *store;
	const struct kcg_config *cfg;
	const struct kcg_job_kind *const *kinds;
	const struct kcg_engine_timer *timers;
	size_t n_timers;
	uint64_t *timer_next;
	void *ctx;
	struct kcg_net_curl *net;
	pthread_t thread;
	bool started;              /* the thread runs and is not joined (main thread only) */
	struct lane_state lanes[KCG_LANE_COUNT];

	pthread_mutex_t lock;      /* guards the four below */
	struct slot *runs;         /* every run not yet freed (engine thread writes) */
	struct slot *finished;     /* outcomes committed, waiting to be freed */
	struct slot *cooling;      /* outcomes that could not be written: not before not_before */
	unsigned writes_pending;   /* outcomes handed to the store */
	pthread_cond_t written;
	atomic_bool stopping;
	atomic_uint_fast64_t beat_ms;  /* wall clock of the loop's last turn (the watchdog reads it) */

	/* process totals for /metrics */
	atomic_uint_fast64_t attempts_total[KCG_LANE_COUNT];
	atomic_uint_fast64_t dead_total[KCG_LANE_COUNT];
};

static bool on_list(const struct slot *list, const char *id)
{
	for (const struct slot *s = list; s; s = s->next)
		if (memcmp(s->run.id, id, KCG_ID_LEN) == 0)
			return true;
	return false;
}

void kcg_engine_kick(struct kcg_engine *e)
{
	if (e)
		kcg_net_curl_wakeup(e->net);
}

bool kcg_engine_running(struct kcg_engine *e, const char *id)
{
	if (!e)
		return false;
	pthread_mutex_lock(&e->lock);
	bool r = on_list(e->runs, id);
	pthread_mutex_unlock(&e->lock);
	return r;
}

uint64_t kcg_engine_heartbeat(struct kcg_engine *e)
{
	return e ? atomic_load(&e->beat_ms) : 0;
}

void kcg_engine_stats(struct kcg_engine *e, struct kcg_engine_stats *out)
{
	*out = (struct kcg_engine_stats){ 0 };
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	for (struct slot *s = e->runs; s; s = s->next)
		out->lane[s->run.lane].running++;
	pthread_mutex_unlock(&e->lock);
	for (int l = 0; l < KCG_LANE_COUNT; l++) {
		out->lane[l].attempts = atomic_load(&e->attempts_total[l]);
		out->lane[l].dead = atomic_load(&e->dead_total[l]);
		out->lane[l].breaker_open = atomic_load(&e->lanes[l].open);
	}
}

static void free_slot(struct slot *s)
{
	kcg_job_run_finish(&s->run);
	free(s);
}

/* Backoff for the attempt that just failed: base * 2^(attempts-1), capped,
 * +-20% jitter, at least Retry-After. */
static uint64_t backoff_ms(struct kcg_engine *e, uint32_t attempts, long retry_after_s)
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

/* Writer thread: records a run's outcome and its effects, in one
 * transaction. The store may run this again (a batch that failed is redone
 * write by write): it changes nothing outside the transaction but
 * s->outcome, which comes out the same each time. */
static int outcome_apply(struct kcg_txn *t, void *arg)
{
	struct slot *s = arg;
	return kcg_jobs_record(t, &s->run, s->asked, s->backoff_ms, s->engine->cfg->jobs.max_age_h * 3600000u,
			       &s->outcome);
}

static bool store_unavailable(int rc)
{
	return rc == KCG_ESTOREFULL || rc == KCG_ESHUTDOWN || rc == -EAGAIN;
}

/* Writer thread: the outcome is on disk (or failed to get there). */
static void outcome_done(struct kcg_write *w, void *arg)
{
	struct slot *s = arg;
	struct kcg_engine *e = s->engine;
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
		atomic_fetch_add(&e->dead_total[run->lane], 1);
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
	kcg_engine_kick(e);
	pthread_mutex_unlock(&e->lock);
}

/* Writer thread: one part of a run's large effects (run.apply_part). */
static int part_apply(struct kcg_txn *t, void *arg)
{
	struct slot *s = arg;
	s->part_more = s->run.apply_part(t, &s->run);
	return s->part_more < 0 ? s->part_more : 0;
}

/* Writer thread: a part is on disk (or not): the next part, or the outcome. */
static void part_done(struct kcg_write *w, void *arg)
{
	struct slot *s = arg;
	struct kcg_engine *e = s->engine;
	struct kcg_job_run *run = &s->run;
	int rc = w->result;

	if (rc == 0) {
		run->part++;
		if (s->part_more > 0) {
			*w = (struct kcg_write){ .apply = part_apply, .arg = s, .done = part_done };
			rc = kcg_store_write(e->store, w);
			if (rc == 0)
				return;
		}
	}
	if (rc != 0) {
		/* Not all of it written: the job is not done; it runs again later
		 * (the parts already committed are repeated, harmlessly). */
		s->asked = s->outcome = KCG_STEP_RETRY;
		s->backoff_ms = backoff_ms(e, run->attempts + 1, -1);
		snprintf(run->error, sizeof(run->error), "its effects could not all be written (%s)", kcg_strerror(rc));
		run->apply = NULL;
	}
	run->apply_part = NULL;
	*w = (struct kcg_write){ .apply = outcome_apply, .arg = s, .done = outcome_done };
	rc = kcg_store_write(e->store, w);
	if (rc != 0) {
		w->result = rc;
		outcome_done(w, s);
	}
}

/* Engine thread: the run is over; hand its outcome to the store. */
static void finish(struct kcg_engine *e, struct slot *s, enum kcg_step outcome)
{
	struct kcg_job_run *run = &s->run;
	struct lane_state *ls = &e->lanes[run->lane];

	ls->in_flight--;
	s->asked = s->outcome = outcome;
	if (outcome == KCG_STEP_RETRY)
		s->backoff_ms = backoff_ms(e, run->attempts + 1, run->retry_after_s);
	if (outcome != KCG_STEP_DONE)
		kcg_log(outcome == KCG_STEP_DEAD ? KCG_LOG_WARN : KCG_LOG_INFO,
			outcome == KCG_STEP_DEAD ? "job dead" : "job will retry",
			json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s}", "job", run->id, "lane", kcg_lane_name(run->lane),
				  "kind", run->kind->name, "subject", run->subject, "attempt", (int)run->attempts + 1,
				  "status", (int)run->status, "error", run->error));
	if (outcome == KCG_STEP_DONE && run->apply_part)
		s->w = (struct kcg_write){ .apply = part_apply, .arg = s, .done = part_done };
	else
		s->w = (struct kcg_write){ .apply = outcome_apply, .arg = s, .done = outcome_done };
	pthread_mutex_lock(&e->lock);
	e->writes_pending++;
	pthread_mutex_unlock(&e->lock);
	int rc = kcg_store_write(e->store, &s->w);
	if (rc != 0) {
		s->w.result = rc;
		s->w.done(&s->w, s); /* part_done or outcome_done, as chosen above */
	}
}

/* Engine thread: sends run->call. */
static int start_call(struct kcg_engine *e, struct slot *s)
{
	s->run.retry_after_s = -1;
	int rc = kcg_net_curl_send(e->net, &s->run.call, s);
	if (rc != 0)
		return rc;
	s->in_call = true;
	atomic_fetch_add(&e->attempts_total[s->run.lane], 1);
	return 0;
}

/* Engine thread: runs steps until one asks for a call or the run ends. */
static void advance(struct kcg_engine *e, struct slot *s)
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

/* Engine thread (from the driver): a call came back, or failed. */
static void call_done(void *arg, struct kcg_reply *reply)
{
	struct slot *s = arg;
	struct kcg_engine *e = s->engine;
	struct kcg_job_run *run = &s->run;
	struct lane_state *ls = &e->lanes[run->lane];

	s->in_call = false;
	kcg_reply_finish(&run->reply);
	run->reply = *reply;
	run->retry_after_s = reply->retry_after_s;
	kcg_call_finish(&run->call);
	run->n_calls++;
	run->status = run->reply.status;

	/* The breaker counts answers that say "this system is not well". */
	if (kcg_reply_transient(&run->reply)) {
		if (++ls->failures >= e->cfg->jobs.breaker_failures && !ls->open) {
			ls->open = true;
			ls->open_until = kcg_now_ms() + e->cfg->jobs.breaker_cooldown_s * 1000u;
			kcg_log(KCG_LOG_WARN, "circuit breaker open",
				json_pack("{s:s, s:i, s:i}", "lane", kcg_lane_name(run->lane), "failures", (int)ls->failures,
					  "cooldown_s", (int)e->cfg->jobs.breaker_cooldown_s));
		} else if (ls->open) {
			ls->open_until = kcg_now_ms() + e->cfg->jobs.breaker_cooldown_s * 1000u; /* the probe failed */
		}
	} else {
		if (ls->open)
			kcg_log(KCG_LOG_INFO, "circuit breaker closed", json_pack("{s:s}", "lane", kcg_lane_name(run->lane)));
		ls->failures = 0;
		ls->open = false;
	}
	advance(e, s);
}

struct due {
	struct kcg_engine *engine;
	enum kcg_lane lane;
	unsigned want, n;
	uint64_t now;
	struct slot *got;
};

/* Read txn, e->lock held: takes a due job unless it runs or cools already. */
static int pick(struct kcg_txn *t, const char *id, void *arg)
{
	struct due *d = arg;
	struct kcg_engine *e = d->engine;
	if (on_list(e->runs, id) || on_list(e->cooling, id))
		return 0;
	struct slot *s = calloc(1, sizeof(*s));
	if (!s)
		return 0;
	if (kcg_jobs_load_run(t, id, e->kinds, &s->run) != 0) {
		free(s);
		return 0; /* an unknown kind stays pending: visible in the admin API */
	}
	s->engine = e;
	s->run.ctx = e->ctx;
	s->next = d->got;
	d->got = s;
	return ++d->n >= d->want;
}

static int collect_due(struct kcg_txn *t, void *arg)
{
	struct due *d = arg;
	return kcg_jobs_due(t, d->lane, d->now, pick, d);
}

/* Engine thread: starts what is due on one lane, within its limits. */
static void dispatch(struct kcg_engine *e, enum kcg_lane lane, uint64_t now)
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
		kcg_log(KCG_LOG_WARN, "cannot read due jobs", json_pack("{s:s, s:s}", "lane", kcg_lane_name(lane), "detail",
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

static void free_finished(struct kcg_engine *e, uint64_t now)
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
	struct kcg_engine *e = arg;

	while (!atomic_load(&e->stopping)) {
		uint64_t now = kcg_now_ms();
		atomic_store(&e->beat_ms, now);
		free_finished(e, now);
		for (size_t i = 0; i < e->n_timers; i++) {
			if (now >= e->timer_next[i]) {
				e->timer_next[i] = now + e->timers[i].interval_ms;
				e->timers[i].fn(e, e->ctx);
			}
		}
		for (int lane = 0; lane < KCG_LANE_COUNT; lane++)
			if (e->lanes[lane].used)
				dispatch(e, (enum kcg_lane)lane, now);
		kcg_net_curl_run(e->net, POLL_MS);
	}

	/* Abandon calls in flight: their jobs are still pending in LMDB. */
	kcg_net_curl_abandon_all(e->net);
	pthread_mutex_lock(&e->lock);
	for (struct slot **pp = &e->runs; *pp;) {
		struct slot *s = *pp;
		if (s->in_call) {
			e->lanes[s->run.lane].in_flight--;
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

int kcg_engine_create(const struct kcg_engine_options *opt, struct kcg_engine **out)
{
	struct kcg_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->store = opt->store;
	e->cfg = opt->cfg;
	e->kinds = opt->kinds;
	e->timers = opt->timers;
	e->n_timers = opt->n_timers;
	e->ctx = opt->ctx;
	e->lanes[KCG_LANE_MIRAKL].limit = (unsigned)opt->cfg->lanes.mirakl;
	e->lanes[KCG_LANE_KHAOS].limit = (unsigned)opt->cfg->lanes.khaos;
	e->lanes[KCG_LANE_INRIVER].limit = (unsigned)opt->cfg->lanes.inriver;
	e->lanes[KCG_LANE_MIRAKL_STOCK].limit = (unsigned)opt->cfg->lanes.mirakl_stock;
	e->lanes[KCG_LANE_INRIVER_PUSH].limit = (unsigned)opt->cfg->lanes.inriver_push;
	e->lanes[KCG_LANE_ALERTS].limit = (unsigned)opt->cfg->lanes.alerts;
	e->lanes[KCG_LANE_ALERTS_MAIL].limit = (unsigned)opt->cfg->lanes.alerts_mail;
	/* a lane no kind runs on costs nothing (no read per turn): the alerts
	 * lane when [alerts] is off, inriver until a flow uses it */
	for (size_t i = 0; opt->kinds && opt->kinds[i]; i++)
		if (opt->kinds[i]->lane < KCG_LANE_COUNT)
			e->lanes[opt->kinds[i]->lane].used = true;
	e->timer_next = calloc(opt->n_timers ? opt->n_timers : 1, sizeof(*e->timer_next));
	if (!e->timer_next)
		goto fail_engine;
	int rc = kcg_net_curl_create(opt->cfg->jobs.max_reply_bytes, call_done, &e->net);
	if (rc != 0)
		goto fail_timers;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->written, NULL);
	*out = e;
	return 0;
fail_timers:
	free(e->timer_next);
fail_engine:
	free(e);
	return -ENOMEM;
}

int kcg_engine_start(struct kcg_engine *e)
{
	if (e->started)
		return -EALREADY;
	atomic_store(&e->stopping, false);
	memset(e->timer_next, 0, (e->n_timers ? e->n_timers : 1) * sizeof(*e->timer_next));
	int rc = pthread_create(&e->thread, NULL, engine_main, e);
	if (rc != 0)
		return -rc;
	e->started = true;
	return 0;
}

void kcg_engine_stop(struct kcg_engine *e)
{
	if (!e || !e->started)
		return;
	atomic_store(&e->stopping, true);
	kcg_engine_kick(e);
	pthread_join(e->thread, NULL);
	e->started = false;
}

void kcg_engine_destroy(struct kcg_engine *e)
{
	if (!e)
		return;
	kcg_engine_stop(e);
	kcg_net_curl_destroy(e->net);
	pthread_cond_destroy(&e->written);
	pthread_mutex_destroy(&e->lock);
	free(e->timer_next);
	free(e);
}
