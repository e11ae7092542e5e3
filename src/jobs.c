/*
 * jobs.c: the job queue in LMDB (see jobs.h for the model and the layout).
 *
 * Records, the due index and the live map change together, in the caller's
 * transaction, and so do the counts in meta: every state change below
 * bumps one count down and another up. Nothing here runs a job; the engine
 * (engine.c) does, and the admin views (jobs_view.c) only read.
 */
#include "kcgate/jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/json.h"

#define DB_JOBS "jobs"
#define DB_DUE "jobs_due"
#define DB_LIVE "jobs_live"
#define DUE_KEY_LEN (1 + 8 + KCG_ID_LEN)
#define LIVE_KEY_MAX (KCG_JOB_KIND_MAX + 1 + KCG_JOB_SUBJECT_MAX)
#define DUE_LOOK_MAX 1000      /* due entries one kcg_jobs_due() may look at */

static const char *const lane_names[KCG_LANE_COUNT] = { "mirakl", "khaos", "inriver", "alerts", "mirakl_stock", "inriver_push",
								       "alerts_mail" };
static const char *const state_names[KCG_JOB_STATE_COUNT] = { "pending", "done", "dead" };

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

int kcg_lane_of(const char *name)
{
	for (int i = 0; i < KCG_LANE_COUNT; i++)
		if (name && strcmp(name, lane_names[i]) == 0)
			return i;
	return -1;
}

const char *kcg_job_state_name(enum kcg_job_state state)
{
	return state < KCG_JOB_STATE_COUNT ? state_names[state] : "unknown";
}

