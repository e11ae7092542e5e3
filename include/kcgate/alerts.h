/**
 * kcgate/alerts.h: telling people that something broke ([alerts]).
 *
 * Two channels: a chat webhook (Slack, Microsoft Teams, or a generic JSON
 * body: [alerts] webhook_url, webhook_format) and mail over SMTP to the
 * owning team's addresses ([alerts] smtp_url, mail_from, [alerts.mail_to]
 * team = addresses; libcurl's SMTP). Two kinds of message:
 *
 *  - an exception alert: an exception (exceptions.h) at or above
 *    [alerts] min_severity that is new or reopened is sent once, if still
 *    open [alerts] delay_s later (the job is due then, and reads the
 *    exception as it is: a resolved one is dropped); while it stays open
 *    it is sent again every [alerts] repeat_h (0 = never);
 *  - a daily digest per owning team (operations always, every team of
 *    [alerts.mail_to], every owner of an open exception) at [alerts]
 *    digest_at (local time):
 *    the team's open exceptions and the sync health figures (the queue's
 *    per lane, and each flow's own: struct kcg_flow.health).
 *
 * Durability: the alert is a job, enqueued by the store's exception hook
 * in the very transaction that raises or reopens the exception (struct
 * kcg_flow.on_exception), so a crash between the raise and the send loses
 * nothing. Each channel is its own job kind on its own lane, `alerts` for
 * the webhook and `alerts_mail` for mail, each with its own slots and
 * breaker (a dead or hanging mail server never delays orders or stock, nor
 * the webhook): alert.webhook
 * and alert.mail (subject: the exception id), digest.webhook and
 * digest.mail (subject: "<team>@<YYYY-MM-DD>"). A failing send is retried
 * with the engine's backoff ([jobs]) and dies after [alerts] max_attempts
 * (or at once on a permanent refusal: a 4xx from the webhook, an SMTP 5xx),
 * raising dead_job like any job. A dead_job about an alert or digest job
 * is alerted on no channel (two dead channels would alert each other for
 * ever); the console and the next digest show it.
 *
 * Database (LMDB):
 *   alerts   exception id -> {"sent_ms": u64, "change": "new|reopened|repeat"}:
 *            when the exception was last queued for alerting; deleted by the
 *            repeat timer once the exception is resolved or gone.
 *   meta     "alerts.digest.last" -> the slot (ms) of the last digest queued.
 *
 * What a message says comes from the exception itself (its message,
 * system at fault, owning team, subject, counts), built by the pure
 * functions below (alerts_message.c) so they are unit-tested. What to do
 * comes from the runbook's row for the kind (kcgate/runbook.h), the same
 * words the console and docs/operations.md show.
 */
#ifndef KCGATE_ALERTS_H
#define KCGATE_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/exceptions.h"

/** The flow that sends alerts and digests (registered in src/flow.c). */
extern const struct kcg_flow kcg_flow_alerts;

/* ---- decisions (alerts_rules.c, pure) ---- */

/** Why an exception is (or is not) sent now. */
enum kcg_alert_reason {
	KCG_ALERT_NONE,     /**< nothing to send */
	KCG_ALERT_NEW,      /**< new, or first reached min_severity */
	KCG_ALERT_REOPENED, /**< resolved, then raised again */
	KCG_ALERT_REPEAT,   /**< still open repeat_h after it was last sent */
};

/** "none", "new", "reopened", "repeat". */
const char *kcg_alert_reason_name(enum kcg_alert_reason r);

/**
 * Whether a raise is sent. @p change: what the raise did; @p sev: its
 * severity, @p min: [alerts] min_severity; @p sent_ms: when this exception
 * was last queued for alerting (0 = never); @p repeat_ms: 0 = never again.
 * A raise of an open exception that was never sent (below the threshold
 * before, or raised before alerts were configured) counts as new.
 */
enum kcg_alert_reason kcg_alert_decide(enum kcg_exc_change change, enum kcg_exc_severity sev,
				       enum kcg_exc_severity min, uint64_t sent_ms, uint64_t now_ms,
				       uint64_t repeat_ms);

/** The repeat timer's decision for an exception last sent at @p sent_ms:
 * REPEAT when it is @p open, repeat_ms > 0 and that long has passed. */
enum kcg_alert_reason kcg_alert_repeat_due(bool open, uint64_t sent_ms, uint64_t now_ms, uint64_t repeat_ms);

/**
 * [alerts] repeat_h: hours as a decimal ("24", "0.5", "0.005"; at most
 * 8760, three decimals at most: a resolution of 3.6 s) into milliseconds
 * (0 = never). @return 0 or -EINVAL.
 */
int kcg_alert_parse_hours(const char *s, uint64_t *ms);

/** A time of day, local: [alerts] digest_at. */
struct kcg_alert_clock {
	bool off;                  /**< "off": no digest */
	unsigned hour, min, sec;
};

