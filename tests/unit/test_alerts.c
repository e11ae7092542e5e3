/*
 * test_alerts.c: the alerts (kcgate/alerts.h). The decisions and the
 * messages as pure functions (dedupe and repeats, the digest schedule in
 * a fixed time zone, hours and clocks, addresses, Slack / Teams / JSON
 * bodies, the RFC 5322 mail decoded back), the [alerts] keys' errors, and
 * the exception hook on a real store: the alert jobs commit in the raise's
 * own transaction, once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kcgate/alerts.h"
#include "kcgate/dynbuf.h"
#include "kcgate/runbook.h"
#include "kcgate/flow.h"
#include "kcgate/jobs.h"
#include "kcgate/json.h"

#include "tmpdir.h"

#define H (3600u * 1000u)
#define T0 UINT64_C(1795000000000)

/* ---- decisions ---- */

static void test_decide(void **state)
{
	(void)state;
	const uint64_t rep = 24 * H;
	/* below the threshold: never */
	assert_int_equal(kcg_alert_decide(KCG_EXC_NEW, KCG_SEV_INFO, KCG_SEV_WARNING, 0, T0, rep), KCG_ALERT_NONE);
	assert_int_equal(kcg_alert_decide(KCG_EXC_REOPENED, KCG_SEV_WARNING, KCG_SEV_CRITICAL, T0, T0, rep), KCG_ALERT_NONE);
	/* new and reopened: sent */
	assert_int_equal(kcg_alert_decide(KCG_EXC_NEW, KCG_SEV_WARNING, KCG_SEV_WARNING, 0, T0, rep), KCG_ALERT_NEW);
	assert_int_equal(kcg_alert_decide(KCG_EXC_REOPENED, KCG_SEV_CRITICAL, KCG_SEV_WARNING, T0 - H, T0, rep),
			 KCG_ALERT_REOPENED);
	/* raised again while open: once only, until repeat_h */
	assert_int_equal(kcg_alert_decide(KCG_EXC_AGAIN, KCG_SEV_CRITICAL, KCG_SEV_WARNING, T0, T0 + 1, rep), KCG_ALERT_NONE);
	assert_int_equal(kcg_alert_decide(KCG_EXC_AGAIN, KCG_SEV_CRITICAL, KCG_SEV_WARNING, T0, T0 + rep - 1, rep),
			 KCG_ALERT_NONE);
	assert_int_equal(kcg_alert_decide(KCG_EXC_AGAIN, KCG_SEV_CRITICAL, KCG_SEV_WARNING, T0, T0 + rep, rep),
			 KCG_ALERT_REPEAT);
	/* repeat_h = 0: never again */
	assert_int_equal(kcg_alert_decide(KCG_EXC_AGAIN, KCG_SEV_CRITICAL, KCG_SEV_WARNING, T0, T0 + 1000 * H, 0),
			 KCG_ALERT_NONE);
	/* open, never sent (was below the threshold): now it is new */
	assert_int_equal(kcg_alert_decide(KCG_EXC_AGAIN, KCG_SEV_CRITICAL, KCG_SEV_CRITICAL, 0, T0, rep), KCG_ALERT_NEW);
	/* the timer */
	assert_int_equal(kcg_alert_repeat_due(true, T0, T0 + rep, rep), KCG_ALERT_REPEAT);
	assert_int_equal(kcg_alert_repeat_due(false, T0, T0 + rep, rep), KCG_ALERT_NONE);
	assert_int_equal(kcg_alert_repeat_due(true, T0, T0 + rep - 1, rep), KCG_ALERT_NONE);
	assert_int_equal(kcg_alert_repeat_due(true, T0, T0 - 5, rep), KCG_ALERT_NONE); /* clock went back */
	assert_string_equal(kcg_alert_reason_name(KCG_ALERT_REOPENED), "reopened");
}

