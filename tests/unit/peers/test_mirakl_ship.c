/*
 * test_mirakl_ship.c: the Mirakl client's shipping calls
 * (src/peers/mirakl_ship.c): SH21, OR23, OR24, ST01 and ST11 as built (URL,
 * method, headers, body) and every parse outcome, on the OpenAPI shapes.
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

#include <jansson.h>

#include "kcgate/common.h"
#include "kcgate/json.h"
#include "kcgate/net.h"
#include "kcgate/peers/mirakl.h"

#include "net_fixtures.h"

static const struct kcg_mirakl_config cfg = { .base_url = "https://shop.mirakl.net/", .api_key = "key-1",
					      .timeout_s = 9, .shop_id = "42" };

static void test_sh21(void **state)
{
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	json_t *list;
	assert_int_equal(kcg_mirakl_sh21(&cfg, &c), 0);
	assert_string_equal(c.method, "GET");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/shipping/carriers?shop_id=42");
	assert_string_equal(header(&c, "Authorization"), "key-1");
	kcg_call_finish(&c);

	struct kcg_reply r = reply(200, "{\"carriers\":[{\"code\":\"RM\",\"label\":\"Royal Mail\",\"standard_code\":\"X\","
					 "\"tracking_url\":\"https://rm/{trackingId}\"},{\"code\":\"DPD\",\"label\":\"DPD\"}]}");
	assert_int_equal(kcg_mirakl_sh21_parse(&r, &list, why), 0);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(kcg_json_str(json_array_get(list, 0), "tracking_url"), "https://rm/{trackingId}");
	assert_string_equal(kcg_json_str(json_array_get(list, 1), "tracking_url"), "");
	json_decref(list);
	kcg_reply_finish(&r);

	static const char *const bad[] = { "{\"carriers\":{}}", "{\"carriers\":[{\"label\":\"x\"}]}",
					   "{\"carriers\":[{\"code\":\"\",\"label\":\"x\"}]}", "[]", "nope" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = reply(200, bad[i]);
		assert_int_equal(kcg_mirakl_sh21_parse(&r, &list, why), KCG_EPAYLOAD);
		assert_printable(why);
		assert_null(list);
		kcg_reply_finish(&r);
	}
	r = reply(429, "{}");
	assert_int_equal(kcg_mirakl_sh21_parse(&r, &list, why), -EAGAIN);
	kcg_reply_finish(&r);
}

static void test_or23(void **state)
{
	struct kcg_call c;
	struct kcg_mirakl_tracking t = { .carrier_code = "RM", .carrier_url = "ignored", .tracking_number = "T1" };
	assert_int_equal(kcg_mirakl_or23(&cfg, "O/1", &t, &c), 0);
	assert_string_equal(c.method, "PUT");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders/O%2F1/tracking?shop_id=42");
	assert_string_equal(header(&c, "Content-Type"), "application/json");
	json_t *b = json_loadb(c.body, c.body_len, 0, NULL);
	/* a registered carrier: its code; carrier_url is "unused for registered carriers" */
	json_t *want = json_pack("{s:s, s:s}", "carrier_code", "RM", "tracking_number", "T1");
	assert_true(json_equal(b, want));
	json_decref(b);
	json_decref(want);
	kcg_call_finish(&c);

	struct kcg_mirakl_tracking n = { .carrier_name = "Acme", .carrier_url = "https://a/T2", .tracking_number = "T2" };
	assert_int_equal(kcg_mirakl_or23(&cfg, "O-2", &n, &c), 0);
	b = json_loadb(c.body, c.body_len, 0, NULL);
	want = json_pack("{s:s, s:s, s:s}", "carrier_name", "Acme", "carrier_url", "https://a/T2", "tracking_number", "T2");
	assert_true(json_equal(b, want));
	json_decref(b);
	json_decref(want);
	kcg_call_finish(&c);

	struct kcg_mirakl_tracking both = { .carrier_code = "RM", .carrier_name = "Acme" }, none = { 0 };
	assert_int_equal(kcg_mirakl_or23(&cfg, "O-3", &both, &c), -EINVAL);
	assert_int_equal(kcg_mirakl_or23(&cfg, "O-3", &none, &c), -EINVAL);
	assert_int_equal(kcg_mirakl_or23(&cfg, "", &t, &c), -EINVAL);
}

