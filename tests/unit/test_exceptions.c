/*
 * test_exceptions.c: the exception register, on a real store in a fresh
 * directory under $KCG_TEST_TMP (or /tmp), driven through the store's own
 * write (group commit, nested transaction) and read paths.
 *
 * Time: each operation runs with a copy of the store's kcg_txn whose
 * now_ms the test sets, so first_seen / last_seen / resolved_at are known.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"

#include "tmpdir.h"

/* Defined in store.c; store.h does not declare them yet. Compatible
 * redeclarations, harmless once it does. */
int kcg_store_write_sync(struct kcg_store *store, int (*apply)(struct kcg_txn *txn, void *arg), void *arg);
int kcg_store_read(struct kcg_store *store, int (*fn)(struct kcg_txn *txn, void *arg), void *arg);

#define MiB (1024u * 1024u)
#define T0 UINT64_C(1795000000000) /* 2026-11-18T... */

struct fixture {
	char dir[512];
	char path[600];
	struct kcg_store *store;
};

static int open_store(struct fixture *f)
{
	struct kcg_store_options opt = {
		.path = f->path,
		.map_size_bytes = 64 * MiB,
		.dedupe_ttl_ms = 1000,
		.max_batch = 64,
		.queue_limit = 1000,
		.dbs = kcg_exc_dbs,
	};
	const char *why = NULL;
	int rc = kcg_store_open(&opt, &f->store, &why);
	if (rc != 0)
		fprintf(stderr, "kcg_store_open: %s (%s)\n", kcg_strerror(rc), why ? why : "?");
	return rc;
}

/* The store's exception hook (store.h): what each raise tells it; it may fail the raise. */
struct hook_log {
	enum kcg_exc_change change[8];
	enum kcg_exc_severity sev[8];
	long long count[8];
	char id[8][KCG_ID_LEN + 1];
	size_t n;
	int fail;
};

static int record_hook(struct kcg_txn *txn, const struct kcg_exc_raised *r, void *arg)
{
	struct hook_log *h = arg;
	if (h->fail)
		return h->fail;
	if (h->n < 8) {
		h->change[h->n] = r->change;
		h->sev[h->n] = r->severity;
		h->count[h->n] = json_integer_value(json_object_get(r->record, "count"));
		snprintf(h->id[h->n], sizeof(h->id[0]), "%s", r->id);
		h->n++;
	}
	return 0;
}

static struct hook_log hook_log;

