/*
 * alerts_message.c: what an alert says and how each channel carries it
 * (see kcgate/alerts.h). Pure: JSON in, text out.
 *
 *  - Slack incoming webhooks take {"text", "blocks"}: text is the
 *    notification fallback, blocks a header (plain_text, at most 150
 *    characters) and mrkdwn sections (at most 3000 characters each), with
 *    &, < and > escaped as Slack's formatting rules ask.
 *  - Teams incoming webhooks (and the Workflows "when a Teams webhook
 *    request is received" trigger that replaces them) take {"type":
 *    "message", "attachments": [{"contentType":
 *    "application/vnd.microsoft.card.adaptive", "content": AdaptiveCard}]};
 *    one TextBlock per line, so line breaks survive.
 *  - Mail: RFC 5322 headers, RFC 2047 encoded words for a subject that is
 *    not plain ASCII, RFC 2045 quoted-printable UTF-8 text, CRLF line ends.
 */
#include "kcgate/alerts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kcgate/common.h"
#include "kcgate/dynbuf.h"
#include "kcgate/json.h"
#include "kcgate/runbook.h"

#define TEXT_MAX (256u * 1024u)         /* one message's text */
#define MAIL_MAX (1024u * 1024u)        /* one mail */
#define SLACK_HEADER_MAX 150            /* characters of a header block */
#define SLACK_SECTION_MAX 2900          /* bytes of a section (Slack: 3000 characters) */
#define SLACK_BLOCKS_MAX 50
#define DIGEST_MESSAGE_MAX 300          /* bytes of each exception's message in a digest */
#define TEAMS_BUDGET 24000u             /* bytes of a Teams body (Teams refuses past 28 KB) */
#define TEAMS_BLOCK_COST 80u            /* a TextBlock's JSON around its text */
#define QP_LINE 76
/* bytes per RFC 2047 "B" word: 48 base64 characters + 12 = 60, and "Subject: " + one <= 76 */
#define EW_CHUNK 36

void kcg_alert_text_finish(struct kcg_alert_text *t)
{
	if (!t)
		return;
	free(t->title);
	free(t->text);
	json_decref(t->data);
	*t = (struct kcg_alert_text){ 0 };
}

