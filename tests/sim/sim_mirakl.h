/*
 * sim_mirakl.h: what the parts of kcgate-sim's Mirakl orders share: the
 * platform settings and the order's life (sim_mirakl.c), the seller API's
 * order calls OR11, OR12, OR21 (sim_mirakl_api.c), order creation by a test
 * (sim_mirakl_new.c), the other control routes (sim_mirakl_ctl.c), the
 * signed webhooks (sim_mirakl_hook.c) and shipping (sim_mirakl_ship.c). Not
 * part of sim.h: the rest of the sim sees only the sim_mirakl_* functions
 * declared there. Everything here runs with sim.lock held unless said
 * otherwise.
 */
#ifndef KCGATE_SIM_MIRAKL_H
#define KCGATE_SIM_MIRAKL_H

#include "sim.h"

/* ---- platform settings (POST /_sim/mirakl/settings; guarded by sim.lock) ---- */

enum mk_visibility { VIS_SHIPPING, VIS_ACCEPTANCE, VIS_ALWAYS };

struct mk_settings {
	enum mk_visibility vis;
	long long debit_delay_ms;
	double debit_failure_rate;
	long long acceptance_window_s;
	bool partial_acceptance;
	char *webhook_url;		/* NULL: no webhooks */
	unsigned char key[64];		/* the whsec_ secret, decoded */
	size_t keylen;			/* 0: no secret, no webhooks */
	uint64_t seed, rng;		/* debit outcomes */
};

extern struct mk_settings mk_set;

/* ---- sim_mirakl.c: the order's life ---- */

/* One of Mirakl's order (and line) states. */
bool mk_valid_state(const char *s);
/* Position of an active state in the life; -1 for REFUSED, CANCELED and the rest. */
int mk_life_rank(const char *s);
#define MK_RANK_WAITING_DEBIT 2
#define MK_RANK_SHIPPING 4
/* REFUSED, CANCELED or CLOSED. */
bool mk_is_final(const char *s);
/* A line ended before shipment: REFUSED or CANCELED. */
bool mk_line_ended(const char *st);
/* The order's and a line's state ("" when none). */
const char *mk_order_state(struct sim_order *o);
const char *mk_line_state(json_t *l);
/* Sets was_accepted / was_shipping from the order's state. */
void mk_mark_flags(struct sim_order *o);
bool mk_has_line_in(struct sim_order *o, const char *st);
/* The line's quantity off its offer (@p sign -1) or back on it (+1). */
void mk_offer_stock(json_t *l, int sign);
/* The order state from its lines (@p fallback when none is active),
 * last_updated_date, a webhook, the next due time. */
void mk_commit(struct sim_order *o, int64_t now_ms, const char *fallback);
/* The acceptance window ended: the undecided lines are refused. */
void mk_auto_refuse(struct sim_order *o, int64_t now_ms);
/* The debit's steps (WAITING_DEBIT_PAYMENT when @p pay, the outcome when @p finish). */
void mk_debit_steps(struct sim_order *o, int64_t now_ms, bool pay, bool finish);
/* Run @p o's time-driven changes due by @p now_ms. */
void mk_advance_order(struct sim_order *o, int64_t now_ms);
/* @p o may have a change due sooner than the others: the ticker looks. */
void mk_note_due(struct sim_order *o);
/* The settings moved: every order's due time is looked at again. */
void mk_rescan(void);
/* The order and its customer as a caller sees them now (addresses hidden
 * until the platform shows them); new references (the customer may be NULL). */
json_t *mk_order_view(const struct sim_order *o);
json_t *mk_customer_view(const struct sim_order *o);

/* ---- sim_mirakl_api.c ---- */

/* The JSON object body of a PUT/POST (OR21, OR23, ST01), or NULL with the
 * 415 or 400 set. Lock not held. */
json_t *mk_json_body(struct sim_request *req, struct sim_reply *r);

/* ---- sim_mirakl_hook.c: webhooks out (own lock; taken after sim.lock, never before) ---- */

/* Announce a change of @p o (when a webhook URL and secret are set). */
void mk_webhook(struct sim_order *o, const char *type);
/* Whether @p url is http://HOST[:PORT][/PATH]. Any lock. */
bool mk_webhook_url_ok(const char *url);
/* Forget queued webhooks and the counters. */
void mk_webhook_clear(void);
void mk_webhook_counts(unsigned long *queued, unsigned long *sent, unsigned long *failed);
/* Start the sender thread (false: it could not start); stop it without
 * waiting for a send in flight. Lock not held. */
bool mk_webhook_start(void);
void mk_webhook_stop(void);

/* ---- sim_mirakl.c, for the other parts (lock held) ---- */

/** The order @p id, or NULL. */
struct sim_order *sim_mirakl_find(const char *id);
/** The order's state from its lines (@p fallback when none), now; webhook. */
void sim_mirakl_commit(struct sim_order *o, const char *fallback);
/** last_updated_date moves to now (a change that is not a state change). */
void sim_mirakl_touch(struct sim_order *o);

/* ---- sim_mirakl_ship.c: SH21, OR23, OR24, ST01 ---- */

/** Handles SH21 and ST01 (@p order_id NULL) or OR23/OR24 (@p suffix
 * "/tracking", "/ship"); 1 when it was one of them. Lock not held. */
int sim_mirakl_ship_handle(struct sim_request *req, const char *subpath, const char *order_id, const char *suffix,
			   struct sim_reply *r);
/** POST /_sim/mirakl/carriers {"carriers":[{"code","label","tracking_url"}]}. Lock not held. */
void sim_mirakl_ctl_carriers(json_t *body, struct sim_reply *r);
/** Lock held: the counters for GET /_sim/state; an order's tracking (or null); reset. */
json_t *sim_mirakl_ship_counters(void);
json_t *sim_mirakl_tracking_of(json_t *order);
void sim_mirakl_ship_reset(void);
/** Whether @p o is SHIPPED or later. */
bool sim_mirakl_ship_done(const struct sim_order *o);

#endif