int kcg_job_state_of(const char *name)
{
	for (int i = 0; i < KCG_JOB_STATE_COUNT; i++)
		if (name && strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

/* A record's state, -1 when it names none. */
static int state_of(const json_t *rec)
{
	return kcg_job_state_of(kcg_json_str(rec, "state"));
}

static void set_state(json_t *rec, enum kcg_job_state state)
{
	json_object_set_new(rec, "state", json_string(state_names[state]));
}

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

static int count_name(char name[48], int lane, int state)
{
	return snprintf(name, 48, "jobs.%s.%s", lane_names[lane], state_names[state]);
}

/* Adds @p delta to the count of jobs of @p lane in @p state. */
static int bump(struct kcg_txn *t, int lane, int state, int64_t delta)
{
	char name[48];
	int n = count_name(name, lane, state);
	return kcg_txn_add_u64(t, "meta", name, (size_t)n, delta);
}

static int put_record(struct kcg_txn *t, const char *id, json_t *rec)
{
	return kcg_txn_put_json(t, DB_JOBS, id, KCG_ID_LEN, rec);
}

int kcg_jobs_read(struct kcg_txn *t, const char *id, json_t **rec)
{
	int rc = kcg_txn_get_json(t, DB_JOBS, id, KCG_ID_LEN, rec);
	if (rc == 0 && !json_is_object(*rec)) {
		json_decref(*rec);
		return KCG_ESTORE;
	}
	return rc;
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
				payload ? json_deep_copy(payload) : json_object(), "state", state_names[KCG_JOB_PENDING], "attempts", 0, "next_at",
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
	rc = bump(t, lane, KCG_JOB_PENDING, 1);
	if (rc == 0 && id_out)
		memcpy(id_out, id, KCG_ID_LEN + 1);
	return rc;
}

/* Takes a pending job off the due index and the live map. */
static int unschedule(struct kcg_txn *t, int lane, const json_t *rec)
{
	unsigned char dk[DUE_KEY_LEN];
	char lk[LIVE_KEY_MAX];
	due_key(dk, lane, kcg_json_u64(rec, "next_at"), kcg_json_str(rec, "id"));
	MDB_val k = { DUE_KEY_LEN, dk };
	int rc = mdb_del(t->txn, kcg_store_db(t->store, DB_DUE), &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	k = (MDB_val){ live_key(lk, kcg_json_str(rec, "kind"), kcg_json_str(rec, "subject")), lk };
	MDB_val v;
	/* Only if the live entry is this job (a newer one may own the subject). */
	rc = mdb_get(t->txn, kcg_store_db(t->store, DB_LIVE), &k, &v);
	if (rc == 0 && v.mv_size == KCG_ID_LEN && memcmp(v.mv_data, kcg_json_str(rec, "id"), KCG_ID_LEN) == 0)
		rc = mdb_del(t->txn, kcg_store_db(t->store, DB_LIVE), &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Makes a job pending again, due at @p next_at (a retry, or an admin retry). */
static int reschedule(struct kcg_txn *t, int lane, json_t *rec, uint64_t next_at)
{
	unsigned char dk[DUE_KEY_LEN];
	json_object_set_new(rec, "next_at", json_integer((json_int_t)next_at));
	due_key(dk, lane, next_at, kcg_json_str(rec, "id"));
	MDB_val k = { DUE_KEY_LEN, dk }, empty = { 0, NULL };
	int rc = mdb_put(t->txn, kcg_store_db(t->store, DB_DUE), &k, &empty, 0);
	if (rc != 0)
		return rc;
	char lk[LIVE_KEY_MAX];
	k = (MDB_val){ live_key(lk, kcg_json_str(rec, "kind"), kcg_json_str(rec, "subject")), lk };
	MDB_val v = { KCG_ID_LEN, (void *)kcg_json_str(rec, "id") };
	return mdb_put(t->txn, kcg_store_db(t->store, DB_LIVE), &k, &v, 0);
}

/* ---- for the engine ---- */

int kcg_jobs_due(struct kcg_txn *t, enum kcg_lane lane, uint64_t now_ms,
		 int (*fn)(struct kcg_txn *txn, const char *id, void *arg), void *arg)
{
	MDB_cursor *cur;
	unsigned char start[DUE_KEY_LEN] = { 0 };
	start[0] = (unsigned char)lane;
	MDB_val k = { 1, start }, v;
	unsigned looked = 0;

	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_DUE), &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *key = k.mv_data;
		if (k.mv_size != DUE_KEY_LEN || key[0] != lane || kcg_get_be64(key + 1) > now_ms)
			break;
		if (++looked > DUE_LOOK_MAX)
			break;
		char id[KCG_ID_LEN + 1];
		memcpy(id, key + 9, KCG_ID_LEN);
		id[KCG_ID_LEN] = '\0';
		if (fn(t, id, arg) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int kcg_jobs_load_run(struct kcg_txn *t, const char *id, const struct kcg_job_kind *const *kinds,
		      struct kcg_job_run *run)
{
	json_t *rec;
	int rc = kcg_jobs_read(t, id, &rec);
	if (rc != 0)
		return rc;
	const struct kcg_job_kind *kind = NULL;
	for (size_t i = 0; kinds[i] && !kind; i++)
		if (strcmp(kinds[i]->name, kcg_json_str(rec, "kind")) == 0)
			kind = kinds[i];
	int lane = kcg_lane_of(kcg_json_str(rec, "lane"));
	if (!kind || lane < 0) {
		json_decref(rec);
		return -ENOENT;
	}
	snprintf(run->id, sizeof(run->id), "%s", id);
	run->kind = kind;
	run->lane = (enum kcg_lane)lane;
	snprintf(run->subject, sizeof(run->subject), "%s", kcg_json_str(rec, "subject"));
	run->payload = json_incref(json_object_get(rec, "payload"));
	run->attempts = (uint32_t)kcg_json_u64(rec, "attempts");
	run->created_ms = kcg_json_u64(rec, "created_at");
	run->retry_after_s = -1;
	json_decref(rec);
	return 0;
}

void kcg_job_run_finish(struct kcg_job_run *run)
{
	if (!run)
		return;
	kcg_call_finish(&run->call);
	kcg_reply_finish(&run->reply);
	json_decref(run->payload);
	json_decref(run->result);
	if (run->blob && run->blob_free)
		run->blob_free(run->blob);
	run->payload = NULL;
	run->result = NULL;
	run->blob = NULL;
}

/* The exception and the kind's own effects of a job that dies. */
static int record_dead(struct kcg_txn *t, struct kcg_job_run *run, uint32_t attempts, const char *error)
{
	int rc = bump(t, run->lane, KCG_JOB_PENDING, -1);
	if (rc == 0)
		rc = bump(t, run->lane, KCG_JOB_DEAD, 1);
	char msg[512];
	snprintf(msg, sizeof(msg), "job %s (%s for %s) is dead after %u attempt(s): %s. Fix the cause, then POST /admin/jobs/%s/retry.",
		 run->id, run->kind->name, run->subject, attempts, error, run->id);
	struct kcg_exc exc = {
		.kind = KCG_EXC_DEAD_JOB,
		.severity = KCG_SEV_CRITICAL,
		/* both alert lanes' system is "alerts" (the runbook's name) */
		.system = run->lane == KCG_LANE_ALERTS_MAIL ? lane_names[KCG_LANE_ALERTS] : lane_names[run->lane],
		.owner = "operations",
		.subject = run->id,
		.message = msg,
	};
	if (rc == 0)
		rc = kcg_exc_raise(t, &exc, NULL);
	if (rc == 0 && run->kind->dead)
		rc = run->kind->dead(t, run);
	return rc;
}

int kcg_jobs_record(struct kcg_txn *t, struct kcg_job_run *run, enum kcg_step asked, uint64_t retry_in_ms,
		    uint64_t max_age_ms, enum kcg_step *recorded)
{
	json_t *rec;
	int rc = kcg_jobs_read(t, run->id, &rec);
	if (rc == KCG_ENOTFOUND)
		return 0; /* nothing to record against */
	if (rc != 0)
		return rc;
	if (state_of(rec) != KCG_JOB_PENDING)
		goto out; /* recorded already (a replayed outcome): keep the first */

	enum kcg_step outcome = asked;
	char error[KCG_ERROR_MAX];
	memcpy(error, run->error, sizeof(error));
	uint32_t attempts = (uint32_t)kcg_json_u64(rec, "attempts");
	uint64_t next_at = 0;
	if (outcome != KCG_STEP_DONE)
		attempts++; /* attempts counts the runs that failed */
	if (outcome == KCG_STEP_RETRY) {
		next_at = t->now_ms + retry_in_ms;
		if (next_at > kcg_json_u64(rec, "created_at") + max_age_ms) {
			outcome = KCG_STEP_DEAD;
			snprintf(error, sizeof(error), "gave up after %u attempts (jobs.max_age_h): %.150s", attempts,
				 run->error);
		}
	}
	*recorded = outcome;
	json_object_set_new(rec, "attempts", json_integer(attempts));
	json_object_set_new(rec, "updated_at", json_integer((json_int_t)t->now_ms));
	json_object_set_new(rec, "last_status", json_integer(run->status));
	json_object_set_new(rec, "last_error", json_string(outcome == KCG_STEP_DONE ? "" : error));
	rc = unschedule(t, run->lane, rec);
	if (rc != 0)
		goto out;
	switch (outcome) {
	case KCG_STEP_RETRY:
		rc = reschedule(t, run->lane, rec, next_at);
		break;
	case KCG_STEP_DONE:
		set_state(rec, KCG_JOB_DONE);
		rc = bump(t, run->lane, KCG_JOB_PENDING, -1);
		if (rc == 0)
			rc = bump(t, run->lane, KCG_JOB_DONE, 1);
		if (rc == 0) /* it may have died before and been retried by hand */
			rc = kcg_exc_resolve(t, KCG_EXC_DEAD_JOB, run->id, "auto");
		if (rc == 0) /* done is for good: it goes after the retention horizon */
			rc = kcg_store_retain(t, DB_JOBS, run->id, KCG_ID_LEN, t->now_ms);
		break;
	default:
		set_state(rec, KCG_JOB_DEAD);
		rc = record_dead(t, run, attempts, error);
		break;
	}
	if (rc == 0)
		rc = put_record(t, run->id, rec);
	if (rc == 0 && run->apply)
		rc = run->apply(t, run);
out:
	json_decref(rec);
	return rc;
}

/* ---- retention ---- */

/* A done job goes with its count (done is final: nothing reopens it). */
static int expire(struct kcg_txn *t, const void *key, size_t key_len, uint64_t finished_ms)
{
	char id[KCG_ID_LEN + 1];
	json_t *rec;
	if (key_len != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	memcpy(id, key, KCG_ID_LEN);
	id[KCG_ID_LEN] = '\0';
	int rc = kcg_jobs_read(t, id, &rec);
	if (rc != 0)
		return rc == KCG_ESTORE ? KCG_ENOTFOUND : rc;
	bool done = state_of(rec) == KCG_JOB_DONE;
	int lane = kcg_lane_of(kcg_json_str(rec, "lane"));
	json_decref(rec);
	if (!done)
		return KCG_ENOTFOUND;
	MDB_val k = { KCG_ID_LEN, id };
	rc = mdb_del(t->txn, kcg_store_db(t->store, DB_JOBS), &k, NULL);
	if (rc == 0 && lane >= 0)
		rc = bump(t, lane, KCG_JOB_DONE, -1);
	return rc;
}

const struct kcg_retention_owner kcg_jobs_retention = { DB_JOBS, expire };

/* ---- an admin retry ---- */

static int retry_fn(struct kcg_txn *t, void *arg)
{
	const char *id = arg;
	json_t *rec;
	int rc = kcg_jobs_read(t, id, &rec);
	if (rc != 0)
		return rc;
	int lane = kcg_lane_of(kcg_json_str(rec, "lane"));
	if (state_of(rec) != KCG_JOB_DEAD || lane < 0) {
		json_decref(rec);
		return -EINVAL;
	}
	/* Another job for the same kind and subject may have been created
	 * since this one died: two live ones could both act (two bookings). */
	char lk[LIVE_KEY_MAX];
	MDB_val k = { live_key(lk, kcg_json_str(rec, "kind"), kcg_json_str(rec, "subject")), lk }, v;
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
	set_state(rec, KCG_JOB_PENDING);
	json_object_set_new(rec, "attempts", json_integer(0));
	json_object_set_new(rec, "created_at", json_integer((json_int_t)t->now_ms));
	json_object_set_new(rec, "updated_at", json_integer((json_int_t)t->now_ms));
	rc = reschedule(t, lane, rec, t->now_ms);
	if (rc == 0)
		rc = bump(t, lane, KCG_JOB_DEAD, -1);
	if (rc == 0)
		rc = bump(t, lane, KCG_JOB_PENDING, 1);
	if (rc == 0)
		rc = put_record(t, id, rec);
	json_decref(rec);
	return rc;
}

int kcg_jobs_retry(struct kcg_store *store, const char *id)
{
	if (!id || strlen(id) != KCG_ID_LEN)
		return KCG_ENOTFOUND;
	return kcg_store_write_sync(store, retry_fn, (void *)id);
}

/* ---- for the admin views ---- */

int kcg_jobs_walk(struct kcg_txn *t, const char *before, int (*fn)(const char *id, json_t *rec, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;

	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_JOBS), &cur);
	if (rc != 0)
		return rc;
	if (before) {
		k = (MDB_val){ KCG_ID_LEN, (void *)before };
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : mdb_cursor_get(cur, &k, &v, MDB_LAST);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	}
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
		char id[KCG_ID_LEN + 1];
		bool id_ok = k.mv_size == KCG_ID_LEN;
		if (id_ok) {
			memcpy(id, k.mv_data, KCG_ID_LEN);
			id[KCG_ID_LEN] = '\0';
		}
		json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		int stop = fn(id_ok ? id : NULL, rec, arg);
		json_decref(rec);
		if (stop != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

int kcg_jobs_stats(struct kcg_txn *t, struct kcg_jobs_stats *out)
{
	MDB_dbi meta = kcg_store_db(t->store, "meta");
	MDB_cursor *cur;
	MDB_val k, v;
	for (int l = 0; l < KCG_LANE_COUNT; l++) {
		for (int s = 0; s < KCG_JOB_STATE_COUNT; s++) {
			char name[48];
			k = (MDB_val){ (size_t)count_name(name, l, s), name };
			if (mdb_get(t->txn, meta, &k, &v) == 0 && v.mv_size == 8)
				out->count[l][s] = kcg_get_be64(v.mv_data);
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
			out->oldest_due_ms[l] = at < t->now_ms ? t->now_ms - at : 0;
		}
	}
	mdb_cursor_close(cur);
	return 0;
}