/* How much of @p s (@p n bytes at most) fits without splitting a UTF-8 character. */
static size_t utf8_cut(const char *s, size_t n)
{
	size_t len = strlen(s);
	if (len <= n)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static int take(struct kcg_dynbuf *b, char **out)
{
	*out = kcg_dynbuf_take(b, NULL);
	return *out ? 0 : -ENOMEM;
}

static int finish_text(struct kcg_dynbuf *title, struct kcg_dynbuf *text, const json_t *payload,
		       struct kcg_alert_text *out)
{
	int rc = kcg_dynbuf_error(title) ? -ENOMEM : kcg_dynbuf_error(text) ? -ENOMEM : 0;
	if (rc == 0)
		rc = take(title, &out->title);
	if (rc == 0)
		rc = take(text, &out->text);
	kcg_dynbuf_finish(title);
	kcg_dynbuf_finish(text);
	if (rc != 0) {
		kcg_alert_text_finish(out);
		return rc;
	}
	out->data = json_incref((json_t *)payload);
	return 0;
}

int kcg_alert_exception_text(const json_t *payload, struct kcg_alert_text *out)
{
	*out = (struct kcg_alert_text){ 0 };
	const json_t *e = json_object_get(payload, "exception");
	const char *reason = kcg_json_str(payload, "reason");
	if (!json_is_object(e) || !*kcg_json_str(e, "id") || !*kcg_json_str(e, "kind") || !*reason)
		return -EINVAL;
	struct kcg_dynbuf title, text;
	kcg_dynbuf_init(&title, TEXT_MAX);
	kcg_dynbuf_init(&text, TEXT_MAX);
	if (strcmp(reason, "summary") == 0) { /* alerts_coalesce.c: the rest of a (kind, team) window */
		kcg_dynbuf_printf(&title, "[kcgate] %s %s: %s (%s)", kcg_json_str(e, "severity"), kcg_json_str(e, "kind"),
				  kcg_json_str(e, "subject"), kcg_json_str(e, "owner"));
		kcg_dynbuf_printf(&text, "%s\n\n", kcg_json_str(e, "message"));
		kcg_dynbuf_printf(&text, "Exception: %s (%s)\nSystem at fault: %s\nOwning team: %s\n", kcg_json_str(e, "kind"),
				  kcg_json_str(e, "severity"), kcg_json_str(e, "system"), kcg_json_str(e, "owner"));
		const struct kcg_runbook_entry *rb = kcg_runbook_find(kcg_json_str(e, "kind"));
		if (rb) {
			kcg_dynbuf_printf(&text, "\nWhat to do (%s):\n", rb->owner);
			for (size_t i = 0; rb->steps[i]; i++)
				kcg_dynbuf_printf(&text, "%zu. %s\n", i + 1, rb->steps[i]);
		}
		int rc = finish_text(&title, &text, payload, out);
		if (rc == 0 && rb)
			out->what_to_do = rb->steps[0];
		return rc;
	}
	const char *tag = strcmp(reason, "reopened") == 0 ? " (reopened)" : strcmp(reason, "repeat") == 0 ? " (still open)" : "";
	kcg_dynbuf_printf(&title, "[kcgate] %s %s: %s (%s)%s", kcg_json_str(e, "severity"), kcg_json_str(e, "kind"),
			  kcg_json_str(e, "subject"), kcg_json_str(e, "owner"), tag);
	kcg_dynbuf_printf(&text, "%s\n\n", kcg_json_str(e, "message"));
	kcg_dynbuf_printf(&text, "Exception: %s (%s)\n", kcg_json_str(e, "kind"), kcg_json_str(e, "severity"));
	kcg_dynbuf_printf(&text, "System at fault: %s\n", kcg_json_str(e, "system"));
	kcg_dynbuf_printf(&text, "Owning team: %s\n", kcg_json_str(e, "owner"));
	kcg_dynbuf_printf(&text, "About: %s\n", kcg_json_str(e, "subject"));
	kcg_dynbuf_printf(&text, "First seen: %s; last seen: %s; raised %lld time(s)\n", kcg_json_str(e, "first_seen"),
			  kcg_json_str(e, "last_seen"), (long long)json_integer_value(json_object_get(e, "count")));
	kcg_dynbuf_printf(&text, "Why now: %s\n", strcmp(reason, "repeat") == 0 ? "still open since the last alert"
						  : strcmp(reason, "reopened") == 0 ? "it was resolved and happened again"
										    : "new");
	kcg_dynbuf_printf(&text, "Id: %s (GET /admin/exceptions?open=1; once fixed: POST /admin/exceptions/%s/resolve)\n",
			  kcg_json_str(e, "id"), kcg_json_str(e, "id"));
	const struct kcg_runbook_entry *rb = kcg_runbook_find(kcg_json_str(e, "kind"));
	if (rb) {
		kcg_dynbuf_printf(&text, "\nWhat to do (%s):\n", rb->owner);
		for (size_t i = 0; rb->steps[i]; i++)
			kcg_dynbuf_printf(&text, "%zu. %s\n", i + 1, rb->steps[i]);
		kcg_dynbuf_printf(&text, "Resolves by itself when: %s\n", rb->resolves);
	} else {
		kcg_dynbuf_addstr(&text, "\nWhat to do: the runbook has no entry for this kind (docs/operations.md).\n");
	}
	int rc = finish_text(&title, &text, payload, out);
	if (rc == 0 && rb)
		out->what_to_do = rb->steps[0];
	return rc;
}

int kcg_alert_digest_text(const json_t *payload, struct kcg_alert_text *out)
{
	*out = (struct kcg_alert_text){ 0 };
	const char *team = kcg_json_str(payload, "team"), *date = kcg_json_str(payload, "date");
	const json_t *excs = json_object_get(payload, "exceptions"), *figs = json_object_get(payload, "figures");
	if (!*team || !*date || !json_is_array(excs) || !json_is_array(figs))
		return -EINVAL;
	long long more = json_integer_value(json_object_get(payload, "more"));
	size_t n_open = json_array_size(excs) + (more > 0 ? (size_t)more : 0);
	struct kcg_dynbuf title, text;
	kcg_dynbuf_init(&title, TEXT_MAX);
	kcg_dynbuf_init(&text, TEXT_MAX);
	kcg_dynbuf_printf(&title, "[kcgate] daily digest for %s, %s: %zu open exception(s)", team, date, n_open);
	kcg_dynbuf_printf(&text, "Open exceptions owned by %s: %zu\n", team, n_open);
	size_t i;
	const json_t *e;
	json_array_foreach(excs, i, e) {
		const char *msg = kcg_json_str(e, "message");
		size_t n = utf8_cut(msg, DIGEST_MESSAGE_MAX);
		kcg_dynbuf_printf(&text, "- %s %s %s (at fault: %s) since %s, raised %lld time(s): %.*s%s\n",
				  kcg_json_str(e, "severity"), kcg_json_str(e, "kind"), kcg_json_str(e, "subject"), kcg_json_str(e, "system"),
				  kcg_json_str(e, "first_seen"), (long long)json_integer_value(json_object_get(e, "count")), (int)n,
				  msg, n < strlen(msg) ? "..." : "");
	}
	if (more > 0)
		kcg_dynbuf_printf(&text, "- and %lld more: GET /admin/exceptions?open=1&owner=%s\n", more, team);
	kcg_dynbuf_addstr(&text, "\nSync health:\n");
	json_array_foreach(figs, i, e)
		kcg_dynbuf_printf(&text, "- %s: %s\n", kcg_json_str(e, "name"), kcg_json_str(e, "value"));
	return finish_text(&title, &text, payload, out);
}

static bool host_ends(const char *host, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	return n >= m && strncasecmp(host + n - m, suffix, m) == 0 && (n == m || host[n - m - 1] == '.' || suffix[0] == '.');
}

enum kcg_alert_format kcg_alert_format_for(enum kcg_alert_format fmt, const char *url)
{
	if (fmt != KCG_ALERT_AUTO)
		return fmt;
	const char *h = url ? strstr(url, "://") : NULL;
	if (!h)
		return KCG_ALERT_JSON;
	h += 3;
	size_t n = strcspn(h, ":/?#");
	if (host_ends(h, n, "hooks.slack.com"))
		return KCG_ALERT_SLACK;
	if (host_ends(h, n, ".webhook.office.com") || host_ends(h, n, ".logic.azure.com") ||
	    host_ends(h, n, ".powerplatform.com") || host_ends(h, n, ".powerautomate.com"))
		return KCG_ALERT_TEAMS;
	return KCG_ALERT_JSON;
}

/* Slack's mrkdwn: &, <, > are control characters. */
static void slack_escape(struct kcg_dynbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': kcg_dynbuf_addstr(b, "&amp;"); break;
		case '<': kcg_dynbuf_addstr(b, "&lt;"); break;
		case '>': kcg_dynbuf_addstr(b, "&gt;"); break;
		default: kcg_dynbuf_add(b, s + i, 1);
		}
	}
}

