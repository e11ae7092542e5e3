/*
 * store.c: the LMDB environment and its group-committing writer thread.
 *
 * Every write goes through one thread. kcg_store_write() links a module's
 * struct kcg_write (an ingest is one, events.c) into a FIFO and wakes the
 * writer; the writer takes everything waiting (up to max_batch), writes it
 * all in one transaction and commits once. The environment is opened
 * without MDB_NOSYNC/MDB_NOMETASYNC, so that commit is the fsync, and
 * done() is called only after it returns: an answered request is on disk.
 *
 * Between batches the writer runs the sweep (every sweep_interval_ms, or on
 * request): the sweepers of store_private.h one after the other, one
 * transaction of at most sweep_batch deletions at a time, the queue served
 * between two of them.
 *
 * MDB_NOTLS ties reader slots to transactions rather than threads, so the
 * read-only calls (list, get, stats) can run on any server thread.
 */
#include "kcgate/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "store_private.h"

#define DEFAULT_SWEEP_MS 60000u
#define DEFAULT_SWEEP_BATCH 500  /* deletions per sweep transaction */
#define DRAIN_WORK_NS (20 * 1000 * 1000) /* a chunk's deletions stop after this, before its commit */
#define MAX_READERS 256          /* concurrent read transactions (server threads) */
#define OWN_DBS 6                /* events, dedupe, dedupe_t, counts, meta, retain */

/* The sweepers, in the order a sweep runs them; each counts into removed[stage]
 * (retention_sweep, the last, into removed[2 + owner]). */
static int (*const sweepers[])(struct kcg_store *, MDB_txn *, uint64_t, size_t, uint64_t *, bool *) = {
	events_sweep_dedupe,
	events_sweep_retention,
	retention_sweep,
};
#define N_SWEEPERS (sizeof(sweepers) / sizeof(sweepers[0]))

/* The sweep in progress in the writer: periodic (req NULL) or requested. */
struct sweep_state {
	bool active;
	size_t stage;              /* index into sweepers */
	uint64_t now;              /* the clock the whole sweep uses */
	struct sweep_req *req;
	struct kcg_sweep_stats stats;
};

static uint64_t mono_ms(void)
{
	return kcg_mono_ns() / 1000000u;
}

/* LMDB returns errno values (> 0) for system failures and MDB_* (< 0) for its own. */
int store_mdb_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc > 0)
		return -rc;
	if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL)
		return KCG_ESTOREFULL;
	if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
		return KCG_ESTORE;
	return rc; /* already -errno or KCG_E* (from a module's apply) */
}

/* The one counter read-modify-write (kcg_txn_add_u64 and the event counts). */
int store_add_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len, int64_t delta)
{
	MDB_val k = { key_len, (void *)key }, v;
	uint64_t n = 0;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		n = kcg_get_be64(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	n = delta < 0 && (uint64_t)-delta > n ? 0 : (uint64_t)((int64_t)n + delta);
	unsigned char nb[8];
	kcg_put_be64(nb, n);
	v = (MDB_val){ 8, nb };
	return mdb_put(txn, dbi, &k, &v, 0);
}

/* One transaction for @p n writes from @p first, committed (and fsynced)
 * once. Any failure (a write's own, map full, the commit) aborts it all
 * and is returned; on success every write's result is 0. */
static int write_txn(struct kcg_store *s, struct kcg_write *first, size_t n)
{
	uint64_t t0 = kcg_mono_ns();
	struct kcg_txn t = { .store = s, .now_ms = kcg_now_ms() };
	int rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);
	if (rc != 0)
		return rc;
	struct kcg_write *w = first;
	for (size_t i = 0; i < n; i++, w = w->next) {
		rc = w->apply(&t, w->arg);
		if (rc != 0) {
			mdb_txn_abort(t.txn);
			return rc;
		}
	}
	rc = mdb_txn_commit(t.txn); /* frees the txn whatever it returns */
	if (rc != 0)
		return rc;
	w = first;
	for (size_t i = 0; i < n; i++, w = w->next)
		w->result = 0;
	if (s->on_commit)
		s->on_commit(s->on_commit_arg, n, kcg_mono_ns() - t0);
	return 0;
}

