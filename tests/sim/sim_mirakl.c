/*
 * kcgate-sim, Mirakl seller API: the orders, kept as their OR11 JSON so
 * responses are what a test created, plus filled defaults (sim_mirakl_new.c),
 * following the seller OpenAPI extract in
 * shared/ref/mirakl-mmp-seller-openapi.subset.json. OR11, OR12 and OR21 are
 * in sim_mirakl_api.c, the control routes in sim_mirakl_ctl.c, the webhooks
 * in sim_mirakl_hook.c; what they share is in sim_mirakl.h. Here: the
 * platform settings, the order's life and the state a test reads.
 *
 * The order's life as Mirakl runs it (peers.md section 1, FACTS.md section 3):
 * OR21 moves accepted lines to WAITING_DEBIT, then WAITING_DEBIT_PAYMENT,
 * then after the platform's debit delay SHIPPING (or CANCELED when the debit
 * fails); undecided orders are refused when the acceptance window ends;
 * addresses stay null until the platform setting shows them. Time-driven
 * changes run on a ticker thread and, lazily, before every Mirakl call and
 * control read, so a test sees a change as soon as it is due. Every change
 * can be announced by a signed webhook (Standard Webhooks), sent by its own
 * thread so request handling never waits for the receiver.
 */
#include "sim_mirakl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Platform defaults (POST /_sim/mirakl/settings). */
#define DEFAULT_DEBIT_DELAY_MS 500
#define DEFAULT_ACCEPTANCE_WINDOW_S 259200LL	/* 3 days */
#define DEFAULT_SEED 1
/* The life ticker's period. */
#define TICK_MS 20

static const char *const order_states[] = {
	"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT",
	"SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED", "REFUSED", "CANCELED",
};

bool mk_valid_state(const char *s)
{
	for (size_t i = 0; i < sizeof(order_states) / sizeof(order_states[0]); i++) {
		if (strcmp(s, order_states[i]) == 0)
			return true;
	}
	return false;
}

struct sim_order *sim_mirakl_find(const char *id)
{
	for (size_t i = 0; i < sim.norders; i++) {
		if (strcmp(sim.orders[i].id, id) == 0)
			return &sim.orders[i];
	}
	return NULL;
}

/* ---- platform settings (guarded by sim.lock) ---- */

struct mk_settings mk_set = {
	.debit_delay_ms = DEFAULT_DEBIT_DELAY_MS,
	.acceptance_window_s = DEFAULT_ACCEPTANCE_WINDOW_S,
	.partial_acceptance = true,
	.seed = DEFAULT_SEED,
	.rng = DEFAULT_SEED,
};

/* Earliest time a time-driven change is due (INT64_MAX: none; 0: scan). */
static int64_t next_due;

static void settings_defaults(void)
{
	free(mk_set.webhook_url);
	memset(&mk_set, 0, sizeof(mk_set));
	mk_set.vis = VIS_SHIPPING;
	mk_set.debit_delay_ms = DEFAULT_DEBIT_DELAY_MS;
	mk_set.acceptance_window_s = DEFAULT_ACCEPTANCE_WINDOW_S;
	mk_set.partial_acceptance = true;
	mk_set.seed = mk_set.rng = DEFAULT_SEED;
	next_due = 0;
}

void mk_rescan(void)
{
	next_due = 0;
}

/* ---- the order's life (lock held throughout) ---- */

/* Position of an active state in the life; -1 for REFUSED, CANCELED and the rest. */
int mk_life_rank(const char *s)
{
	static const char *const life[] = {"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT",
		"WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"};

	for (int i = 0; s && i < (int)(sizeof(life) / sizeof(life[0])); i++) {
		if (strcmp(s, life[i]) == 0)
			return i;
	}
	return -1;
}

bool mk_is_final(const char *s)
{
	return s && (strcmp(s, "REFUSED") == 0 || strcmp(s, "CANCELED") == 0 || strcmp(s, "CLOSED") == 0);
}

const char *mk_order_state(struct sim_order *o)
{
	const char *s = json_string_value(json_object_get(o->json, "order_state"));

	return s ? s : "";
}

const char *mk_line_state(json_t *l)
{
	const char *s = json_string_value(json_object_get(l, "order_line_state"));

	return s ? s : "";
}

void mk_mark_flags(struct sim_order *o)
{
	int r = mk_life_rank(mk_order_state(o));

	if (r >= MK_RANK_WAITING_DEBIT)
		o->was_accepted = true;
	if (r >= MK_RANK_SHIPPING)
		o->was_shipping = true;
}

bool mk_has_line_in(struct sim_order *o, const char *st)
{
	size_t i;
	json_t *l;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		if (strcmp(mk_line_state(l), st) == 0)
			return true;
	}
	return false;
}

