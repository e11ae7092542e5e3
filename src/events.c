/*
 * events.c: the event log (see events.h): ingest with dedupe and the outbox
 * hook, listing, reading and replaying events, and the two sweepers of the
 * store's sweep that belong to it (expired dedupe keys, events past
 * retention).
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
#include "kcgate/events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "store_private.h"

#define RECORD_VERSION 1
#define RECORD_HEAD (1 + 8) /* version + received_ms */
#define STATUS_RECEIVED "received"
#define DEDUPE_VAL_LEN (KCG_ID_LEN + 8)
#define DKEY_MAX (KCG_SOURCE_MAX + KCG_DEDUPE_KEY_MAX + 1)


/* A key first seen at @p seen no longer counts at @p now. One predicate for
 * both the ingest check and the sweep, so they never disagree. */
static bool expired(uint64_t seen, uint64_t now, uint64_t ttl)
{
	return now >= seen && now - seen >= ttl;
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

static int bump_count(MDB_txn *txn, MDB_dbi counts, const char *source, const char *status)
{
	unsigned char kbuf[KCG_SOURCE_MAX + KCG_STATUS_MAX];
	size_t sl = strlen(source), tl = strlen(status);
	memcpy(kbuf, source, sl);
	kbuf[sl] = '\0';
	memcpy(kbuf + sl + 1, status, tl);
	return store_add_u64(txn, counts, kbuf, sl + 1 + tl, 1);
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
	rc = bump_count(txn, s->counts, req->source, STATUS_RECEIVED);
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

struct sweep_arg {
	struct kcg_store *s;
	uint64_t cutoff;
	uint64_t *removed;
};

/* A dedupe_t row: past the cutoff, stop; else its dedupe key goes, if the
 * row still stands for it (a key re-seen later has its own row). */
static int visit_dedupe(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg)
{
	struct sweep_arg *a = arg;
	if (k->mv_size <= 8)
		return 0; /* malformed: the row just goes */
	uint64_t seen = kcg_get_be64(k->mv_data);
	if (seen > a->cutoff)
		return STORE_STOP;
	MDB_val dk = { k->mv_size - 8, (unsigned char *)k->mv_data + 8 }, dv;
	int rc = mdb_get(txn, a->s->dedupe, &dk, &dv);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (dv.mv_size != DEDUPE_VAL_LEN || kcg_get_be64((const unsigned char *)dv.mv_data + KCG_ID_LEN) != seen)
		return 0;
	rc = mdb_del(txn, a->s->dedupe, &dk, NULL);
	if (rc == 0)
		(*a->removed)++;
	return rc;
}

/* Sweeper: deletes up to @p budget dedupe keys expired at @p now (expired
 * means now - seen >= ttl, see expired(), so the cutoff is inclusive). The
 * index is ordered by seen time: the oldest key is always first. */
int events_sweep_dedupe(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed, bool *more)
{
	*more = false;
	if (now < s->dedupe_ttl_ms)
		return 0; /* before ttl has passed since the epoch nothing can be expired */
	struct sweep_arg a = { s, now - s->dedupe_ttl_ms, removed };
	return store_drain(txn, s->dedupe_t, budget, visit_dedupe, &a, more);
}

/* An event: received at or after the cutoff, stop (the record's own
 * receive time: an id is only a hint of it); else it goes. */
static int visit_event(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg)
{
	struct sweep_arg *a = arg;
	if (v->mv_size >= RECORD_HEAD && kcg_get_be64((const unsigned char *)v->mv_data + 1) >= a->cutoff)
		return STORE_STOP;
	(*a->removed)++;
	return 0;
}

/* Sweeper: deletes up to @p budget events received before now - retention.
 * Ids sort by receive time, so the oldest event is always first. An event
 * inside the dedupe window stays whatever the retention: a duplicate is
 * answered with its id. */
int events_sweep_retention(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed,
			   bool *more)
{
	*more = false;
	uint64_t keep = s->retention_ms > s->dedupe_ttl_ms ? s->retention_ms : s->dedupe_ttl_ms;
	if (!s->retention_ms || now < keep)
		return 0;
	struct sweep_arg a = { s, now - keep, removed };
	return store_drain(txn, s->events, budget, visit_event, &a, more);
}

/* The oldest event's receive time (0 = none), in a read transaction. */
uint64_t events_oldest(struct kcg_store *s, MDB_txn *txn)
{
	MDB_val k, v;
	if (store_first(txn, s->events, &k, &v) != 0 || v.mv_size < RECORD_HEAD)
		return 0;
	return kcg_get_be64((const unsigned char *)v.mv_data + 1);
}


static bool valid_request(const struct kcg_ingest *req)
{
	if (!req->source || !req->dedupe_key || (!req->body && req->body_len))
		return false;
	size_t sl = strnlen(req->source, KCG_SOURCE_MAX), kl = strnlen(req->dedupe_key, KCG_DEDUPE_KEY_MAX + 1);
	return sl > 0 && sl < KCG_SOURCE_MAX && kl > 0 && kl <= KCG_DEDUPE_KEY_MAX;
}

int kcg_events_submit(struct kcg_store *s, struct kcg_ingest *req)
{
	if (!s || !req || !req->done || !valid_request(req))
		return -EINVAL;
	req->result = 0;
	req->event_id[0] = '\0';
	req->w = (struct kcg_write){ .apply = ingest_apply, .arg = req, .done = ingest_done };
	return kcg_store_write(s, &req->w);
}

int kcg_events_ingest(struct kcg_store *s, struct kcg_ingest *req)
{
	if (!s || !req || !valid_request(req))
		return -EINVAL;
	req->result = 0;
	req->event_id[0] = '\0';
	int rc = kcg_store_write_sync(s, ingest_apply, req);
	if (rc != 0) {
		req->result = rc;
		req->event_id[0] = '\0';
	}
	return req->result;
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

int kcg_events_list(struct kcg_store *s, const char *source, const char *kind, const char *cursor,
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

int kcg_events_get(struct kcg_store *s, const char *id, struct kcg_event_meta *meta, char **body,
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

int kcg_events_replay(struct kcg_store *s, const char *id)
{
	if (!id || !valid_id(id))
		return KCG_ENOTFOUND;
	return kcg_store_write_sync(s, replay_apply, (void *)id);
}