static void test_hours(void **state)
{
	(void)state;
	uint64_t ms = 1;
	assert_int_equal(kcg_alert_parse_hours("24", &ms), 0);
	assert_int_equal(ms, 24 * H);
	assert_int_equal(kcg_alert_parse_hours("0.5", &ms), 0);
	assert_int_equal(ms, H / 2);
	assert_int_equal(kcg_alert_parse_hours("0.005", &ms), 0);
	assert_int_equal(ms, 18000);
	assert_int_equal(kcg_alert_parse_hours("0", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(kcg_alert_parse_hours("8760", &ms), 0);
	assert_int_equal(ms, 8760ull * H);
	const char *bad[] = { "", ".5", "1.", "1.2345", "8761", "8760.001", "-1", "1e3", "abc", " 1", "1h", NULL };
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(kcg_alert_parse_hours(bad[i], &ms), -EINVAL);
	assert_int_equal(kcg_alert_parse_hours(NULL, &ms), -EINVAL);
}

static void test_clock(void **state)
{
	(void)state;
	struct kcg_alert_clock c;
	assert_int_equal(kcg_alert_parse_clock("08:00", &c), 0);
	assert_true(!c.off && c.hour == 8 && c.min == 0 && c.sec == 0);
	assert_int_equal(kcg_alert_parse_clock("23:59:58", &c), 0);
	assert_true(c.hour == 23 && c.min == 59 && c.sec == 58);
	assert_int_equal(kcg_alert_parse_clock("off", &c), 0);
	assert_true(c.off);
	const char *bad[] = { "8:00", "24:00", "12:60", "12:00:60", "12-00", "", "12:00:", "12:00:0", "OFF", NULL };
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(kcg_alert_parse_clock(bad[i], &c), -EINVAL);
}

/* epoch ms of a UTC date-time (TZ is UTC in these tests) */
static uint64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s };
	return (uint64_t)timegm(&tm) * 1000u;
}

static void test_digest_schedule(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	struct kcg_alert_clock at;
	assert_int_equal(kcg_alert_parse_clock("08:00", &at), 0);
	const uint64_t grace = 15 * 60 * 1000;
	uint64_t rec;
	/* first start at 07:59: yesterday's slot is recorded, not sent */
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 7, 59, 0), 0, grace, &rec), 0);
	assert_int_equal(rec, utc(2026, 11, 29, 8, 0, 0));
	/* 08:00:01 with yesterday recorded: today's is sent */
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 8, 0, 1), rec, grace, &rec), utc(2026, 11, 30, 8, 0, 0));
	assert_int_equal(rec, utc(2026, 11, 30, 8, 0, 0));
	/* later the same day: nothing */
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 23, 0, 0), rec, grace, &rec), 0);
	assert_int_equal(rec, 0);
	/* down over 08:00 (last = yesterday), up at 10:00: the missed one goes, once */
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 12, 1, 10, 0, 0), utc(2026, 11, 30, 8, 0, 0), grace, &rec),
			 utc(2026, 12, 1, 8, 0, 0));
	/* a first start just after the slot still sends it; long after, not */
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 8, 10, 0), 0, grace, &rec), utc(2026, 11, 30, 8, 0, 0));
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 15, 0, 0), 0, grace, &rec), 0);
	assert_int_equal(rec, utc(2026, 11, 30, 8, 0, 0));
	/* seconds count; off never */
	assert_int_equal(kcg_alert_parse_clock("08:00:30", &at), 0);
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 8, 0, 29), utc(2026, 11, 29, 8, 0, 30), grace, &rec), 0);
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 8, 0, 30), utc(2026, 11, 29, 8, 0, 30), grace, &rec),
			 utc(2026, 11, 30, 8, 0, 30));
	assert_int_equal(kcg_alert_parse_clock("off", &at), 0);
	assert_int_equal(kcg_alert_digest_due(&at, utc(2026, 11, 30, 9, 0, 0), 0, grace, &rec), 0);
	assert_int_equal(rec, 0);
}

static void test_addresses(void **state)
{
	(void)state;
	char addr[255];
	assert_true(kcg_alert_valid_address("ops@example.com", 15));
	assert_false(kcg_alert_valid_address("ops.example.com", 15));
	assert_false(kcg_alert_valid_address("@example.com", 12));
	assert_false(kcg_alert_valid_address("ops@", 4));
	assert_false(kcg_alert_valid_address("o ps@example.com", 16));
	assert_false(kcg_alert_valid_address("ops@exa..mple.com", 17));
	assert_false(kcg_alert_valid_address("ops@example.com\r\nRCPT", 22));
	assert_false(kcg_alert_valid_address("a@b@c", 5));
	assert_int_equal(kcg_alert_parse_from("kcgate <alerts@example.com>", addr), 0);
	assert_string_equal(addr, "alerts@example.com");
	assert_int_equal(kcg_alert_parse_from("alerts@example.com", addr), 0);
	assert_string_equal(addr, "alerts@example.com");
	assert_int_equal(kcg_alert_parse_from("\"x\" <alerts@example.com>", addr), -EINVAL);
	assert_int_equal(kcg_alert_parse_from("<alerts@example.com>", addr), -EINVAL);
	assert_int_equal(kcg_alert_parse_from("kcgate <alerts@example.com> x", addr), -EINVAL);
	assert_int_equal(kcg_alert_parse_from("k\xc3\xa9 <alerts@example.com>", addr), -EINVAL);

	json_t *list;
	assert_int_equal(kcg_alert_parse_list(" a@x.com ,b@y.org,c@z.net ", 32, &list), 0);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_array_get(list, 0)), "a@x.com");
	assert_string_equal(json_string_value(json_array_get(list, 2)), "c@z.net");
	json_decref(list);
	assert_int_equal(kcg_alert_parse_list("a@x.com,,b@y.org", 32, &list), -EINVAL);
	assert_null(list);
	assert_int_equal(kcg_alert_parse_list("a@x.com, nope", 32, &list), -EINVAL);
	assert_int_equal(kcg_alert_parse_list("a@x.com,b@x.com,c@x.com", 2, &list), -E2BIG);
}