/* A whole batch in one commit. If anything in it fails (a write's own
 * error, the map full), it is redone one write per transaction, so the
 * others are stored and only the failing ones fail, with nothing of theirs
 * written. Writes must therefore be repeatable: they change nothing outside
 * their transaction that a second run would not set the same way. Then
 * every done(). */
static void write_batch(struct kcg_store *s, struct kcg_write *head, size_t n)
{
	int rc = write_txn(s, head, n);
	struct kcg_write *w;

	if (rc != 0 && n > 1) {
		for (w = head; w; w = w->next)
			w->result = store_mdb_err(write_txn(s, w, 1));
	} else if (rc != 0) {
		head->result = store_mdb_err(rc);
	}
	/* done() may free the write: read next first. */
	for (w = head; w;) {
		struct kcg_write *next = w->next;
		w->next = NULL;
		w->done(w, w->arg);
		w = next;
	}
}

int store_first(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, k, v, MDB_FIRST);
	mdb_cursor_close(cur);
	return rc;
}

int store_drain(MDB_txn *txn, MDB_dbi dbi, size_t budget,
		int (*visit)(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg), void *arg, bool *more)
{
	MDB_cursor *cur;
	MDB_val k, v;

	*more = false;
	uint64_t t0 = kcg_mono_ns();
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < budget; i++) {
		/* entries cost what their owners make of them: time bounds a chunk too */
		if (i % 32 == 31 && kcg_mono_ns() - t0 > DRAIN_WORK_NS) {
			*more = true;
			break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0)
			break;
		rc = visit(txn, &k, &v, arg);
		if (rc == STORE_STOP) {
			rc = 0;
			break;
		}
		/* the visit may have written: find the entry again before deleting it */
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == 0)
			rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
		if (i == budget - 1)
			*more = true;
	}
	mdb_cursor_close(cur);
	return rc;
}

/* Runs one chunk of the sweep in its own transaction. *more: call again. */
static int sweep_chunk(struct kcg_store *s, struct sweep_state *sw, bool *more)
{
	uint64_t t0 = kcg_mono_ns();
	uint64_t counted[KCG_SWEEP_COUNTERS] = { 0 }; /* kept only if the transaction commits */
	uint64_t *removed = counted + (sw->stage < 2 ? sw->stage : 0);
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	rc = sweepers[sw->stage](s, txn, sw->now, s->sweep_batch, removed, more);
	if (rc != 0) {
		mdb_txn_abort(txn);
		*more = false;
		return rc;
	}
	rc = mdb_txn_commit(txn);
	uint64_t took = kcg_mono_ns() - t0;
	sw->stats.chunks++;
	if (took > sw->stats.max_chunk_ns)
		sw->stats.max_chunk_ns = took;
	if (rc != 0) {
		*more = false;
		return rc;
	}
	for (size_t i = 0; i < KCG_SWEEP_COUNTERS; i++)
		sw->stats.removed[i] += counted[i];
	return 0;
}

/* Called with s->lock held, like finish_sweep(). */
static void start_sweep(struct kcg_store *s, struct sweep_state *sw, uint64_t now)
{
	*sw = (struct sweep_state){ .active = true, .now = now, .req = sw->req };
	sw->stats.started_ms = kcg_now_ms();
}

static void finish_sweep(struct kcg_store *s, struct sweep_state *sw, int result)
{
	uint64_t total = 0;
	sw->stats.finished_ms = kcg_now_ms();
	sw->stats.result = result;
	if (result != 0)
		s->sweep_errors++;
	for (size_t i = 0; i < KCG_SWEEP_COUNTERS; i++) {
		total += sw->stats.removed[i];
		s->removed_total[i] += sw->stats.removed[i];
	}
	s->last_sweep = sw->stats;
	if (sw->req) {
		sw->req->result = result;
		sw->req->removed = total;
		sw->req->done = true;
		pthread_cond_broadcast(&s->swept);
	}
	sw->active = false;
	sw->req = NULL;
}




