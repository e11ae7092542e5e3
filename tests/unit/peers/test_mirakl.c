/*
 * test_mirakl.c: the Mirakl client (src/mirakl.c) and the call/reply
 * helpers it stands on (src/net.c): the calls built for OR11, OR12 and
 * OR21 (URL, method, headers, body), every parse outcome, the order
 * helpers and the date parser.
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
#include "kcgate/peers/mirakl.h"
#include "kcgate/net.h"

#include "net_fixtures.h"

static struct kcg_mirakl_config test_cfg(void)
{
	return (struct kcg_mirakl_config){
		.base_url = "https://shop.mirakl.net",
		.api_key = "key-123",
		.timeout_s = 17,
	};
}

static bool has_header(const struct kcg_call *c, const char *h)
{
	for (size_t i = 0; i < c->n_headers; i++)
		if (strcmp(c->headers[i], h) == 0)
			return true;
	return false;
}

/* ---- net.c ---- */

static void test_url_escape(void **state)
{
	char *e = kcg_url_escape("AZaz09-._~ /?&=+,%\xc3\xa9");
	assert_string_equal(e, "AZaz09-._~%20%2F%3F%26%3D%2B%2C%25%C3%A9");
	free(e);
	e = kcg_url_escape("");
	assert_string_equal(e, "");
	free(e);
}

static void test_call_headers(void **state)
{
	struct kcg_call c = { 0 };
	for (int i = 0; i < KCG_CALL_MAX_HEADERS; i++)
		assert_int_equal(kcg_call_header(&c, "X-%d: %s", i, "v"), 0);
	assert_int_equal(kcg_call_header(&c, "One-Too-Many: 1"), -ENOSPC);
	assert_string_equal(c.headers[3], "X-3: v");
	c.secret_headers = true;
	c.url = strdup("http://x");
	kcg_call_finish(&c);
	assert_null(c.url);
	assert_int_equal(c.n_headers, 0);
	kcg_call_finish(NULL);
	kcg_reply_finish(NULL);
}

static void test_reply_transient(void **state)
{
	static const long yes[] = { 0, 408, 429, 500, 502, 503, 504, 599 };
	static const long no[] = { 200, 204, 301, 400, 401, 403, 404, 409, 415, 422 };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct kcg_reply r = { .status = yes[i] };
		assert_true(kcg_reply_transient(&r));
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct kcg_reply r = { .status = no[i] };
		assert_false(kcg_reply_transient(&r));
	}
	struct kcg_reply r = { .status = 200, .transport_error = 7 };
	assert_true(kcg_reply_transient(&r));
}

static void test_reply_excerpt(void **state)
{
	char out[KCG_ERROR_MAX];
	struct kcg_reply r = reply(400, "{\"message\":\n\t\"bad \x01 \xc3\xa9\"}\n");
	kcg_reply_excerpt(&r, out);
	assert_string_equal(out, "HTTP 400: {\"message\": \"bad ? ??\"}");
	kcg_reply_finish(&r);

	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r = reply(500, big);
	kcg_reply_excerpt(&r, out);
	assert_int_equal(strlen(out), KCG_ERROR_MAX - 1);
	assert_true(strncmp(out, "HTTP 500: xxx", 13) == 0);
	kcg_reply_finish(&r);

	r = reply(204, NULL);
	kcg_reply_excerpt(&r, out);
	assert_string_equal(out, "HTTP 204");

	r = (struct kcg_reply){ .transport_error = 28 };
	snprintf(r.error, sizeof(r.error), "Operation timed out after 30000 ms");
	kcg_reply_excerpt(&r, out);
	assert_string_equal(out, "timeout: Operation timed out after 30000 ms");
	r = (struct kcg_reply){ .transport_error = 7 };
	snprintf(r.error, sizeof(r.error), "Couldn't connect to server");
	kcg_reply_excerpt(&r, out);
	assert_string_equal(out, "no answer: Couldn't connect to server");
}

/* ---- building calls ---- */