static void test_or24(void **state)
{
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_mirakl_or24(&cfg, "O-1", &c), 0);
	assert_string_equal(c.method, "PUT");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders/O-1/ship?shop_id=42");
	assert_null(c.body);
	/* "Content-Type:" with no value: libcurl adds no form Content-Type */
	bool none = false;
	for (size_t i = 0; i < c.n_headers; i++)
		none = none || strcmp(c.headers[i], "Content-Type:") == 0;
	assert_true(none);
	kcg_call_finish(&c);

	struct kcg_reply r = reply(204, NULL);
	assert_int_equal(kcg_mirakl_ship_parse(&r, "OR24", why), 0);
	kcg_reply_finish(&r);
	r = reply(400, "{\"message\":\"ORDER_INVALID_STATE\",\"status\":400}");
	assert_int_equal(kcg_mirakl_ship_parse(&r, "OR24", why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "ORDER_INVALID_STATE"));
	kcg_reply_finish(&r);
	r = reply(404, "{}");
	assert_int_equal(kcg_mirakl_ship_parse(&r, "OR23", why), KCG_ENOTFOUND);
	kcg_reply_finish(&r);
	r = reply(503, "{}");
	assert_int_equal(kcg_mirakl_ship_parse(&r, "OR23", why), -EAGAIN);
	kcg_reply_finish(&r);

	assert_true(kcg_mirakl_state_shipped("SHIPPED") && kcg_mirakl_state_shipped("CLOSED") &&
		    kcg_mirakl_state_shipped("TO_COLLECT") && kcg_mirakl_state_shipped("RECEIVED"));
	assert_false(kcg_mirakl_state_shipped("SHIPPING") || kcg_mirakl_state_shipped("CANCELED") ||
		     kcg_mirakl_state_shipped(NULL));
}

static void test_st01(void **state)
{
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	json_t *s = json_pack("[{s:s, s:[{s:s, s:i}], s:b}]", "order_id", "O-1", "shipment_lines", "order_line_id",
			      "O-1-1", "quantity", 2, "shipped", 1);
	assert_int_equal(kcg_mirakl_st01(&cfg, s, &c), 0);
	assert_string_equal(c.method, "POST");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/shipments?shop_id=42");
	json_t *b = json_loadb(c.body, c.body_len, 0, NULL);
	assert_true(json_equal(json_object_get(b, "shipments"), s));
	json_decref(b);
	kcg_call_finish(&c);
	json_t *empty = json_array();
	assert_int_equal(kcg_mirakl_st01(&cfg, empty, &c), -EINVAL);
	json_decref(empty);
	json_decref(s);

	struct kcg_reply r = reply(201, "{\"shipment_errors\":[],\"shipment_success\":[{\"order_id\":\"O-1\",\"id\":\"S1\"}]}");
	assert_int_equal(kcg_mirakl_st01_parse(&r, "O-1", why), 0);
	kcg_reply_finish(&r);
	r = reply(201, "{\"shipment_errors\":[{\"order_id\":\"O-1\",\"message\":\"quantity\\n too high\"}],"
		       "\"shipment_success\":[]}");
	assert_int_equal(kcg_mirakl_st01_parse(&r, "O-1", why), KCG_EPAYLOAD);
	assert_printable(why);
	assert_non_null(strstr(why, "too high"));
	kcg_reply_finish(&r);
	r = reply(201, "{\"shipment_errors\":[],\"shipment_success\":[{\"order_id\":\"O-9\"}]}");
	assert_int_equal(kcg_mirakl_st01_parse(&r, "O-1", why), KCG_EPAYLOAD);
	kcg_reply_finish(&r);
	r = reply(404, "{}"); /* no ST01 on this platform */
	assert_int_equal(kcg_mirakl_st01_parse(&r, "O-1", why), KCG_ENOTFOUND);
	kcg_reply_finish(&r);
}

