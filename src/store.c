/*
 * store.c: the LMDB event store and its group-committing writer thread.
 *
 * Every write goes through one thread. kcg_store_submit() links a request
 * (or any module's struct kcg_write) into a FIFO and wakes the writer; the writer
 * takes everything waiting (up to max_batch), writes it all in one
 * transaction and commits once. The environment is opened without
 * MDB_NOSYNC/MDB_NOMETASYNC, so that commit is the fsync, and done() is
 * called only after it returns: an answered request is on disk.
 *
 * MDB_NOTLS ties reader slots to transactions rather than threads, so the
 * read-only calls (list, get, stats) can run on any server thread.
 *
 * Event record (the value in "events", key = the 26-char id):
 *   u8      version (RECORD_VERSION)
 *   u64 BE  received_ms
 *   u8 len, bytes   status ("received")
 *   u8 len, bytes   source
 *   u8 len, bytes   kind
 *   u16 BE len, bytes  dedupe key
 *   bytes   the raw body, to the end of the value
 * "dedupe" values are the first event's id (26 bytes) + u64 BE seen ms;
 * "dedupe_t" keys are u64 BE seen ms + source NUL key with empty values;
 * "counts" values are u64 BE.
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

#define RECORD_VERSION 1
#define RECORD_HEAD (1 + 8) /* version + received_ms */
#define STATUS_RECEIVED "received"

#define DEFAULT_SWEEP_MS 60000u
#define SWEEP_CHUNK 1000       /* expired keys deleted per transaction */
#define MAX_READERS 256        /* concurrent read transactions (server threads) */
#define DEDUPE_VAL_LEN (KCG_ID_LEN + 8)
#define DKEY_MAX (KCG_SOURCE_MAX + KCG_DEDUPE_KEY_MAX + 1)

/* A kcg_store_sweep() call waiting for the writer; lives on the caller's stack. */
struct sweep_req {
	uint64_t now_ms;
	uint64_t removed;
	int result;
	bool done;
	struct sweep_req *next;
};

struct kcg_store {
	MDB_env *env;
	MDB_dbi events, dedupe, dedupe_t, counts, meta;
	uint64_t page_size;
	uint64_t dedupe_ttl_ms;
	uint64_t sweep_interval_ms;
	size_t max_batch;
	size_t queue_limit;
	void (*on_commit)(void *arg, size_t batch, uint64_t duration_ns);
	void *on_commit_arg;
	kcg_event_hook on_event;
	void *on_event_arg;
	struct {
		const char *name;  /* borrowed from the module that declared it */
		MDB_dbi dbi;
	} dbs[KCG_STORE_DBS_MAX];  /* the other modules' databases */
	size_t n_dbs;

	pthread_t writer;
	pthread_mutex_t lock;      /* guards everything below */
	pthread_cond_t wake;       /* writer: work arrived or closing */
	pthread_cond_t swept;      /* sweep callers: a sweep_req is done */
	struct kcg_write *head, *tail;
	size_t queued;
	struct sweep_req *sweeps;  /* explicit sweeps, LIFO is fine */
	bool closing;
	bool running;

	pthread_mutex_t stop_lock; /* serialises kcg_store_stop() (join once) */
	bool joined;
};

/* The sweep in progress in the writer: periodic (req NULL) or requested. */
struct sweep_state {
	bool active;
	bool nothing;              /* now < ttl: no key can be expired */
	uint64_t cutoff;           /* keys seen at or before this are expired */
	struct sweep_req *req;
	uint64_t removed;
};

static uint64_t mono_ms(void)
{
	return kcg_mono_ns() / 1000000u;
}

/* A key first seen at @p seen no longer counts at @p now. One predicate for
 * both the ingest check and the sweep, so they never disagree. */
static bool expired(uint64_t seen, uint64_t now, uint64_t ttl)
{
	return now >= seen && now - seen >= ttl;
}