/* When the next time-driven change of @p o is due (INT64_MAX: none). */
static int64_t due_of(struct sim_order *o)
{
	int64_t due = INT64_MAX;

	if (strcmp(mk_order_state(o), "WAITING_ACCEPTANCE") == 0)
		due = o->born_ms + mk_set.acceptance_window_s * 1000;
	if (mk_has_line_in(o, "WAITING_DEBIT") && o->debit_start_ms + mk_set.debit_delay_ms / 2 < due)
		due = o->debit_start_ms + mk_set.debit_delay_ms / 2;
	if (mk_has_line_in(o, "WAITING_DEBIT_PAYMENT") && o->debit_start_ms + mk_set.debit_delay_ms < due)
		due = o->debit_start_ms + mk_set.debit_delay_ms;
	return due;
}

void mk_note_due(struct sim_order *o)
{
	if (due_of(o) < next_due)
		next_due = due_of(o);
}

/* Mirakl takes a line's quantity off its offer when the order is created
 * (@p sign -1) and gives it back when the line is refused or cancelled
 * (+1); lock held. */
void mk_offer_stock(json_t *l, int sign)
{
	const char *sku = json_string_value(json_object_get(l, "offer_sku"));
	json_t *q = json_object_get(l, "quantity");
	if (sku && json_is_integer(q) && json_integer_value(q) > 0)
		sim_mirakl_stock_order(sku, sign * (long long)json_integer_value(q));
}

bool mk_line_ended(const char *st)
{
	return strcmp(st, "REFUSED") == 0 || strcmp(st, "CANCELED") == 0;
}

/* Move every line in @p from to @p to; returns how many moved. */
static size_t move_lines(struct sim_order *o, const char *from, const char *to, const char *now)
{
	size_t i, n = 0;
	json_t *l;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		if (strcmp(mk_line_state(l), from) != 0)
			continue;
		if (mk_line_ended(to) && !mk_line_ended(from))
			mk_offer_stock(l, +1);
		json_object_set_new(l, "order_line_state", json_string(to));
		json_object_set_new(l, "last_updated_date", json_string(now));
		n++;
	}
	return n;
}

/*
 * Record a change of @p o's lines: the order state follows its lines (the
 * least advanced active line; @p fallback when no line is active), the
 * last_updated_date moves, a webhook goes out.
 */
void mk_commit(struct sim_order *o, int64_t now_ms, const char *fallback)
{
	const char *best = NULL;
	int best_rank = 1000;
	size_t i;
	json_t *l;
	char now[32];

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		int r = mk_life_rank(mk_line_state(l));

		if (r >= 0 && r < best_rank) {
			best_rank = r;
			best = mk_line_state(l);
		}
	}
	json_object_set_new(o->json, "order_state", json_string(best ? best : fallback));
	sim_fmt_iso(now_ms, now);
	json_object_set_new(o->json, "last_updated_date", json_string(now));
	o->updated_ms = now_ms / 1000 * 1000;
	mk_mark_flags(o);
	mk_webhook(o, "ORDER_STATE_CHANGED");
	mk_note_due(o);
}

void sim_mirakl_commit(struct sim_order *o, const char *fallback)
{
	mk_commit(o, sim_now_ms(), fallback);
}

void sim_mirakl_touch(struct sim_order *o)
{
	char now[32];
	int64_t now_ms = sim_now_ms();

	sim_fmt_iso(now_ms, now);
	json_object_set_new(o->json, "last_updated_date", json_string(now));
	o->updated_ms = now_ms / 1000 * 1000;
}

void mk_auto_refuse(struct sim_order *o, int64_t now_ms)
{
	char now[32];

	sim_fmt_iso(now_ms, now);
	move_lines(o, "WAITING_ACCEPTANCE", "REFUSED", now);
	json_object_set_new(o->json, "acceptance_decision_date", json_null());
	mk_commit(o, now_ms, "REFUSED");
}

/*
 * The debit: WAITING_DEBIT -> WAITING_DEBIT_PAYMENT when @p pay (half the
 * delay), then -> SHIPPING, or CANCELED on a failed debit, when @p finish.
 */
void mk_debit_steps(struct sim_order *o, int64_t now_ms, bool pay, bool finish)
{
	char now[32];

	sim_fmt_iso(now_ms, now);
	if (pay && move_lines(o, "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", now))
		mk_commit(o, now_ms, "CANCELED");
	if (finish && mk_has_line_in(o, "WAITING_DEBIT_PAYMENT")) {
		size_t i;
		json_t *l;

		json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
			if (strcmp(mk_line_state(l), "WAITING_DEBIT_PAYMENT") == 0 && !o->debit_fail)
				json_object_set_new(l, "debited_date", json_string(now));
		}
		move_lines(o, "WAITING_DEBIT_PAYMENT", o->debit_fail ? "CANCELED" : "SHIPPING", now);
		if (!o->debit_fail)
			json_object_set_new(o->json, "customer_debited_date", json_string(now));
		mk_commit(o, now_ms, "CANCELED");
	}
}