static int setup_hooked(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f || tmpdir_make(f->dir, sizeof(f->dir), "kcg-exc") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	struct kcg_store_options opt = {
		.path = f->path, .map_size_bytes = 64 * MiB, .dedupe_ttl_ms = 1000, .max_batch = 64,
		.queue_limit = 1000, .dbs = kcg_exc_dbs, .on_exception = record_hook, .on_exception_arg = &hook_log,
	};
	hook_log = (struct hook_log){ 0 };
	*state = f;
	return kcg_store_open(&opt, &f->store, NULL) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (tmpdir_make(f->dir, sizeof(f->dir), "kcg-exc") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	*state = f;
	return open_store(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	return tmpdir_teardown(f->store, f->dir, f);
}

/* ---- one operation, run in a write or read transaction ---- */

enum op_kind { OP_RAISE, OP_RESOLVE, OP_RESOLVE_ID, OP_IS_OPEN, OP_LIST, OP_COUNTS };

struct op {
	enum op_kind kind;
	uint64_t now;               /* the clock the operation sees */
	struct kcg_exc exc;         /* OP_RAISE */
	const char *k, *subject;    /* OP_RESOLVE, OP_IS_OPEN */
	const char *how;            /* OP_RESOLVE */
	const char *id;             /* OP_RESOLVE_ID */
	int open;                   /* OP_LIST */
	const char *owner;          /* OP_LIST */
	size_t limit;               /* OP_LIST */
	const char *sev;            /* OP_LIST: the severity filter (NULL = any) */
	int fail;                   /* a write's apply returns this after a successful op */
	/* out */
	int rc;
	char id_out[KCG_ID_LEN + 1];
	bool is_open;
	json_t *json;
};

static int run_op(struct kcg_txn *txn, void *arg)
{
	struct op *op = arg;
	struct kcg_txn t = *txn;

	t.now_ms = op->now;
	switch (op->kind) {
	case OP_RAISE:
		op->rc = kcg_exc_raise(&t, &op->exc, op->id_out);
		break;
	case OP_RESOLVE:
		op->rc = kcg_exc_resolve(&t, op->k, op->subject, op->how);
		break;
	case OP_RESOLVE_ID:
		op->rc = kcg_exc_resolve_id(&t, op->id);
		break;
	case OP_IS_OPEN:
		op->is_open = kcg_exc_is_open(&t, op->k, op->subject);
		op->rc = 0;
		break;
	case OP_LIST:
		op->rc = op->sev ? kcg_exc_list_severity(&t, op->open, op->k, op->owner, op->sev, op->limit, &op->json)
				 : kcg_exc_list(&t, op->open, op->k, op->owner, op->limit, &op->json);
		break;
	case OP_COUNTS:
		op->rc = kcg_exc_open_counts(&t, &op->json);
		break;
	}
	return op->rc != 0 ? op->rc : op->fail;
}

static struct kcg_exc exc(const char *kind, const char *subject, const char *owner, const char *msg)
{
	return (struct kcg_exc){
		.kind = kind, .severity = KCG_SEV_WARNING, .system = "khaos", .owner = owner,
		.subject = subject, .message = msg,
	};
}

/* Raises in its own write; returns the write's result, the id in @p id. */
static int raise_at(struct fixture *f, uint64_t now, struct kcg_exc e, char id[KCG_ID_LEN + 1])
{
	struct op op = { .kind = OP_RAISE, .now = now, .exc = e };
	int rc = kcg_store_write_sync(f->store, run_op, &op);
	if (id)
		memcpy(id, op.id_out, sizeof(op.id_out));
	return rc;
}

static int resolve_at(struct fixture *f, uint64_t now, const char *kind, const char *subject, const char *how)
{
	struct op op = { .kind = OP_RESOLVE, .now = now, .k = kind, .subject = subject, .how = how };
	return kcg_store_write_sync(f->store, run_op, &op);
}

static int resolve_id_at(struct fixture *f, uint64_t now, const char *id)
{
	struct op op = { .kind = OP_RESOLVE_ID, .now = now, .id = id };
	return kcg_store_write_sync(f->store, run_op, &op);
}

static bool is_open(struct fixture *f, const char *kind, const char *subject)
{
	struct op op = { .kind = OP_IS_OPEN, .k = kind, .subject = subject };
	assert_int_equal(kcg_store_read(f->store, run_op, &op), 0);
	return op.is_open;
}

static json_t *list(struct fixture *f, int open, const char *kind, const char *owner, size_t limit)
{
	struct op op = { .kind = OP_LIST, .open = open, .k = kind, .owner = owner, .limit = limit };
	assert_int_equal(kcg_store_read(f->store, run_op, &op), 0);
	assert_non_null(op.json);
	assert_true(json_is_array(op.json));
	return op.json;
}

static json_t *counts(struct fixture *f)
{
	struct op op = { .kind = OP_COUNTS };
	assert_int_equal(kcg_store_read(f->store, run_op, &op), 0);
	assert_non_null(op.json);
	return op.json;
}

static const char *str(const json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

static json_int_t num(const json_t *rec, const char *key)
{
	json_t *v = json_object_get(rec, key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void assert_time(const json_t *rec, const char *key, uint64_t ms)
{
	char want[32];
	kcg_format_time(ms, want, sizeof(want));
	assert_non_null(str(rec, key));
	assert_string_equal(str(rec, key), want);
}

/* ---- tests ---- */

static void test_raise_creates(void **state)
{
	struct fixture *f = *state;
	char id[KCG_ID_LEN + 1];

	assert_false(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "SKU-1 is not in Khaos"), id), 0);
	assert_int_equal(strlen(id), KCG_ID_LEN);
	assert_true(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));

	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	json_t *r = json_array_get(l, 0);
	assert_int_equal(json_object_size(r), 12);
	assert_string_equal(str(r, "id"), id);
	assert_string_equal(str(r, "kind"), KCG_EXC_UNKNOWN_SKU);
	assert_string_equal(str(r, "severity"), "warning");
	assert_string_equal(str(r, "system"), "khaos");
	assert_string_equal(str(r, "owner"), "operations");
	assert_string_equal(str(r, "subject"), "SKU-1");
	assert_string_equal(str(r, "message"), "SKU-1 is not in Khaos");
	assert_time(r, "first_seen", T0);
	assert_time(r, "last_seen", T0);
	assert_int_equal(num(r, "count"), 1);
	assert_true(json_is_null(json_object_get(r, "resolved_at")));
	assert_true(json_is_null(json_object_get(r, "resolved_by")));
	json_decref(l);
}

static void test_raise_again_updates(void **state)
{
	struct fixture *f = *state;
	char id1[KCG_ID_LEN + 1], id2[KCG_ID_LEN + 1];

	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "first"), id1), 0);
	struct kcg_exc e = exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "ecommerce", "second");
	e.severity = KCG_SEV_CRITICAL;
	e.system = "mirakl";
	assert_int_equal(raise_at(f, T0 + 5000, e, id2), 0);
	assert_string_equal(id1, id2);

	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	json_t *r = json_array_get(l, 0);
	assert_int_equal(num(r, "count"), 2);
	assert_time(r, "first_seen", T0);
	assert_time(r, "last_seen", T0 + 5000);
	assert_string_equal(str(r, "message"), "second");
	assert_string_equal(str(r, "severity"), "critical");
	assert_string_equal(str(r, "system"), "mirakl");
	assert_string_equal(str(r, "owner"), "ecommerce");
	json_decref(l);
}

