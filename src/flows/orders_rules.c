/*
 * orders_rules.c: the order flow's decisions as pure functions of a
 * record's state, a Mirakl order and Khaos's stock (see orders.h): the
 * state names, what comes next, the booking point, lateness, withdrawn
 * lines, the stock cover and what an order reserves. No store, no peer:
 * tests/unit/flows/test_orders.c tests them on their own.
 */
#include "orders_private.h"

#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/peers/mirakl.h"

/* ---- states and decisions (pure) ---- */

static const char *const state_names[KCG_ORDER_STATES] = {
	[KCG_ORDER_SEEN] = "seen",
	[KCG_ORDER_HELD] = "held",
	[KCG_ORDER_ACCEPTED] = "accepted",
	[KCG_ORDER_BOOKED] = "booked",
	[KCG_ORDER_SHIPPED] = "shipped",
	[KCG_ORDER_CLOSED] = "closed",
	[KCG_ORDER_REFUSED] = "refused",
	[KCG_ORDER_AUTO_REFUSED] = "auto_refused",
	[KCG_ORDER_CANCELLED] = "cancelled",
};

const char *kcg_order_state_name(enum kcg_order_state state)
{
	return (unsigned)state < KCG_ORDER_STATES ? state_names[state] : "unknown";
}

int kcg_order_state_parse(const char *name)
{
	for (int i = 0; i < KCG_ORDER_STATES; i++)
		if (name && strcmp(state_names[i], name) == 0)
			return i;
	return -1;
}

bool kcg_order_state_final(enum kcg_order_state state)
{
	return state == KCG_ORDER_CLOSED || state == KCG_ORDER_REFUSED || state == KCG_ORDER_AUTO_REFUSED ||
	       state == KCG_ORDER_CANCELLED;
}

bool kcg_order_state_booked(enum kcg_order_state state)
{
	return state == KCG_ORDER_BOOKED || state == KCG_ORDER_SHIPPED;
}

bool orders_is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* Mirakl's order states, as the life sees them. A state Mirakl adds later
 * (enums grow) is none of these: kcgate waits. */
static bool mirakl_shipped(const char *st) /* shipped, not ended */
{
	return orders_is(st, "SHIPPED") || orders_is(st, "TO_COLLECT") || orders_is(st, "RECEIVED");
}

static bool mirakl_paid(const char *st) /* SHIPPING or later, not ended */
{
	return orders_is(st, "SHIPPING") || mirakl_shipped(st);
}

static bool mirakl_debit(const char *st)
{
	return orders_is(st, "WAITING_DEBIT") || orders_is(st, "WAITING_DEBIT_PAYMENT");
}

static bool str_set(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && *s;
}

bool kcg_order_address_usable(const json_t *order)
{
	const json_t *customer = json_object_get(order, "customer");
	const json_t *addr = json_object_get(customer, "shipping_address");
	return json_is_object(addr) && str_set(addr, "street_1") && str_set(addr, "city") && str_set(addr, "zip_code") &&
	       (str_set(addr, "lastname") || str_set(customer, "lastname"));
}

json_t *kcg_order_lines_withdrawn(const json_t *order)
{
	json_t *ids = json_array();
	size_t i;
	const json_t *line;
	if (!ids)
		return NULL;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		const char *st = json_string_value(json_object_get(line, "order_line_state"));
		const char *id = json_string_value(json_object_get(line, "order_line_id"));
		size_t nc = json_array_size(json_object_get(line, "cancelations"));
		size_t nr = json_array_size(json_object_get(line, "refunds"));
		json_t *entry = NULL;
		if (orders_is(st, "CANCELED") || orders_is(st, "REFUSED"))
			entry = json_string(id ? id : "");
		else if (nc + nr > 0) /* in part: each new cancelation or refund is news */
			entry = json_sprintf("%.100s: %zu cancelation%s, %zu refund%s", id ? id : "", nc, nc == 1 ? "" : "s",
					     nr, nr == 1 ? "" : "s");
		else
			continue;
		if (json_array_append_new(ids, entry)) {
			json_decref(ids);
			return NULL;
		}
	}
	return ids;
}

bool kcg_order_at_point(enum kcg_book_when when, const json_t *order)
{
	const char *st = kcg_mirakl_order_state(order);
	return orders_is(st, "SHIPPING") || (when == KCG_BOOK_ACCEPTED && mirakl_debit(st) && kcg_order_address_usable(order));
}

