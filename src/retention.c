/*
 * retention.c: the retention index and its sweeper (see "Retention" in
 * store.h).
 *
 * "retain" keys are finish time (u64 BE) + owner NUL + the owner's record
 * key, with empty values: walking it from the first key visits finished
 * records oldest first, so a sweep looks only at what it deletes (plus the
 * one key that tells it to stop). A stale mark (the record reopened, or
 * finished again later) expires as KCG_ENOTFOUND and is dropped.
 */
#include <errno.h>
#include <string.h>

#include <lmdb.h>

#include "store_private.h"

#define OWNER_MAX 32 /* longest owner name */

static const struct kcg_retention_owner *find_owner(struct kcg_store *s, const char *name, size_t len, size_t *idx)
{
	for (size_t i = 0; i < s->n_owners; i++) {
		if (strlen(s->owners[i]->name) == len && memcmp(s->owners[i]->name, name, len) == 0) {
			*idx = i;
			return s->owners[i];
		}
	}
	return NULL;
}

int kcg_store_retain(struct kcg_txn *t, const char *owner, const void *key, size_t key_len, uint64_t finished_ms)
{
	unsigned char buf[8 + OWNER_MAX + 1 + KCG_RETAIN_KEY_MAX];
	size_t ol = strlen(owner), idx;
	if (ol > OWNER_MAX || key_len == 0 || key_len > KCG_RETAIN_KEY_MAX)
		return -EINVAL;
	if (!find_owner(t->store, owner, ol, &idx))
		return 0; /* a store opened without this owner keeps its records */
	kcg_put_be64(buf, finished_ms);
	memcpy(buf + 8, owner, ol);
	buf[8 + ol] = '\0';
	memcpy(buf + 9 + ol, key, key_len);
	MDB_val k = { 9 + ol + key_len, buf }, v = { 0, NULL };
	return mdb_put(t->txn, t->store->retain, &k, &v, 0);
}

int retention_sweep(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed, bool *more)
{
	MDB_cursor *cur;
	MDB_val k, v;

	*more = false;
	if (!s->retention_ms || now < s->retention_ms)
		return 0;
	uint64_t cutoff = now - s->retention_ms;
	struct kcg_txn t = { .txn = txn, .store = s, .now_ms = now };
	int rc = mdb_cursor_open(txn, s->retain, &cur);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < budget; i++) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0)
			break;
		const unsigned char *p = k.mv_data;
		const unsigned char *nul = k.mv_size > 8 ? memchr(p + 8, '\0', k.mv_size - 8) : NULL;
		uint64_t finished = k.mv_size >= 8 ? kcg_get_be64(p) : 0;
		if (finished >= cutoff)
			break;
		size_t idx;
		const struct kcg_retention_owner *o =
			nul ? find_owner(s, (const char *)p + 8, (size_t)(nul - (p + 8)), &idx) : NULL;
		if (o && (size_t)(nul + 1 - p) < k.mv_size) {
			/* the owner may write (delete): copy the key out of the map first */
			unsigned char key[KCG_RETAIN_KEY_MAX];
			size_t klen = k.mv_size - (size_t)(nul + 1 - p);
			if (klen <= sizeof(key)) {
				memcpy(key, nul + 1, klen);
				rc = o->expire(&t, key, klen, finished);
				if (rc == 0)
					removed[2 + idx]++;
				else if (rc != KCG_ENOTFOUND)
					break;
				/* the cursor may have moved with the owner's deletes */
				rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
				if (rc != 0)
					break;
			}
		}
		/* a mark of an owner no longer registered (or malformed) just goes */
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
		if (i == budget - 1)
			*more = true;
	}
	mdb_cursor_close(cur);
	return rc;
}

uint64_t retention_oldest(struct kcg_store *s, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t ms = 0;
	if (mdb_cursor_open(txn, s->retain, &cur) != 0)
		return 0;
	if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && k.mv_size >= 8)
		ms = kcg_get_be64(k.mv_data);
	mdb_cursor_close(cur);
	return ms;
}