static void test_different_subject_or_kind(void **state)
{
	struct fixture *f = *state;
	char a[KCG_ID_LEN + 1], b[KCG_ID_LEN + 1], c[KCG_ID_LEN + 1];

	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "m"), a), 0);
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-2", "operations", "m"), b), 0);
	/* Same subject, other kind: its own record. */
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_DEAD_JOB, "SKU-1", "operations", "m"), c), 0);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(b, c);

	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(num(json_array_get(l, i), "count"), 1);
	json_decref(l);

	/* Resolving one leaves the others open. */
	assert_int_equal(resolve_at(f, T0 + 1, KCG_EXC_UNKNOWN_SKU, "SKU-1", "auto"), 0);
	assert_false(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));
	assert_true(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-2"));
	assert_true(is_open(f, KCG_EXC_DEAD_JOB, "SKU-1"));
}

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	char id[KCG_ID_LEN + 1];

	/* Nothing to resolve: not an error. */
	assert_int_equal(resolve_at(f, T0, KCG_EXC_UNKNOWN_SKU, "SKU-1", "auto"), 0);

	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "m"), id), 0);
	assert_int_equal(resolve_at(f, T0 + 1000, KCG_EXC_UNKNOWN_SKU, "SKU-1", "auto"), 0);
	assert_false(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));
	/* Already resolved: left as it is. */
	assert_int_equal(resolve_at(f, T0 + 9000, KCG_EXC_UNKNOWN_SKU, "SKU-1", "manual"), 0);

	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	json_t *r = json_array_get(l, 0);
	assert_string_equal(str(r, "id"), id);
	assert_time(r, "resolved_at", T0 + 1000);
	assert_string_equal(str(r, "resolved_by"), "auto");
	assert_int_equal(num(r, "count"), 1);
	json_decref(l);

	/* NULL how means "auto". */
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_DEAD_JOB, "J1", "operations", "m"), NULL), 0);
	assert_int_equal(resolve_at(f, T0, KCG_EXC_DEAD_JOB, "J1", NULL), 0);
	l = list(f, 0, KCG_EXC_DEAD_JOB, NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(str(json_array_get(l, 0), "resolved_by"), "auto");
	json_decref(l);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	char id1[KCG_ID_LEN + 1], id2[KCG_ID_LEN + 1];

	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "first"), id1), 0);
	assert_int_equal(resolve_at(f, T0 + 1000, KCG_EXC_UNKNOWN_SKU, "SKU-1", "auto"), 0);
	assert_int_equal(raise_at(f, T0 + 2000, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "again"), id2), 0);
	assert_string_equal(id1, id2);
	assert_true(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));

	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	json_t *r = json_array_get(l, 0);
	assert_int_equal(num(r, "count"), 2);
	assert_time(r, "first_seen", T0);
	assert_time(r, "last_seen", T0 + 2000);
	assert_string_equal(str(r, "message"), "again");
	assert_true(json_is_null(json_object_get(r, "resolved_at")));
	assert_true(json_is_null(json_object_get(r, "resolved_by")));
	json_decref(l);
}

