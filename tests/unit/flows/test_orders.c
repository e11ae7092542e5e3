/*
 * test_orders.c: the order flow's decisions as pure functions of a
 * record's state and a Mirakl order (kcg_order_next, kcg_order_is_late),
 * and the state name table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kcgate/flows/orders.h"

/* A Mirakl order in state @p state whose lines are all in @p line_state. */
static json_t *order(const char *state, const char *line_state)
{
	return json_pack("{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "order_id", "O-1", "order_state", state,
			 "order_lines", "order_line_id", "O-1-1", "order_line_state", line_state, "order_line_id",
			 "O-1-2", "order_line_state", line_state);
}

static enum kcg_order_next next(enum kcg_order_state st, bool stuck, const char *state, const char *line_state)
{
	json_t *o = order(state, line_state);
	enum kcg_order_next n = kcg_order_next(st, stuck, o);
	json_decref(o);
	return n;
}

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
	for (int i = 0; i < KCG_ORDER_STATES; i++)
		assert_int_equal(kcg_order_state_parse(kcg_order_state_name((enum kcg_order_state)i)), i);
	assert_string_equal(kcg_order_state_name(KCG_ORDER_HELD), "held");
	assert_int_equal(kcg_order_state_parse("HELD"), -1);
	assert_int_equal(kcg_order_state_parse(""), -1);
	assert_int_equal(kcg_order_state_parse(NULL), -1);
	assert_string_equal(kcg_order_state_name(KCG_ORDER_STATES), "unknown");
}

static void test_new_order_checks_skus(void **state)
{
	assert_int_equal(next(KCG_ORDER_SEEN, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_CHECK_SKUS);
	assert_int_equal(next(KCG_ORDER_HELD, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_CHECK_SKUS);
	/* accepted by hand before kcgate booked it: still to be booked */
	assert_int_equal(next(KCG_ORDER_SEEN, false, "SHIPPING", "SHIPPING"), KCG_NEXT_CHECK_SKUS);
	/* Mirakl's own checks first */
	assert_int_equal(next(KCG_ORDER_SEEN, false, "STAGING", "STAGING"), KCG_NEXT_NOTHING);
}

static void test_refused_or_cancelled(void **state)
{
	const char *finals[] = { "CANCELED", "REFUSED", "CLOSED" };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(next(KCG_ORDER_SEEN, false, finals[i], finals[i]), KCG_NEXT_CANCELLED);
		assert_int_equal(next(KCG_ORDER_HELD, false, finals[i], finals[i]), KCG_NEXT_CANCELLED);
	}
	/* booked: its lines say whether it was accepted before it ended */
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "CANCELED", "CANCELED"), KCG_NEXT_CANCELLED);
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "REFUSED", "REFUSED"), KCG_NEXT_CANCELLED);
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "CLOSED", "CLOSED"), KCG_NEXT_ACCEPTED);
}

static void test_booked(void **state)
{
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_ACCEPT);
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "SHIPPING", "SHIPPING"), KCG_NEXT_ACCEPTED);
	assert_int_equal(next(KCG_ORDER_BOOKED, false, "WAITING_DEBIT_PAYMENT", "WAITING_DEBIT_PAYMENT"),
			 KCG_NEXT_ACCEPTED);
}

static void test_final_and_stuck_do_nothing(void **state)
{
	assert_int_equal(next(KCG_ORDER_ACCEPTED, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_NOTHING);
	assert_int_equal(next(KCG_ORDER_CANCELLED, false, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_NOTHING);
	/* a dead job waits for a person, whatever Mirakl says */
	assert_int_equal(next(KCG_ORDER_BOOKED, true, "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"), KCG_NEXT_NOTHING);
	assert_int_equal(next(KCG_ORDER_SEEN, true, "CANCELED", "CANCELED"), KCG_NEXT_NOTHING);
}

static void test_late(void **state)
{
	uint64_t deadline = 100000, alert = 10000;
	assert_false(kcg_order_is_late(KCG_ORDER_SEEN, deadline, alert, 89999));
	assert_true(kcg_order_is_late(KCG_ORDER_SEEN, deadline, alert, 90000));
	assert_true(kcg_order_is_late(KCG_ORDER_HELD, deadline, alert, 200000));
	assert_true(kcg_order_is_late(KCG_ORDER_BOOKED, deadline, alert, 95000));
	/* done with, or no deadline known */
	assert_false(kcg_order_is_late(KCG_ORDER_ACCEPTED, deadline, alert, 95000));
	assert_false(kcg_order_is_late(KCG_ORDER_CANCELLED, deadline, alert, 95000));
	assert_false(kcg_order_is_late(KCG_ORDER_SEEN, 0, alert, 95000));
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
		cmocka_unit_test(test_new_order_checks_skus),
		cmocka_unit_test(test_refused_or_cancelled),
		cmocka_unit_test(test_booked),
		cmocka_unit_test(test_final_and_stuck_do_nothing),
		cmocka_unit_test(test_late),
		cmocka_unit_test(test_forgotten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