/* Appends a mrkdwn section holding @p len bytes of @p s (escaped). */
static int slack_section(json_t *blocks, const char *s, size_t len)
{
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, TEXT_MAX);
	slack_escape(&b, s, len);
	if (kcg_dynbuf_error(&b)) {
		kcg_dynbuf_finish(&b);
		return -ENOMEM;
	}
	json_t *sec = json_pack("{s:s, s:{s:s, s:s%}}", "type", "section", "text", "type", "mrkdwn", "text",
				kcg_dynbuf_ptr(&b), kcg_dynbuf_len(&b));
	kcg_dynbuf_finish(&b);
	return sec && json_array_append_new(blocks, sec) == 0 ? 0 : -ENOMEM;
}

static json_t *slack_body(const struct kcg_alert_text *t)
{
	json_t *blocks = json_array();
	char head[SLACK_HEADER_MAX * 4 + 1];
	/* 150 characters: cut by bytes on a character boundary (ASCII titles fit exactly) */
	size_t hn = utf8_cut(t->title, SLACK_HEADER_MAX);
	memcpy(head, t->title, hn);
	head[hn] = '\0';
	if (!blocks || json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "header", "text", "type",
								 "plain_text", "text", head)) != 0)
		goto fail;
	/* sections of whole lines, each under Slack's limit (escaping may grow a
	 * line: count it escaped) */
	const char *p = t->text;
	while (*p && json_array_size(blocks) < SLACK_BLOCKS_MAX) {
		size_t used = 0, take_n = 0;
		while (p[take_n]) {
			size_t line = strcspn(p + take_n, "\n");
			size_t cost = line + 1;
			for (size_t i = 0; i < line; i++)
				cost += p[take_n + i] == '&' ? 4 : (p[take_n + i] == '<' || p[take_n + i] == '>') ? 3 : 0;
			if (used + cost > SLACK_SECTION_MAX) {
				if (take_n == 0) /* one line too long on its own: cut it */
					take_n = utf8_cut(p, SLACK_SECTION_MAX / 5);
				break;
			}
			used += cost;
			take_n += line + (p[take_n + line] == '\n');
		}
		if (slack_section(blocks, p, take_n) != 0)
			goto fail;
		p += take_n;
	}
	/* the top-level text (the notification's) is mrkdwn too: escaped */
	struct kcg_dynbuf tb;
	kcg_dynbuf_init(&tb, TEXT_MAX);
	slack_escape(&tb, t->title, strlen(t->title));
	json_t *body = kcg_dynbuf_error(&tb) ? NULL
					     : json_pack("{s:s%, s:o}", "text", kcg_dynbuf_ptr(&tb), kcg_dynbuf_len(&tb), "blocks", blocks);
	kcg_dynbuf_finish(&tb);
	if (body)
		return body;
	blocks = NULL;
