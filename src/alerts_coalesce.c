/*
 * alerts_coalesce.c: no alert storm (see kcgate/alerts.h). A per-SKU kind
 * (a stock import refusing 40 lines, a catalogue with 300 unlinked codes)
 * is alerted at most once per (kind, owning team) per [alerts] coalesce_s:
 * the first as usual, the rest gathered and sent as one summary when the
 * window closes. Critical raises are never gathered.
 *
 * The gathering is a record in the alerts database, key
 * "~coalesce/<kind>/<owner>" (never an exception id: ids are base32),
 * {"until": ms, "n": u64, "subjects": [at most COALESCE_NAMES], "severity",
 * "system"}, written in the transaction that raises, so it survives a
 * crash. The alerts.coalesce timer (or the next raise of the pair after
 * the window) turns a closed window's gathering into one summary job per
 * channel, in one transaction with the record's deletion.
 */
#include "alerts_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/dynbuf.h"
#include "kcgate/engine.h"
#include "kcgate/json.h"
#include "kcgate/log.h"

#define COALESCE_PREFIX "~coalesce/"
#define COALESCE_NAMES 20      /* subjects named in a summary (the rest counted) */
#define COALESCE_SCAN_MAX 1000 /* records one tick looks at */
#define COALESCE_TICK_MS 1000

/* The per-SKU kinds: one raise per stock code, so a bad batch raises many. */
static const char *const per_sku[] = { "stock_import_line", "ghost_sku", "stock_drift", "unknown_sku",
				       "identifier_drift", "unlinked_sku", "duplicate_sku", NULL };

bool alerts_coalesced_kind(const char *kind)
{
	for (size_t i = 0; per_sku[i]; i++)
		if (strcmp(kind, per_sku[i]) == 0)
			return true;
	return false;
}

static int key_of(const char *kind, const char *owner, char *key, size_t cap)
{
	int n = snprintf(key, cap, COALESCE_PREFIX "%s/%s", kind, owner);
	return n > 0 && (size_t)n < cap ? 0 : -EINVAL;
}

/* Queues the summary of gathering @p rec (n > 0) for @p kind / @p owner. */
static int flush(struct kcg_txn *t, const struct kcg_flow_ctx *ctx, const char *kind, const char *owner, const json_t *rec)
{
	uint64_t n = kcg_json_u64(rec, "n");
	if (!n)
		return 0;
	json_t *subjects = json_object_get(rec, "subjects");
	struct kcg_dynbuf msg;
	kcg_dynbuf_init(&msg, 8192);
	kcg_dynbuf_printf(&msg, "%llu more %s: ", (unsigned long long)n, kind);
	size_t i, named = json_array_size(subjects);
	json_t *s;
	json_array_foreach(subjects, i, s)
		kcg_dynbuf_printf(&msg, "%s%s", i ? ", " : "", json_string_value(s) ? json_string_value(s) : "");
	if (n > named)
		kcg_dynbuf_printf(&msg, "%s(and %llu more)", named ? ", " : "", (unsigned long long)(n - named));
	kcg_dynbuf_printf(&msg, ". Raised within [alerts] coalesce_s of an earlier %s alert to %s; each is open in the "
				"console (GET /admin/exceptions?open=1&kind=%s).",
			  kind, owner, kind);
	char *text = kcg_dynbuf_take(&msg, NULL);
	if (!text)
		return -ENOMEM;
	int rc;
	char subject[KCG_JOB_SUBJECT_MAX], about[64];
	snprintf(about, sizeof(about), "%llu more", (unsigned long long)n);
	snprintf(subject, sizeof(subject), "~summary/%llu/%.32s/%.56s", (unsigned long long)kcg_json_u64(rec, "until"),
		 kind, owner);
	json_t *payload = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}}", "reason", "summary", "exception",
				    "id", subject, "kind", kind, "severity", kcg_json_str(rec, "severity"), "system",
				    kcg_json_str(rec, "system"), "owner", owner, "subject", about, "message", text,
				    "count", (json_int_t)n);
	free(text);
	rc = payload ? alerts_queue(t, ctx, KIND_ALERT_WEBHOOK, KIND_ALERT_MAIL, subject, owner, payload, 0) : -ENOMEM;
	json_decref(payload);
	return rc;
}