static void test_or11_call(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	struct kcg_call c;
	/* 2024-01-01T10:00:00.999Z: the fraction is cut, the '+'-free 'Z' form is used. */
	struct kcg_or11_query q = { .order_ids = "A-1,B 2/x", .state_codes = "WAITING_ACCEPTANCE,SHIPPING",
				    .start_update_ms = 1704103200999ull, .offset = 200, .max = 50 };
	assert_int_equal(kcg_mirakl_or11(&cfg, &q, &c), 0);
	assert_string_equal(c.what, "OR11");
	assert_string_equal(c.method, "GET");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders?paginate=true&max=50&offset=200"
				   "&order_ids=A-1,B%202%2Fx&order_state_codes=WAITING_ACCEPTANCE,SHIPPING"
				   "&start_update_date=2024-01-01T10%3A00%3A00Z");
	assert_null(c.body);
	assert_int_equal(c.n_headers, 2);
	assert_true(has_header(&c, "Authorization: key-123"));
	assert_true(has_header(&c, "Accept: application/json"));
	assert_true(c.secret_headers);
	assert_int_equal(c.timeout_s, 17);
	kcg_call_finish(&c);
}

static void test_or11_defaults(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	cfg.base_url = "https://shop.mirakl.net/";
	cfg.shop_id = "2042";
	struct kcg_call c;
	struct kcg_or11_query q = { 0 };
	assert_int_equal(kcg_mirakl_or11(&cfg, &q, &c), 0);
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders?paginate=true&max=100&offset=0&shop_id=2042");
	kcg_call_finish(&c);
	q.max = 1000; /* clamped to Mirakl's largest page */
	assert_int_equal(kcg_mirakl_or11(&cfg, &q, &c), 0);
	assert_non_null(strstr(c.url, "&max=100&"));
	kcg_call_finish(&c);
}

/* A walk's fixed end: end_update_date rounded up to the second (the window only widens). */
static void test_or11_end_update(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	struct kcg_call c;
	struct kcg_or11_query q = { .start_update_ms = 1704103200999ull, .end_update_ms = 1704106800001ull };
	assert_int_equal(kcg_mirakl_or11(&cfg, &q, &c), 0);
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders?paginate=true&max=100&offset=0"
				   "&start_update_date=2024-01-01T10%3A00%3A00Z&end_update_date=2024-01-01T11%3A00%3A01Z");
	kcg_call_finish(&c);
	q.end_update_ms = 1704106800000ull; /* a whole second stays as it is */
	assert_int_equal(kcg_mirakl_or11(&cfg, &q, &c), 0);
	assert_non_null(strstr(c.url, "&end_update_date=2024-01-01T11%3A00%3A00Z"));
	assert_null(strstr(c.url, "order_state_codes"));
	assert_null(strstr(c.url, "order_tax_mode")); /* platform: not sent */
	kcg_call_finish(&c);
	/* [mirakl] order_tax_mode asks every OR11 for that price mode */
	cfg.order_tax_mode = KCG_TAX_INCLUDED;
	assert_int_equal(kcg_mirakl_or11(&cfg, &q, &c), 0);
	assert_non_null(strstr(c.url, "&order_tax_mode=TAX_INCLUDED"));
	kcg_call_finish(&c);
	cfg.order_tax_mode = KCG_TAX_EXCLUDED;
	assert_int_equal(kcg_mirakl_or11_one(&cfg, "O-1", &c), 0);
	assert_non_null(strstr(c.url, "order_ids=O-1") && strstr(c.url, "&order_tax_mode=TAX_EXCLUDED"));
	kcg_call_finish(&c);
}

