/*
 * test_orders.c: the order flow's decisions as pure functions of a
 * record's state and a Mirakl order (kcg_order_next over every transition
 * of the order's life, kcg_order_is_late, kcg_order_missing_in_khaos,
 * kcg_order_point_ms, the
 * address and withdrawn-line checks), and the state name table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kcgate/flows/orders.h"

/* A Mirakl order in state @p state whose lines are all in @p line_state,
 * decided on (acceptance_decision_date set) unless still waiting, with no
 * address (as Mirakl shows it before shipping). */
static json_t *order(const char *state, const char *line_state)
{
	json_t *o = json_pack("{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s, s:n, s:n}}", "order_id", "O-1",
			      "order_state", state, "order_lines", "order_line_id", "O-1-1", "order_line_state",
			      line_state, "order_line_id", "O-1-2", "order_line_state", line_state, "customer",
			      "lastname", "O'Brien", "billing_address", "shipping_address");
	json_object_set_new(o, "acceptance_decision_date", strcmp(state, "WAITING_ACCEPTANCE") == 0 || strcmp(state, "STAGING") == 0
								   ? json_null()
								   : json_string("2024-01-01T10:00:00Z"));
	return o;
}

/* The same with a shipping address Khaos can book. */
static json_t *addressed(const char *state, const char *line_state)
{
	json_t *o = order(state, line_state);
	json_object_set_new(json_object_get(o, "customer"), "shipping_address",
			    json_pack("{s:s, s:s, s:s, s:s}", "street_1", "1 High Street", "city", "Leeds", "zip_code",
				      "LS1 1AA", "country_iso_code", "GBR"));
	return o;
}

static enum kcg_order_next next_when(enum kcg_order_state st, unsigned stuck, enum kcg_book_when when, json_t *o)
{
	enum kcg_order_next n = kcg_order_next(st, stuck, when, o);
	json_decref(o);
	return n;
}

static enum kcg_order_next next(enum kcg_order_state st, unsigned stuck, const char *state, const char *line_state)
{
	return next_when(st, stuck, KCG_BOOK_SHIPPING, order(state, line_state));
}

/* With the address visible (it is, from SHIPPING on, on most platforms). */
static enum kcg_order_next next_addr(enum kcg_order_state st, unsigned stuck, const char *state)
{
	return next_when(st, stuck, KCG_BOOK_SHIPPING, addressed(state, state));
}

static const enum kcg_order_state open_states[] = { KCG_ORDER_SEEN, KCG_ORDER_HELD, KCG_ORDER_ACCEPTED,
						    KCG_ORDER_BOOKED, KCG_ORDER_SHIPPED };
static const enum kcg_order_state final_states[] = { KCG_ORDER_CLOSED, KCG_ORDER_REFUSED, KCG_ORDER_AUTO_REFUSED,
						     KCG_ORDER_CANCELLED };
static const char *const mirakl_states[] = { "STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT",
					     "SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED", "REFUSED",
					     "CANCELED", "SOMETHING_NEW" };
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The cap counts distinct ids, whatever shape names them; the first found are kept. */
static void test_order_ids_cap(void **state)
{
	json_t *list = json_array();
	for (int i = 0; i < 60000; i++)
		json_array_append_new(list, json_sprintf("O-%d", i));
	json_t *body = json_pack("{s:s, s:{s:o}}", "type", "ORDER_CREATED", "data", "order_ids", list);
	json_t *ids = json_object();
	assert_true(kcg_order_ids_find(body, ids));
	assert_int_equal(json_object_size(ids), KCG_ORDER_IDS_MAX);
	assert_non_null(json_object_get(ids, "O-0"));
	assert_non_null(json_object_get(ids, "O-999"));
	assert_null(json_object_get(ids, "O-1000"));
	json_decref(ids);
	json_decref(body);

	/* order_id members in an array of objects count the same way */
	json_t *arr = json_array();
	for (int i = 0; i < 2000; i++)
		json_array_append_new(arr, json_pack("{s:o}", "order_id", json_sprintf("A-%d", i)));
	ids = json_object();
	assert_true(kcg_order_ids_find(arr, ids));
	assert_int_equal(json_object_size(ids), KCG_ORDER_IDS_MAX);
	json_decref(ids);
	json_decref(arr);

	/* exactly the cap, with repeats: nothing cut */
	list = json_array();
	for (int i = 0; i < KCG_ORDER_IDS_MAX; i++) {
		json_array_append_new(list, json_sprintf("B-%d", i));
		json_array_append_new(list, json_sprintf("B-%d", i));
	}
	body = json_pack("{s:o, s:s}", "order_ids", list, "order_id", "B-0");
	ids = json_object();
	assert_false(kcg_order_ids_find(body, ids));
	assert_int_equal(json_object_size(ids), KCG_ORDER_IDS_MAX);
	json_decref(ids);
	json_decref(body);

	/* empty and overlong ids are not ids */
	char longid[200];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	body = json_pack("{s:[s, s, s]}", "order_ids", "", longid, "C-1");
	ids = json_object();
	assert_false(kcg_order_ids_find(body, ids));
	assert_int_equal(json_object_size(ids), 1);
	json_decref(ids);
	json_decref(body);
}

