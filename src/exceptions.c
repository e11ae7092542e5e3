/*
 * exceptions.c: the register of everything a person must look at (see
 * kcgate/exceptions.h).
 *
 *   exceptions      id (ULID) -> the record, compact JSON, its id inside too
 *   exceptions_key  kind NUL subject -> id (KCG_ID_LEN bytes)
 *
 * A record keeps its id for life: raising it again updates it in place and
 * a resolved one reopens under the same id, so the key index is written
 * once, on the first raise. Records are parsed into jansson values before
 * anything is written, because what mdb_get() returns dies at the next
 * write in the transaction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/runbook.h"

#define DB_EXC "exceptions"
#define DB_KEY "exceptions_key"
#define KEY_MAX (2 * KCG_EXC_FIELD_MAX + 1)

const char *const kcg_exc_dbs[] = { DB_EXC, DB_KEY, NULL };

/* LMDB returns MDB_* codes (negative) or positive errnos: make the latter
 * -errno so every error is negative. MDB_MAP_FULL stays as it is for the
 * store to map to KCG_ESTOREFULL. */
static int lmdb_err(int rc)
{
	return rc > 0 ? -rc : rc;
}

/* The same rules as jansson's own check (no overlongs, no surrogates,
 * nothing above U+10FFFF), so a string accepted here never makes
 * json_string() fail for any reason but memory. */
static bool valid_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Non-empty, at most KCG_EXC_FIELD_MAX bytes, UTF-8. */
static bool valid_field(const char *s)
{
	if (!s || !*s)
		return false;
	size_t n = strnlen(s, KCG_EXC_FIELD_MAX + 1);
	return n <= KCG_EXC_FIELD_MAX && valid_utf8(s, n);
}

/* How much of @p msg is kept: all of it, or KCG_EXC_MESSAGE_MAX bytes
 * backed off to the start of the character that would be split. */