/* How kcgate reads one order: OR11 by order_ids (OR12 is deprecated). */
static void test_or11_one(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	struct kcg_call c;
	char why[KCG_ERROR_MAX];
	assert_int_equal(kcg_mirakl_or11_one(&cfg, "A/1 \xc3\xa9", &c), 0);
	assert_string_equal(c.method, "GET");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders?paginate=true&max=1&offset=0&order_ids=A%2F1%20%C3%A9");
	kcg_call_finish(&c);
	/* a comma would ask for other orders too */
	assert_int_equal(kcg_mirakl_or11_one(&cfg, "A,B", &c), -EINVAL);
	assert_int_equal(kcg_mirakl_or11_one(&cfg, "", &c), -EINVAL);

	json_t *o = NULL;
	struct kcg_reply r = reply(200, "{\"orders\":[{\"order_id\":\"X\"},{\"order_id\":\"A\",\"order_state\":\"SHIPPING\"}],"
					"\"total_count\":2}");
	assert_int_equal(kcg_mirakl_or11_one_parse(&r, "A", &o, why), 0);
	assert_string_equal(kcg_mirakl_order_state(o), "SHIPPING");
	json_decref(o);
	o = NULL;
	assert_int_equal(kcg_mirakl_or11_one_parse(&r, "B", &o, why), KCG_ENOTFOUND);
	assert_null(o);
	assert_non_null(strstr(why, "B"));
	kcg_reply_finish(&r);
	r = reply(503, "busy");
	assert_int_equal(kcg_mirakl_or11_one_parse(&r, "A", &o, why), -EAGAIN);
	kcg_reply_finish(&r);
}

static void test_or12_call(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	cfg.shop_id = "7";
	struct kcg_call c;
	assert_int_equal(kcg_mirakl_or12(&cfg, "A/../B \xc3\xa9", &c), 0);
	assert_string_equal(c.method, "GET");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders/A%2F..%2FB%20%C3%A9?shop_id=7");
	assert_true(has_header(&c, "Authorization: key-123"));
	assert_true(c.secret_headers);
	kcg_call_finish(&c);
}

static json_t *order_with(const char *states[], size_t n)
{
	json_t *lines = json_array();
	for (size_t i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "O-1-%zu", i + 1);
		json_array_append_new(lines, json_pack("{s:s, s:s, s:s, s:i}", "order_line_id", id, "order_line_state",
						       states[i], "offer_sku", "SKU", "quantity", 1));
	}
	return json_pack("{s:s, s:s, s:o}", "order_id", "O-1", "order_state", "WAITING_ACCEPTANCE", "order_lines",
			 lines);
}

static void test_or21_call(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	struct kcg_call c;
	const char *states[] = { "WAITING_ACCEPTANCE", "REFUSED", "WAITING_ACCEPTANCE" };
	json_t *order = order_with(states, 3);
	assert_int_equal(kcg_mirakl_or21(&cfg, order, &c), 0);
	assert_string_equal(c.what, "OR21");
	assert_string_equal(c.method, "PUT");
	assert_string_equal(c.url, "https://shop.mirakl.net/api/orders/O-1/accept");
	assert_true(has_header(&c, "Authorization: key-123"));
	assert_true(has_header(&c, "Accept: application/json"));
	assert_true(has_header(&c, "Content-Type: application/json"));
	assert_true(c.secret_headers);
	assert_int_equal(c.body_len, strlen(c.body));

	json_t *body = json_loads(c.body, 0, NULL);
	assert_non_null(body);
	assert_int_equal(json_object_size(body), 1);
	json_t *dec = json_object_get(body, "order_lines");
	assert_int_equal(json_array_size(dec), 2);
	assert_true(json_is_true(json_object_get(json_array_get(dec, 0), "accepted")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(dec, 0), "id")), "O-1-1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(dec, 1), "id")), "O-1-3");
	json_decref(body);
	kcg_call_finish(&c);
	json_decref(order);
}

static void test_or21_nothing_to_accept(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	struct kcg_call c;
	const char *states[] = { "SHIPPING", "REFUSED" };
	json_t *order = order_with(states, 2);
	assert_int_equal(kcg_mirakl_or21(&cfg, order, &c), KCG_EPAYLOAD);
	assert_null(c.url);
	json_decref(order);

	const char *waiting[] = { "WAITING_ACCEPTANCE" };
	order = order_with(waiting, 1);
	json_object_del(order, "order_id");
	assert_int_equal(kcg_mirakl_or21(&cfg, order, &c), KCG_EPAYLOAD);
	json_decref(order);
}