static void test_state_names(void **state)
{
	static const char *const names[] = { "seen", "held", "accepted", "booked", "shipped", "closed", "refused",
					     "auto_refused", "cancelled" };
	assert_int_equal(KCG_ORDER_STATES, N(names));
	for (int i = 0; i < KCG_ORDER_STATES; i++) {
		assert_string_equal(kcg_order_state_name((enum kcg_order_state)i), names[i]);
		assert_int_equal(kcg_order_state_parse(kcg_order_state_name((enum kcg_order_state)i)), i);
	}
	assert_int_equal(kcg_order_state_parse("HELD"), -1);
	assert_int_equal(kcg_order_state_parse(""), -1);
	assert_int_equal(kcg_order_state_parse(NULL), -1);
	assert_string_equal(kcg_order_state_name(KCG_ORDER_STATES), "unknown");
	for (size_t i = 0; i < N(open_states); i++)
		assert_false(kcg_order_state_final(open_states[i]));
	for (size_t i = 0; i < N(final_states); i++)
		assert_true(kcg_order_state_final(final_states[i]));
	assert_true(kcg_order_state_booked(KCG_ORDER_BOOKED));
	assert_true(kcg_order_state_booked(KCG_ORDER_SHIPPED));
	assert_false(kcg_order_state_booked(KCG_ORDER_ACCEPTED));
	assert_false(kcg_order_state_booked(KCG_ORDER_CANCELLED));
}

