/*
 * alerts_private.h: what alerts.c (keys, hook, sending) and
 * alerts_digest.c (the repeat and digest timers) share. Nothing else
 * includes it.
 */
#ifndef KCGATE_ALERTS_PRIVATE_H
#define KCGATE_ALERTS_PRIVATE_H

#include "kcgate/alerts.h"
#include "kcgate/flow.h"

#define DB_ALERTS "alerts"
#define KIND_ALERT_WEBHOOK "alert.webhook"
#define KIND_ALERT_MAIL "alert.mail"
#define KIND_DIGEST_WEBHOOK "digest.webhook"
#define KIND_DIGEST_MAIL "digest.mail"

/* [alerts] repeat_h in milliseconds (0 = never). */
uint64_t alerts_repeat_ms(const struct kcg_alerts_config *a);

/* Team @p team's addresses now, a new JSON array, or NULL (none). */
json_t *alerts_recipients(const struct kcg_alerts_config *a, const char *team);

/* Queues @p payload on each configured channel (the mail only when
 * @p team has addresses): jobs @p kind_webhook / @p kind_mail for
 * @p subject, due at @p run_at_ms (0 = now), in @p t. */
int alerts_queue(struct kcg_txn *t, const struct kcg_flow_ctx *ctx, const char *kind_webhook, const char *kind_mail,
		 const char *subject, const char *team, const json_t *payload, uint64_t run_at_ms);

/* Queues the alert of exception @p id (its @p record) for @p reason and
 * records when, in @p t. */
int alerts_send_exception(struct kcg_txn *t, const struct kcg_flow_ctx *ctx, const char *id, const json_t *record,
			  enum kcg_alert_reason reason);

/* Coalescing (alerts_coalesce.c): whether @p kind is a per-SKU kind; the
 * raise @p r gathered into its (kind, owner) window (*@p gathered true: send
 * nothing now) or a new window opened (false: send as usual), in @p t. */
bool alerts_coalesced_kind(const char *kind);
int alerts_coalesce(struct kcg_txn *t, const struct kcg_flow_ctx *ctx, const struct kcg_exc_raised *r, bool *gathered);
/* The alerts.coalesce timer: closed windows' summaries. */
void alerts_coalesce_timer(struct kcg_engine *engine, void *arg);
uint64_t alerts_coalesce_tick_ms(void);

/* The flow's timers: repeats of open exceptions, the daily digest (alerts_digest.c). */
size_t alerts_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap);

extern const struct kcg_config_keys alerts_config;

#endif