/* Lines kcgate refuses go as accepted false; the others are accepted. */
static void test_or21_refuse_lines(void **state)
{
	struct kcg_mirakl_config cfg = test_cfg();
	struct kcg_call c;
	const char *states[] = { "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE" };
	json_t *order = order_with(states, 3), *refuse = json_pack("[s, s]", "O-1-2", "O-9-9");
	assert_int_equal(kcg_mirakl_or21_decide(&cfg, order, refuse, &c), 0);
	json_t *body = json_loads(c.body, 0, NULL);
	json_t *dec = json_object_get(body, "order_lines");
	assert_int_equal(json_array_size(dec), 3);
	assert_true(json_is_true(json_object_get(json_array_get(dec, 0), "accepted")));
	assert_true(json_is_false(json_object_get(json_array_get(dec, 1), "accepted")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(dec, 1), "id")), "O-1-2");
	assert_true(json_is_true(json_object_get(json_array_get(dec, 2), "accepted")));
	json_decref(body);
	kcg_call_finish(&c);
	json_decref(refuse);
	json_decref(order);
}

/* ---- parsing ---- */

static void test_or11_parse_ok(void **state)
{
	struct kcg_reply r = reply(200, "{\"orders\":[{\"order_id\":\"A\",\"new_field\":[1]},{\"order_id\":\"B\"}],"
					"\"total_count\":7,\"extra\":true}");
	json_t *orders = NULL;
	uint64_t total = 0;
	char why[KCG_ERROR_MAX] = "";
	assert_int_equal(kcg_mirakl_or11_parse(&r, &orders, &total, why), 0);
	assert_int_equal(json_array_size(orders), 2);
	assert_int_equal(total, 7);
	assert_string_equal(kcg_mirakl_order_id(json_array_get(orders, 1)), "B");
	json_decref(orders);
	kcg_reply_finish(&r);

	r = reply(200, "{\"orders\":[],\"total_count\":0}");
	assert_int_equal(kcg_mirakl_or11_parse(&r, &orders, &total, why), 0);
	assert_int_equal(json_array_size(orders), 0);
	json_decref(orders);
	kcg_reply_finish(&r);
}

struct outcome {
	long status;
	const char *body;
	int want;
	const char *why_has;
};

static const struct outcome common_outcomes[] = {
	{ 404, "{\"message\":\"ORDER_NOT_FOUND: order 'X' does not exist\",\"status\":404}", KCG_ENOTFOUND,
	  "ORDER_NOT_FOUND" },
	{ 400, "{\"message\":\"VALIDATION_ERROR: <bad> \\u00e9\",\"status\":400}", KCG_EPAYLOAD,
	  "HTTP 400: VALIDATION_ERROR: <bad> ??" },
	{ 401, "{\"message\":\"Unauthorized\",\"status\":401}", KCG_EPAYLOAD, "HTTP 401: Unauthorized" },
	{ 403, "<html>Forbidden</html>", KCG_EPAYLOAD, "HTTP 403: <html>Forbidden</html>" },
	{ 500, "{\"message\":\"boom\"}", -EAGAIN, "HTTP 500" },
	{ 502, "<html>bad gateway</html>", -EAGAIN, "HTTP 502" },
	{ 429, "{\"message\":\"Too Many Requests\",\"status\":429}", -EAGAIN, "HTTP 429" },
	{ 408, NULL, -EAGAIN, "HTTP 408" },
	{ 0, NULL, -EAGAIN, "timeout" },
	{ 302, NULL, KCG_EPAYLOAD, "HTTP 302" },
};

static void check_common(int (*parse)(const struct kcg_reply *r, char why[KCG_ERROR_MAX]))
{
	for (size_t i = 0; i < sizeof(common_outcomes) / sizeof(common_outcomes[0]); i++) {
		const struct outcome *o = &common_outcomes[i];
		struct kcg_reply r = reply(o->status, o->body);
		if (o->status == 0) {
			r.transport_error = 28;
			snprintf(r.error, sizeof(r.error), "Operation timed out");
		}
		char why[KCG_ERROR_MAX] = "";
		int rc = parse(&r, why);
		if (rc != o->want || !strstr(why, o->why_has))
			fail_msg("status %ld: rc %d why '%s'", o->status, rc, why);
		assert_printable(why);
		kcg_reply_finish(&r);
	}
}