/* 1. Decide at WAITING_ACCEPTANCE: check the SKUs, then accept; never book there. */
static void test_decide_at_waiting_acceptance(void **state)
{
	assert_int_equal(next(KCG_ORDER_SEEN, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_CHECK_SKUS);
	assert_int_equal(next(KCG_ORDER_HELD, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_CHECK_SKUS);
	/* even with an address shown (a platform that shows it early) and book_when = accepted */
	assert_int_equal(next_when(KCG_ORDER_SEEN, false, KCG_BOOK_ACCEPTED, addressed("WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE")),
			 KCG_NEXT_CHECK_SKUS);
	/* kcgate's OR21 went through; this snapshot is older */
	assert_int_equal(next(KCG_ORDER_ACCEPTED, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_NOTHING);
	/* Mirakl's own checks first */
	assert_int_equal(next(KCG_ORDER_SEEN, false, "STAGING", "STAGING"), KCG_NEXT_NOTHING);
	/* a state Mirakl adds later: wait */
	assert_int_equal(next(KCG_ORDER_SEEN, false, "SOMETHING_NEW", "SOMETHING_NEW"), KCG_NEXT_NOTHING);
}

/* Accepted on Mirakl (by kcgate or by hand), the debit under way: accepted, not booked. */
static void test_accepted_waits_for_its_booking_point(void **state)
{
	const char *debit[] = { "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT" };
	for (size_t i = 0; i < N(debit); i++) {
		assert_int_equal(next(KCG_ORDER_SEEN, false, debit[i], debit[i]), KCG_NEXT_ACCEPTED);
		assert_int_equal(next(KCG_ORDER_HELD, false, debit[i], debit[i]), KCG_NEXT_ACCEPTED);
		assert_int_equal(next(KCG_ORDER_ACCEPTED, false, debit[i], debit[i]), KCG_NEXT_NOTHING);
		/* default book_when = shipping: an address shown early changes nothing */
		assert_int_equal(next_addr(KCG_ORDER_ACCEPTED, false, debit[i]), KCG_NEXT_NOTHING);
		/* book_when = accepted: booked as soon as the address shows */
		assert_int_equal(next_when(KCG_ORDER_ACCEPTED, false, KCG_BOOK_ACCEPTED, addressed(debit[i], debit[i])),
				 KCG_NEXT_BOOK);
		assert_int_equal(next_when(KCG_ORDER_SEEN, false, KCG_BOOK_ACCEPTED, addressed(debit[i], debit[i])),
				 KCG_NEXT_BOOK);
		assert_int_equal(next_when(KCG_ORDER_ACCEPTED, false, KCG_BOOK_ACCEPTED, order(debit[i], debit[i])),
				 KCG_NEXT_NOTHING);
		assert_int_equal(next_when(KCG_ORDER_SEEN, false, KCG_BOOK_ACCEPTED, order(debit[i], debit[i])),
				 KCG_NEXT_ACCEPTED);
	}
}

/* 2. Book when paid and addressed: SHIPPING, from any state not booked
 * yet; never past it (shipped without Khaos: booking it would ship it twice). */
static void test_book_at_shipping(void **state)
{
	const enum kcg_order_state before[] = { KCG_ORDER_SEEN, KCG_ORDER_HELD, KCG_ORDER_ACCEPTED };
	for (size_t j = 0; j < N(before); j++) {
		/* accepted by hand counts the same: still booked */
		assert_int_equal(next_addr(before[j], false, "SHIPPING"), KCG_NEXT_BOOK);
		assert_int_equal(next_when(before[j], false, KCG_BOOK_ACCEPTED, addressed("SHIPPING", "SHIPPING")),
				 KCG_NEXT_BOOK);
		/* no usable address at the booking point: say so, do not book */
		assert_int_equal(next(before[j], false, "SHIPPING", "SHIPPING"), KCG_NEXT_ADDRESS_MISSING);
		/* a dead booking waits for a person */
		assert_int_equal(next_addr(before[j], KCG_STUCK_BOOK, "SHIPPING"), KCG_NEXT_NOTHING);
		/* a dead acceptance does not: the order was accepted (by hand) */
		assert_int_equal(next_addr(before[j], KCG_STUCK_ACCEPT, "SHIPPING"), KCG_NEXT_BOOK);
	}
	const char *shipped[] = { "SHIPPED", "TO_COLLECT", "RECEIVED" };
	for (size_t i = 0; i < N(shipped); i++) {
		for (size_t j = 0; j < N(before); j++) {
			assert_int_equal(next_addr(before[j], false, shipped[i]), KCG_NEXT_SHIPPED_UNBOOKED);
			assert_int_equal(next_when(before[j], false, KCG_BOOK_ACCEPTED, addressed(shipped[i], shipped[i])),
					 KCG_NEXT_SHIPPED_UNBOOKED);
			assert_int_equal(next(before[j], false, shipped[i], shipped[i]), KCG_NEXT_SHIPPED_UNBOOKED);
			assert_int_equal(next_addr(before[j], KCG_STUCK_BOOK, shipped[i]), KCG_NEXT_SHIPPED_UNBOOKED);
			json_t *o = addressed(shipped[i], shipped[i]);
			assert_false(kcg_order_at_point(KCG_BOOK_SHIPPING, o));
			json_decref(o);
		}
	}
}

/* 3. Follow to the end: shipped, closed, and the side exits. */
static void test_follow_booked(void **state)
{
	assert_int_equal(next_addr(KCG_ORDER_BOOKED, false, "SHIPPING"), KCG_NEXT_NOTHING);
	assert_int_equal(next_addr(KCG_ORDER_BOOKED, false, "SHIPPED"), KCG_NEXT_SHIPPED);
	assert_int_equal(next_addr(KCG_ORDER_BOOKED, false, "TO_COLLECT"), KCG_NEXT_SHIPPED);
	assert_int_equal(next_addr(KCG_ORDER_BOOKED, false, "RECEIVED"), KCG_NEXT_SHIPPED);
	assert_int_equal(next_addr(KCG_ORDER_BOOKED, KCG_STUCK_ACCEPT | KCG_STUCK_BOOK, "SHIPPED"), KCG_NEXT_SHIPPED);
	assert_int_equal(next_addr(KCG_ORDER_SHIPPED, false, "RECEIVED"), KCG_NEXT_NOTHING);
	assert_int_equal(next_addr(KCG_ORDER_SHIPPED, false, "SHIPPED"), KCG_NEXT_NOTHING);
	/* booked before acceptance (a record from the flow's earlier life): accept it */
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_ACCEPT);
	assert_int_equal(next(KCG_ORDER_BOOKED, KCG_STUCK_ACCEPT, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_NOTHING);
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "WAITING_DEBIT", "WAITING_DEBIT"), KCG_NEXT_NOTHING);
}

static void test_ends(void **state)
{
	for (size_t i = 0; i < N(open_states); i++) {
		for (unsigned stuck = 0; stuck < 4; stuck++) {
			/* a dead job no longer matters once Mirakl ended the order */
			assert_int_equal(next(open_states[i], stuck, "CLOSED", "CLOSED"), KCG_NEXT_CLOSED);
			assert_int_equal(next(open_states[i], stuck, "CANCELED", "CANCELED"), KCG_NEXT_CANCELLED);
			assert_int_equal(next(open_states[i], stuck, "REFUSED", "REFUSED"), KCG_NEXT_REFUSED);
		}
		/* nobody decided: acceptance_decision_date null, or absent */
		json_t *o = order("REFUSED", "REFUSED");
		json_object_set_new(o, "acceptance_decision_date", json_null());
		assert_int_equal(next_when(open_states[i], false, KCG_BOOK_SHIPPING, o), KCG_NEXT_AUTO_REFUSED);
		o = order("REFUSED", "REFUSED");
		json_object_del(o, "acceptance_decision_date");
		assert_int_equal(next_when(open_states[i], false, KCG_BOOK_SHIPPING, o), KCG_NEXT_AUTO_REFUSED);
	}
}

static void test_final_do_nothing(void **state)
{
	for (size_t i = 0; i < N(final_states); i++)
		for (size_t j = 0; j < N(mirakl_states); j++) {
			assert_int_equal(next(final_states[i], false, mirakl_states[j], mirakl_states[j]), KCG_NEXT_NOTHING);
			assert_int_equal(next_addr(final_states[i], false, mirakl_states[j]), KCG_NEXT_NOTHING);
		}
	/* a dead job waits for a person, whatever Mirakl says short of an end */
	assert_int_equal(next(KCG_ORDER_SEEN, KCG_STUCK_ACCEPT, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_NOTHING);
	/* a dead booking does not block the acceptance of an order not yet accepted */
	assert_int_equal(next(KCG_ORDER_SEEN, KCG_STUCK_BOOK, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"),
			 KCG_NEXT_CHECK_SKUS);
}

static void test_address_usable(void **state)
{
	json_t *o = addressed("SHIPPING", "SHIPPING");
	assert_true(kcg_order_address_usable(o));
	json_t *addr = json_object_get(json_object_get(o, "customer"), "shipping_address");
	/* the last name may be the address's own */
	json_object_del(json_object_get(o, "customer"), "lastname");
	assert_false(kcg_order_address_usable(o));
	json_object_set_new(addr, "lastname", json_string("Ng"));
	assert_true(kcg_order_address_usable(o));
	const char *needed[] = { "street_1", "city", "zip_code" };
	for (size_t i = 0; i < N(needed); i++) {
		json_t *v = json_incref(json_object_get(addr, needed[i]));
		json_object_set_new(addr, needed[i], json_string(""));
		assert_false(kcg_order_address_usable(o));
		json_object_del(addr, needed[i]);
		assert_false(kcg_order_address_usable(o));
		json_object_set_new(addr, needed[i], v);
		assert_true(kcg_order_address_usable(o));
	}
	json_decref(o);
	o = order("SHIPPING", "SHIPPING"); /* null, as Mirakl hides it */
	assert_false(kcg_order_address_usable(o));
	json_decref(o);
	assert_false(kcg_order_address_usable(NULL));
}

static void test_lines_withdrawn(void **state)
{
	json_t *o = addressed("SHIPPING", "SHIPPING");
	json_t *ids = kcg_order_lines_withdrawn(o);
	assert_int_equal(json_array_size(ids), 0);
	json_decref(ids);
	json_t *lines = json_object_get(o, "order_lines");
	json_object_set_new(json_array_get(lines, 1), "order_line_state", json_string("CANCELED"));
	ids = kcg_order_lines_withdrawn(o);
	assert_int_equal(json_array_size(ids), 1);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "O-1-2");
	json_decref(ids);
	/* refunded (still SHIPPING) and cancelled in part count too, each new
	 * cancelation or refund changing the list */
	json_object_set_new(json_array_get(lines, 0), "refunds", json_pack("[{s:s}]", "id", "R1"));
	ids = kcg_order_lines_withdrawn(o);
	assert_int_equal(json_array_size(ids), 2);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "O-1-1: 0 cancelations, 1 refund");
	json_decref(ids);
	json_object_set_new(json_array_get(lines, 0), "refunds", json_array());
	json_object_set_new(json_array_get(lines, 0), "cancelations", json_pack("[{s:i}]", "quantity", 1));
	json_t *one = kcg_order_lines_withdrawn(o);
	assert_int_equal(json_array_size(one), 2);
	assert_string_equal(json_string_value(json_array_get(one, 0)), "O-1-1: 1 cancelation, 0 refunds");
	json_array_append_new(json_object_get(json_array_get(lines, 0), "cancelations"), json_pack("{s:i}", "quantity", 1));
	ids = kcg_order_lines_withdrawn(o);
	assert_false(json_equal(ids, one));
	json_decref(one);
	json_decref(ids);
	json_decref(o);
}

static void test_late(void **state)
{
	uint64_t deadline = 100000, alert = 10000;
	assert_false(kcg_order_is_late(KCG_ORDER_SEEN, deadline, alert, 89999));
	assert_true(kcg_order_is_late(KCG_ORDER_SEEN, deadline, alert, 90000));
	assert_true(kcg_order_is_late(KCG_ORDER_HELD, deadline, alert, 200000));
	/* accepted (and so booked later): past the acceptance deadline's reach */
	assert_false(kcg_order_is_late(KCG_ORDER_ACCEPTED, deadline, alert, 95000));
	assert_false(kcg_order_is_late(KCG_ORDER_BOOKED, deadline, alert, 95000));
	/* done with, or no deadline known */
	for (size_t i = 0; i < N(final_states); i++)
		assert_false(kcg_order_is_late(final_states[i], deadline, alert, 95000));
	assert_false(kcg_order_is_late(KCG_ORDER_SEEN, 0, alert, 95000));
}

static void test_missing_in_khaos(void **state)
{
	uint64_t point = 1000000, alert = 30 * 60000u;
	assert_false(kcg_order_missing_in_khaos(KCG_ORDER_ACCEPTED, point, alert, point + alert - 1));
	assert_true(kcg_order_missing_in_khaos(KCG_ORDER_ACCEPTED, point, alert, point + alert));
	assert_true(kcg_order_missing_in_khaos(KCG_ORDER_HELD, point, alert, point + alert));
	assert_true(kcg_order_missing_in_khaos(KCG_ORDER_SEEN, point, alert, point + alert));
	/* not at its booking point, or booked, or ended */
	assert_false(kcg_order_missing_in_khaos(KCG_ORDER_ACCEPTED, 0, alert, point + alert));
	assert_false(kcg_order_missing_in_khaos(KCG_ORDER_BOOKED, point, alert, point + alert));
	assert_false(kcg_order_missing_in_khaos(KCG_ORDER_SHIPPED, point, alert, point + alert));
	for (size_t i = 0; i < N(final_states); i++)
		assert_false(kcg_order_missing_in_khaos(final_states[i], point, alert, point + alert));
}

/* The booking point by Mirakl's dates: the payment once paid, else the
 * acceptance; now when Mirakl gives none, a bad one or one to come. */
static void test_point_ms(void **state)
{
	const uint64_t now = 1704110400000ull; /* 2024-01-01T12:00:00Z */
	json_t *o = addressed("SHIPPING", "SHIPPING");
	assert_int_equal(kcg_order_point_ms(o, now), now); /* paid, no payment date: not the acceptance (10:00) */
	json_object_set_new(o, "customer_debited_date", json_string("2024-01-01T11:00:00Z"));
	assert_int_equal(kcg_order_point_ms(o, now), 1704106800000ull);
	json_object_set_new(o, "customer_debited_date", json_string("2024-01-01T13:00:00Z"));
	assert_int_equal(kcg_order_point_ms(o, now), now); /* in the future: a clock apart */
	json_object_set_new(o, "customer_debited_date", json_string("yesterday"));
	assert_int_equal(kcg_order_point_ms(o, now), now);
	json_object_set_new(o, "customer_debited_date", json_integer(5));
	assert_int_equal(kcg_order_point_ms(o, now), now);
	json_decref(o);

	/* not paid yet (booking at acceptance): the acceptance date */
	o = addressed("WAITING_DEBIT_PAYMENT", "WAITING_DEBIT_PAYMENT");
	json_object_set_new(o, "customer_debited_date", json_string("2024-01-01T11:00:00Z"));
	assert_int_equal(kcg_order_point_ms(o, now), 1704103200000ull);
	json_object_set_new(o, "acceptance_decision_date", json_null());
	assert_int_equal(kcg_order_point_ms(o, now), now);
	json_decref(o);
}

/* An order waiting for acceptance with lines (id, sku, quantity[, state]). */
static json_t *stock_order(void)
{
	return json_pack("{s:s, s:s, s:[{s:s, s:s, s:i, s:s}, {s:s, s:s, s:i, s:s}, {s:s, s:s, s:i, s:s}]}",
			 "order_id", "O-1", "order_state", "WAITING_ACCEPTANCE", "order_lines",
			 "order_line_id", "L1", "offer_sku", "A", "quantity", 2, "order_line_state", "WAITING_ACCEPTANCE",
			 "order_line_id", "L2", "offer_sku", "B", "quantity", 1, "order_line_state", "WAITING_ACCEPTANCE",
			 "order_line_id", "L3", "offer_sku", "A", "quantity", 1, "order_line_state", "WAITING_ACCEPTANCE");
}

static enum kcg_cover cover(const char *levels, const char *reserved, enum kcg_cover_mode mode, json_t **shorts,
			    json_t **refuse)
{
	json_t *o = stock_order(), *l = json_loads(levels, 0, NULL), *r = json_loads(reserved, 0, NULL);
	*shorts = json_array();
	*refuse = json_pack("[s]", "stale");
	enum kcg_cover c = kcg_order_stock_decide(o, l, r, mode, *shorts, *refuse);
	json_decref(o);
	json_decref(l);
	json_decref(r);
	return c;
}

static bool refused_is(json_t *refuse, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	bool eq = json_equal(refuse, w);
	json_decref(w);
	return eq;
}

/* Every line covered (A: 2 + 1 of 3; B: 1 of 1) -> accept all, in every mode. */
static void test_stock_covered(void **state)
{
	json_t *shorts, *refuse;
	for (int m = KCG_COVER_MODE_HOLD; m <= KCG_COVER_MODE_REFUSE_ORDER; m++) {
		assert_int_equal(cover("{\"A\": 3, \"B\": 1}", "{}", m, &shorts, &refuse), KCG_COVER_ALL);
		assert_int_equal(json_array_size(shorts), 0);
		assert_int_equal(json_array_size(refuse), 0);
		json_decref(shorts);
		json_decref(refuse);
	}
	/* a code with no level (not stock-controlled) takes anything */
	assert_int_equal(cover("{\"A\": 3}", "{\"B\": 50}", KCG_COVER_MODE_HOLD, &shorts, &refuse), KCG_COVER_ALL);
	json_decref(shorts);
	json_decref(refuse);
	/* peers' extreme numbers are bounded, never overflowed (UBSan watches) */
	assert_int_equal(cover("{\"A\": 9223372036854775807, \"B\": 9223372036854775807}",
			       "{\"A\": -9223372036854775807}", KCG_COVER_MODE_HOLD, &shorts, &refuse),
			 KCG_COVER_ALL);
	json_decref(shorts);
	json_decref(refuse);
	assert_int_equal(cover("{\"A\": -9223372036854775807, \"B\": 1}", "{\"A\": 9223372036854775807}",
			       KCG_COVER_MODE_HOLD, &shorts, &refuse),
			 KCG_COVER_HOLD);
	json_decref(shorts);
	json_decref(refuse);
}

/* What other orders reserved counts: A 3 with 1 reserved covers L1 (2), not L3 (1). */
static void test_stock_reserved_counts(void **state)
{
	json_t *shorts, *refuse;
	assert_int_equal(cover("{\"A\": 3, \"B\": 1}", "{\"A\": 1}", KCG_COVER_MODE_HOLD, &shorts, &refuse),
			 KCG_COVER_HOLD);
	assert_int_equal(json_array_size(shorts), 1);
	json_t *sh = json_array_get(shorts, 0);
	assert_string_equal(json_string_value(json_object_get(sh, "line")), "L3");
	assert_string_equal(json_string_value(json_object_get(sh, "sku")), "A");
	assert_int_equal(json_integer_value(json_object_get(sh, "need")), 1);
	assert_int_equal(json_integer_value(json_object_get(sh, "available")), 3);
	assert_int_equal(json_integer_value(json_object_get(sh, "reserved")), 1);
	assert_int_equal(json_array_size(refuse), 0); /* holding refuses nothing */
	json_decref(shorts);
	json_decref(refuse);

	/* the last unit taken by another order: B short */
	assert_int_equal(cover("{\"A\": 9, \"B\": 1}", "{\"B\": 1}", KCG_COVER_MODE_REFUSE_LINES, &shorts, &refuse),
			 KCG_COVER_REFUSE);
	assert_true(refused_is(refuse, "[\"L2\"]"));
	json_decref(shorts);
	json_decref(refuse);

	/* a level at or below zero covers nothing */
	assert_int_equal(cover("{\"A\": -2, \"B\": 0}", "{}", KCG_COVER_MODE_REFUSE_LINES, &shorts, &refuse),
			 KCG_COVER_REFUSE);
	assert_true(refused_is(refuse, "[\"L1\", \"L2\", \"L3\"]"));
	assert_int_equal(json_array_size(shorts), 3);
	json_decref(shorts);
	json_decref(refuse);
}

/* Refuse modes: the short lines only (a refused line takes no stock), or the whole order. */
static void test_stock_refuse(void **state)
{
	json_t *shorts, *refuse;
	/* A 1: L1 (2) short and refused, L3 (1) then fits */
	assert_int_equal(cover("{\"A\": 1, \"B\": 1}", "{}", KCG_COVER_MODE_REFUSE_LINES, &shorts, &refuse),
			 KCG_COVER_REFUSE);
	assert_true(refused_is(refuse, "[\"L1\"]"));
	assert_int_equal(json_array_size(shorts), 1);
	json_decref(shorts);
	json_decref(refuse);

	assert_int_equal(cover("{\"A\": 1, \"B\": 1}", "{}", KCG_COVER_MODE_REFUSE_ORDER, &shorts, &refuse),
			 KCG_COVER_REFUSE);
	assert_true(refused_is(refuse, "[\"L1\", \"L2\", \"L3\"]"));
	json_decref(shorts);
	json_decref(refuse);

	assert_int_equal(cover("{\"A\": 1, \"B\": 1}", "{}", KCG_COVER_MODE_HOLD, &shorts, &refuse), KCG_COVER_HOLD);
	json_decref(shorts);
	json_decref(refuse);
}

/* Withdrawn lines take nothing. */
static void test_stock_withdrawn_lines(void **state)
{
	json_t *o = stock_order(), *l = json_pack("{s:i, s:i}", "A", 1, "B", 1), *r = json_object();
	json_object_set_new(json_array_get(json_object_get(o, "order_lines"), 0), "order_line_state",
			    json_string("CANCELED"));
	json_t *shorts = json_array(), *refuse = json_array();
	assert_int_equal(kcg_order_stock_decide(o, l, r, KCG_COVER_MODE_HOLD, shorts, refuse), KCG_COVER_ALL);
	json_decref(o);
	json_decref(l);
	json_decref(r);
	json_decref(shorts);
	json_decref(refuse);
}

static bool reservation_is(enum kcg_order_state st, bool accepting, const char *refused, const char *want)
{
	json_t *o = stock_order(), *rf = refused ? json_loads(refused, 0, NULL) : NULL, *w = json_loads(want, 0, NULL);
	json_t *res = kcg_order_reservation(st, accepting, o, rf);
	bool eq = json_equal(res, w);
	json_decref(o);
	json_decref(rf);
	json_decref(w);
	json_decref(res);
	return eq;
}

/* What a record reserves follows its state alone. */
static void test_reservation(void **state)
{
	assert_true(reservation_is(KCG_ORDER_ACCEPTED, false, NULL, "{\"A\": 3, \"B\": 1}"));
	assert_true(reservation_is(KCG_ORDER_SEEN, true, NULL, "{\"A\": 3, \"B\": 1}"));
	assert_true(reservation_is(KCG_ORDER_SEEN, false, NULL, "{}"));
	assert_true(reservation_is(KCG_ORDER_ACCEPTED, false, "[\"L1\"]", "{\"A\": 1, \"B\": 1}"));
	assert_true(reservation_is(KCG_ORDER_SEEN, true, "[\"L1\", \"L2\", \"L3\"]", "{}"));
	static const enum kcg_order_state none[] = { KCG_ORDER_HELD, KCG_ORDER_BOOKED, KCG_ORDER_SHIPPED,
						     KCG_ORDER_CLOSED, KCG_ORDER_REFUSED, KCG_ORDER_AUTO_REFUSED,
						     KCG_ORDER_CANCELLED };
	for (size_t i = 0; i < N(none); i++)
		assert_true(reservation_is(none[i], true, NULL, "{}"));

	/* lines Mirakl refused or cancelled hold nothing */
	json_t *o = stock_order();
	json_object_set_new(json_array_get(json_object_get(o, "order_lines"), 1), "order_line_state",
			    json_string("REFUSED"));
	json_t *res = kcg_order_reservation(KCG_ORDER_ACCEPTED, false, o, NULL);
	assert_int_equal(json_integer_value(json_object_get(res, "A")), 3);
	assert_null(json_object_get(res, "B"));
	json_decref(res);
	/* shipped without Khaos (never booked): the goods left, nothing held back */
	json_object_set_new(o, "order_state", json_string("SHIPPED"));
	res = kcg_order_reservation(KCG_ORDER_ACCEPTED, false, o, NULL);
	assert_int_equal(json_object_size(res), 0);
	json_decref(res);
	json_decref(o);
}

static void test_forgotten(void **state)
{
	uint64_t day = 86400000u, horizon = 30 * day, now = 1000 * day;
	assert_true(kcg_order_forgotten(now - horizon - 1, horizon, now));
	assert_false(kcg_order_forgotten(now - horizon, horizon, now));
	assert_false(kcg_order_forgotten(now - day, horizon, now));
	assert_false(kcg_order_forgotten(now - 400 * day, 0, now)); /* records kept: never forgotten */
	assert_false(kcg_order_forgotten(0, horizon, now));         /* creation unknown */
	assert_false(kcg_order_forgotten(now + day, horizon, now)); /* a clock ahead */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_order_ids_cap),
		cmocka_unit_test(test_decide_at_waiting_acceptance),
		cmocka_unit_test(test_accepted_waits_for_its_booking_point),
		cmocka_unit_test(test_book_at_shipping),
		cmocka_unit_test(test_follow_booked),
		cmocka_unit_test(test_ends),
		cmocka_unit_test(test_final_do_nothing),
		cmocka_unit_test(test_address_usable),
		cmocka_unit_test(test_lines_withdrawn),
		cmocka_unit_test(test_late),
		cmocka_unit_test(test_missing_in_khaos),
		cmocka_unit_test(test_point_ms),
		cmocka_unit_test(test_forgotten),
		cmocka_unit_test(test_stock_covered),
		cmocka_unit_test(test_stock_reserved_counts),
		cmocka_unit_test(test_stock_refuse),
		cmocka_unit_test(test_stock_withdrawn_lines),
		cmocka_unit_test(test_reservation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