static void test_format_for(void **state)
{
	(void)state;
	assert_int_equal(kcg_alert_format_for(KCG_ALERT_AUTO, "https://hooks.slack.com/services/T/B/X"), KCG_ALERT_SLACK);
	assert_int_equal(kcg_alert_format_for(KCG_ALERT_AUTO, "https://acme.webhook.office.com/webhookb2/x"),
			 KCG_ALERT_TEAMS);
	assert_int_equal(kcg_alert_format_for(KCG_ALERT_AUTO,
					      "https://prod-12.westeurope.logic.azure.com:443/workflows/x?sig=y"),
			 KCG_ALERT_TEAMS);
	assert_int_equal(kcg_alert_format_for(KCG_ALERT_AUTO, "https://hooks.slack.com.evil.example/x"), KCG_ALERT_JSON);
	assert_int_equal(kcg_alert_format_for(KCG_ALERT_AUTO, "https://xhooks.slack.com/x"), KCG_ALERT_JSON);
	assert_int_equal(kcg_alert_format_for(KCG_ALERT_AUTO, "http://127.0.0.1:9/alerts"), KCG_ALERT_JSON);
	assert_int_equal(kcg_alert_format_for(KCG_ALERT_TEAMS, "https://hooks.slack.com/x"), KCG_ALERT_TEAMS);
}

/* ---- messages ---- */

static json_t *exc_payload(const char *message, const char *reason)
{
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:n, s:n}}", "reason", reason,
			 "exception", "id", "01JDA0000000000000000000AB", "kind", "unknown_sku", "severity", "critical",
			 "system", "khaos", "owner", "ecommerce", "subject", "SKU-9 & <b>", "message", message,
			 "first_seen", "2026-11-30T08:00:00.000Z", "last_seen", "2026-11-30T09:00:00.000Z", "count", 3,
			 "resolved_at", "resolved_by");
}

static void test_exception_text(void **state)
{
	(void)state;
	json_t *p = exc_payload("Offer SKU SKU-9 is not an active Khaos stock code; 2 orders held.", "reopened");
	struct kcg_alert_text t;
	assert_int_equal(kcg_alert_exception_text(p, &t), 0);
	assert_string_equal(t.title, "[kcgate] critical unknown_sku: SKU-9 & <b> (ecommerce) (reopened)");
	assert_non_null(strstr(t.text, "Offer SKU SKU-9 is not an active Khaos stock code; 2 orders held.\n"));
	assert_non_null(strstr(t.text, "System at fault: khaos\n"));
	assert_non_null(strstr(t.text, "Owning team: ecommerce\n"));
	assert_non_null(strstr(t.text, "raised 3 time(s)"));
	assert_non_null(strstr(t.text, "POST /admin/exceptions/01JDA0000000000000000000AB/resolve"));
	/* what to do: the runbook's steps for the kind, the console's words */
	const struct kcg_runbook_entry *rb = kcg_runbook_find("unknown_sku");
	assert_non_null(rb);
	char step[600];
	snprintf(step, sizeof(step), "\nWhat to do (ecommerce):\n1. %s\n2. %s\n", rb->steps[0], rb->steps[1]);
	assert_non_null(strstr(t.text, step));
	assert_ptr_equal(t.what_to_do, rb->steps[0]);
	kcg_alert_text_finish(&t);
	json_decref(p);
	/* a kind the runbook lacks says so rather than nothing */
	p = exc_payload("something new", "new");
	json_object_set_new(json_object_get(p, "exception"), "kind", json_string("kind_without_row"));
	assert_int_equal(kcg_alert_exception_text(p, &t), 0);
	assert_null(t.what_to_do);
	assert_non_null(strstr(t.text, "What to do: the runbook has no entry for this kind"));
	kcg_alert_text_finish(&t);
	json_decref(p);
	/* a payload without an exception is refused */
	p = json_pack("{s:s}", "reason", "new");
	assert_int_equal(kcg_alert_exception_text(p, &t), -EINVAL);
	json_decref(p);
}