static int or11_parse(const struct kcg_reply *r, char why[KCG_ERROR_MAX])
{
	json_t *orders = NULL;
	uint64_t total = 0;
	int rc = kcg_mirakl_or11_parse(r, &orders, &total, why);
	if (rc == 0)
		json_decref(orders);
	else
		assert_null(orders);
	return rc;
}

static int or12_parse(const struct kcg_reply *r, char why[KCG_ERROR_MAX])
{
	json_t *order = NULL;
	int rc = kcg_mirakl_or12_parse(r, &order, why);
	if (rc == 0)
		json_decref(order);
	else
		assert_null(order);
	return rc;
}

static void test_parse_outcomes(void **state)
{
	check_common(or11_parse);
	check_common(or12_parse);
	check_common(kcg_mirakl_or21_parse);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad11[] = {
		"", "{", "not json", "[]", "{\"orders\":{}}", "{\"orders\":[1],\"total_count\":1}",
		"{\"orders\":[],\"total_count\":-1}", "{\"orders\":[],\"total_count\":\"3\"}", "{\"orders\":[]}",
		"{\"orders\":[],\"total_count\":1,\"orders\":[]}", "{\"orders\":[],\"total_count\":1} trailing",
	};
	for (size_t i = 0; i < sizeof(bad11) / sizeof(bad11[0]); i++) {
		struct kcg_reply r = reply(200, bad11[i]);
		char why[KCG_ERROR_MAX] = "";
		if (or11_parse(&r, why) != KCG_EPAYLOAD)
			fail_msg("OR11 accepted '%s'", bad11[i]);
		assert_true(strncmp(why, "OR11: ", 6) == 0);
		assert_printable(why);
		kcg_reply_finish(&r);
	}
	static const char *const bad12[] = { "", "[1]", "\"x\"", "{\"a\":" };
	for (size_t i = 0; i < sizeof(bad12) / sizeof(bad12[0]); i++) {
		struct kcg_reply r = reply(200, bad12[i]);
		char why[KCG_ERROR_MAX] = "";
		assert_int_equal(or12_parse(&r, why), KCG_EPAYLOAD);
		kcg_reply_finish(&r);
	}
	/* OR21's success has no body at all. */
	struct kcg_reply r = reply(204, NULL);
	char why[KCG_ERROR_MAX] = "";
	assert_int_equal(kcg_mirakl_or21_parse(&r, why), 0);
	assert_false(kcg_mirakl_or21_partial_disabled(&r));

	/* all lines or none: told apart from other 400s */
	struct kcg_reply p = reply(400, "{\"message\":\"ORDER_PARTIAL_ACCEPTANCE_DISABLED: partial acceptance is "
					"disabled\",\"status\":400}");
	assert_int_equal(kcg_mirakl_or21_parse(&p, why), KCG_EPAYLOAD);
	assert_true(kcg_mirakl_or21_partial_disabled(&p));
	struct kcg_reply o = reply(400, "{\"message\":\"ORDER_INVALID_STATE\",\"status\":400}");
	assert_false(kcg_mirakl_or21_partial_disabled(&o));
	free(p.body);
	free(o.body);
}

static void test_or12_parse_ok(void **state)
{
	struct kcg_reply r = reply(200, "{\"order_id\":\"A-1\",\"order_state\":\"SHIPPING\"}");
	json_t *order = NULL;
	char why[KCG_ERROR_MAX] = "";
	assert_int_equal(kcg_mirakl_or12_parse(&r, &order, why), 0);
	assert_string_equal(kcg_mirakl_order_id(order), "A-1");
	assert_string_equal(kcg_mirakl_order_state(order), "SHIPPING");
	json_decref(order);
	kcg_reply_finish(&r);
}

/* ---- order helpers ---- */