static void test_resolve_id(void **state)
{
	struct fixture *f = *state;
	char id[KCG_ID_LEN + 1], other[KCG_ID_LEN + 1];

	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_DEAD_JOB, "job-7", "operations", "m"), id), 0);
	assert_int_equal(kcg_make_id(T0, other), 0);
	assert_int_equal(resolve_id_at(f, T0 + 1, other), KCG_ENOTFOUND);
	assert_int_equal(resolve_id_at(f, T0 + 1, "short"), KCG_ENOTFOUND);
	assert_int_equal(resolve_id_at(f, T0 + 1, "0123456789012345678901234567"), KCG_ENOTFOUND);
	assert_int_equal(resolve_id_at(f, T0 + 1, NULL), KCG_ENOTFOUND);
	assert_true(is_open(f, KCG_EXC_DEAD_JOB, "job-7"));

	assert_int_equal(resolve_id_at(f, T0 + 500, id), 0);
	assert_false(is_open(f, KCG_EXC_DEAD_JOB, "job-7"));
	assert_int_equal(resolve_id_at(f, T0 + 900, id), 0); /* again: unchanged */

	json_t *l = list(f, -1, NULL, NULL, 100);
	json_t *r = json_array_get(l, 0);
	assert_time(r, "resolved_at", T0 + 500);
	assert_string_equal(str(r, "resolved_by"), "manual");
	json_decref(l);
}

