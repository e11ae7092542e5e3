/*
 * alerts_digest.c: the alerts flow's timers (see kcgate/alerts.h).
 *
 *  - alerts.repeat: walks the exceptions that were alerted (the alerts
 *    database), REPEAT_SCAN_MAX records a tick, each tick resuming where the
 *    last stopped (so every record is seen in turn, however many), sends
 *    again those still open [alerts] repeat_h after their last alert, and
 *    deletes the records of those resolved or gone (the database does not
 *    grow for ever). It reads first and
 *    writes only when there is something to do.
 *  - alerts.digest: when the [alerts] digest_at slot of the day has passed
 *    and is newer than the last one recorded (meta "alerts.digest.last"),
 *    queues one digest per team (operations, every team in [alerts.mail_to]
 *    and every owner of an open exception) and records the slot, in one transaction:
 *    a digest is queued once per day even across restarts and crashes. The
 *    digests are built before, in a read transaction, so the scan of the
 *    open exceptions never holds the writer (ingest) up.
 */
#include "alerts_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kcgate/engine.h"
#include "kcgate/json.h"
#include "kcgate/log.h"

#define META_DIGEST_LAST "alerts.digest.last"
#define DIGEST_ALWAYS "operations"    /* the team that always gets a digest */
#define REPEAT_SCAN_MAX 1000          /* alert records one repeat tick looks at */
#define DIGEST_EXC_MAX 50             /* exceptions listed per team (the rest counted) */
#define DIGEST_LIST_MAX 20000         /* open exceptions one digest reads */
#define DIGEST_GRACE_MS (15u * 60u * 1000u) /* a first start this soon after the slot still sends it */
#define DIGEST_TICK_MS 2000
#define REPEAT_TICK_MIN_MS 1000
#define REPEAT_TICK_MAX_MS 60000

/* ---- repeats ---- */

struct repeat_scan {
	const struct kcg_flow_ctx *ctx;
	uint64_t repeat_ms;
	char (*ids)[KCG_ID_LEN + 1];
	size_t n;
	char *resume; /* in: the key after which to look ("" = from the first); out: where it stopped */
};

/* Where the last repeat scan stopped (engine thread only): each tick looks
 * at REPEAT_SCAN_MAX records from there, so every record is seen in turn
 * however many there are. "" = start from the first. */
static char repeat_resume[KCG_ID_LEN + 1];

/* What to do with alert record @p id now: 'r' repeat, 'f' forget, 0 nothing. */
static char repeat_action(struct kcg_txn *t, const char *id, const json_t *state, const struct kcg_alerts_config *a,
			  uint64_t repeat_ms, json_t **rec)
{
	*rec = NULL;
	int rc = kcg_exc_read(t, id, rec);
	if (rc == KCG_ENOTFOUND || rc == KCG_ESTORE)
		return 'f';
	if (rc != 0)
		return 0;
	bool open = json_is_null(json_object_get(*rec, "resolved_at"));
	if (!open)
		return 'f';
	int sev = kcg_exc_severity_of(kcg_json_str(*rec, "severity"));
	if (sev < a->min_severity)
		return 0;
	return kcg_alert_repeat_due(open, kcg_json_u64(state, "sent_ms"), t->now_ms, repeat_ms) == KCG_ALERT_REPEAT ? 'r' : 0;
}