static void test_webhook_bodies(void **state)
{
	(void)state;
	json_t *p = exc_payload("line one & <two>\nline two", "new");
	struct kcg_alert_text t;
	char *body;
	json_t *j;
	assert_int_equal(kcg_alert_exception_text(p, &t), 0);

	/* Slack: text (the fallback) + header + mrkdwn sections, & < > escaped */
	assert_int_equal(kcg_alert_webhook_body(KCG_ALERT_SLACK, "exception", &t, &body), 0);
	j = json_loads(body, 0, NULL);
	assert_non_null(j);
	/* the top-level text is mrkdwn too: & < > escaped (the subject is a peer's) */
	assert_string_equal(kcg_json_str(j, "text"), "[kcgate] critical unknown_sku: SKU-9 &amp; &lt;b&gt; (ecommerce)");
	json_t *blocks = json_object_get(j, "blocks");
	assert_true(json_array_size(blocks) >= 2);
	assert_string_equal(kcg_json_str(json_array_get(blocks, 0), "type"), "header");
	assert_string_equal(kcg_json_str(json_object_get(json_array_get(blocks, 0), "text"), "type"), "plain_text");
	const char *sec = kcg_json_str(json_object_get(json_array_get(blocks, 1), "text"), "text");
	assert_non_null(strstr(sec, "line one &amp; &lt;two&gt;\nline two"));
	assert_null(strchr(sec, '<'));
	json_decref(j);
	free(body);

	/* Teams: a message with one Adaptive Card, one TextBlock per line */
	assert_int_equal(kcg_alert_webhook_body(KCG_ALERT_TEAMS, "exception", &t, &body), 0);
	j = json_loads(body, 0, NULL);
	assert_string_equal(kcg_json_str(j, "type"), "message");
	json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
	assert_string_equal(kcg_json_str(att, "contentType"), "application/vnd.microsoft.card.adaptive");
	json_t *card = json_object_get(att, "content");
	assert_string_equal(kcg_json_str(card, "type"), "AdaptiveCard");
	json_t *tb = json_object_get(card, "body");
	/* TextBlocks are markdown: what starts a link or emphasis is escaped */
	assert_string_equal(kcg_json_str(json_array_get(tb, 0), "text"), "\\[kcgate\\] critical unknown\\_sku: SKU-9 & <b> (ecommerce)");
	assert_string_equal(kcg_json_str(json_array_get(tb, 1), "text"), "line one & <two>");
	assert_string_equal(kcg_json_str(json_array_get(tb, 2), "text"), "line two");
	json_decref(j);
	free(body);
	{
		json_t *lp = exc_payload("see [here](https://evil.example/x) *now*", "new");
		struct kcg_alert_text lt;
		assert_int_equal(kcg_alert_exception_text(lp, &lt), 0);
		assert_int_equal(kcg_alert_webhook_body(KCG_ALERT_TEAMS, "exception", &lt, &body), 0);
		json_t *lj = json_loads(body, 0, NULL);
		json_t *ltb = json_object_get(json_object_get(json_array_get(json_object_get(lj, "attachments"), 0), "content"), "body");
		assert_string_equal(kcg_json_str(json_array_get(ltb, 1), "text"), "see \\[here\\](https://evil.example/x) \\*now\\*");
		json_decref(lj);
		free(body);
		/* a long text stays under Teams' 28 KB, the rest counted */
		struct kcg_dynbuf big;
		kcg_dynbuf_init(&big, 1u << 20);
		for (int i = 0; i < 400; i++)
			kcg_dynbuf_printf(&big, "line %d: %0200d\n", i, 0);
		char *bt = kcg_dynbuf_take(&big, NULL);
		assert_non_null(bt);
		free(lt.text);
		lt.text = bt;
		assert_int_equal(kcg_alert_webhook_body(KCG_ALERT_TEAMS, "exception", &lt, &body), 0);
		assert_true(strlen(body) < 28000);
		assert_non_null(strstr(body, " more line(s): see the console"));
		free(body);
		kcg_alert_text_finish(&lt);
		json_decref(lp);
	}

	/* JSON: the payload, plus source, type, title and text */
	assert_int_equal(kcg_alert_webhook_body(KCG_ALERT_JSON, "exception", &t, &body), 0);
	j = json_loads(body, 0, NULL);
	assert_string_equal(kcg_json_str(j, "source"), "kcgate");
	assert_string_equal(kcg_json_str(j, "type"), "exception");
	assert_string_equal(kcg_json_str(j, "reason"), "new");
	assert_string_equal(kcg_json_str(json_object_get(j, "exception"), "owner"), "ecommerce");
	assert_string_equal(kcg_json_str(j, "text"), t.text);
	json_decref(j);
	free(body);
	assert_int_equal(kcg_alert_webhook_body(KCG_ALERT_AUTO, "exception", &t, &body), -EINVAL);
	kcg_alert_text_finish(&t);
	json_decref(p);

	/* a long text: Slack sections each under 3000 characters, all of it kept */
	char *big = malloc(20001);
	for (int i = 0; i < 20000; i++)
		big[i] = i % 50 == 49 ? '\n' : (i % 7 ? 'a' : '&');
	big[20000] = '\0';
	p = exc_payload(big, "new");
	assert_int_equal(kcg_alert_exception_text(p, &t), 0);
	assert_int_equal(kcg_alert_webhook_body(KCG_ALERT_SLACK, "exception", &t, &body), 0);
	j = json_loads(body, 0, NULL);
	blocks = json_object_get(j, "blocks");
	size_t total = 0;
	for (size_t i = 1; i < json_array_size(blocks); i++) {
		const char *s = kcg_json_str(json_object_get(json_array_get(blocks, i), "text"), "text");
		assert_true(strlen(s) <= 3000);
		total += strlen(s);
	}
	assert_true(total > 20000); /* the message (escaped) and the facts */
	json_decref(j);
	free(body);
	kcg_alert_text_finish(&t);
	json_decref(p);
	free(big);
}