static void *writer_main(void *arg)
{
	struct kcg_store *s = arg;
	struct sweep_state sw = { 0 };
	uint64_t next_sweep = mono_ms() + s->sweep_interval_ms;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct kcg_write *batch = s->head, *last = NULL;
		size_t n = 0;
		while (n < s->max_batch && s->head) {
			last = s->head;
			s->head = last->next;
			n++;
		}
		if (last) {
			last->next = NULL;
			if (!s->head)
				s->tail = NULL;
			s->queued -= n;
		}
		if (!sw.active && s->sweeps) {
			sw.req = s->sweeps;
			s->sweeps = sw.req->next;
			start_sweep(s, &sw, sw.req->now_ms);
		} else if (!sw.active && !s->closing && mono_ms() >= next_sweep) {
			sw.req = NULL;
			start_sweep(s, &sw, kcg_now_ms());
		}
		if (sw.active && !sw.req && s->closing)
			sw.active = false; /* a periodic sweep can wait for the next start */
		if (n == 0 && !sw.active) {
			if (s->closing)
				break;
			uint64_t now = mono_ms();
			if (now < next_sweep) {
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				uint64_t wait = next_sweep - now;
				ts.tv_sec += (time_t)(wait / 1000);
				ts.tv_nsec += (long)(wait % 1000) * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&s->wake, &s->lock, &ts);
			}
			continue;
		}
		pthread_mutex_unlock(&s->lock);

		if (n)
			write_batch(s, batch, n);

		int src = 0;
		bool more = false;
		if (sw.active) {
			/* A sweep interleaves with ingest: one chunk, then the queue again. */
			src = sweep_chunk(s, &sw, &more);
			if (src == 0 && !more && sw.stage + 1 < N_SWEEPERS) {
				sw.stage++;
				more = true;
			}
		}

		pthread_mutex_lock(&s->lock);
		if (sw.active && (!more || src != 0)) {
			finish_sweep(s, &sw, src == 0 ? 0 : store_mdb_err(src));
			next_sweep = mono_ms() + s->sweep_interval_ms;
		}
	}
	s->running = false;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

static int open_dbs(struct kcg_store *s, const char *const *names)
{
	static const char *const own[OWN_DBS] = { "events", "dedupe", "dedupe_t", "counts", "meta", "retain" };
	MDB_dbi *dbis[OWN_DBS] = { &s->events, &s->dedupe, &s->dedupe_t, &s->counts, &s->meta, &s->retain };
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
		rc = mdb_dbi_open(txn, own[i], MDB_CREATE, dbis[i]);
		if (rc != 0)
			goto fail_txn;
	}
	for (size_t i = 0; names && names[i]; i++) {
		rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &s->dbs[s->n_dbs].dbi);
		if (rc != 0)
			goto fail_txn;
		s->dbs[s->n_dbs++].name = names[i];
	}
	return mdb_txn_commit(txn);
fail_txn:
	mdb_txn_abort(txn);
	return rc;
}

static size_t count_names(const char *const *names)
{
	size_t n = 0;
	while (names && names[n])
		n++;
	return n;
}