static void test_st11(void **state)
{
	struct kcg_call c;
	char why[KCG_ERROR_MAX], next[KCG_MIRAKL_TOKEN_MAX + 1];
	size_t found;
	assert_int_equal(kcg_mirakl_st11(&cfg, "O 1", NULL, &c), 0);
	assert_string_equal(c.method, "GET");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/shipments?order_id=O%201&shop_id=42");
	kcg_call_finish(&c);
	assert_int_equal(kcg_mirakl_st11(&cfg, "O-1", "tok&x", &c), 0);
	assert_string_equal(c.url, "https://shop.mirakl.net/api/shipments?order_id=O-1&page_token=tok%26x&shop_id=42");
	kcg_call_finish(&c);
	assert_int_equal(kcg_mirakl_st11(&cfg, "", NULL, &c), -EINVAL);

	struct kcg_reply r = reply(200, "{\"data\":[{\"order_id\":\"O-1\",\"tracking\":{\"tracking_number\":\"A\"}},"
					 "{\"order_id\":\"O-2\",\"tracking\":{\"tracking_number\":\"B\"}}],"
					 "\"next_page_token\":\"p2\"}");
	assert_int_equal(kcg_mirakl_st11_find(&r, "O-1", "A", NULL, (found = 0, &found), next, why), 0);
	assert_int_equal(found, 1);
	assert_string_equal(next, "p2");
	assert_int_equal(kcg_mirakl_st11_find(&r, "O-1", "B", NULL, (found = 0, &found), next, why), 0);
	assert_int_equal(found, 0); /* B is another order's */
	kcg_reply_finish(&r);
	r = reply(200, "{\"data\":[],\"next_page_token\":null}");
	assert_int_equal(kcg_mirakl_st11_find(&r, "O-1", "A", NULL, (found = 0, &found), next, why), 0);
	assert_int_equal(found, 0);
	assert_string_equal(next, "");
	kcg_reply_finish(&r);
	static const char *const bad[] = { "{\"data\":{}}", "{\"data\":[],\"next_page_token\":7}", "[]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = reply(200, bad[i]);
		assert_int_equal(kcg_mirakl_st11_find(&r, "O-1", "A", NULL, &found, next, why), KCG_EPAYLOAD);
		assert_printable(why);
		kcg_reply_finish(&r);
	}
	/* two boxes of one consignment ref: told apart by their lines */
	r = reply(200, "{\"data\":[{\"order_id\":\"O-1\",\"tracking\":{\"tracking_number\":\"A\"},"
		       "\"shipment_lines\":[{\"order_line_id\":\"L1\",\"quantity\":1}]}]}");
	json_t *l1 = json_pack("[{s:s, s:i}]", "order_line_id", "L1", "quantity", 1);
	json_t *l2 = json_pack("[{s:s, s:i}]", "order_line_id", "L2", "quantity", 1);
	found = 0;
	assert_int_equal(kcg_mirakl_st11_find(&r, "O-1", "A", l1, &found, next, why), 0);
	assert_int_equal(found, 1);
	found = 0;
	assert_int_equal(kcg_mirakl_st11_find(&r, "O-1", "A", l2, &found, next, why), 0);
	assert_int_equal(found, 0);
	json_decref(l1);
	json_decref(l2);
	kcg_reply_finish(&r);
	r = reply(404, "{}");
	assert_int_equal(kcg_mirakl_st11_find(&r, "O-1", "A", NULL, &found, next, why), KCG_ENOTFOUND);
	kcg_reply_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sh21),
		cmocka_unit_test(test_or23),
		cmocka_unit_test(test_or24),
		cmocka_unit_test(test_st01),
		cmocka_unit_test(test_st11),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
