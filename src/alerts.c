/*
 * alerts.c: the alerts flow (see kcgate/alerts.h): its keys and checks, the
 * exception hook that queues an alert in the raise's own transaction, and
 * the four job kinds that send (a webhook post, a mail; for an exception
 * or a digest). The timers (repeats, the daily digest) are in
 * alerts_digest.c, the decisions in alerts_rules.c, the messages in
 * alerts_message.c.
 */
#include "alerts_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kcgate/json.h"
#include "kcgate/log.h"

#define URL_MAX 2048

/* ---- keys ---- */

static const struct kcg_config_choice format_choices[] = {
	{ "auto", KCG_ALERT_AUTO },
	{ "slack", KCG_ALERT_SLACK },
	{ "teams", KCG_ALERT_TEAMS },
	{ "json", KCG_ALERT_JSON },
	{ NULL, 0 },
};

static const struct kcg_config_choice severity_choices[] = {
	{ "info", KCG_SEV_INFO },
	{ "warning", KCG_SEV_WARNING },
	{ "critical", KCG_SEV_CRITICAL },
	{ NULL, 0 },
};

/* The scheme's length if @p v starts with one of @p schemes (NULL-terminated), else 0. */
static size_t scheme_len(const char *v, const char *const *schemes)
{
	for (; *schemes; schemes++)
		if (strncmp(v, *schemes, strlen(*schemes)) == 0)
			return strlen(*schemes);
	return 0;
}