int kcg_store_open(const struct kcg_store_options *opt, struct kcg_store **out, const char **why)
{
	const char *dummy;
	int rc;

	if (!why)
		why = &dummy;
	*out = NULL;
	if (!opt || !opt->path || opt->map_size_bytes == 0 || opt->max_batch == 0 || opt->queue_limit == 0 ||
	    count_names(opt->dbs) > KCG_STORE_DBS_MAX ||
	    count_names((const char *const *)opt->owners) > KCG_RETENTION_OWNERS_MAX) {
		*why = "checking the options";
		return -EINVAL;
	}
	struct kcg_store *s = calloc(1, sizeof(*s));
	if (!s) {
		*why = "allocating the store";
		return -ENOMEM;
	}
	s->dedupe_ttl_ms = opt->dedupe_ttl_ms;
	s->retention_ms = opt->retention_ms;
	s->sweep_batch = opt->sweep_batch ? opt->sweep_batch : DEFAULT_SWEEP_BATCH;
	for (size_t i = 0; opt->owners && opt->owners[i]; i++)
		s->owners[s->n_owners++] = opt->owners[i];
	s->sweep_interval_ms = opt->sweep_interval_ms ? opt->sweep_interval_ms : DEFAULT_SWEEP_MS;
	s->max_batch = opt->max_batch;
	s->queue_limit = opt->queue_limit;
	s->on_commit = opt->on_commit;
	s->on_commit_arg = opt->on_commit_arg;
	s->on_event = opt->on_event;
	s->on_event_arg = opt->on_event_arg;
	s->on_exception = opt->on_exception;
	s->on_exception_arg = opt->on_exception_arg;

	rc = mkdir_p(opt->path);
	if (rc != 0) {
		*why = "creating the store directory";
		goto fail_alloc;
	}
	rc = mdb_env_create(&s->env);
	if (rc != 0) {
		*why = "mdb_env_create";
		rc = store_mdb_err(rc);
		goto fail_alloc;
	}
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t psz = ps > 0 ? (uint64_t)ps : 4096;
	uint64_t map = (opt->map_size_bytes + psz - 1) / psz * psz;
	rc = mdb_env_set_maxdbs(s->env, (MDB_dbi)(OWN_DBS + count_names(opt->dbs)));
	if (rc == 0)
		rc = mdb_env_set_maxreaders(s->env, MAX_READERS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, (size_t)map);
	if (rc != 0) {
		*why = "configuring the LMDB environment";
		rc = store_mdb_err(rc);
		goto fail_env;
	}
	/* Durable commits (no NOSYNC/NOMETASYNC): a commit is the fsync. */
	rc = mdb_env_open(s->env, opt->path, MDB_NOTLS, 0600);
	if (rc != 0) {
		*why = "mdb_env_open";
		rc = store_mdb_err(rc);
		goto fail_env;
	}
	int dead = 0;
	mdb_reader_check(s->env, &dead); /* slots left by a killed process */
	rc = open_dbs(s, opt->dbs);
	if (rc != 0) {
		*why = "opening the databases";
		rc = store_mdb_err(rc);
		goto fail_env;
	}
	MDB_stat st;
	rc = mdb_env_stat(s->env, &st);
	if (rc != 0) {
		*why = "mdb_env_stat";
		rc = store_mdb_err(rc);
		goto fail_env;
	}
	s->page_size = st.ms_psize;

	pthread_condattr_t ca;
	rc = pthread_condattr_init(&ca);
	if (rc != 0) {
		*why = "creating the writer's condition variable";
		rc = -rc;
		goto fail_env;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		*why = "creating the writer's condition variable";
		rc = -rc;
		goto fail_env;
	}
	pthread_cond_init(&s->swept, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->stop_lock, NULL);
	s->running = true;
	rc = pthread_create(&s->writer, NULL, writer_main, s);
	if (rc != 0) {
		*why = "starting the writer thread";
		rc = -rc;
		goto fail_sync;
	}
	*out = s;
	return 0;

fail_sync:
	pthread_mutex_destroy(&s->stop_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->swept);
	pthread_cond_destroy(&s->wake);
fail_env:
	mdb_env_close(s->env);
fail_alloc:
	free(s);
	return rc;
}

void kcg_store_stop(struct kcg_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->stop_lock);
	if (!s->joined) {
		pthread_mutex_lock(&s->lock);
		s->closing = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->writer, NULL);
		s->joined = true;
		mdb_env_sync(s->env, 1);
	}
	pthread_mutex_unlock(&s->stop_lock);
}

void kcg_store_close(struct kcg_store *s)
{
	if (!s)
		return;
	kcg_store_stop(s);
	mdb_env_close(s->env);
	pthread_mutex_destroy(&s->stop_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->swept);
	pthread_cond_destroy(&s->wake);
	free(s);
}