static void assert_subjects(json_t *l, const char *const *want, size_t n)
{
	assert_int_equal(json_array_size(l), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(str(json_array_get(l, i), "subject"), want[i]);
	json_decref(l);
}

static void test_list_filters(void **state)
{
	struct fixture *f = *state;
	char ids[5][KCG_ID_LEN + 1];

	assert_int_equal(raise_at(f, T0 + 0, exc(KCG_EXC_UNKNOWN_SKU, "s0", "operations", "m"), ids[0]), 0);
	assert_int_equal(raise_at(f, T0 + 1, exc(KCG_EXC_UNKNOWN_SKU, "s1", "ecommerce", "m"), ids[1]), 0);
	assert_int_equal(raise_at(f, T0 + 2, exc(KCG_EXC_DEAD_JOB, "s2", "operations", "m"), ids[2]), 0);
	assert_int_equal(raise_at(f, T0 + 3, exc(KCG_EXC_ACCEPTANCE_DEADLINE, "s3", "finance", "m"), ids[3]), 0);
	assert_int_equal(raise_at(f, T0 + 4, exc(KCG_EXC_UNKNOWN_SKU, "s4", "operations", "m"), ids[4]), 0);
	assert_int_equal(resolve_at(f, T0 + 5, KCG_EXC_UNKNOWN_SKU, "s1", "auto"), 0);
	assert_int_equal(resolve_at(f, T0 + 5, KCG_EXC_DEAD_JOB, "s2", "auto"), 0);
	/* A later raise of an old record does not move it. */
	assert_int_equal(raise_at(f, T0 + 6, exc(KCG_EXC_UNKNOWN_SKU, "s0", "operations", "m"), NULL), 0);

	assert_subjects(list(f, -1, NULL, NULL, 100), (const char *const[]){ "s4", "s3", "s2", "s1", "s0" }, 5);
	assert_subjects(list(f, 1, NULL, NULL, 100), (const char *const[]){ "s4", "s3", "s0" }, 3);
	assert_subjects(list(f, 0, NULL, NULL, 100), (const char *const[]){ "s2", "s1" }, 2);
	assert_subjects(list(f, -1, KCG_EXC_UNKNOWN_SKU, NULL, 100), (const char *const[]){ "s4", "s1", "s0" }, 3);
	assert_subjects(list(f, 1, KCG_EXC_UNKNOWN_SKU, NULL, 100), (const char *const[]){ "s4", "s0" }, 2);
	assert_subjects(list(f, -1, NULL, "operations", 100), (const char *const[]){ "s4", "s2", "s0" }, 3);
	assert_subjects(list(f, 1, NULL, "operations", 100), (const char *const[]){ "s4", "s0" }, 2);
	assert_subjects(list(f, -1, KCG_EXC_UNKNOWN_SKU, "ecommerce", 100), (const char *const[]){ "s1" }, 1);
	assert_subjects(list(f, -1, "no_such_kind", NULL, 100), NULL, 0);
	assert_subjects(list(f, -1, NULL, NULL, 2), (const char *const[]){ "s4", "s3" }, 2);
	assert_subjects(list(f, 1, NULL, NULL, 2), (const char *const[]){ "s4", "s3" }, 2);
	assert_subjects(list(f, 0, NULL, NULL, 1), (const char *const[]){ "s2" }, 1);
	assert_subjects(list(f, -1, NULL, NULL, 0), NULL, 0);

	/* The severity filter: an older critical behind newer warnings. */
	struct kcg_exc crit = exc(KCG_EXC_DEAD_JOB, "s7", "operations", "m");
	crit.severity = KCG_SEV_CRITICAL;
	assert_int_equal(raise_at(f, T0 + 7, crit, NULL), 0);
	assert_int_equal(raise_at(f, T0 + 8, exc(KCG_EXC_UNKNOWN_SKU, "s8", "operations", "m"), NULL), 0);
	assert_subjects(list(f, 1, NULL, NULL, 1), (const char *const[]){ "s8" }, 1);
	struct op sop = { .kind = OP_LIST, .open = 1, .limit = 1, .sev = "critical" };
	assert_int_equal(kcg_store_read(f->store, run_op, &sop), 0);
	assert_subjects(sop.json, (const char *const[]){ "s7" }, 1);

	/* Bad arguments. */
	struct op op = { .kind = OP_LIST, .open = 2, .limit = 10 };
	assert_int_equal(kcg_store_read(f->store, run_op, &op), -EINVAL);
	assert_null(op.json);
	op.open = -2;
	assert_int_equal(kcg_store_read(f->store, run_op, &op), -EINVAL);
	assert_null(op.json);
}

static void test_open_counts(void **state)
{
	struct fixture *f = *state;

	json_t *c = counts(f);
	assert_int_equal(json_object_size(c), 22); /* with despatch_unreadable, despatch_short, carriers_unavailable */
	assert_int_equal(num(c, KCG_EXC_ORDER_UNBOOKABLE), 0);
	assert_int_equal(num(c, KCG_EXC_UNKNOWN_SKU), 0);
	assert_int_equal(num(c, KCG_EXC_UNMAPPED_CARRIER), 0);
	assert_int_equal(num(c, KCG_EXC_SHIPPING_DEADLINE), 0);
	assert_int_equal(num(c, KCG_EXC_SHIPPED_CANCELLED), 0);
	assert_int_equal(num(c, KCG_EXC_KHAOS_CANCELLED), 0);
	assert_int_equal(num(c, KCG_EXC_PRICE_MISMATCH), 0);
	assert_int_equal(num(c, KCG_EXC_UNMAPPED_SHIPPING_METHOD), 0);
	assert_int_equal(num(c, KCG_EXC_SHORT_STOCK), 0);
	assert_int_equal(num(c, KCG_EXC_BOOKED_CANCELLED), 0);
	assert_int_equal(num(c, KCG_EXC_AUTO_REFUSED), 0);
	assert_int_equal(num(c, KCG_EXC_ADDRESS_MISSING), 0);
	assert_int_equal(num(c, KCG_EXC_KHAOS_REJECTED), 0);
	assert_int_equal(num(c, KCG_EXC_MISSING_IN_KHAOS), 0);
	assert_int_equal(num(c, KCG_EXC_ORDER_REF_TOO_LONG), 0);
	assert_int_equal(num(c, KCG_EXC_WEBHOOK_TRUNCATED), 0);
	assert_int_equal(num(c, KCG_EXC_ACCEPTANCE_DEADLINE), 0);
	assert_int_equal(num(c, KCG_EXC_UNPARSEABLE_WEBHOOK), 0);
	assert_int_equal(num(c, KCG_EXC_DEAD_JOB), 0);
	json_decref(c);

	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "a", "operations", "m"), NULL), 0);
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "b", "operations", "m"), NULL), 0);
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "c", "operations", "m"), NULL), 0);
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "c", "operations", "m"), NULL), 0); /* update */
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_DEAD_JOB, "j", "operations", "m"), NULL), 0);
	assert_int_equal(raise_at(f, T0, exc("custom_kind", "x", "marketing", "m"), NULL), 0);
	assert_int_equal(resolve_at(f, T0, KCG_EXC_UNKNOWN_SKU, "a", "auto"), 0);
	assert_int_equal(resolve_at(f, T0, "custom_kind", "x", "auto"), 0);

	c = counts(f);
	assert_int_equal(json_object_size(c), 23);
	assert_int_equal(num(c, KCG_EXC_UNKNOWN_SKU), 2);
	assert_int_equal(num(c, KCG_EXC_DEAD_JOB), 1);
	assert_int_equal(num(c, KCG_EXC_ACCEPTANCE_DEADLINE), 0);
	assert_int_equal(num(c, KCG_EXC_UNPARSEABLE_WEBHOOK), 0);
	assert_int_equal(num(c, "custom_kind"), 0);
	json_decref(c);
}