/* LMDB returns errno values (> 0) for system failures and MDB_* (< 0) for its own. */
static int mdb_to_kcg(int rc)
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

/* "source NUL key": the dedupe key and the tail of the sweep index key. */
static size_t dedupe_key(const struct kcg_ingest *req, unsigned char *buf)
{
	size_t sl = strlen(req->source), kl = strlen(req->dedupe_key);
	memcpy(buf, req->source, sl);
	buf[sl] = '\0';
	memcpy(buf + sl + 1, req->dedupe_key, kl);
	return sl + 1 + kl;
}

static size_t kind_len(const struct kcg_ingest *req)
{
	return req->kind ? strnlen(req->kind, KCG_KIND_MAX - 1) : 0;
}

static size_t record_len(const struct kcg_ingest *req)
{
	return RECORD_HEAD + 1 + strlen(STATUS_RECEIVED) + 1 + strlen(req->source) + 1 + kind_len(req) + 2 +
	       strlen(req->dedupe_key) + req->body_len;
}

static void encode_record(const struct kcg_ingest *req, unsigned char *p)
{
	size_t n;

	*p++ = RECORD_VERSION;
	kcg_put_be64(p, req->received_ms);
	p += 8;
	n = strlen(STATUS_RECEIVED);
	*p++ = (unsigned char)n;
	memcpy(p, STATUS_RECEIVED, n);
	p += n;
	n = strlen(req->source);
	*p++ = (unsigned char)n;
	memcpy(p, req->source, n);
	p += n;
	n = kind_len(req);
	*p++ = (unsigned char)n;
	if (n)
		memcpy(p, req->kind, n);
	p += n;
	n = strlen(req->dedupe_key);
	*p++ = (unsigned char)(n >> 8);
	*p++ = (unsigned char)n;
	memcpy(p, req->dedupe_key, n);
	p += n;
	if (req->body_len)
		memcpy(p, req->body, req->body_len);
}

/* Copies a u8-length-prefixed string into @p dst (cap bytes with NUL). */
static int take_str8(const unsigned char **p, const unsigned char *end, char *dst, size_t cap)
{
	if (*p >= end)
		return -1;
	size_t n = **p;
	(*p)++;
	if (n >= cap || (size_t)(end - *p) < n)
		return -1;
	memcpy(dst, *p, n);
	dst[n] = '\0';
	*p += n;
	return 0;
}

static int decode_record(const MDB_val *key, const MDB_val *val, struct kcg_event_meta *m, const void **body,
			 size_t *body_len)
{
	const unsigned char *p = val->mv_data, *end = p + val->mv_size;

	if (key->mv_size != KCG_ID_LEN || val->mv_size < RECORD_HEAD || p[0] != RECORD_VERSION)
		return KCG_ESTORE;
	memcpy(m->id, key->mv_data, KCG_ID_LEN);
	m->id[KCG_ID_LEN] = '\0';
	m->received_ms = kcg_get_be64(p + 1);
	p += RECORD_HEAD;
	if (take_str8(&p, end, m->status, sizeof(m->status)) || take_str8(&p, end, m->source, sizeof(m->source)) ||
	    take_str8(&p, end, m->kind, sizeof(m->kind)))
		return KCG_ESTORE;
	if (end - p < 2)
		return KCG_ESTORE;
	size_t n = ((size_t)p[0] << 8) | p[1];
	p += 2;
	if (n > KCG_DEDUPE_KEY_MAX || (size_t)(end - p) < n)
		return KCG_ESTORE;
	memcpy(m->dedupe_key, p, n);
	m->dedupe_key[n] = '\0';
	p += n;
	if (body)
		*body = p;
	if (body_len)
		*body_len = (size_t)(end - p);
	return 0;
}

/* The one counter read-modify-write (kcg_txn_add_u64 and the event counts). */
static int add_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len, int64_t delta)
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