static void test_digest_text(void **state)
{
	(void)state;
	json_t *p = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:s, s:i, s:s}], s:i, s:[{s:s, s:s}]}", "team",
			      "operations", "date", "2026-11-30", "exceptions", "kind", "dead_job", "severity", "critical",
			      "subject", "01JJOB", "system", "khaos", "first_seen", "2026-11-29T10:00:00.000Z", "count", 1,
			      "message", "job died", "more", 4, "figures", "name", "Jobs on the khaos lane", "value",
			      "0 pending, 1 dead");
	struct kcg_alert_text t;
	assert_int_equal(kcg_alert_digest_text(p, &t), 0);
	assert_string_equal(t.title, "[kcgate] daily digest for operations, 2026-11-30: 5 open exception(s)");
	assert_non_null(strstr(t.text, "- critical dead_job 01JJOB (at fault: khaos)"));
	assert_non_null(strstr(t.text, "- and 4 more: GET /admin/exceptions?open=1&owner=operations"));
	assert_non_null(strstr(t.text, "Sync health:\n- Jobs on the khaos lane: 0 pending, 1 dead\n"));
	kcg_alert_text_finish(&t);
	json_decref(p);
}

/* ---- mail ---- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* quoted-printable (CRLF lines) back to text with '\n' */
static char *qp_decode(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	while (*s) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
			s += 3;
		} else if (s[0] == '=') {
			assert_true(hexval(s[1]) >= 0 && hexval(s[2]) >= 0);
			*o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 3;
		} else if (s[0] == '\r' && s[1] == '\n') {
			*o++ = '\n';
			s += 2;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

static void test_mail(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	/* non-ASCII in the subject and the text, a long line, '=' and a trailing space */
	json_t *p = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}}", "reason", "new", "exception",
			      "id", "01JDA0000000000000000000AB", "kind", "price_mismatch", "severity", "critical", "system",
			      "mirakl", "owner", "finance", "subject", "Bestellung-\xc3\x9c\x62\x65rgr\xc3\xb6\xc3\x9f\x65-\xe2\x82\xac",
			      "message",
			      "Total 12,00 \xe2\x82\xac \xe2\x89\xa0 11,99 \xe2\x82\xac (a=b) trailing \n"
			      "a very long line that goes on and on and on and on and on and on and on and on and on and on "
			      "and on and on and on and on",
			      "first_seen", "x", "last_seen", "y", "count", 1);
	struct kcg_alert_text t;
	assert_int_equal(kcg_alert_exception_text(p, &t), 0);
	json_t *to = json_pack("[s, s, s]", "finance-lead-with-a-long-name@example.com",
			       "accounts-payable-team@example.com", "cfo@example.com");
	char *mail;
	size_t len;
	assert_int_equal(kcg_alert_mail("kcgate <alerts@shop.example>", to, "01JJOBID", utc(2026, 11, 30, 9, 5, 7), &t,
					&mail, &len),
			 0);
	assert_int_equal(strlen(mail), len);
	/* CRLF only, every line at most 78 characters */
	for (const char *l = mail; *l;) {
		const char *e = strstr(l, "\r\n");
		assert_non_null(e);
		assert_true(e - l <= 78);
		assert_null(memchr(l, '\n', (size_t)(e - l)));
		l = e + 2;
	}
	assert_non_null(strstr(mail, "Date: Mon, 30 Nov 2026 09:05:07 +0000\r\n"));
	assert_non_null(strstr(mail, "From: kcgate <alerts@shop.example>\r\n"));
	assert_non_null(strstr(mail, "To: finance-lead-with-a-long-name@example.com,\r\n accounts-payable-team@example.com, cfo@example.com\r\n"));
	assert_non_null(strstr(mail, "Message-ID: <01JJOBID@shop.example>\r\n"));
	assert_non_null(strstr(mail, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
	assert_non_null(strstr(mail, "Auto-Submitted: auto-generated\r\n"));
	/* the subject: encoded words that decode to the title */
	const char *subj = strstr(mail, "Subject: ");
	assert_non_null(subj);
	char decoded[512] = "";
	const char *w = subj;
	while ((w = strstr(w, "=?UTF-8?B?")) && w < strstr(subj, "\r\nMessage-ID")) {
		w += 10;
		const char *end = strstr(w, "?=");
		unsigned char buf[128];
		int n = kcg_base64_decode(w, (size_t)(end - w), buf, sizeof(buf));
		assert_true(n > 0);
		strncat(decoded, (const char *)buf, (size_t)n);
		/* each word holds whole characters: valid UTF-8 on its own */
		json_t *s = json_stringn((const char *)buf, (size_t)n);
		assert_non_null(s);
		json_decref(s);
		w = end + 2;
	}
	assert_string_equal(decoded, t.title);
	/* the body decodes back to the text */
	char *qp = qp_decode(strstr(mail, "\r\n\r\n") + 4);
	assert_string_equal(qp, t.text);
	free(qp);
	free(mail);
	/* bad inputs */
	assert_int_equal(kcg_alert_mail("not an address", to, "x", T0, &t, &mail, &len), -EINVAL);
	assert_int_equal(kcg_alert_mail("a@b.c", to, "bad<id>", T0, &t, &mail, &len), -EINVAL);
	json_t *bad = json_pack("[s]", "evil@example.com>\r\nBcc: x@y.z");
	assert_int_equal(kcg_alert_mail("a@b.c", bad, "x", T0, &t, &mail, &len), -EINVAL);
	json_decref(bad);
	json_decref(to);
	kcg_alert_text_finish(&t);
	json_decref(p);
}

/* ---- keys ---- */

static const char base_conf[] = "[server]\nlisten = 127.0.0.1:8443\n[store]\npath = /nonexistent/kcg\n"
				"[admin]\ntoken = 0123456789abcdef0123\n[mirakl]\nwebhook_auth = none\n"
				"[inriver]\nwebhook_auth = none\n";

static int parse(const char *extra, struct kcg_config *cfg, char **errs)
{
	char text[4096];
	snprintf(text, sizeof(text), "%s%s", base_conf, extra);
	*cfg = (struct kcg_config){ 0 };
	*errs = NULL;
	return kcg_config_parse("a.conf", text, strlen(text), cfg, errs, NULL);
}

static void test_keys(void **state)
{
	(void)state;
	struct kcg_config cfg;
	char *errs;
	assert_int_equal(parse("[alerts]\nsmtp_url = smtp://127.0.0.1:2525\n", &cfg, &errs), KCG_ECONFIG);
	assert_non_null(strstr(errs, "a.conf:0: [alerts] mail_from: required when smtp_url is set"));
	free(errs);
	kcg_config_finish(&cfg);

	assert_int_equal(parse("[alerts]\nwebhook_url = ftp://x\nrepeat_h = 1.5h\ndigest_at = 25:00\n"
			       "smtp_url = smtp://u:p@host\nmail_from = x\nsmtp_user = u\n[alerts.mail_to]\nops = a@b.c, nope\n",
			       &cfg, &errs),
			 KCG_ECONFIG);
	assert_non_null(strstr(errs, ":12: [alerts] webhook_url: expected a URL starting with https:// or http://"));
	assert_non_null(strstr(errs, ":13: [alerts] repeat_h: expected hours from 0 (never) to 8760"));
	assert_non_null(strstr(errs, ":14: [alerts] digest_at: expected a local time HH:MM"));
	assert_non_null(strstr(errs, ":15: [alerts] smtp_url: must not contain credentials"));
	assert_non_null(strstr(errs, ":16: [alerts] mail_from: expected an address"));
	assert_non_null(strstr(errs, ":0: [alerts] smtp_password: required when smtp_user is set"));
	assert_non_null(strstr(errs, ":19: [alerts.mail_to] ops: expected e-mail addresses separated by commas"));
	/* a secret value never appears in a message */
	assert_null(strstr(errs, "u:p@host"));
	free(errs);
	kcg_config_finish(&cfg);

	assert_int_equal(parse("[alerts]\nwebhook_url = https://hooks.slack.com/services/T/B/X?a=1\nrepeat_h = 0.25\n"
			       "digest_at = off\nmin_severity = critical\n",
			       &cfg, &errs),
			 0);
	assert_string_equal(cfg.alerts.webhook_url, "https://hooks.slack.com/services/T/B/X?a=1");
	assert_int_equal(cfg.alerts.min_severity, KCG_SEV_CRITICAL);
	assert_int_equal(cfg.alerts.webhook_format, KCG_ALERT_AUTO);
	assert_int_equal(cfg.alerts.max_attempts, 10);
	assert_int_equal(cfg.alerts.delay_s, 60);
	assert_int_equal(cfg.lanes.alerts, 2);
	assert_int_equal(cfg.lanes.alerts_mail, 2);
	assert_int_equal(cfg.alerts.coalesce_s, 300);
	kcg_config_finish(&cfg);
}

/* ---- the hook, on a real store ---- */

struct hook_fixture {
	char dir[512];
	struct kcg_config cfg;
	struct kcg_flow_set set;
	struct kcg_store *store;
};

static int hook_setup(void **state)
{
	struct hook_fixture *f = calloc(1, sizeof(*f));
	char *errs = NULL;
	if (!f || tmpdir_make(f->dir, sizeof(f->dir), "kcg-alerts") != 0)
		return -1;
	if (parse("[alerts]\nwebhook_url = http://127.0.0.1:9/alerts\nsmtp_url = smtp://127.0.0.1:9\n"
		  "mail_from = kcgate <alerts@example.com>\n[alerts.mail_to]\necommerce = a@example.com\n",
		  &f->cfg, &errs) != 0) {
		fprintf(stderr, "%s", errs ? errs : "?");
		return -1;
	}
	if (kcg_flow_set_init(&f->set, &f->cfg) != 0)
		return -1;
	struct kcg_store_options so = { .path = f->dir, .map_size_bytes = 64u << 20, .dedupe_ttl_ms = 3600000,
					.max_batch = 64, .queue_limit = 1024, .dbs = f->set.dbs,
					.on_exception = kcg_flow_set_on_exception, .on_exception_arg = &f->set };
	if (kcg_store_open(&so, &f->store, NULL) != 0)
		return -1;
	f->set.ctx.store = f->store;
	*state = f;
	return 0;
}

static int hook_teardown(void **state)
{
	struct hook_fixture *f = *state;
	kcg_config_finish(&f->cfg);
	return tmpdir_teardown(f->store, f->dir, f);
}

struct raise_req {
	struct kcg_exc exc;
	uint64_t now_ms;
	bool resolve;
	char id[KCG_ID_LEN + 1];
};

static int raise_fn(struct kcg_txn *t, void *arg)
{
	struct raise_req *r = arg;
	struct kcg_txn tt = *t;
	tt.now_ms = r->now_ms;
	if (r->resolve)
		return kcg_exc_resolve(&tt, r->exc.kind, r->exc.subject, "manual");
	return kcg_exc_raise(&tt, &r->exc, r->id);
}

struct count_req {
	const char *kind;
	size_t n;
};

static int count_jobs(const char *id, json_t *rec, void *arg)
{
	struct count_req *c = arg;
	if (strcmp(kcg_json_str(rec, "kind"), c->kind) == 0)
		c->n++;
	return 0;
}

static int count_fn(struct kcg_txn *t, void *arg)
{
	return kcg_jobs_walk(t, NULL, count_jobs, arg);
}

struct find_req {
	const char *kind;
	char id[KCG_ID_LEN + 1];
};

static int find_job(const char *id, json_t *rec, void *arg)
{
	struct find_req *r = arg;
	if (id && strcmp(kcg_json_str(rec, "kind"), r->kind) == 0) {
		memcpy(r->id, id, KCG_ID_LEN + 1);
		return 1;
	}
	return 0;
}

static int find_fn(struct kcg_txn *t, void *arg)
{
	return kcg_jobs_walk(t, NULL, find_job, arg);
}

static size_t jobs_of(struct kcg_store *s, const char *kind)
{
	struct count_req c = { kind, 0 };
	assert_int_equal(kcg_store_read(s, count_fn, &c), 0);
	return c.n;
}

static void test_hook(void **state)
{
	struct hook_fixture *f = *state;
	struct raise_req r = { .exc = { KCG_EXC_UNKNOWN_SKU, KCG_SEV_WARNING, "khaos", "ecommerce", "SKU-1", "not known" },
			       .now_ms = kcg_now_ms() };
	/* new, at the threshold: one webhook job and one mail job, with the exception */
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &r), 0);
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 1);
	assert_int_equal(jobs_of(f->store, "alert.mail"), 1);
	/* raised again while open: nothing more */
	r.now_ms += 1000;
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &r), 0);
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 1);
	/* below the threshold: nothing */
	struct raise_req info = { .exc = { KCG_EXC_WEBHOOK_TRUNCATED, KCG_SEV_INFO, "mirakl", "ecommerce", "ev1", "x" },
				  .now_ms = r.now_ms };
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &info), 0);
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 1);
	/* a team without addresses: the webhook only */
	struct raise_req ops = { .exc = { KCG_EXC_SHORT_STOCK, KCG_SEV_CRITICAL, "khaos", "operations", "O-1", "short" },
				 .now_ms = r.now_ms };
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &ops), 0);
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 2);
	assert_int_equal(jobs_of(f->store, "alert.mail"), 1);
	/* a dead_job about an alert.mail job: alerted on no channel (the webhook
	 * may be dead too: each dead alert would alert the other for ever) */
	struct find_req fr = { "alert.mail", "" };
	assert_int_equal(kcg_store_read(f->store, find_fn, &fr), 0);
	assert_int_equal(strlen(fr.id), KCG_ID_LEN);
	struct raise_req dead = { .exc = { KCG_EXC_DEAD_JOB, KCG_SEV_CRITICAL, "alerts", "ecommerce", fr.id, "dead" },
				  .now_ms = r.now_ms };
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &dead), 0);
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 2);
	assert_int_equal(jobs_of(f->store, "alert.mail"), 1);
	/* nor about an alert.webhook job */
	struct find_req fw = { "alert.webhook", "" };
	assert_int_equal(kcg_store_read(f->store, find_fn, &fw), 0);
	assert_int_equal(strlen(fw.id), KCG_ID_LEN);
	dead.exc.subject = fw.id;
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &dead), 0);
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 2);
	assert_int_equal(jobs_of(f->store, "alert.mail"), 1);
	/* a dead_job about another job: both channels */
	dead.exc.subject = "01ZZZZZZZZZZZZZZZZZZZZZZZZ";
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &dead), 0);
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 3);
	assert_int_equal(jobs_of(f->store, "alert.mail"), 2);
	/* resolved, then raised again: reopened, sent again */
	r.resolve = true;
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &r), 0);
	r.resolve = false;
	r.now_ms += 1000;
	assert_int_equal(kcg_store_write_sync(f->store, raise_fn, &r), 0);
	/* the first alert.webhook of SKU-1 is still pending: the reopening joins it */
	assert_int_equal(jobs_of(f->store, "alert.webhook"), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_hours),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_digest_schedule),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_format_for),
		cmocka_unit_test(test_exception_text),
		cmocka_unit_test(test_webhook_bodies),
		cmocka_unit_test(test_digest_text),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_keys),
		cmocka_unit_test_setup_teardown(test_hook, hook_setup, hook_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