void mk_advance_order(struct sim_order *o, int64_t now_ms)
{
	if (strcmp(mk_order_state(o), "WAITING_ACCEPTANCE") == 0 &&
	    now_ms >= o->born_ms + mk_set.acceptance_window_s * 1000)
		mk_auto_refuse(o, now_ms);
	mk_debit_steps(o, now_ms, now_ms >= o->debit_start_ms + mk_set.debit_delay_ms / 2,
		now_ms >= o->debit_start_ms + mk_set.debit_delay_ms);
}

void sim_mirakl_advance(void)
{
	int64_t now = sim_now_ms(), next = INT64_MAX;

	if (now < next_due)
		return;
	for (size_t i = 0; i < sim.norders; i++) {
		int64_t d;

		mk_advance_order(&sim.orders[i], now);
		d = due_of(&sim.orders[i]);
		if (d < next)
			next = d;
	}
	next_due = next;
}

/* ---- what a caller sees: addresses hidden until the platform shows them ---- */

static bool addresses_visible(const struct sim_order *o)
{
	return mk_set.vis == VIS_ALWAYS || (mk_set.vis == VIS_ACCEPTANCE && o->was_accepted) || o->was_shipping;
}

/* The customer as currently visible; new reference (or NULL). */
json_t *mk_customer_view(const struct sim_order *o)
{
	static const char *const hidden[] = {"billing_address", "shipping_address", "delivery_contact",
		"accounting_contact"};
	json_t *c = json_object_get(o->json, "customer"), *v;

	if (!json_is_object(c) || addresses_visible(o))
		return json_incref(c);
	v = json_copy(c);
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (i < 2 || json_object_get(v, hidden[i]))
			json_object_set_new(v, hidden[i], json_null());
	}
	return v;
}

/* The order as OR11/OR12 show it now; new reference. */
json_t *mk_order_view(const struct sim_order *o)
{
	json_t *v;

	if (addresses_visible(o))
		return json_incref(o->json);
	v = json_copy(o->json);
	json_object_set_new(v, "customer", mk_customer_view(o));
	return v;
}

json_t *sim_mirakl_state(const char *skus)
{
	json_t *orders = json_array();

	for (size_t i = 0; i < sim.norders; i++) {
		json_t *o = sim.orders[i].json, *lines = json_array(), *l, *cust;
		size_t k;

		json_array_foreach(json_object_get(o, "order_lines"), k, l) {
			json_array_append_new(lines, json_pack("{s:O, s:O, s:O, s:O}",
				"order_line_id", json_object_get(l, "order_line_id"),
				"offer_sku", json_object_get(l, "offer_sku"),
				"quantity", json_object_get(l, "quantity"),
				"order_line_state", json_object_get(l, "order_line_state")));
		}
		cust = mk_customer_view(&sim.orders[i]);
		json_array_append_new(orders, json_pack("{s:s, s:O, s:O?, s:o, s:o, s:o}",
			"order_id", sim.orders[i].id,
			"order_state", json_object_get(o, "order_state"),
			"acceptance_decision_date", json_object_get(o, "acceptance_decision_date"),
			"customer", cust ? cust : json_null(),
			"order_lines", lines,
			"tracking", sim_mirakl_tracking_of(o)));
		json_object_update_new(json_array_get(orders, json_array_size(orders) - 1),
			json_pack("{s:I, s:b, s:I, s:I}", "ship_calls", (json_int_t)sim.orders[i].ship_calls,
				  "repeat_unread", sim.orders[i].repeat_unread, "ship_ok", (json_int_t)sim.orders[i].ship_ok,
				  "repeat_blind", (json_int_t)sim.orders[i].repeat_blind));
	}
	json_t *out = json_pack("{s:o}", "orders", orders);
	json_object_update_new(out, sim_mirakl_ship_counters());
	json_object_update_new(out, sim_mirakl_stock_state(skus));
	return out;
}

void sim_mirakl_reset(void)
{
	for (size_t i = 0; i < sim.norders; i++) {
		json_decref(sim.orders[i].json);
		json_decref(sim.orders[i].shipped_qty);
	}
	free(sim.orders);
	sim.orders = NULL;
	sim.norders = sim.orders_cap = 0;
	sim.order_seq = 0;
	settings_defaults();
	mk_webhook_clear();
	sim_mirakl_ship_reset();
	sim_mirakl_stock_reset();
}

/* ---- background threads ---- */

static pthread_t ticker_thread;
static bool threads_started;

static void *ticker(void *arg)
{
	struct timespec dl;

	(void)arg;
	pthread_mutex_lock(&sim.lock);
	while (!sim.stopping) {
		sim_mirakl_advance();
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += TICK_MS * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sim.wake, &sim.lock, &dl);
	}
	pthread_mutex_unlock(&sim.lock);
	return NULL;
}

void sim_mirakl_start(void)
{
	if (pthread_create(&ticker_thread, NULL, ticker, NULL) || !mk_webhook_start()) {
		fprintf(stderr, "kcgate-sim: cannot start the Mirakl threads\n");
		abort();
	}
	threads_started = true;
}

void sim_mirakl_stop(void)
{
	if (!threads_started)
		return;
	pthread_join(ticker_thread, NULL);
	mk_webhook_stop();
	threads_started = false;
}