/* A date member of @p order in ms, 0 when absent, unreadable or after @p now_ms. */
static uint64_t date_ms(const json_t *order, const char *key, uint64_t now_ms)
{
	const char *s = json_string_value(json_object_get(order, key));
	uint64_t ms;
	return s && kcg_mirakl_parse_time(s, &ms) == 0 && ms <= now_ms ? ms : 0;
}

uint64_t kcg_order_point_ms(const json_t *order, uint64_t now_ms)
{
	/* a paid order's debit may come days after its acceptance: never the acceptance then */
	bool paid = mirakl_paid(kcg_mirakl_order_state(order));
	uint64_t ms = date_ms(order, paid ? "customer_debited_date" : "acceptance_decision_date", now_ms);
	return ms ? ms : now_ms;
}

enum kcg_order_next kcg_order_next(enum kcg_order_state state, unsigned stuck, enum kcg_book_when when,
				   const json_t *order)
{
	const char *st = kcg_mirakl_order_state(order);
	if (kcg_order_state_final(state) || (unsigned)state >= KCG_ORDER_STATES)
		return KCG_NEXT_NOTHING; /* at its end; the snapshot is kept up to date */
	bool booked = kcg_order_state_booked(state);

	/* the ends, whatever came before (a dead job no longer matters) */
	if (orders_is(st, "CLOSED"))
		return KCG_NEXT_CLOSED;
	if (orders_is(st, "CANCELED"))
		return KCG_NEXT_CANCELLED;
	if (orders_is(st, "REFUSED")) {
		const json_t *d = json_object_get(order, "acceptance_decision_date");
		return json_is_null(d) || !d ? KCG_NEXT_AUTO_REFUSED : KCG_NEXT_REFUSED;
	}

	if (booked) {
		if (state == KCG_ORDER_BOOKED && mirakl_shipped(st))
			return KCG_NEXT_SHIPPED;
		/* booked before acceptance (a record from before the order's life
		 * changed): accept it */
		if (orders_is(st, "WAITING_ACCEPTANCE") && kcg_mirakl_order_waiting(order))
			return stuck & KCG_STUCK_ACCEPT ? KCG_NEXT_NOTHING : KCG_NEXT_ACCEPT;
		return KCG_NEXT_NOTHING;
	}

	/* seen, held or accepted: not in Khaos yet */
	if (orders_is(st, "WAITING_ACCEPTANCE")) {
		if (state == KCG_ORDER_ACCEPTED)
			return KCG_NEXT_NOTHING; /* an older snapshot than our OR21 */
		return stuck & KCG_STUCK_ACCEPT ? KCG_NEXT_NOTHING : KCG_NEXT_CHECK_SKUS;
	}
	/* shipped without Khaos (by hand, or before kcgate): booking it now
	 * would have the warehouse ship it again */
	if (mirakl_shipped(st))
		return KCG_NEXT_SHIPPED_UNBOOKED;
	if (kcg_order_at_point(when, order)) {
		if (stuck & KCG_STUCK_BOOK)
			return KCG_NEXT_NOTHING; /* its booking died: a person retries it */
		return kcg_order_address_usable(order) ? KCG_NEXT_BOOK : KCG_NEXT_ADDRESS_MISSING;
	}
	if (mirakl_debit(st))
		return state == KCG_ORDER_ACCEPTED ? KCG_NEXT_NOTHING : KCG_NEXT_ACCEPTED;
	return KCG_NEXT_NOTHING; /* STAGING, or a state kcgate does not know */
}

bool kcg_order_is_late(enum kcg_order_state state, uint64_t deadline_ms, uint64_t alert_ms, uint64_t now_ms)
{
	bool open = state == KCG_ORDER_SEEN || state == KCG_ORDER_HELD;
	return open && deadline_ms && now_ms + alert_ms >= deadline_ms;
}

bool kcg_order_missing_in_khaos(enum kcg_order_state state, uint64_t point_ms, uint64_t alert_ms, uint64_t now_ms)
{
	bool waiting = state == KCG_ORDER_SEEN || state == KCG_ORDER_HELD || state == KCG_ORDER_ACCEPTED;
	return waiting && point_ms && now_ms >= point_ms + alert_ms;
}

bool kcg_order_forgotten(uint64_t created_ms, uint64_t retention_ms, uint64_t now_ms)
{
	return retention_ms && created_ms && now_ms > created_ms && now_ms - created_ms > retention_ms;
}

/* ---- stock (pure) ---- */