static int enqueue(struct kcg_store *s, struct kcg_write *w)
{
	int rc = 0;

	w->next = NULL;
	w->result = 0;
	pthread_mutex_lock(&s->lock);
	if (s->closing) {
		rc = KCG_ESHUTDOWN;
	} else if (s->queued >= s->queue_limit) {
		rc = -EAGAIN;
	} else {
		if (s->tail)
			s->tail->next = w;
		else
			s->head = w;
		s->tail = w;
		s->queued++;
		pthread_cond_signal(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int kcg_store_write(struct kcg_store *s, struct kcg_write *w)
{
	if (!s || !w || !w->apply || !w->done)
		return -EINVAL;
	return enqueue(s, w);
}

int kcg_store_stats(struct kcg_store *s, struct kcg_store_stats *out)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat st;
	MDB_envinfo info;

	memset(out, 0, sizeof(*out));
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return KCG_ESTORE;
	rc = mdb_cursor_open(txn, s->counts, &cur);
	if (rc != 0)
		goto fail_txn;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && out->n_counts < KCG_STATS_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *p = k.mv_data;
		const char *nul = memchr(p, '\0', k.mv_size);
		if (!nul || v.mv_size != 8)
			continue;
		size_t sl = (size_t)(nul - p), tl = k.mv_size - sl - 1;
		if (sl >= KCG_SOURCE_MAX || tl >= KCG_STATUS_MAX)
			continue;
		size_t i = out->n_counts++;
		memcpy(out->counts[i].source, p, sl);
		out->counts[i].source[sl] = '\0';
		memcpy(out->counts[i].status, nul + 1, tl);
		out->counts[i].status[tl] = '\0';
		out->counts[i].count = kcg_get_be64(v.mv_data);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail_txn;
	rc = mdb_stat(txn, s->events, &st);
	if (rc != 0)
		goto fail_txn;
	out->events = st.ms_entries;
	rc = mdb_stat(txn, s->dedupe, &st);
	if (rc != 0)
		goto fail_txn;
	out->dedupe_keys = st.ms_entries;
	mdb_txn_abort(txn);
	if (mdb_env_info(s->env, &info) != 0)
		return KCG_ESTORE;
	out->page_size = s->page_size;
	out->pages_used = (uint64_t)info.me_last_pgno + 1;
	out->map_size = info.me_mapsize;
	return 0;

fail_txn:
	mdb_txn_abort(txn);
	return KCG_ESTORE;
}

uint64_t kcg_store_used_bytes(struct kcg_store *s)
{
	MDB_envinfo info;
	if (!s || mdb_env_info(s->env, &info) != 0)
		return 0;
	return ((uint64_t)info.me_last_pgno + 1) * s->page_size;
}

kcg_exc_hook kcg_store_exc_hook(struct kcg_store *s, void **arg)
{
	*arg = s->on_exception_arg;
	return s->on_exception;
}

bool kcg_store_ready(struct kcg_store *s)
{
	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	bool ready = s->running && !s->closing;
	pthread_mutex_unlock(&s->lock);
	return ready;
}

/* Not the sync-write waiter: a sweep is not a write but the writer's own
 * loop state, which spans many transactions; the request waits on the
 * store's lock and condition like the queue itself does. */
int kcg_store_sweep(struct kcg_store *s, uint64_t now_ms, uint64_t *removed)
{
	struct sweep_req req = { .now_ms = now_ms };
	int rc;

	if (removed)
		*removed = 0;
	pthread_mutex_lock(&s->lock);
	if (s->closing) {
		pthread_mutex_unlock(&s->lock);
		return KCG_ESHUTDOWN;
	}
	req.next = s->sweeps;
	s->sweeps = &req;
	pthread_cond_signal(&s->wake);
	while (!req.done)
		pthread_cond_wait(&s->swept, &s->lock);
	rc = req.result;
	pthread_mutex_unlock(&s->lock);
	if (removed && rc == 0)
		*removed = req.removed;
	return rc;
}

int kcg_store_retention_stats(struct kcg_store *s, struct kcg_retention_stats *out)
{
	MDB_txn *txn;
	memset(out, 0, sizeof(*out));
	out->retention_ms = s->retention_ms;
	out->names[0] = "dedupe_keys";
	out->names[1] = "events";
	for (size_t i = 0; i < s->n_owners; i++)
		out->names[2 + i] = s->owners[i]->name;
	out->n_counters = 2 + s->n_owners;
	pthread_mutex_lock(&s->lock);
	out->last = s->last_sweep;
	memcpy(out->removed_total, s->removed_total, sizeof(out->removed_total));
	out->errors = s->sweep_errors;
	pthread_mutex_unlock(&s->lock);
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return KCG_ESTORE;
	out->oldest_event_ms = events_oldest(s, txn);
	out->oldest_finished_ms = retention_oldest(s, txn);
	mdb_txn_abort(txn);
	return 0;
}

MDB_dbi kcg_store_db(struct kcg_store *s, const char *name)
{
	if (strcmp(name, "meta") == 0)
		return s->meta;
	for (size_t i = 0; i < s->n_dbs; i++)
		if (strcmp(s->dbs[i].name, name) == 0)
			return s->dbs[i].dbi;
	abort(); /* a module asked for a database it never declared */
}

/* kcg_store_write_sync()'s write and the one waiter of the store. */
struct sync_write {
	struct kcg_write w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void wake_sync_write(struct kcg_write *w, void *arg)
{
	struct sync_write *sw = (struct sync_write *)w;
	pthread_mutex_lock(&sw->lock);
	sw->done = true;
	pthread_cond_signal(&sw->cond);
	pthread_mutex_unlock(&sw->lock);
}

int kcg_store_write_sync(struct kcg_store *s, int (*apply)(struct kcg_txn *txn, void *arg), void *arg)
{
	struct sync_write sw = { .w = { .apply = apply, .arg = arg, .done = wake_sync_write } };

	pthread_mutex_init(&sw.lock, NULL);
	pthread_cond_init(&sw.cond, NULL);
	int rc = kcg_store_write(s, &sw.w);
	if (rc == 0) {
		pthread_mutex_lock(&sw.lock);
		while (!sw.done)
			pthread_cond_wait(&sw.cond, &sw.lock);
		pthread_mutex_unlock(&sw.lock);
		rc = sw.w.result;
	}
	pthread_cond_destroy(&sw.cond);
	pthread_mutex_destroy(&sw.lock);
	return rc;
}

int kcg_store_read(struct kcg_store *s, int (*fn)(struct kcg_txn *txn, void *arg), void *arg)
{
	struct kcg_txn t = { .store = s, .now_ms = kcg_now_ms() };
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn);
	if (rc != 0)
		return store_mdb_err(rc);
	rc = fn(&t, arg);
	mdb_txn_abort(t.txn);
	return store_mdb_err(rc);
}

int kcg_txn_get_json(struct kcg_txn *t, const char *db, const void *key, size_t key_len, json_t **out)
{
	MDB_val k = { key_len, (void *)key }, v;
	int rc = mdb_get(t->txn, kcg_store_db(t->store, db), &k, &v);
	if (rc == MDB_NOTFOUND)
		return KCG_ENOTFOUND;
	if (rc != 0)
		return rc;
	*out = json_loadb(v.mv_data, v.mv_size, JSON_DECODE_ANY, NULL);
	return *out ? 0 : KCG_ESTORE;
}

int kcg_txn_put_json(struct kcg_txn *t, const char *db, const void *key, size_t key_len, const json_t *val)
{
	char *text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		return -ENOMEM;
	MDB_val k = { key_len, (void *)key }, v = { strlen(text), text };
	int rc = mdb_put(t->txn, kcg_store_db(t->store, db), &k, &v, 0);
	free(text);
	return rc;
}

int kcg_txn_add_u64(struct kcg_txn *t, const char *db, const void *key, size_t key_len, int64_t delta)
{
	return store_add_u64(t->txn, kcg_store_db(t->store, db), key, key_len, delta);
}

uint64_t kcg_meta_get_u64(struct kcg_txn *t, const char *name)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	if (mdb_get(t->txn, t->store->meta, &k, &v) != 0 || v.mv_size != 8)
		return 0;
	return kcg_get_be64(v.mv_data);
}

int kcg_meta_put_u64(struct kcg_txn *t, const char *name, uint64_t value)
{
	unsigned char buf[8];
	kcg_put_be64(buf, value);
	MDB_val k = { strlen(name), (void *)name }, v = { 8, buf };
	return mdb_put(t->txn, t->store->meta, &k, &v, 0);
}