/** "HH:MM" or "HH:MM:SS" (24 h), or "off". @return 0 or -EINVAL. */
int kcg_alert_parse_clock(const char *s, struct kcg_alert_clock *out);

/**
 * The digest slot due at @p now_ms: the latest local time-of-day @p at
 * at or before now (today's, or yesterday's if today's is still ahead),
 * as ms since the epoch, in the local time zone (TZ). A slot later than
 * @p last_ms is due; kcgate records each slot it queued. The first slot
 * seen by a store (last_ms 0) is recorded without being sent unless it
 * is less than @p grace_ms old, so a first start at 15:00 does not send
 * the 08:00 digest. @return the slot to send now, or 0.
 */
uint64_t kcg_alert_digest_due(const struct kcg_alert_clock *at, uint64_t now_ms, uint64_t last_ms,
			      uint64_t grace_ms, uint64_t *slot_out);

/** An e-mail address (addr-spec: local@domain, printable ASCII, no
 * spaces, quotes or angle brackets, at most 254 characters). */
bool kcg_alert_valid_address(const char *s, size_t len);

/**
 * [alerts] mail_from: "addr@domain" or "Display Name <addr@domain>" (the
 * name printable ASCII without quotes, angle brackets or backslashes).
 * @p addr (optional, 255 bytes) gets the address. @return 0 or -EINVAL.
 */
int kcg_alert_parse_from(const char *s, char addr[255]);

/**
 * A comma-separated list of addresses ([alerts.mail_to] values) into a
 * new JSON array of strings (*@p out; the caller decrefs it), at most
 * @p max of them. @return 0, -EINVAL (an empty or invalid address: none
 * returned), -E2BIG or -ENOMEM.
 */
int kcg_alert_parse_list(const char *s, size_t max, json_t **out);

/* ---- messages (alerts_message.c, pure) ---- */

/** [alerts] webhook_format. */
enum kcg_alert_format { KCG_ALERT_AUTO, KCG_ALERT_SLACK, KCG_ALERT_TEAMS, KCG_ALERT_JSON };

/** The format for @p url when @p fmt is AUTO: Slack for hooks.slack.com,
 * Teams for *.webhook.office.com, *.logic.azure.com and
 * *.powerplatform.com / *.powerautomate.com; JSON otherwise. */
enum kcg_alert_format kcg_alert_format_for(enum kcg_alert_format fmt, const char *url);

/**
 * A message in neutral form: a one-line title (the mail's subject), and
 * lines of "label: value" facts, then free text. Built from an exception
 * alert's payload or a digest's; rendered for each channel below.
 */
struct kcg_alert_text {
	char *title;     /**< e.g. "[kcgate] critical unknown_sku: SKU-9 (ecommerce)" */
	char *text;      /**< plain text, '\n' line ends, UTF-8 (an exception's includes what_to_do) */
	const char *what_to_do; /**< an exception alert: the runbook's steps for its kind (static), or NULL
	                           when the runbook has no row (the text then says so) */
	json_t *data;    /**< the payload it came from (borrowed reference kept) */
};

/** Frees what @p t owns. NULL-safe. */
void kcg_alert_text_finish(struct kcg_alert_text *t);

/**
 * The text of an exception alert from its job payload {"reason",
 * "exception": {record as kcg_exc_list() gives it}}. @return 0, -EINVAL
 * (a payload without those fields) or -ENOMEM.
 */
int kcg_alert_exception_text(const json_t *payload, struct kcg_alert_text *out);

/**
 * The text of a digest from its job payload {"team", "date", "exceptions":
 * [records], "more": n, "figures": [{"name","value"}]}.
 * @return 0, -EINVAL or -ENOMEM.
 */
int kcg_alert_digest_text(const json_t *payload, struct kcg_alert_text *out);

/**
 * The webhook body for @p fmt (not AUTO), compact JSON, malloc'd into
 * *@p out. Slack: {"text": title, "blocks": [header, section(s)]};
 * Teams: {"type":"message","attachments":[{Adaptive Card 1.2}]}; JSON:
 * the payload's own fields at the top level plus "source": "kcgate",
 * "type": "exception"|"digest", "title" and "text".
 * @return 0, -EINVAL or -ENOMEM.
 */
int kcg_alert_webhook_body(enum kcg_alert_format fmt, const char *type, const struct kcg_alert_text *t, char **out);

/**
 * An RFC 5322 message: Date (of @p now_ms, local zone), From, To (the
 * @p to array), Subject (RFC 2047 UTF-8 "B" encoded words when not
 * ASCII), Message-ID <@p msg_id @ the domain of @p from>, MIME-Version,
 * text/plain UTF-8 in quoted-printable, Auto-Submitted: auto-generated;
 * CRLF line ends, no line over 78 characters. malloc'd into *@p out.
 * @return 0, -EINVAL or -ENOMEM.
 */
int kcg_alert_mail(const char *from, const json_t *to, const char *msg_id, uint64_t now_ms,
		   const struct kcg_alert_text *t, char **out, size_t *out_len);

#endif