static void test_persistence(void **state)
{
	struct fixture *f = *state;
	char id[KCG_ID_LEN + 1];

	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "m"), id), 0);
	assert_int_equal(raise_at(f, T0 + 1, exc(KCG_EXC_DEAD_JOB, "J", "operations", "m"), NULL), 0);
	assert_int_equal(resolve_at(f, T0 + 2, KCG_EXC_DEAD_JOB, "J", "manual"), 0);
	kcg_store_close(f->store);
	f->store = NULL;
	assert_int_equal(open_store(f), 0);

	assert_true(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));
	assert_false(is_open(f, KCG_EXC_DEAD_JOB, "J"));
	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 2);
	assert_string_equal(str(json_array_get(l, 1), "id"), id);
	assert_string_equal(str(json_array_get(l, 0), "resolved_by"), "manual");
	json_decref(l);

	/* The index survived too: raising again updates the same record. */
	char again[KCG_ID_LEN + 1];
	assert_int_equal(raise_at(f, T0 + 3, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "m"), again), 0);
	assert_string_equal(again, id);
	l = list(f, 1, KCG_EXC_UNKNOWN_SKU, NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(num(json_array_get(l, 0), "count"), 2);
	json_decref(l);
}

static void test_atomic_with_cause(void **state)
{
	struct fixture *f = *state;

	/* A raise whose write then fails leaves nothing. */
	struct op op = { .kind = OP_RAISE, .now = T0, .exc = exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "m"),
			 .fail = -EIO };
	assert_int_equal(kcg_store_write_sync(f->store, run_op, &op), -EIO);
	assert_int_equal(op.rc, 0);
	assert_false(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));
	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);

	/* Nor does an update or a resolve. */
	assert_int_equal(raise_at(f, T0, exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "m"), NULL), 0);
	op = (struct op){ .kind = OP_RAISE, .now = T0 + 10, .exc = exc(KCG_EXC_UNKNOWN_SKU, "SKU-1", "operations", "x"),
			  .fail = -EIO };
	assert_int_equal(kcg_store_write_sync(f->store, run_op, &op), -EIO);
	op = (struct op){ .kind = OP_RESOLVE, .now = T0 + 20, .k = KCG_EXC_UNKNOWN_SKU, .subject = "SKU-1", .fail = -EIO };
	assert_int_equal(kcg_store_write_sync(f->store, run_op, &op), -EIO);
	assert_true(is_open(f, KCG_EXC_UNKNOWN_SKU, "SKU-1"));
	l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(num(json_array_get(l, 0), "count"), 1);
	assert_string_equal(str(json_array_get(l, 0), "message"), "m");
	assert_time(json_array_get(l, 0), "last_seen", T0);
	json_decref(l);
}