static int scan_fn(struct kcg_txn *t, void *arg)
{
	struct repeat_scan *s = arg;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_ALERTS), &cur);
	if (rc != 0)
		return rc;
	size_t looked = 0;
	if (s->resume[0]) {
		k = (MDB_val){ strlen(s->resume), s->resume };
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == strlen(s->resume) && memcmp(k.mv_data, s->resume, k.mv_size) == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	for (; rc == 0 && looked < REPEAT_SCAN_MAX; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), looked++) {
		/* exception ids only: not alerts_coalesce.c's "~coalesce/..." records
		 * (one may be KCG_ID_LEN long: "~coalesce/ghost_sku/finance") */
		if (k.mv_size != KCG_ID_LEN || ((const char *)k.mv_data)[0] == '~')
			continue;
		memcpy(s->resume, k.mv_data, KCG_ID_LEN);
		s->resume[KCG_ID_LEN] = '\0';
		char id[KCG_ID_LEN + 1];
		memcpy(id, k.mv_data, KCG_ID_LEN);
		id[KCG_ID_LEN] = '\0';
		json_t *state = json_loadb(v.mv_data, v.mv_size, 0, NULL), *rec;
		char act = repeat_action(t, id, state, &s->ctx->cfg->alerts, s->repeat_ms, &rec);
		json_decref(state);
		json_decref(rec);
		if (act)
			memcpy(s->ids[s->n++], id, KCG_ID_LEN + 1);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		s->resume[0] = '\0'; /* the end: the next tick starts from the first again */
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Writer: acts on what the scan found, each decided again in this transaction. */
static int repeat_fn(struct kcg_txn *t, void *arg)
{
	struct repeat_scan *s = arg;
	for (size_t i = 0; i < s->n; i++) {
		const char *id = s->ids[i];
		json_t *state = NULL, *rec = NULL;
		int rc = kcg_txn_get_json(t, DB_ALERTS, id, KCG_ID_LEN, &state);
		if (rc == KCG_ENOTFOUND)
			continue;
		if (rc != 0 && rc != KCG_ESTORE)
			return rc;
		char act = repeat_action(t, id, state, &s->ctx->cfg->alerts, s->repeat_ms, &rec);
		rc = 0;
		if (act == 'f') {
			MDB_val k = { KCG_ID_LEN, (void *)id };
			rc = mdb_del(t->txn, kcg_store_db(t->store, DB_ALERTS), &k, NULL);
		} else if (act == 'r') {
			rc = alerts_send_exception(t, s->ctx, id, rec, KCG_ALERT_REPEAT);
		}
		json_decref(state);
		json_decref(rec);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void repeat_timer(struct kcg_engine *engine, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	char resume[KCG_ID_LEN + 1];
	memcpy(resume, repeat_resume, sizeof(resume));
	struct repeat_scan s = { ctx, alerts_repeat_ms(&ctx->cfg->alerts), NULL, 0, resume };
	s.ids = calloc(REPEAT_SCAN_MAX, sizeof(*s.ids));
	if (!s.ids)
		return;
	int rc = kcg_store_read(ctx->store, scan_fn, &s);
	if (rc == 0)
		memcpy(repeat_resume, resume, sizeof(repeat_resume));
	if (rc == 0 && s.n > 0)
		rc = kcg_store_write_sync(ctx->store, repeat_fn, &s);
	if (rc != 0)
		kcg_log(KCG_LOG_WARN, "alerts: cannot check open exceptions for repeats",
			json_pack("{s:s}", "detail", kcg_strerror(rc)));
	else if (s.n > 0)
		kcg_engine_kick(engine);
	free(s.ids);
}

/* ---- the daily digest ---- */

struct digest_req {
	const struct kcg_flow_ctx *ctx;
	struct kcg_engine_stats es;
	uint64_t slot, record;
	char date[16];
	json_t *payloads;      /* team -> its digest, built in a read transaction */
};

static int last_fn(struct kcg_txn *t, void *arg)
{
	*(uint64_t *)arg = kcg_meta_get_u64(t, META_DIGEST_LAST);
	return 0;
}

/* The queue's own figures: per lane, what waits, how long, what died, the breaker. */
static int lane_figures(struct kcg_txn *t, const struct kcg_engine_stats *es, json_t *figures)
{
	struct kcg_jobs_stats js = { 0 };
	int rc = kcg_jobs_stats(t, &js);
	for (int l = 0; rc == 0 && l < KCG_LANE_COUNT; l++) {
		char name[64], value[160];
		snprintf(name, sizeof(name), "Jobs on the %s lane", kcg_lane_name((enum kcg_lane)l));
		snprintf(value, sizeof(value), "%llu pending (oldest due %llu s ago), %llu dead, circuit breaker %s",
			 (unsigned long long)js.count[l][KCG_JOB_PENDING], (unsigned long long)(js.oldest_due_ms[l] / 1000),
			 (unsigned long long)js.count[l][KCG_JOB_DEAD], es->lane[l].breaker_open ? "OPEN" : "closed");
		rc = kcg_flow_health_add(figures, name, value);
	}
	return rc;
}

/* Team -> its open exceptions (newest first). Every [alerts.mail_to] team
 * is present, and operations always (it checks sync health daily, also
 * on a quiet day: no digest would mean something is wrong). */
static json_t *by_team(const json_t *open, const struct kcg_alerts_config *a)
{
	json_t *teams = json_object();
	if (teams)
		json_object_set_new(teams, DIGEST_ALWAYS, json_array());
	const struct kcg_config_map *m = atomic_load(&a->mail_to);
	for (size_t i = 0; teams && m && i < m->n; i++)
		if (!json_object_get(teams, m->entries[i].key))
			json_object_set_new(teams, m->entries[i].key, json_array());
	/* critical first, then warning, then the rest (each newest first):
	 * a critical is never cut off by DIGEST_EXC_MAX newer warnings */
	for (int pass = 0; teams && pass < 3; pass++) {
	size_t i;
	json_t *e;
	json_array_foreach(open, i, e) {
		const char *sev = kcg_json_str(e, "severity");
		int rank = strcmp(sev, "critical") == 0 ? 0 : strcmp(sev, "warning") == 0 ? 1 : 2;
		if (rank != pass)
			continue;
		const char *owner = kcg_json_str(e, "owner");
		json_t *list = json_object_get(teams, owner);
		if (!list) {
			list = json_array();
			json_object_set_new(teams, owner, list);
		}
		json_array_append(list, e);
	}
	}
	return teams;
}

/* Read transaction: every team's digest into d->payloads (the scan of
 * the open exceptions stays out of the writer's way). */
static int build_fn(struct kcg_txn *t, void *arg)
{
	struct digest_req *d = arg;
	json_t *figures = json_array(), *open = NULL, *teams = NULL;
	int rc = figures ? lane_figures(t, &d->es, figures) : -ENOMEM;
	if (rc == 0)
		rc = kcg_flow_set_health(t, (struct kcg_flow_ctx *)d->ctx, figures);
	if (rc == 0)
		rc = kcg_exc_list(t, 1, NULL, NULL, DIGEST_LIST_MAX, &open);
	if (rc == 0) {
		teams = by_team(open, &d->ctx->cfg->alerts);
		rc = teams ? 0 : -ENOMEM;
	}
	const char *team;
	json_t *list;
	json_object_foreach(teams, team, list) {
		if (rc != 0)
			break;
		size_t n = json_array_size(list);
		json_t *shown = json_array();
		for (size_t i = 0; shown && i < n && i < DIGEST_EXC_MAX; i++)
			json_array_append(shown, json_array_get(list, i));
		json_t *payload = shown ? json_pack("{s:s, s:s, s:o, s:I, s:O}", "team", team, "date", d->date, "exceptions",
						    shown, "more", (json_int_t)(n > DIGEST_EXC_MAX ? n - DIGEST_EXC_MAX : 0),
						    "figures", figures)
					: NULL;
		rc = payload && json_object_set_new(d->payloads, team, payload) == 0 ? 0 : -ENOMEM;
	}
	json_decref(teams);
	json_decref(open);
	json_decref(figures);
	return rc;
}

/* Writer: records the slot and queues the digests, unless done already. */
static int digest_fn(struct kcg_txn *t, void *arg)
{
	struct digest_req *d = arg;
	if (kcg_meta_get_u64(t, META_DIGEST_LAST) >= d->record)
		return 0; /* recorded already */
	int rc = kcg_meta_put_u64(t, META_DIGEST_LAST, d->record);
	const char *team;
	json_t *payload;
	json_object_foreach(d->payloads, team, payload) {
		if (rc != 0)
			break;
		char subject[KCG_JOB_SUBJECT_MAX];
		snprintf(subject, sizeof(subject), "%s@%s", team, d->date);
		rc = alerts_queue(t, d->ctx, KIND_DIGEST_WEBHOOK, KIND_DIGEST_MAIL, subject, team, payload, 0);
	}
	return rc;
}

static void digest_timer(struct kcg_engine *engine, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	struct kcg_alert_clock at;
	uint64_t last = 0, now = kcg_now_ms();
	if (kcg_alert_parse_clock(ctx->cfg->alerts.digest_at, &at) != 0 || at.off)
		return;
	struct digest_req d = { .ctx = ctx };
	if (kcg_store_read(ctx->store, last_fn, &last) != 0)
		return;
	d.slot = kcg_alert_digest_due(&at, now, last, DIGEST_GRACE_MS, &d.record);
	if (!d.record)
		return;
	time_t secs = (time_t)(d.record / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	strftime(d.date, sizeof(d.date), "%Y-%m-%d", &tm);
	kcg_engine_stats(engine, &d.es);
	d.payloads = json_object();
	int rc = d.payloads ? 0 : -ENOMEM;
	if (rc == 0 && d.slot)
		rc = kcg_store_read(ctx->store, build_fn, &d);
	if (rc == 0)
		rc = kcg_store_write_sync(ctx->store, digest_fn, &d);
	json_decref(d.payloads);
	if (rc != 0) {
		kcg_log(KCG_LOG_WARN, "alerts: cannot queue the daily digest; trying again",
			json_pack("{s:s, s:s}", "date", d.date, "detail", kcg_strerror(rc)));
		return;
	}
	kcg_log(KCG_LOG_INFO, d.slot ? "alerts: daily digest queued" : "alerts: first start after today's digest time; "
								      "the next digest is tomorrow's",
		json_pack("{s:s}", "date", d.date));
	kcg_engine_kick(engine);
}

size_t alerts_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap)
{
	if (cap < 3)
		return 3;
	/* a sixth of repeat_h, so a repeat is late by at most that; with no
	 * repeats the tick only forgets resolved exceptions: once a minute */
	uint64_t repeat = alerts_repeat_ms(&cfg->alerts);
	uint64_t every = repeat ? repeat / 6 : REPEAT_TICK_MAX_MS;
	if (every < REPEAT_TICK_MIN_MS)
		every = REPEAT_TICK_MIN_MS;
	if (every > REPEAT_TICK_MAX_MS)
		every = REPEAT_TICK_MAX_MS;
	out[0] = (struct kcg_engine_timer){ "alerts.repeat", every, repeat_timer };
	out[1] = (struct kcg_engine_timer){ "alerts.digest", DIGEST_TICK_MS, digest_timer };
	out[2] = (struct kcg_engine_timer){ "alerts.coalesce", alerts_coalesce_tick_ms(), alerts_coalesce_timer };
	return 3;
}