fail:
	json_decref(blocks);
	return NULL;
}

/* A TextBlock's text is markdown to Teams: a peer's text (an order
 * reference, a message) must not become a link or emphasis. Backslash
 * escapes the characters that start one. */
static int teams_escape(struct kcg_dynbuf *b, const char *s, size_t n)
{
	kcg_dynbuf_finish(b);
	for (size_t i = 0; i < n; i++) {
		if (s[i] && strchr("\\[]*_`", s[i]))
			kcg_dynbuf_add(b, "\\", 1);
		kcg_dynbuf_add(b, s + i, 1);
	}
	return kcg_dynbuf_error(b);
}

static json_t *teams_block(struct kcg_dynbuf *b, const char *s, size_t n, bool title)
{
	if (teams_escape(b, s, n) != 0)
		return NULL;
	if (title)
		return json_pack("{s:s, s:s%, s:s, s:s, s:b}", "type", "TextBlock", "text", kcg_dynbuf_ptr(b), kcg_dynbuf_len(b),
				 "weight", "Bolder", "size", "Medium", "wrap", 1);
	return json_pack("{s:s, s:s%, s:b, s:s}", "type", "TextBlock", "text", kcg_dynbuf_ptr(b), kcg_dynbuf_len(b), "wrap", 1,
			 "spacing", "None");
}

static json_t *teams_body(const struct kcg_alert_text *t)
{
	json_t *body = json_array();
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, TEXT_MAX * 2);
	size_t used = strlen(t->title) * 2 + TEAMS_BLOCK_COST;
	if (!body || json_array_append_new(body, teams_block(&b, t->title, strlen(t->title), true)) != 0)
		goto fail;
	for (const char *p = t->text; *p;) {
		size_t n = strcspn(p, "\n");
		/* under Teams' 28 KB: the lines past the budget are counted, not sent */
		if (used + n * 2 + TEAMS_BLOCK_COST > TEAMS_BUDGET) {
			size_t more = 0;
			for (const char *q = p; *q; q += strcspn(q, "\n") + (q[strcspn(q, "\n")] == '\n'))
				more++;
			char note[96];
			int nn = snprintf(note, sizeof(note), "and %zu more line(s): see the console", more);
			json_t *tb = teams_block(&b, note, (size_t)nn, false);
			if (!tb || json_array_append_new(body, tb) != 0)
				goto fail;
			break;
		}
		used += n * 2 + TEAMS_BLOCK_COST;
		/* an empty line separates: a TextBlock needs text */
		json_t *tb = n ? teams_block(&b, p, n, false)
			       : json_pack("{s:s, s:s, s:b, s:s}", "type", "TextBlock", "text", " ", "wrap", 1, "spacing", "Small");
		if (!tb || json_array_append_new(body, tb) != 0)
			goto fail;
		p += n + (p[n] == '\n');
	}
	kcg_dynbuf_finish(&b);
	json_t *msg = json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:o}}]}", "type", "message", "attachments",
				"contentType", "application/vnd.microsoft.card.adaptive", "contentUrl", "content", "$schema",
				"http://adaptivecards.io/schemas/adaptive-card.json", "type", "AdaptiveCard", "version", "1.2",
				"body", body);
	if (msg)
		return msg;
	body = NULL;
fail:
	kcg_dynbuf_finish(&b);
	json_decref(body);
	return NULL;
}