int alerts_coalesce(struct kcg_txn *t, const struct kcg_flow_ctx *ctx, const struct kcg_exc_raised *r, bool *gathered)
{
	const struct kcg_alerts_config *a = &ctx->cfg->alerts;
	const char *kind = kcg_json_str(r->record, "kind"), *owner = kcg_json_str(r->record, "owner");
	*gathered = false;
	if (!a->coalesce_s || r->severity >= KCG_SEV_CRITICAL || !alerts_coalesced_kind(kind))
		return 0;
	char key[512];
	if (key_of(kind, owner, key, sizeof(key)) != 0)
		return 0;
	json_t *rec = NULL;
	int rc = kcg_txn_get_json(t, DB_ALERTS, key, strlen(key), &rec);
	if (rc != 0 && rc != KCG_ENOTFOUND && rc != KCG_ESTORE)
		return rc;
	if (rc == 0 && t->now_ms < kcg_json_u64(rec, "until")) {
		/* inside the window: gathered, named while there is room */
		json_t *subjects = json_object_get(rec, "subjects");
		const char *sev = kcg_exc_severity_name(r->severity);
		rc = json_object_set_new(rec, "n", json_integer((json_int_t)kcg_json_u64(rec, "n") + 1));
		if (rc == 0 && json_is_array(subjects) && json_array_size(subjects) < COALESCE_NAMES)
			rc = json_array_append_new(subjects, json_string(kcg_json_str(r->record, "subject")));
		if (rc == 0 && kcg_exc_severity_of(kcg_json_str(rec, "severity")) < (int)r->severity)
			rc = json_object_set_new(rec, "severity", json_string(sev));
		rc = rc == 0 ? kcg_txn_put_json(t, DB_ALERTS, key, strlen(key), rec) : -ENOMEM;
		json_decref(rec);
		*gathered = rc == 0;
		return rc;
	}
	/* no window, or a closed one: its gathering goes now, a new window opens */
	rc = rc == 0 ? flush(t, ctx, kind, owner, rec) : 0;
	json_decref(rec);
	rec = json_pack("{s:I, s:I, s:[], s:s, s:s}", "until", (json_int_t)(t->now_ms + a->coalesce_s * 1000u), "n",
			(json_int_t)0, "subjects", "severity", kcg_exc_severity_name(r->severity), "system",
			kcg_json_str(r->record, "system"));
	if (rc == 0)
		rc = rec ? kcg_txn_put_json(t, DB_ALERTS, key, strlen(key), rec) : -ENOMEM;
	json_decref(rec);
	return rc;
}

/* ---- the timer: closed windows ---- */

struct coalesce_scan {
	const struct kcg_flow_ctx *ctx;
	json_t *keys; /* closed windows' keys */
};

static int scan_fn(struct kcg_txn *t, void *arg)
{
	struct coalesce_scan *s = arg;
	MDB_cursor *cur;
	MDB_val k = { strlen(COALESCE_PREFIX), (void *)COALESCE_PREFIX }, v;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_ALERTS), &cur);
	if (rc != 0)
		return rc;
	size_t looked = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && looked < COALESCE_SCAN_MAX;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), looked++) {
		if (k.mv_size < strlen(COALESCE_PREFIX) || memcmp(k.mv_data, COALESCE_PREFIX, strlen(COALESCE_PREFIX)) != 0)
			break;
		json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
		if (!rec || t->now_ms >= kcg_json_u64(rec, "until"))
			json_array_append_new(s->keys, json_stringn(k.mv_data, k.mv_size));
		json_decref(rec);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Writer: each closed window again in this transaction: its summary, and the record goes. */
static int flush_fn(struct kcg_txn *t, void *arg)
{
	struct coalesce_scan *s = arg;
	size_t i;
	json_t *jk;
	json_array_foreach(s->keys, i, jk) {
		const char *key = json_string_value(jk);
		json_t *rec = NULL;
		int rc = kcg_txn_get_json(t, DB_ALERTS, key, strlen(key), &rec);
		if (rc == KCG_ENOTFOUND)
			continue;
		if (rc == 0 && t->now_ms < kcg_json_u64(rec, "until")) {
			json_decref(rec);
			continue;
		}
		char kind[256];
		const char *k = key + strlen(COALESCE_PREFIX), *slash = strchr(k, '/');
		rc = rc == 0 && slash && (size_t)(slash - k) < sizeof(kind) ? 0 : rc == 0 ? KCG_ESTORE : rc;
		if (rc == 0) {
			memcpy(kind, k, (size_t)(slash - k));
			kind[slash - k] = '\0';
			rc = flush(t, s->ctx, kind, slash + 1, rec);
		}
		json_decref(rec);
		if (rc != 0 && rc != KCG_ESTORE)
			return rc;
		MDB_val mk = { strlen(key), (void *)key };
		rc = mdb_del(t->txn, kcg_store_db(t->store, DB_ALERTS), &mk, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
	}
	return 0;
}

void alerts_coalesce_timer(struct kcg_engine *engine, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	struct coalesce_scan s = { ctx, json_array() };
	if (!s.keys)
		return;
	int rc = kcg_store_read(ctx->store, scan_fn, &s);
	if (rc == 0 && json_array_size(s.keys) > 0)
		rc = kcg_store_write_sync(ctx->store, flush_fn, &s);
	if (rc != 0)
		kcg_log(KCG_LOG_WARN, "alerts: cannot send the gathered alerts' summaries",
			json_pack("{s:s}", "detail", kcg_strerror(rc)));
	else if (json_array_size(s.keys) > 0)
		kcg_engine_kick(engine);
	json_decref(s.keys);
}

uint64_t alerts_coalesce_tick_ms(void)
{
	return COALESCE_TICK_MS;
}