static bool line_withdrawn(const json_t *line)
{
	const char *st = json_string_value(json_object_get(line, "order_line_state"));
	return orders_is(st, "CANCELED") || orders_is(st, "REFUSED");
}

/* A line's quantity, 0 when absent or below 1, at most KCG_ORDER_QTY_MAX
 * (a peer's number never overflows the sums below). */
static int64_t line_quantity(const json_t *line)
{
	json_int_t q = json_integer_value(json_object_get(line, "quantity"));
	return q > 0 ? (q > KCG_ORDER_QTY_MAX ? KCG_ORDER_QTY_MAX : (int64_t)q) : 0;
}

bool orders_listed(const json_t *list, const char *s)
{
	size_t i;
	const json_t *v;
	json_array_foreach(list, i, v) {
		if (s && orders_is(json_string_value(v), s))
			return true;
	}
	return false;
}

int64_t orders_int_of(const json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}

/* Levels and reservations are bounded to +-2^40 before any sum: the
 * arithmetic below never overflows, whatever a peer (or a store) says. */
#define LEVEL_BOUND ((int64_t)1 << 40)

static int64_t bounded(json_int_t v)
{
	return v > LEVEL_BOUND ? LEVEL_BOUND : v < -LEVEL_BOUND ? -LEVEL_BOUND : (int64_t)v;
}

enum kcg_cover kcg_order_stock_decide(const json_t *order, const json_t *levels, const json_t *reserved,
				      enum kcg_cover_mode mode, json_t *shorts, json_t *refuse)
{
	json_t *used = json_object();
	size_t i;
	const json_t *line;
	bool nomem = !used || json_array_clear(refuse) != 0;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		if (nomem || line_withdrawn(line))
			continue;
		const char *sku = kcg_json_str(line, "offer_sku");
		const json_t *level = json_object_get(levels, sku);
		if (!json_is_integer(level))
			continue; /* not stock-controlled */
		int64_t need = line_quantity(line), have = bounded(json_integer_value(level));
		int64_t others = bounded(orders_int_of(reserved, sku)), taken = bounded(orders_int_of(used, sku));
		if (need <= have - others - taken) {
			nomem = json_object_set_new(used, sku, json_integer((json_int_t)(taken + need))) != 0;
			continue;
		}
		nomem = json_array_append_new(shorts, json_pack("{s:s, s:s, s:I, s:I, s:I}", "line",
								kcg_json_str(line, "order_line_id"), "sku", sku, "need",
								(json_int_t)need, "available", (json_int_t)have,
								"reserved", (json_int_t)others)) != 0 ||
			json_array_append_new(refuse, json_string(kcg_json_str(line, "order_line_id"))) != 0;
	}
	json_decref(used);
	if (nomem)
		return KCG_COVER_HOLD;
	if (json_array_size(refuse) == 0)
		return KCG_COVER_ALL;
	if (mode == KCG_COVER_MODE_HOLD) {
		json_array_clear(refuse);
		return KCG_COVER_HOLD;
	}
	if (mode == KCG_COVER_MODE_REFUSE_ORDER) {
		json_array_clear(refuse);
		json_array_foreach(json_object_get(order, "order_lines"), i, line) {
			if (!line_withdrawn(line) &&
			    json_array_append_new(refuse, json_string(kcg_json_str(line, "order_line_id"))) != 0)
				return KCG_COVER_HOLD;
		}
	}
	return KCG_COVER_REFUSE;
}

json_t *kcg_order_reservation(enum kcg_order_state state, bool accepting, const json_t *order, const json_t *refused)
{
	json_t *res = json_object();
	size_t i;
	const json_t *line;
	if (!res || !(state == KCG_ORDER_ACCEPTED || (state == KCG_ORDER_SEEN && accepting)))
		return res;
	/* shipped without Khaos: the goods have gone, nothing to hold back */
	if (mirakl_shipped(kcg_mirakl_order_state(order)))
		return res;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		const char *sku = kcg_json_str(line, "offer_sku");
		int64_t q = line_quantity(line);
		if (line_withdrawn(line) || orders_listed(refused, kcg_json_str(line, "order_line_id")) || !*sku ||
		    strlen(sku) > KCG_EXC_FIELD_MAX || q == 0)
			continue;
		if (json_object_set_new(res, sku, json_integer((json_int_t)(orders_int_of(res, sku) + q))) != 0) {
			json_decref(res);
			return NULL;
		}
	}
	return res;
}

/* ---- the record and the open index ---- */
