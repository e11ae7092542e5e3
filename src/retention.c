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

struct sweep_arg {
	struct kcg_store *s;
	uint64_t cutoff;
	uint64_t now;
	uint64_t *removed;
};

/* A mark: finished at or after the cutoff, stop; else its owner deletes the
 * record (or finds it reopened), and the mark goes. A mark of an owner no
 * longer registered, or a malformed one, just goes. */
static int visit_mark(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *arg)
{
	struct sweep_arg *a = arg;
	const unsigned char *p = k->mv_data;
	if (k->mv_size < 8)
		return 0;
	uint64_t finished = kcg_get_be64(p);
	if (finished >= a->cutoff)
		return STORE_STOP;
	const unsigned char *nul = memchr(p + 8, '\0', k->mv_size - 8);
	size_t idx;
	const struct kcg_retention_owner *o = nul ? find_owner(a->s, (const char *)p + 8, (size_t)(nul - (p + 8)), &idx)
						  : NULL;
	size_t klen = nul ? k->mv_size - (size_t)(nul + 1 - p) : 0;
	if (!o || klen == 0 || klen > KCG_RETAIN_KEY_MAX)
		return 0;
	/* the owner writes (deletes): copy the key out of the map first */
	unsigned char key[KCG_RETAIN_KEY_MAX];
	memcpy(key, nul + 1, klen);
	struct kcg_txn t = { .txn = txn, .store = a->s, .now_ms = a->now };
	int rc = o->expire(&t, key, klen, finished);
	if (rc == 0)
		a->removed[2 + idx]++;
	return rc == KCG_ENOTFOUND ? 0 : rc;
}

int retention_sweep(struct kcg_store *s, MDB_txn *txn, uint64_t now, size_t budget, uint64_t *removed, bool *more)
{
	*more = false;
	if (!s->retention_ms || now < s->retention_ms)
		return 0;
	struct sweep_arg a = { s, now - s->retention_ms, now, removed };
	return store_drain(txn, s->retain, budget, visit_mark, &a, more);
}

uint64_t retention_oldest(struct kcg_store *s, MDB_txn *txn)
{
	MDB_val k, v;
	if (store_first(txn, s->retain, &k, &v) != 0 || k.mv_size < 8)
		return 0;
	return kcg_get_be64(k.mv_data);
}