static size_t message_len(const char *msg)
{
	size_t n = strnlen(msg, KCG_EXC_MESSAGE_MAX + 1);
	if (n <= KCG_EXC_MESSAGE_MAX)
		return n;
	n = KCG_EXC_MESSAGE_MAX;
	while (n > 0 && ((unsigned char)msg[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static size_t make_key(const char *kind, const char *subject, unsigned char key[KEY_MAX])
{
	size_t kl = strlen(kind), sl = strlen(subject);
	memcpy(key, kind, kl);
	key[kl] = '\0';
	memcpy(key + kl + 1, subject, sl);
	return kl + 1 + sl;
}

/* The id for (kind, subject): 0, KCG_ENOTFOUND, KCG_ESTORE (a malformed
 * index entry) or an LMDB error. */
static int find_id(struct kcg_txn *t, const char *kind, const char *subject, char id[KCG_ID_LEN + 1])
{
	unsigned char key[KEY_MAX];
	MDB_val k = { make_key(kind, subject, key), key }, v;

	int rc = mdb_get(t->txn, kcg_store_db(t->store, DB_KEY), &k, &v);
	if (rc == MDB_NOTFOUND)
		return KCG_ENOTFOUND;
	if (rc != 0)
		return lmdb_err(rc);
	if (v.mv_size != KCG_ID_LEN)
		return KCG_ESTORE;
	memcpy(id, v.mv_data, KCG_ID_LEN);
	id[KCG_ID_LEN] = '\0';
	return 0;
}

/* A stored record as a new JSON object, or NULL if it is not one. */
static json_t *parse(const MDB_val *v)
{
	json_t *rec = json_loadb(v->mv_data, v->mv_size, 0, NULL);
	if (rec && !json_is_object(rec)) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

/* Record @p id into *@p rec: 0, KCG_ENOTFOUND, KCG_ESTORE or an LMDB error. */
static int load(struct kcg_txn *t, const char *id, json_t **rec)
{
	MDB_val k = { KCG_ID_LEN, (void *)id }, v;

	int rc = mdb_get(t->txn, kcg_store_db(t->store, DB_EXC), &k, &v);
	if (rc == MDB_NOTFOUND)
		return KCG_ENOTFOUND;
	if (rc != 0)
		return lmdb_err(rc);
	*rec = parse(&v);
	return *rec ? 0 : KCG_ESTORE;
}

static int save(struct kcg_txn *t, const char *id, const json_t *rec)
{
	char *json = json_dumps(rec, JSON_COMPACT);
	if (!json)
		return -ENOMEM;
	MDB_val k = { KCG_ID_LEN, (void *)id }, v = { strlen(json), json };
	int rc = mdb_put(t->txn, kcg_store_db(t->store, DB_EXC), &k, &v, 0);
	free(json);
	return lmdb_err(rc);
}

/* json_object_set_new() that takes a NULL value (a failed json_*()
 * constructor: inputs are validated, so that means memory) as -ENOMEM. */
static int set(json_t *obj, const char *key, json_t *value)
{
	return json_object_set_new(obj, key, value) == 0 ? 0 : -ENOMEM;
}

static bool rec_open(const json_t *rec)
{
	return json_is_null(json_object_get(rec, "resolved_at"));
}

static bool rec_field_is(const json_t *rec, const char *key, const char *want)
{
	const char *have = json_string_value(json_object_get(rec, key));
	return have && strcmp(have, want) == 0;
}

/* A new record's skeleton, its keys in the documented order; raise fills
 * the rest. */
static json_t *new_record(const char *id, const struct kcg_exc *exc, const char *now)
{
	json_t *rec = json_object();
	if (!rec)
		return NULL;
	if (set(rec, "id", json_string(id)) || set(rec, "kind", json_string(exc->kind)) ||
	    set(rec, "severity", json_null()) || set(rec, "system", json_null()) ||
	    set(rec, "owner", json_null()) || set(rec, "subject", json_string(exc->subject)) ||
	    set(rec, "message", json_null()) || set(rec, "first_seen", json_string(now)) ||
	    set(rec, "last_seen", json_null()) || set(rec, "count", json_integer(0)) ||
	    set(rec, "resolved_at", json_null()) || set(rec, "resolved_by", json_null())) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

int kcg_exc_raise(struct kcg_txn *t, const struct kcg_exc *exc, char *id_out)
{
	char id[KCG_ID_LEN + 1], now[32];
	json_t *rec = NULL;
	size_t msg_len;
	int rc;

	if (!t || !exc || !valid_field(exc->kind) || !valid_field(exc->subject) || !valid_field(exc->system) ||
	    !valid_field(exc->owner) || !exc->message || (unsigned)exc->severity > KCG_SEV_CRITICAL)
		return -EINVAL;
	msg_len = message_len(exc->message);
	if (!valid_utf8(exc->message, msg_len))
		return -EINVAL;
	kcg_format_time(t->now_ms, now, sizeof(now));

	enum kcg_exc_change change = KCG_EXC_NEW;
	rc = find_id(t, exc->kind, exc->subject, id);
	if (rc == 0) {
		rc = load(t, id, &rec);
		/* An index entry without its record: start afresh below. */
		if (rc != 0 && rc != KCG_ENOTFOUND)
			return rc;
	} else if (rc != KCG_ENOTFOUND) {
		return rc;
	}

	if (!rec) {
		unsigned char key[KEY_MAX];
		MDB_val k = { make_key(exc->kind, exc->subject, key), key }, v = { KCG_ID_LEN, id };

		rc = kcg_make_id(t->now_ms, id);
		if (rc != 0)
			return rc;
		rec = new_record(id, exc, now);
		if (!rec)
			return -ENOMEM;
		rc = lmdb_err(mdb_put(t->txn, kcg_store_db(t->store, DB_KEY), &k, &v, 0));
		if (rc != 0)
			goto fail_rec;
	}

	if (rec && json_object_size(rec) && json_integer_value(json_object_get(rec, "count")) > 0)
		change = rec_open(rec) ? KCG_EXC_AGAIN : KCG_EXC_REOPENED;

	/* New, updated or reopened alike: the latest raise says what it is. */
	int64_t count = json_integer_value(json_object_get(rec, "count"));
	if (count < 0)
		count = 0;
	if (count < INT64_MAX)
		count++;
	rc = set(rec, "severity", json_string(kcg_exc_severity_name(exc->severity)));
	if (rc == 0)
		rc = set(rec, "system", json_string(exc->system));
	if (rc == 0)
		rc = set(rec, "owner", json_string(exc->owner));
	if (rc == 0)
		rc = set(rec, "message", json_stringn(exc->message, msg_len));
	if (rc == 0)
		rc = set(rec, "last_seen", json_string(now));
	if (rc == 0)
		rc = set(rec, "count", json_integer(count));
	if (rc == 0)
		rc = set(rec, "resolved_at", json_null());
	if (rc == 0)
		rc = set(rec, "resolved_by", json_null());
	if (rc == 0)
		rc = save(t, id, rec);
	void *hook_arg;
	kcg_exc_hook hook = kcg_store_exc_hook(t->store, &hook_arg);
	if (rc == 0 && hook) {
		struct kcg_exc_raised raised = { id, change, exc->severity, rec };
		rc = hook(t, &raised, hook_arg);
	}
	if (rc != 0)
		goto fail_rec;
	json_decref(rec);
	if (id_out)
		memcpy(id_out, id, KCG_ID_LEN + 1);
	return 0;

fail_rec:
	json_decref(rec);
	return rc;
}

/* Marks @p rec (loaded from @p id) resolved unless it already is; takes
 * the reference. */
static int resolve_record(struct kcg_txn *t, const char *id, json_t *rec, const char *how)
{
	char now[32];
	int rc = 0;

	if (rec_open(rec)) {
		kcg_format_time(t->now_ms, now, sizeof(now));
		rc = set(rec, "resolved_at", json_string(now));
		if (rc == 0)
			rc = set(rec, "resolved_by", json_string(how));
		if (rc == 0)
			rc = save(t, id, rec);
		if (rc == 0)
			rc = lmdb_err(kcg_store_retain(t, DB_EXC, id, KCG_ID_LEN, t->now_ms));
	}
	json_decref(rec);
	return rc;
}

/* Retention: a record still resolved at the time of its mark goes, with
 * its (kind, subject) index entry when that still points at it. */
static int expire(struct kcg_txn *t, const void *key, size_t key_len, uint64_t finished_ms)
{
	char id[KCG_ID_LEN + 1], when[32];
	json_t *rec;
	if (key_len != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	memcpy(id, key, KCG_ID_LEN);
	id[KCG_ID_LEN] = '\0';
	int rc = load(t, id, &rec);
	if (rc != 0)
		return rc == KCG_ESTORE ? KCG_ENOTFOUND : rc;
	kcg_format_time(finished_ms, when, sizeof(when));
	bool same = rec_field_is(rec, "resolved_at", when);
	const char *kind = json_string_value(json_object_get(rec, "kind"));
	const char *subject = json_string_value(json_object_get(rec, "subject"));
	char other[KCG_ID_LEN + 1];
	if (same && valid_field(kind) && valid_field(subject)) {
		rc = find_id(t, kind, subject, other);
		if (rc == 0 && strcmp(other, id) == 0) {
			unsigned char ikey[KEY_MAX];
			MDB_val ik = { make_key(kind, subject, ikey), ikey };
			rc = lmdb_err(mdb_del(t->txn, kcg_store_db(t->store, DB_KEY), &ik, NULL));
		} else if (rc == KCG_ENOTFOUND || rc == KCG_ESTORE) {
			rc = 0; /* no index entry, or a malformed one that is not ours */
		}
	}
	json_decref(rec);
	if (!same)
		return KCG_ENOTFOUND; /* reopened (and maybe resolved again: a later mark) */
	if (rc != 0)
		return rc;
	MDB_val k = { KCG_ID_LEN, id };
	return lmdb_err(mdb_del(t->txn, kcg_store_db(t->store, DB_EXC), &k, NULL));
}

const struct kcg_retention_owner kcg_exc_retention = { DB_EXC, expire };

int kcg_exc_resolve(struct kcg_txn *t, const char *kind, const char *subject, const char *how)
{
	char id[KCG_ID_LEN + 1];
	json_t *rec;

	if (!how)
		how = "auto";
	if (!t || !valid_field(kind) || !valid_field(subject) || !valid_field(how))
		return -EINVAL;
	int rc = find_id(t, kind, subject, id);
	if (rc == 0)
		rc = load(t, id, &rec);
	if (rc == KCG_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	return resolve_record(t, id, rec, how);
}

int kcg_exc_resolve_id(struct kcg_txn *t, const char *id)
{
	json_t *rec;

	if (!t)
		return -EINVAL;
	if (!id || strnlen(id, KCG_ID_LEN + 1) != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	int rc = load(t, id, &rec);
	if (rc != 0)
		return rc;
	return resolve_record(t, id, rec, "manual");
}

bool kcg_exc_is_open(struct kcg_txn *t, const char *kind, const char *subject)
{
	char id[KCG_ID_LEN + 1];
	json_t *rec;

	if (!t || !valid_field(kind) || !valid_field(subject))
		return false;
	if (find_id(t, kind, subject, id) != 0 || load(t, id, &rec) != 0)
		return false;
	bool open = rec_open(rec);
	json_decref(rec);
	return open;
}

static bool matches(const json_t *rec, int open, const char *kind, const char *owner, const char *severity)
{
	if (open >= 0 && rec_open(rec) != (open == 1))
		return false;
	if (kind && !rec_field_is(rec, "kind", kind))
		return false;
	if (severity && !rec_field_is(rec, "severity", severity))
		return false;
	return !owner || rec_field_is(rec, "owner", owner);
}

int kcg_exc_list(struct kcg_txn *t, int open, const char *kind, const char *owner, size_t limit, json_t **out)
{
	return kcg_exc_list_severity(t, open, kind, owner, NULL, limit, out);
}

int kcg_exc_list_severity(struct kcg_txn *t, int open, const char *kind, const char *owner, const char *severity,
			  size_t limit, json_t **out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t scanned = 0;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!t || open < -1 || open > 1)
		return -EINVAL;
	json_t *list = json_array();
	if (!list)
		return -ENOMEM;
	rc = lmdb_err(mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_EXC), &cur));
	if (rc != 0)
		goto fail_list;

	/* Ids are ULIDs: walking backwards is newest first. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == 0 && json_array_size(list) < limit && scanned < KCG_EXC_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_PREV), scanned++) {
		json_t *rec = parse(&v);
		if (!rec) {
			rc = KCG_ESTORE;
			goto fail_cursor;
		}
		if (!matches(rec, open, kind, owner, severity)) {
			json_decref(rec);
			continue;
		}
		if (json_array_append_new(list, rec) != 0) {
			rc = -ENOMEM;
			goto fail_cursor;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = lmdb_err(rc);
		goto fail_cursor;
	}
	mdb_cursor_close(cur);
	*out = list;
	return 0;

fail_cursor:
	mdb_cursor_close(cur);
fail_list:
	json_decref(list);
	return rc;
}

int kcg_exc_open_counts(struct kcg_txn *t, json_t **out)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t scanned = 0;
	int rc = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!t)
		return -EINVAL;
	json_t *counts = json_object();
	if (!counts)
		return -ENOMEM;
	/* Known kinds always present, so a gauge drops to 0 instead of vanishing:
	 * the runbook's order, despatch and core kinds (the stock and inriver
	 * kinds appear once raised; GET /admin/stock/sync zero-fills its own). */
	for (const struct kcg_runbook_entry *e = kcg_runbook; e->kind && rc == 0; e++)
		if (strcmp(e->flow, "stock") != 0 && strcmp(e->flow, "inriver") != 0)
			rc = set(counts, e->kind, json_integer(0));
	if (rc != 0)
		goto fail_counts;
	rc = lmdb_err(mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_EXC), &cur));
	if (rc != 0)
		goto fail_counts;

	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && scanned < KCG_EXC_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), scanned++) {
		json_t *rec = parse(&v);
		if (!rec) {
			rc = KCG_ESTORE;
			goto fail_cursor;
		}
		const char *kind = json_string_value(json_object_get(rec, "kind"));
		if (kind) {
			json_int_t n = json_integer_value(json_object_get(counts, kind));
			rc = set(counts, kind, json_integer(n + (rec_open(rec) ? 1 : 0)));
		}
		json_decref(rec);
		if (rc != 0)
			goto fail_cursor;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = lmdb_err(rc);
		goto fail_cursor;
	}
	mdb_cursor_close(cur);
	*out = counts;
	return 0;

fail_cursor:
	mdb_cursor_close(cur);
fail_counts:
	json_decref(counts);
	return rc;
}

int kcg_exc_severity_of(const char *name)
{
	for (int s = KCG_SEV_INFO; s <= KCG_SEV_CRITICAL; s++)
		if (name && strcmp(name, kcg_exc_severity_name((enum kcg_exc_severity)s)) == 0)
			return s;
	return -1;
}

int kcg_exc_read(struct kcg_txn *t, const char *id, json_t **rec)
{
	if (!t || !id || strnlen(id, KCG_ID_LEN + 1) != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	return load(t, id, rec);
}

const char *kcg_exc_severity_name(enum kcg_exc_severity sev)
{
	switch (sev) {
	case KCG_SEV_INFO:
		return "info";
	case KCG_SEV_WARNING:
		return "warning";
	case KCG_SEV_CRITICAL:
		return "critical";
	}
	return "unknown";
}