static void test_order_helpers(void **state)
{
	const char *waiting[] = { "WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE" };
	const char *shipping[] = { "SHIPPING", "REFUSED" };
	const char *refused[] = { "REFUSED", "CANCELED" };
	const char *mixed[] = { "SHIPPING", "WAITING_ACCEPTANCE" };
	const char *newer[] = { "INCIDENT_OPEN" }; /* a state past acceptance */
	const char *debit[] = { "WAITING_DEBIT_PAYMENT" };

	json_t *o = order_with(waiting, 2);
	assert_true(kcg_mirakl_order_waiting(o));
	assert_false(kcg_mirakl_order_accepted(o));
	assert_string_equal(kcg_mirakl_order_state(o), "WAITING_ACCEPTANCE");
	json_decref(o);
	o = order_with(shipping, 2);
	assert_false(kcg_mirakl_order_waiting(o));
	assert_true(kcg_mirakl_order_accepted(o));
	json_decref(o);
	o = order_with(refused, 2);
	assert_false(kcg_mirakl_order_waiting(o));
	assert_false(kcg_mirakl_order_accepted(o));
	json_decref(o);
	o = order_with(mixed, 2);
	assert_true(kcg_mirakl_order_waiting(o));
	assert_false(kcg_mirakl_order_accepted(o));
	json_decref(o);
	o = order_with(newer, 1);
	assert_true(kcg_mirakl_order_accepted(o));
	json_decref(o);
	o = order_with(debit, 1);
	assert_true(kcg_mirakl_order_accepted(o));
	json_decref(o);
	o = order_with(NULL, 0);
	assert_false(kcg_mirakl_order_waiting(o));
	assert_false(kcg_mirakl_order_accepted(o));
	json_decref(o);

	o = json_pack("{s:i}", "order_id", 5);
	assert_null(kcg_mirakl_order_id(o));
	assert_null(kcg_mirakl_order_state(o));
	assert_false(kcg_mirakl_order_waiting(o));
	json_decref(o);
	assert_null(kcg_mirakl_order_id(NULL));
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2024-01-01T10:00:00Z", 1704103200000ull },
		{ "2024-01-01T10:00:00+00:00", 1704103200000ull },
		{ "2024-01-01T12:00:00+02:00", 1704103200000ull },
		{ "2024-01-01T05:30:00-0430", 1704103200000ull },
		{ "2024-01-01T10:00:00.5Z", 1704103200500ull },
		{ "2024-01-01T10:00:00.123456Z", 1704103200123ull },
		{ "2024-01-01T10:00Z", 1704103200000ull },
		{ "2024-01-01T10:00:00", 1704103200000ull },
		{ "2024-02-29T00:00:00Z", 1709164800000ull },
		{ "2000-02-29T00:00:00Z", 951782400000ull },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t ms = 1;
		if (kcg_mirakl_parse_time(good[i].s, &ms) != 0 || ms != good[i].ms)
			fail_msg("%s -> %llu", good[i].s, (unsigned long long)ms);
	}
	static const char *const bad[] = {
		"", "2024", "2024-01-01", "2024-01-01 10:00:00Z", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
		"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:00:00.Z",
		"2024-01-01T10:00:00+25:00", "2024-01-01T10:00:00Zjunk", "1969-12-31T23:59:59Z",
		"2024-01-01T10:00:00+01", "+2024-01-01T10:00:00Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 77;
		if (kcg_mirakl_parse_time(bad[i], &ms) != -EINVAL || ms != 77)
			fail_msg("accepted '%s'", bad[i]);
	}
	uint64_t ms;
	assert_int_equal(kcg_mirakl_parse_time(NULL, &ms), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_escape),
		cmocka_unit_test(test_call_headers),
		cmocka_unit_test(test_reply_transient),
		cmocka_unit_test(test_reply_excerpt),
		cmocka_unit_test(test_or11_call),
		cmocka_unit_test(test_or11_defaults),
		cmocka_unit_test(test_or11_end_update),
		cmocka_unit_test(test_or11_one),
		cmocka_unit_test(test_or12_call),
		cmocka_unit_test(test_or21_call),
		cmocka_unit_test(test_or21_nothing_to_accept),
		cmocka_unit_test(test_or21_refuse_lines),
		cmocka_unit_test(test_or11_parse_ok),
		cmocka_unit_test(test_parse_outcomes),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_or12_parse_ok),
		cmocka_unit_test(test_order_helpers),
		cmocka_unit_test(test_parse_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