/* Several operations in one write transaction see each other's writes. */
static int many_apply(struct kcg_txn *txn, void *arg)
{
	char name[32], first[KCG_ID_LEN + 1], id[KCG_ID_LEN + 1];
	int rc;

	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "SKU-%d", i);
		rc = kcg_exc_raise(txn, &(struct kcg_exc){ .kind = KCG_EXC_UNKNOWN_SKU, .system = "khaos",
							  .owner = "operations", .subject = name, .message = "m" },
				   i == 0 ? first : NULL);
		if (rc != 0)
			return rc;
	}
	rc = kcg_exc_raise(txn, &(struct kcg_exc){ .kind = KCG_EXC_UNKNOWN_SKU, .system = "khaos",
						  .owner = "operations", .subject = "SKU-0", .message = "m" }, id);
	if (rc != 0)
		return rc;
	if (strcmp(first, id) != 0)
		return -EPROTO;
	rc = kcg_exc_resolve(txn, KCG_EXC_UNKNOWN_SKU, "SKU-1", "auto");
	if (rc != 0)
		return rc;
	if (kcg_exc_is_open(txn, KCG_EXC_UNKNOWN_SKU, "SKU-1") || !kcg_exc_is_open(txn, KCG_EXC_UNKNOWN_SKU, "SKU-2"))
		return -EPROTO;
	return kcg_exc_resolve_id(txn, first);
}

static void test_one_transaction(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(kcg_store_write_sync(f->store, many_apply, NULL), 0);
	json_t *l = list(f, -1, NULL, NULL, 1000);
	assert_int_equal(json_array_size(l), 50);
	assert_string_equal(str(json_array_get(l, 0), "subject"), "SKU-49");
	assert_string_equal(str(json_array_get(l, 49), "subject"), "SKU-0");
	assert_int_equal(num(json_array_get(l, 49), "count"), 2);
	json_decref(l);
	l = list(f, 1, NULL, NULL, 1000);
	assert_int_equal(json_array_size(l), 48);
	json_decref(l);
}