static int bump_count(struct kcg_store *s, MDB_txn *txn, const char *source, const char *status)
{
	unsigned char kbuf[KCG_SOURCE_MAX + KCG_STATUS_MAX];
	size_t sl = strlen(source), tl = strlen(status);
	memcpy(kbuf, source, sl);
	kbuf[sl] = '\0';
	memcpy(kbuf + sl + 1, status, tl);
	return add_u64(txn, s->counts, kbuf, sl + 1 + tl, 1);
}

/* Writes one request inside @p txn, or finds it is a duplicate. Returns an
 * LMDB code (or -EIO from the id source); req->result and event_id are only
 * meaningful once the transaction commits. */
static int put_one(struct kcg_store *s, MDB_txn *txn, struct kcg_ingest *req)
{
	unsigned char dk[DKEY_MAX], tk[8 + DKEY_MAX], dv[DEDUPE_VAL_LEN];
	size_t dlen = dedupe_key(req, dk);
	MDB_val k = { dlen, dk }, v;
	bool had_old = false;
	uint64_t old_seen = 0;

	int rc = mdb_get(txn, s->dedupe, &k, &v);
	if (rc == 0 && v.mv_size == DEDUPE_VAL_LEN) {
		uint64_t seen = kcg_get_be64((const unsigned char *)v.mv_data + KCG_ID_LEN);
		if (!expired(seen, req->received_ms, s->dedupe_ttl_ms)) {
			memcpy(req->event_id, v.mv_data, KCG_ID_LEN);
			req->event_id[KCG_ID_LEN] = '\0';
			req->result = KCG_EDUPLICATE;
			return 0;
		}
		had_old = true;
		old_seen = seen;
	} else if (rc != 0 && rc != MDB_NOTFOUND) {
		return rc;
	}

	char id[KCG_ID_LEN + 1];
	rc = kcg_make_id(req->received_ms, id);
	if (rc != 0)
		return rc;

	/* Ids only grow within a process, so appending is the common case and
	 * packs pages full; after a clock step back it is a normal insert. */
	MDB_val ek = { KCG_ID_LEN, id }, ev = { record_len(req), NULL };
	rc = mdb_put(txn, s->events, &ek, &ev, MDB_APPEND | MDB_RESERVE);
	if (rc == MDB_KEYEXIST) {
		ev = (MDB_val){ record_len(req), NULL };
		rc = mdb_put(txn, s->events, &ek, &ev, MDB_NOOVERWRITE | MDB_RESERVE);
	}
	if (rc != 0)
		return rc;
	encode_record(req, ev.mv_data);

	if (had_old) {
		kcg_put_be64(tk, old_seen);
		memcpy(tk + 8, dk, dlen);
		MDB_val tkv = { 8 + dlen, tk };
		rc = mdb_del(txn, s->dedupe_t, &tkv, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
	}
	memcpy(dv, id, KCG_ID_LEN);
	kcg_put_be64(dv + KCG_ID_LEN, req->received_ms);
	v = (MDB_val){ DEDUPE_VAL_LEN, dv };
	rc = mdb_put(txn, s->dedupe, &k, &v, 0);
	if (rc != 0)
		return rc;
	kcg_put_be64(tk, req->received_ms);
	memcpy(tk + 8, dk, dlen);
	MDB_val tkv = { 8 + dlen, tk }, empty = { 0, NULL };
	rc = mdb_put(txn, s->dedupe_t, &tkv, &empty, 0);
	if (rc != 0)
		return rc;
	rc = bump_count(s, txn, req->source, STATUS_RECEIVED);
	if (rc != 0)
		return rc;

	memcpy(req->event_id, id, sizeof(id));
	req->result = 0;
	return 0;
}

/* The ingest as a write: the event (or the finding that it is a duplicate)
 * and, for a new event, whatever the outbox hook adds. */
static int ingest_apply(struct kcg_txn *t, void *arg)
{
	struct kcg_ingest *req = arg;
	struct kcg_store *s = t->store;
	int rc = put_one(s, t->txn, req);
	if (rc != 0 || req->result != 0 || !s->on_event)
		return rc;
	struct kcg_event_meta_ref ev = {
		.id = req->event_id,
		.source = req->source,
		.kind = req->kind ? req->kind : "",
		.body = req->body,
		.body_len = req->body_len,
		.received_ms = req->received_ms,
	};
	return s->on_event(t, &ev, s->on_event_arg);
}

static void ingest_done(struct kcg_write *w, void *arg)
{
	struct kcg_ingest *req = arg;
	if (w->result != 0) {
		req->result = w->result;
		req->event_id[0] = '\0';
	}
	req->done(req, req->arg);
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
			w->result = mdb_to_kcg(write_txn(s, w, 1));
	} else if (rc != 0) {
		head->result = mdb_to_kcg(rc);
	}
	/* done() may free the write: read next first. */
	for (w = head; w;) {
		struct kcg_write *next = w->next;
		w->next = NULL;
		w->done(w, w->arg);
		w = next;
	}
}