/* A URL for libcurl: the scheme, a host, printable ASCII only. */
static const char *check_url_common(const char *v, const char *const *schemes, const char *expected)
{
	size_t n = scheme_len(v, schemes);
	if (!n)
		return expected;
	if (strlen(v) > URL_MAX)
		return "longer than 2048 characters";
	for (const char *c = v; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return "must not contain whitespace, control or non-ASCII characters";
	size_t host = strcspn(v + n, "/?#");
	if (host == 0 || v[n] == ':')
		return "expected a host after ://";
	if (memchr(v + n, '@', host))
		return "must not contain credentials (user@host): use smtp_user and smtp_password";
	return NULL;
}

/* The webhook URL is the credential (Slack and Teams put the token in it):
 * a query is allowed (Power Automate's carries the signature). */
static const char *check_webhook_url(const char *v)
{
	static const char *const schemes[] = { "https://", "http://", NULL };
	return check_url_common(v, schemes, "expected a URL starting with https:// or http://");
}

static const char *check_smtp_url(const char *v)
{
	static const char *const schemes[] = { "smtps://", "smtp://", NULL };
	const char *why = check_url_common(v, schemes, "expected smtp://host[:port] or smtps://host[:port]");
	if (why)
		return why;
	if (strpbrk(v, "?#"))
		return "must not contain a query (?) or fragment (#)";
	return NULL;
}

static const char *check_from(const char *v)
{
	return kcg_alert_parse_from(v, NULL) == 0 ? NULL
						  : "expected an address (alerts@example.com) or a name and one "
						    "(kcgate <alerts@example.com>), printable ASCII";
}

static const char *check_hours(const char *v)
{
	uint64_t ms;
	return kcg_alert_parse_hours(v, &ms) == 0 ? NULL
						   : "expected hours from 0 (never) to 8760, at most three decimals (0.5 = 30 minutes)";
}

static const char *check_clock(const char *v)
{
	struct kcg_alert_clock c;
	return kcg_alert_parse_clock(v, &c) == 0 ? NULL : "expected a local time HH:MM (24 h, HH:MM:SS allowed) or off";
}

static const char *check_mail_list(const char *v)
{
	json_t *list;
	int rc = kcg_alert_parse_list(v, KCG_CALL_MAX_RCPT, &list);
	json_decref(list);
	if (rc == -E2BIG)
		return "more than 32 addresses";
	return rc == 0 ? NULL : "expected e-mail addresses separated by commas (ops@example.com, lead@example.com)";
}

static const struct kcg_config_key alerts_keys[] = {
	KCG_KEY_SECRET("alerts", "webhook_url", alerts.webhook_url, 1, check_webhook_url),
	KCG_KEY_ENUM("alerts", "webhook_format", alerts.webhook_format, "auto", format_choices),
	KCG_KEY_STR("alerts", "smtp_url", alerts.smtp_url, KCG_CFG_STRING, NULL, check_smtp_url),
	KCG_KEY_SECRET("alerts", "smtp_user", alerts.smtp_user, 1, kcg_config_check_text),
	KCG_KEY_SECRET("alerts", "smtp_password", alerts.smtp_password, 1, kcg_config_check_text),
	KCG_KEY_STR("alerts", "mail_from", alerts.mail_from, KCG_CFG_STRING, NULL, check_from),
	KCG_KEY_ENUM("alerts", "min_severity", alerts.min_severity, "warning", severity_choices),
	KCG_KEY_STR("alerts", "repeat_h", alerts.repeat_h, KCG_CFG_STRING, "24", check_hours),
	KCG_KEY_STR("alerts", "digest_at", alerts.digest_at, KCG_CFG_STRING, "08:00", check_clock),
	KCG_KEY_U64("alerts", "delay_s", alerts.delay_s, "60", 0, 3600),
	KCG_KEY_U64("alerts", "timeout_s", alerts.timeout_s, "30", 1, 300),
	KCG_KEY_U64("alerts", "max_attempts", alerts.max_attempts, "10", 1, 1000),
	KCG_KEY_U64("alerts", "coalesce_s", alerts.coalesce_s, "300", 0, 86400),
	KCG_KEY_MAP("alerts.mail_to", alerts.mail_to, check_mail_list),
};

static void alerts_checks(struct kcg_config_check *c, const struct kcg_config *cfg)
{
	const struct kcg_alerts_config *a = &cfg->alerts;
	if (a->smtp_url && !kcg_config_line(c, &a->mail_from))
		kcg_config_error(c, &a->mail_from, "required when smtp_url is set");
	if (a->smtp_user && !kcg_config_line(c, &a->smtp_password))
		kcg_config_error(c, &a->smtp_password, "required when smtp_user is set");
	if (a->smtp_password && !kcg_config_line(c, &a->smtp_user))
		kcg_config_error(c, &a->smtp_user, "required when smtp_password is set");
	if (!kcg_config_line(c, &a->smtp_url)) {
		if (kcg_config_line(c, &a->mail_from))
			kcg_config_warn(c, &a->mail_from, "ignored: no smtp_url");
	} else if (a->smtp_url && !atomic_load(&a->mail_to)) {
		kcg_config_warn(c, &a->smtp_url, "no [alerts.mail_to] section: no team gets mail");
	}
	if (kcg_config_line(c, &a->webhook_format) && !kcg_config_line(c, &a->webhook_url))
		kcg_config_warn(c, &a->webhook_format, "ignored: no webhook_url");
}

const struct kcg_config_keys alerts_config = { alerts_keys, sizeof(alerts_keys) / sizeof(alerts_keys[0]),
					       alerts_checks };

/* ---- the exception hook ---- */

uint64_t alerts_repeat_ms(const struct kcg_alerts_config *a)
{
	uint64_t ms = 0;
	if (a->repeat_h && kcg_alert_parse_hours(a->repeat_h, &ms) != 0)
		ms = 0;
	return ms;
}

/* Team @p team's addresses now (a reload may change them), or NULL. */
json_t *alerts_recipients(const struct kcg_alerts_config *a, const char *team)
{
	const char *v = kcg_config_map_get(atomic_load(&a->mail_to), team);
	json_t *list = NULL;
	if (v && kcg_alert_parse_list(v, KCG_CALL_MAX_RCPT, &list) != 0)
		list = NULL;
	return list;
}

/* Whether a job kind is an alert or a digest (sent on a channel). */
static bool is_alert_kind(const char *kind)
{
	return strcmp(kind, KIND_ALERT_WEBHOOK) == 0 || strcmp(kind, KIND_DIGEST_WEBHOOK) == 0 ||
	       strcmp(kind, KIND_ALERT_MAIL) == 0 || strcmp(kind, KIND_DIGEST_MAIL) == 0;
}

int alerts_queue(struct kcg_txn *t, const struct kcg_flow_ctx *ctx, const char *kind_webhook, const char *kind_mail,
		 const char *subject, const char *team, const json_t *payload, uint64_t run_at_ms)
{
	const struct kcg_alerts_config *a = &ctx->cfg->alerts;
	int rc = 0;
	if (a->webhook_url) {
		rc = kcg_jobs_enqueue(t, KCG_LANE_ALERTS, kind_webhook, subject, payload, run_at_ms, NULL);
		if (rc == KCG_EDUPLICATE)
			rc = 0; /* one is waiting: it carries the news */
	}
	if (rc == 0 && a->smtp_url) {
		json_t *to = alerts_recipients(a, team);
		if (to)
			rc = kcg_jobs_enqueue(t, KCG_LANE_ALERTS_MAIL, kind_mail, subject, payload, run_at_ms, NULL);
		json_decref(to);
		if (rc == KCG_EDUPLICATE)
			rc = 0;
	}
	return rc;
}

int alerts_send_exception(struct kcg_txn *t, const struct kcg_flow_ctx *ctx, const char *id, const json_t *record,
			  enum kcg_alert_reason reason)
{
	/* A dead alert or digest job is alerted on no channel: the other one
	 * may be dead too, and its own dead job would be alerted on the first,
	 * and so on for ever. It shows in the console and the next digest. */
	if (strcmp(kcg_json_str(record, "kind"), KCG_EXC_DEAD_JOB) == 0) {
		json_t *job = NULL;
		bool quiet = kcg_jobs_read(t, kcg_json_str(record, "subject"), &job) == 0 &&
			     is_alert_kind(kcg_json_str(job, "kind"));
		json_decref(job);
		if (quiet)
			return 0;
	}
	json_t *payload = json_pack("{s:s, s:O}", "reason", kcg_alert_reason_name(reason), "exception", record);
	json_t *state = json_pack("{s:I, s:s}", "sent_ms", (json_int_t)t->now_ms, "change", kcg_alert_reason_name(reason));
	int rc = payload && state ? 0 : -ENOMEM;
	if (rc == 0)
		rc = alerts_queue(t, ctx, KIND_ALERT_WEBHOOK, KIND_ALERT_MAIL, id, kcg_json_str(record, "owner"), payload,
				  t->now_ms + ctx->cfg->alerts.delay_s * 1000u);
	if (rc == 0)
		rc = kcg_txn_put_json(t, DB_ALERTS, id, strlen(id), state);
	json_decref(payload);
	json_decref(state);
	return rc;
}

static int alerts_on_exception(struct kcg_txn *t, const struct kcg_exc_raised *r, struct kcg_flow_ctx *ctx)
{
	const struct kcg_alerts_config *a = &ctx->cfg->alerts;
	json_t *state = NULL;
	uint64_t sent_ms = 0;
	int rc = kcg_txn_get_json(t, DB_ALERTS, r->id, strlen(r->id), &state);
	if (rc == 0)
		sent_ms = kcg_json_u64(state, "sent_ms");
	json_decref(state);
	if (rc != 0 && rc != KCG_ENOTFOUND && rc != KCG_ESTORE)
		return rc;
	enum kcg_alert_reason why = kcg_alert_decide(r->change, r->severity, (enum kcg_exc_severity)a->min_severity,
						     sent_ms, t->now_ms, alerts_repeat_ms(a));
	if (why == KCG_ALERT_NONE)
		return 0;
	bool gathered = false;
	if (why != KCG_ALERT_REPEAT) {
		int crc = alerts_coalesce(t, ctx, r, &gathered);
		if (crc != 0)
			return crc;
	}
	if (gathered) { /* its window's summary carries it; repeats and the digest see the record */
		json_t *st = json_pack("{s:I, s:s}", "sent_ms", (json_int_t)t->now_ms, "change", "gathered");
		int prc = st ? kcg_txn_put_json(t, DB_ALERTS, r->id, strlen(r->id), st) : -ENOMEM;
		json_decref(st);
		return prc;
	}
	return alerts_send_exception(t, ctx, r->id, r->record, why);
}

/* ---- sending ---- */

/* A failed send: dies on a permanent refusal or after [alerts] max_attempts. */
static enum kcg_step failed(struct kcg_job_run *run, const struct kcg_alerts_config *a, bool permanent, const char *why)
{
	if (permanent) {
		kcg_why(run->error, "%s", why);
		return KCG_STEP_DEAD;
	}
	if (run->attempts + 1 >= a->max_attempts) {
		kcg_why(run->error, "gave up after %u attempts ([alerts] max_attempts): %s", run->attempts + 1, why);
		return KCG_STEP_DEAD;
	}
	kcg_why(run->error, "%s", why);
	return KCG_STEP_RETRY;
}

static bool is_digest(const struct kcg_job_run *run)
{
	return strncmp(run->kind->name, "digest.", 7) == 0;
}

/* The message of @p run: an exception alert or a digest, by its kind. */
static int message_of(struct kcg_job_run *run, struct kcg_alert_text *t)
{
	return is_digest(run) ? kcg_alert_digest_text(run->payload, t) : kcg_alert_exception_text(run->payload, t);
}

static int read_exc_fn(struct kcg_txn *t, void *arg)
{
	json_t **rec = arg;
	return kcg_exc_read(t, json_string_value(*rec), rec);
}

/*
 * An exception alert goes only while its exception is open (it waited
 * [alerts] delay_s, and may have resolved since: a transient one is not
 * worth a page), and says what the exception says now. Replaces the
 * run's payload's "exception" with the record as it is. @return 0,
 * KCG_ENOTFOUND (resolved or gone: nothing to send) or an error.
 */
static int refresh_exception(struct kcg_job_run *run, const struct kcg_flow_ctx *ctx)
{
	json_t *id = json_object_get(json_object_get(run->payload, "exception"), "id");
	json_t *rec = id; /* in: the id, out: the record */
	if (!json_is_string(id))
		return -EINVAL;
	int rc = kcg_store_read(ctx->store, read_exc_fn, &rec);
	if (rc != 0)
		return rc == KCG_ESTORE ? KCG_ENOTFOUND : rc;
	bool open = json_is_null(json_object_get(rec, "resolved_at"));
	json_t *p = open ? json_deep_copy(run->payload) : NULL;
	if (p && json_object_set(p, "exception", rec) != 0) {
		json_decref(p);
		p = NULL;
	}
	json_decref(rec);
	if (!open)
		return KCG_ENOTFOUND;
	if (!p)
		return -ENOMEM;
	json_decref(run->payload);
	run->payload = p;
	return 0;
}

/* Before the first call (true: the step returns *@p st): the channel's
 * @p setting (the value of [alerts] @p key) must still be configured (a
 * job queued before a restart without it dies); an exception alert whose
 * exception is no longer open is done, a failure to read it retried.
 * false: go on and send. */
static bool skip_or_fail(struct kcg_job_run *run, const struct kcg_flow_ctx *ctx, const char *setting,
			 const char *key, enum kcg_step *st)
{
	if (!setting) {
		kcg_why(run->error, "[alerts] %s is no longer configured", key);
		*st = KCG_STEP_DEAD;
		return true;
	}
	if (is_digest(run) || strcmp(kcg_json_str(run->payload, "reason"), "summary") == 0)
		return false;
	int rc = refresh_exception(run, ctx);
	if (rc == 0)
		return false;
	if (rc == KCG_ENOTFOUND) {
		kcg_log(KCG_LOG_INFO, "alert not sent: its exception was resolved before [alerts] delay_s passed",
			json_pack("{s:s, s:s, s:s}", "job", run->id, "kind", run->kind->name, "exception", run->subject));
		*st = KCG_STEP_DONE;
	} else {
		*st = failed(run, &ctx->cfg->alerts, false, kcg_strerror(rc));
	}
	return true;
}

static enum kcg_step step_webhook(struct kcg_job_run *run, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	const struct kcg_alerts_config *a = &ctx->cfg->alerts;
	if (run->n_calls > 0) {
		long st = run->reply.status;
		if (run->reply.transport_error == 0 && st >= 200 && st < 300)
			return KCG_STEP_DONE;
		char excerpt[KCG_ERROR_MAX];
		kcg_reply_excerpt(&run->reply, excerpt);
		return failed(run, a, !kcg_reply_transient(&run->reply), excerpt);
	}
	enum kcg_step st;
	if (skip_or_fail(run, ctx, a->webhook_url, "webhook_url", &st))
		return st;
	struct kcg_alert_text t;
	char *body = NULL;
	int rc = message_of(run, &t);
	if (rc == 0)
		rc = kcg_alert_webhook_body(kcg_alert_format_for((enum kcg_alert_format)a->webhook_format, a->webhook_url),
					    is_digest(run) ? "digest" : "exception", &t, &body);
	kcg_alert_text_finish(&t);
	if (rc != 0)
		return kcg_job_call(run, rc);
	run->call = (struct kcg_call){ .what = "alert webhook", .method = "POST", .url = strdup(a->webhook_url),
				       .body = body, .body_len = strlen(body), .timeout_s = (unsigned)a->timeout_s,
				       .secret_headers = true /* the URL is the credential */ };
	rc = run->call.url ? kcg_call_header(&run->call, "Content-Type: application/json") : -ENOMEM;
	return kcg_job_call(run, rc);
}

/* smtp:// with credentials to another host than this one: STARTTLS or nothing. */
static bool needs_tls(const struct kcg_alerts_config *a)
{
	if (!a->smtp_user || strncmp(a->smtp_url, "smtp://", 7) != 0)
		return false;
	char host[256];
	const char *h = a->smtp_url + 7;
	size_t n = *h == '[' ? strcspn(h + 1, "]") : strcspn(h, ":/");
	if (*h == '[')
		h++;
	if (n >= sizeof(host))
		return true;
	memcpy(host, h, n);
	host[n] = '\0';
	unsigned char addr[16];
	if (strcasecmp(host, "localhost") == 0)
		return false;
	if (inet_pton(AF_INET, host, addr) == 1)
		return addr[0] != 127;
	if (inet_pton(AF_INET6, host, addr) == 1)
		return !IN6_IS_ADDR_LOOPBACK((struct in6_addr *)addr);
	return true;
}

static int build_mail(struct kcg_job_run *run, const struct kcg_alerts_config *a, json_t *to)
{
	char from[255];
	struct kcg_alert_text t;
	char *msg = NULL;
	size_t len = 0;
	int rc = kcg_alert_parse_from(a->mail_from, from);
	if (rc == 0)
		rc = message_of(run, &t);
	else
		return rc;
	if (rc == 0)
		rc = kcg_alert_mail(a->mail_from, to, run->id, kcg_now_ms(), &t, &msg, &len);
	kcg_alert_text_finish(&t);
	if (rc != 0)
		return rc;
	struct kcg_call *c = &run->call;
	*c = (struct kcg_call){ .what = "alert mail", .method = "SMTP", .url = strdup(a->smtp_url), .body = msg,
				.body_len = len, .timeout_s = (unsigned)a->timeout_s, .mail_from = strdup(from),
				.require_tls = needs_tls(a) };
	if (!c->url || !c->mail_from)
		return -ENOMEM;
	size_t i;
	json_t *addr;
	json_array_foreach(to, i, addr) {
		if (c->n_rcpt == KCG_CALL_MAX_RCPT)
			return -E2BIG;
		c->mail_rcpt[c->n_rcpt] = strdup(json_string_value(addr));
		if (!c->mail_rcpt[c->n_rcpt++])
			return -ENOMEM;
	}
	if (a->smtp_user) {
		c->user = strdup(a->smtp_user);
		c->password = strdup(a->smtp_password ? a->smtp_password : "");
		if (!c->user || !c->password)
			return -ENOMEM;
	}
	return 0;
}

static enum kcg_step step_mail(struct kcg_job_run *run, void *arg)
{
	struct kcg_flow_ctx *ctx = arg;
	const struct kcg_alerts_config *a = &ctx->cfg->alerts;
	if (run->n_calls > 0) {
		long code = run->reply.status;
		if (run->reply.transport_error == 0)
			return KCG_STEP_DONE; /* libcurl ends well only on the 250 after DATA */
		char why[KCG_ERROR_MAX];
		if (code > 0)
			snprintf(why, sizeof(why), "the mail server answered %ld: %.150s", code, run->reply.error);
		else
			snprintf(why, sizeof(why), "no answer from the mail server: %.150s", run->reply.error);
		return failed(run, a, code >= 500, why);
	}
	enum kcg_step st;
	if (skip_or_fail(run, ctx, a->smtp_url, "smtp_url", &st))
		return st;
	const json_t *e = json_object_get(run->payload, "exception");
	const char *team = e ? kcg_json_str(e, "owner") : kcg_json_str(run->payload, "team");
	json_t *to = alerts_recipients(a, team);
	if (!to) {
		/* [alerts.mail_to] changed since it was queued */
		kcg_log(KCG_LOG_INFO, "alert mail not sent: the team has no addresses in [alerts.mail_to] now",
			json_pack("{s:s, s:s}", "job", run->id, "team", team));
		return KCG_STEP_DONE;
	}
	int rc = build_mail(run, a, to);
	json_decref(to);
	return kcg_job_call(run, rc);
}

static const struct kcg_job_kind kind_alert_webhook = { KIND_ALERT_WEBHOOK, KCG_LANE_ALERTS, step_webhook, NULL };
static const struct kcg_job_kind kind_alert_mail = { KIND_ALERT_MAIL, KCG_LANE_ALERTS_MAIL, step_mail, NULL };
static const struct kcg_job_kind kind_digest_webhook = { KIND_DIGEST_WEBHOOK, KCG_LANE_ALERTS, step_webhook, NULL };
static const struct kcg_job_kind kind_digest_mail = { KIND_DIGEST_MAIL, KCG_LANE_ALERTS_MAIL, step_mail, NULL };

static bool alerts_enabled(const struct kcg_config *cfg)
{
	return cfg->alerts.webhook_url || cfg->alerts.smtp_url;
}

const struct kcg_flow kcg_flow_alerts = {
	.name = "alerts",
	.enabled = alerts_enabled,
	.dbs = (const char *const[]){ DB_ALERTS, NULL },
	.config = &alerts_config,
	.kinds = (const struct kcg_job_kind *const[]){ &kind_alert_webhook, &kind_alert_mail, &kind_digest_webhook,
						       &kind_digest_mail, NULL },
	.timers = alerts_timers,
	.on_exception = alerts_on_exception,
};