static json_t *plain_body(const char *type, const struct kcg_alert_text *t)
{
	json_t *o = json_is_object(t->data) ? json_deep_copy(t->data) : json_object();
	if (!o || json_object_set_new(o, "source", json_string("kcgate")) || json_object_set_new(o, "type", json_string(type)) ||
	    json_object_set_new(o, "title", json_string(t->title)) || json_object_set_new(o, "text", json_string(t->text))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int kcg_alert_webhook_body(enum kcg_alert_format fmt, const char *type, const struct kcg_alert_text *t, char **out)
{
	*out = NULL;
	if (!t || !t->title || !t->text || !type)
		return -EINVAL;
	json_t *body = fmt == KCG_ALERT_SLACK ? slack_body(t)
		       : fmt == KCG_ALERT_TEAMS ? teams_body(t)
		       : fmt == KCG_ALERT_JSON	? plain_body(type, t)
						: NULL;
	if (!body)
		return fmt == KCG_ALERT_AUTO ? -EINVAL : -ENOMEM;
	*out = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return *out ? 0 : -ENOMEM;
}

/* ---- mail ---- */

static bool plain_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* "Subject: " + the subject: as is when short printable ASCII, else RFC
 * 2047 "B" encoded words of whole characters, folded one per line. */
static void add_subject(struct kcg_dynbuf *b, const char *s)
{
	kcg_dynbuf_addstr(b, "Subject: ");
	if (plain_ascii(s) && strlen(s) <= 68 && !strstr(s, "=?")) {
		kcg_dynbuf_addstr(b, s);
		kcg_dynbuf_addstr(b, "\r\n");
		return;
	}
	size_t len = strlen(s), pos = 0;
	bool first = true;
	while (pos < len || first) {
		size_t n = utf8_cut(s + pos, EW_CHUNK);
		if (n == 0 && pos < len)
			n = 1; /* not UTF-8 at all: still progress */
		char enc[EW_CHUNK * 2];
		kcg_base64_encode((const unsigned char *)s + pos, n, enc);
		kcg_dynbuf_printf(b, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", enc);
		pos += n;
		first = false;
	}
	kcg_dynbuf_addstr(b, "\r\n");
}

/* RFC 2045 quoted-printable of UTF-8 text with '\n' line ends, CRLF out. */
static void add_qp(struct kcg_dynbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n') {
			kcg_dynbuf_addstr(b, "\r\n");
			col = 0;
			continue;
		}
		char enc[4];
		size_t n;
		bool at_eol = p[1] == '\n' || p[1] == '\0';
		if ((*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !at_eol)) {
			enc[0] = (char)*p;
			n = 1;
		} else if (*p == '\r') {
			continue; /* line ends are ours */
		} else {
			enc[0] = '=';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			n = 3;
		}
		if (col + n > QP_LINE - 1) { /* room for the soft break's '=' */
			kcg_dynbuf_addstr(b, "=\r\n");
			col = 0;
		}
		kcg_dynbuf_add(b, enc, n);
		col += n;
	}
	if (col)
		kcg_dynbuf_addstr(b, "\r\n");
}

int kcg_alert_mail(const char *from, const json_t *to, const char *msg_id, uint64_t now_ms,
		   const struct kcg_alert_text *t, char **out, size_t *out_len)
{
	char addr[255], date[64];
	*out = NULL;
	if (!from || kcg_alert_parse_from(from, addr) != 0 || !json_is_array(to) || !json_array_size(to) || !msg_id ||
	    !*msg_id || !plain_ascii(msg_id) || strpbrk(msg_id, "<>@ ") || !t || !t->title || !t->text)
		return -EINVAL;
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	/* RFC 5322 3.3: day and month names are English whatever the locale */
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	long off = tm.tm_gmtoff / 60;
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
		 labs(off) / 60, labs(off) % 60);

	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, MAIL_MAX);
	kcg_dynbuf_printf(&b, "Date: %s\r\nFrom: %s\r\nTo: ", date, from);
	size_t col = 4, i;
	const json_t *a;
	json_array_foreach(to, i, a) {
		const char *s = json_string_value(a);
		if (!s || !kcg_alert_valid_address(s, strlen(s))) {
			kcg_dynbuf_finish(&b);
			return -EINVAL;
		}
		if (i > 0) {
			bool fold = col + 2 + strlen(s) > 76;
			kcg_dynbuf_addstr(&b, fold ? ",\r\n " : ", ");
			col = fold ? 1 : col + 2;
		}
		kcg_dynbuf_addstr(&b, s);
		col += strlen(s);
	}
	kcg_dynbuf_addstr(&b, "\r\n");
	add_subject(&b, t->title);
	kcg_dynbuf_printf(&b, "Message-ID: <%s@%s>\r\n", msg_id, strchr(addr, '@') + 1);
	kcg_dynbuf_addstr(&b, "MIME-Version: 1.0\r\n"
			      "Content-Type: text/plain; charset=UTF-8\r\n"
			      "Content-Transfer-Encoding: quoted-printable\r\n"
			      "Auto-Submitted: auto-generated\r\n"
			      "\r\n");
	add_qp(&b, t->text);
	if (kcg_dynbuf_error(&b)) {
		int rc = kcg_dynbuf_error(&b);
		kcg_dynbuf_finish(&b);
		return rc;
	}
	*out = kcg_dynbuf_take(&b, out_len);
	return *out ? 0 : -ENOMEM;
}