/* Deletes up to SWEEP_CHUNK expired keys in one transaction. *more tells
 * whether expired keys may remain. */
static int sweep_chunk(struct kcg_store *s, uint64_t cutoff, uint64_t *removed, bool *more)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t n = 0;

	*more = false;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, s->dedupe_t, &cur);
	if (rc != 0)
		goto fail_txn;
	for (int i = 0; i < SWEEP_CHUNK; i++) {
		/* The index is ordered by seen time: the oldest key is always first. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0)
			goto fail_cursor;
		if (k.mv_size > 8 && kcg_get_be64(k.mv_data) > cutoff)
			break;
		if (k.mv_size > 8) {
			uint64_t seen = kcg_get_be64(k.mv_data);
			MDB_val dk = { k.mv_size - 8, (unsigned char *)k.mv_data + 8 }, dv;
			rc = mdb_get(txn, s->dedupe, &dk, &dv);
			/* Only the entry this index row stands for: a key re-seen later has its own row. */
			if (rc == 0 && dv.mv_size == DEDUPE_VAL_LEN &&
			    kcg_get_be64((const unsigned char *)dv.mv_data + KCG_ID_LEN) == seen) {
				rc = mdb_del(txn, s->dedupe, &dk, NULL);
				if (rc != 0)
					goto fail_cursor;
				n++;
			} else if (rc != 0 && rc != MDB_NOTFOUND) {
				goto fail_cursor;
			}
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			goto fail_cursor;
		if (i == SWEEP_CHUNK - 1)
			*more = true;
	}
	mdb_cursor_close(cur);
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		*more = false;
		return rc;
	}
	*removed += n;
	return 0;

fail_cursor:
	mdb_cursor_close(cur);
fail_txn:
	mdb_txn_abort(txn);
	*more = false;
	return rc;
}

/* Expired means now - seen >= ttl (see expired()), so the cutoff is
 * inclusive. Called with s->lock held, like finish_sweep(). */
static void start_sweep(struct kcg_store *s, struct sweep_state *sw, uint64_t now)
{
	sw->active = true;
	sw->removed = 0;
	sw->nothing = now < s->dedupe_ttl_ms;
	sw->cutoff = sw->nothing ? 0 : now - s->dedupe_ttl_ms;
}