static void test_invalid(void **state)
{
	struct fixture *f = *state;
	char long_field[KCG_EXC_FIELD_MAX + 2];
	struct kcg_exc e;

	memset(long_field, 'a', sizeof(long_field) - 1);
	long_field[sizeof(long_field) - 1] = '\0'; /* KCG_EXC_FIELD_MAX + 1 bytes */

	e = exc(NULL, "s", "operations", "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("", "s", "operations", "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", NULL, "operations", "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "", "operations", "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "s", NULL, "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "s", "operations", NULL);
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "s", "operations", "m");
	e.system = NULL;
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "s", "operations", "m");
	e.severity = (enum kcg_exc_severity)7;
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", long_field, "operations", "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc(long_field, "s", "operations", "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "bad\xc3(utf8", "operations", "m");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "s", "operations", "overlong \xc0\xaf");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	e = exc("k", "s", "operations", "surrogate \xed\xa0\x80");
	assert_int_equal(raise_at(f, T0, e, NULL), -EINVAL);
	assert_int_equal(resolve_at(f, T0, "k", long_field, "auto"), -EINVAL);
	assert_int_equal(resolve_at(f, T0, NULL, "s", "auto"), -EINVAL);
	assert_false(is_open(f, NULL, "s"));
	assert_false(is_open(f, "k", long_field));
	json_t *l = list(f, -1, NULL, NULL, 100);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);

	/* Exactly the limit is fine; an empty message is fine. */
	long_field[KCG_EXC_FIELD_MAX] = '\0';
	assert_int_equal(raise_at(f, T0, exc(long_field, long_field, "operations", ""), NULL), 0);
	assert_true(is_open(f, long_field, long_field));

	/* A long message is cut on a character boundary: "x" then 2-byte "é"s,
	 * so the cut at KCG_EXC_MESSAGE_MAX would split one. */
	char msg[KCG_EXC_MESSAGE_MAX + 100];
	size_t n = 1;
	msg[0] = 'x';
	while (n + 2 < sizeof(msg)) {
		memcpy(msg + n, "\xc3\xa9", 2);
		n += 2;
	}
	msg[n] = '\0';
	assert_int_equal(raise_at(f, T0, exc("k", "long message", "operations", msg), NULL), 0);
	l = list(f, -1, "k", NULL, 100);
	assert_int_equal(json_array_size(l), 1);
	const char *kept = str(json_array_get(l, 0), "message");
	assert_non_null(kept);
	assert_int_equal(strlen(kept), KCG_EXC_MESSAGE_MAX - 1);
	assert_memory_equal(kept, msg, KCG_EXC_MESSAGE_MAX - 1);
	json_decref(l);

	assert_string_equal(kcg_exc_severity_name(KCG_SEV_INFO), "info");
	assert_string_equal(kcg_exc_severity_name(KCG_SEV_WARNING), "warning");
	assert_string_equal(kcg_exc_severity_name(KCG_SEV_CRITICAL), "critical");
}

/* The hook sees every raise, in its transaction: new, again, reopened;
 * its error fails the raise and nothing is written. */
static void test_hook(void **state)
{
	struct fixture *f = *state;
	char id[KCG_ID_LEN + 1], id2[KCG_ID_LEN + 1];
	struct kcg_exc e = exc(KCG_EXC_UNKNOWN_SKU, "SKU-H", "ecommerce", "m");
	assert_int_equal(raise_at(f, T0, e, id), 0);
	e.severity = KCG_SEV_CRITICAL;
	assert_int_equal(raise_at(f, T0 + 1, e, NULL), 0);
	assert_int_equal(resolve_at(f, T0 + 2, e.kind, e.subject, "manual"), 0);
	assert_int_equal(raise_at(f, T0 + 3, e, id2), 0);
	assert_int_equal(hook_log.n, 3); /* a resolve is no raise */
	assert_int_equal(hook_log.change[0], KCG_EXC_NEW);
	assert_int_equal(hook_log.change[1], KCG_EXC_AGAIN);
	assert_int_equal(hook_log.change[2], KCG_EXC_REOPENED);
	assert_int_equal(hook_log.sev[0], KCG_SEV_WARNING);
	assert_int_equal(hook_log.sev[1], KCG_SEV_CRITICAL);
	assert_int_equal(hook_log.count[2], 3); /* the record as saved */
	assert_string_equal(hook_log.id[0], id);
	assert_string_equal(hook_log.id[2], id); /* one id for life */
	assert_string_equal(id2, id);
	/* a failing hook: the raise fails, nothing of it is stored */
	hook_log.fail = -EIO;
	assert_int_equal(raise_at(f, T0 + 4, exc(KCG_EXC_SHORT_STOCK, "O-1", "operations", "x"), NULL), -EIO);
	hook_log.fail = 0;
	assert_false(is_open(f, KCG_EXC_SHORT_STOCK, "O-1"));
	json_t *all = list(f, -1, KCG_EXC_SHORT_STOCK, NULL, 10);
	assert_int_equal(json_array_size(all), 0);
	json_decref(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raise_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raise_again_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_different_subject_or_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_with_cause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook, setup_hooked, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