static void finish_sweep(struct kcg_store *s, struct sweep_state *sw, int result)
{
	if (sw->req) {
		sw->req->result = result;
		sw->req->removed = sw->removed;
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
		if (sw.active && sw.nothing) {
			/* Before ttl has passed since the epoch nothing can be expired. */
			finish_sweep(s, &sw, 0);
			next_sweep = mono_ms() + s->sweep_interval_ms;
		}
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
			src = sweep_chunk(s, sw.cutoff, &sw.removed, &more);
			/* A sweep interleaves with ingest: one chunk, then the queue again. */
		}

		pthread_mutex_lock(&s->lock);
		if (sw.active && (!more || src != 0)) {
			finish_sweep(s, &sw, src == 0 ? 0 : KCG_ESTORE);
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
	static const char *const own[] = { "events", "dedupe", "dedupe_t", "counts", "meta" };
	MDB_dbi *dbis[] = { &s->events, &s->dedupe, &s->dedupe_t, &s->counts, &s->meta };
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
	    count_names(opt->dbs) > KCG_STORE_DBS_MAX) {
		*why = "checking the options";
		return -EINVAL;
	}
	struct kcg_store *s = calloc(1, sizeof(*s));
	if (!s) {
		*why = "allocating the store";
		return -ENOMEM;
	}
	s->dedupe_ttl_ms = opt->dedupe_ttl_ms;
	s->sweep_interval_ms = opt->sweep_interval_ms ? opt->sweep_interval_ms : DEFAULT_SWEEP_MS;
	s->max_batch = opt->max_batch;
	s->queue_limit = opt->queue_limit;
	s->on_commit = opt->on_commit;
	s->on_commit_arg = opt->on_commit_arg;
	s->on_event = opt->on_event;
	s->on_event_arg = opt->on_event_arg;

	rc = mkdir_p(opt->path);
	if (rc != 0) {
		*why = "creating the store directory";
		goto fail_alloc;
	}
	rc = mdb_env_create(&s->env);
	if (rc != 0) {
		*why = "mdb_env_create";
		rc = mdb_to_kcg(rc);
		goto fail_alloc;
	}
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t psz = ps > 0 ? (uint64_t)ps : 4096;
	uint64_t map = (opt->map_size_bytes + psz - 1) / psz * psz;
	rc = mdb_env_set_maxdbs(s->env, (MDB_dbi)(5 + count_names(opt->dbs)));
	if (rc == 0)
		rc = mdb_env_set_maxreaders(s->env, MAX_READERS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, (size_t)map);
	if (rc != 0) {
		*why = "configuring the LMDB environment";
		rc = mdb_to_kcg(rc);
		goto fail_env;
	}
	/* Durable commits (no NOSYNC/NOMETASYNC): a commit is the fsync. */
	rc = mdb_env_open(s->env, opt->path, MDB_NOTLS, 0600);
	if (rc != 0) {
		*why = "mdb_env_open";
		rc = mdb_to_kcg(rc);
		goto fail_env;
	}
	int dead = 0;
	mdb_reader_check(s->env, &dead); /* slots left by a killed process */
	rc = open_dbs(s, opt->dbs);
	if (rc != 0) {
		*why = "opening the databases";
		rc = mdb_to_kcg(rc);
		goto fail_env;
	}
	MDB_stat st;
	rc = mdb_env_stat(s->env, &st);
	if (rc != 0) {
		*why = "mdb_env_stat";
		rc = mdb_to_kcg(rc);
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

static bool valid_request(const struct kcg_ingest *req)
{
	if (!req->source || !req->dedupe_key || !req->done || (!req->body && req->body_len))
		return false;
	size_t sl = strnlen(req->source, KCG_SOURCE_MAX), kl = strnlen(req->dedupe_key, KCG_DEDUPE_KEY_MAX + 1);
	return sl > 0 && sl < KCG_SOURCE_MAX && kl > 0 && kl <= KCG_DEDUPE_KEY_MAX;
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

int kcg_store_submit(struct kcg_store *s, struct kcg_ingest *req)
{
	if (!s || !req || !valid_request(req))
		return -EINVAL;
	req->result = 0;
	req->event_id[0] = '\0';
	req->w = (struct kcg_write){ .apply = ingest_apply, .arg = req, .done = ingest_done };
	return enqueue(s, &req->w);
}

int kcg_store_write(struct kcg_store *s, struct kcg_write *w)
{
	if (!s || !w || !w->apply || !w->done)
		return -EINVAL;
	return enqueue(s, w);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void wake_waiter(struct kcg_ingest *req, void *arg)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int kcg_store_ingest(struct kcg_store *s, struct kcg_ingest *req)
{
	struct waiter w = { .done = false };
	void (*done)(struct kcg_ingest *, void *) = req->done;
	void *arg = req->arg;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	req->done = wake_waiter;
	req->arg = &w;
	int rc = kcg_store_submit(s, req);
	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		rc = req->result;
	}
	req->done = done;
	req->arg = arg;
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

static bool valid_id(const char *id)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	if (strnlen(id, KCG_ID_LEN + 1) != KCG_ID_LEN || id[0] > '7')
		return false;
	for (size_t i = 0; i < KCG_ID_LEN; i++) {
		if (!strchr(alphabet, id[i]))
			return false;
	}
	return true;
}

int kcg_store_list_events(struct kcg_store *s, const char *source, const char *kind, const char *cursor,
			  size_t limit, struct kcg_event_meta *out, size_t *n_out, char next_cursor[KCG_ID_LEN + 1])
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0, scanned = 0;
	char last[KCG_ID_LEN + 1] = "";
	int rc;

	char from[KCG_ID_LEN + 1];

	*n_out = 0;
	if (cursor && !valid_id(cursor)) {
		next_cursor[0] = '\0';
		return -EINVAL;
	}
	if (cursor) /* a copy: callers may pass their next_cursor buffer back in */
		cursor = memcpy(from, cursor, sizeof(from));
	next_cursor[0] = '\0';
	if (limit == 0)
		return 0;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return KCG_ESTORE;
	rc = mdb_cursor_open(txn, s->events, &cur);
	if (rc != 0)
		goto fail_txn;

	if (cursor) {
		/* Exclusive: start at the newest event older than the cursor. */
		k = (MDB_val){ KCG_ID_LEN, (void *)cursor };
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		if (n == limit || scanned == KCG_LIST_SCAN_MAX) {
			/* More events exist: the next page starts after the last one
			 * looked at. The scan bound keeps a rare filter from walking
			 * the whole store in one call. */
			memcpy(next_cursor, last, sizeof(last));
			break;
		}
		struct kcg_event_meta m;
		if (decode_record(&k, &v, &m, NULL, NULL) != 0) {
			rc = KCG_ESTORE;
			goto fail_cursor;
		}
		scanned++;
		memcpy(last, m.id, sizeof(last));
		if ((source && strcmp(m.source, source) != 0) || (kind && strcmp(m.kind, kind) != 0))
			continue;
		out[n++] = m;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = KCG_ESTORE;
		goto fail_cursor;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	*n_out = n;
	return 0;

fail_cursor:
	mdb_cursor_close(cur);
fail_txn:
	mdb_txn_abort(txn);
	next_cursor[0] = '\0';
	return KCG_ESTORE;
}

int kcg_store_get_event(struct kcg_store *s, const char *id, struct kcg_event_meta *meta, char **body,
			size_t *body_len)
{
	MDB_txn *txn;
	MDB_val k, v;
	const void *b;
	size_t blen;

	if (body)
		*body = NULL;
	if (body_len)
		*body_len = 0;
	if (!id || strnlen(id, KCG_ID_LEN + 1) != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return KCG_ESTORE;
	k = (MDB_val){ KCG_ID_LEN, (void *)id };
	rc = mdb_get(txn, s->events, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rc = KCG_ENOTFOUND;
		goto out;
	}
	if (rc != 0) {
		rc = KCG_ESTORE;
		goto out;
	}
	struct kcg_event_meta m;
	rc = decode_record(&k, &v, &m, &b, &blen);
	if (rc != 0)
		goto out;
	if (body) {
		char *copy = malloc(blen + 1);
		if (!copy) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(copy, b, blen);
		copy[blen] = '\0'; /* convenient for JSON bodies; not counted in body_len */
		*body = copy;
		if (body_len)
			*body_len = blen;
	}
	if (meta)
		*meta = m;
out:
	mdb_txn_abort(txn);
	return rc;
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

bool kcg_store_ready(struct kcg_store *s)
{
	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	bool ready = s->running && !s->closing;
	pthread_mutex_unlock(&s->lock);
	return ready;
}

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

MDB_dbi kcg_store_db(struct kcg_store *s, const char *name)
{
	if (strcmp(name, "meta") == 0)
		return s->meta;
	for (size_t i = 0; i < s->n_dbs; i++)
		if (strcmp(s->dbs[i].name, name) == 0)
			return s->dbs[i].dbi;
	abort(); /* a module asked for a database it never declared */
}

struct sync_write {
	struct kcg_write w;
	struct waiter waiter;
};

static void wake_sync_write(struct kcg_write *w, void *arg)
{
	struct sync_write *sw = (struct sync_write *)w;
	pthread_mutex_lock(&sw->waiter.lock);
	sw->waiter.done = true;
	pthread_cond_signal(&sw->waiter.cond);
	pthread_mutex_unlock(&sw->waiter.lock);
}

int kcg_store_write_sync(struct kcg_store *s, int (*apply)(struct kcg_txn *txn, void *arg), void *arg)
{
	struct sync_write sw = { .w = { .apply = apply, .arg = arg, .done = wake_sync_write } };

	pthread_mutex_init(&sw.waiter.lock, NULL);
	pthread_cond_init(&sw.waiter.cond, NULL);
	int rc = kcg_store_write(s, &sw.w);
	if (rc == 0) {
		pthread_mutex_lock(&sw.waiter.lock);
		while (!sw.waiter.done)
			pthread_cond_wait(&sw.waiter.cond, &sw.waiter.lock);
		pthread_mutex_unlock(&sw.waiter.lock);
		rc = sw.w.result;
	}
	pthread_cond_destroy(&sw.waiter.cond);
	pthread_mutex_destroy(&sw.waiter.lock);
	return rc;
}

int kcg_store_read(struct kcg_store *s, int (*fn)(struct kcg_txn *txn, void *arg), void *arg)
{
	struct kcg_txn t = { .store = s, .now_ms = kcg_now_ms() };
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn);
	if (rc != 0)
		return mdb_to_kcg(rc);
	rc = fn(&t, arg);
	mdb_txn_abort(t.txn);
	return mdb_to_kcg(rc);
}

/* Admin replay: the outbox hook once more, for an event already stored. */
static int replay_apply(struct kcg_txn *t, void *arg)
{
	const char *id = arg;
	struct kcg_store *s = t->store;
	struct kcg_event_meta m;
	const void *body;
	size_t len;
	MDB_val k = { KCG_ID_LEN, (void *)id }, v;

	int rc = mdb_get(t->txn, s->events, &k, &v);
	if (rc == MDB_NOTFOUND)
		return KCG_ENOTFOUND;
	if (rc != 0)
		return rc;
	rc = decode_record(&k, &v, &m, &body, &len);
	if (rc != 0)
		return rc;
	if (!s->on_event)
		return 0;
	/* The hook may write: copy the body out of the map first. */
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, body, len);
	copy[len] = '\0';
	struct kcg_event_meta_ref ev = {
		.id = m.id, .source = m.source, .kind = m.kind, .body = copy, .body_len = len,
		.received_ms = m.received_ms,
	};
	rc = s->on_event(t, &ev, s->on_event_arg);
	free(copy);
	return rc;
}

int kcg_store_replay(struct kcg_store *s, const char *id)
{
	if (!id || !valid_id(id))
		return KCG_ENOTFOUND;
	return kcg_store_write_sync(s, replay_apply, (void *)id);
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
	return add_u64(t->txn, kcg_store_db(t->store, db), key, key_len, delta);
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
