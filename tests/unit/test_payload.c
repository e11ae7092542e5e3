/*
 * test_payload.c: the shape rules of src/payload.c (Mirakl bodies, inriver
 * listener bodies, CloudEvents envelopes), with the exact messages that end
 * up in 400 answers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "kcgate/common.h"
#include "kcgate/payload.h"

/* Every why must be safe to put in a JSON answer: printable ASCII, NUL-terminated in place. */
static void assert_clean(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	assert_true(n < cap);
	for (size_t i = 0; i < n; i++)
		assert_true(s[i] >= 0x20 && s[i] < 0x7f);
}

static int mirakl(const char *body, char kind[KCG_KIND_MAX], char why[KCG_ERROR_MAX])
{
	int r;

	memset(kind, 'K', KCG_KIND_MAX);
	memset(why, 'W', KCG_ERROR_MAX);
	r = kcg_payload_mirakl(body, strlen(body), kind, why);
	assert_clean(kind, KCG_KIND_MAX);
	assert_clean(why, KCG_ERROR_MAX);
	return r;
}

static void mirakl_ok(const char *body, const char *want_kind)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];
	int r = mirakl(body, kind, why);

	if (r != 0)
		print_error("unexpected failure for %s: %s\n", body, why);
	assert_int_equal(r, 0);
	assert_string_equal(kind, want_kind);
}

static void mirakl_bad(const char *body, int want_rc, const char *want_why)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];

	assert_int_equal(mirakl(body, kind, why), want_rc);
	assert_string_equal(why, want_why);
	assert_string_equal(kind, "webhook");
}

static int inriver(enum kcg_inriver_event ev, bool ce, const char *body, char why[KCG_ERROR_MAX])
{
	int r;

	memset(why, 'W', KCG_ERROR_MAX);
	r = kcg_payload_inriver(ev, ce, body, strlen(body), why);
	assert_clean(why, KCG_ERROR_MAX);
	return r;
}

static void inriver_ok(enum kcg_inriver_event ev, bool ce, const char *body)
{
	char why[KCG_ERROR_MAX];
	int r = inriver(ev, ce, body, why);

	if (r != 0)
		print_error("unexpected failure for %s: %s\n", body, why);
	assert_int_equal(r, 0);
}

static void inriver_bad(enum kcg_inriver_event ev, bool ce, const char *body, const char *want_why)
{
	char why[KCG_ERROR_MAX];
	int r = inriver(ev, ce, body, why);

	if (r != KCG_EPAYLOAD || strcmp(why, want_why) != 0)
		print_error("body %s: rc %d why \"%s\", wanted \"%s\"\n", body, r, why, want_why);
	assert_int_equal(r, KCG_EPAYLOAD);
	assert_string_equal(why, want_why);
}

/* The valid bodies of peers.md section 2. */
#define GUID "\"3f2504e0-4f89-11d3-9a0c-0305e82c3301\""
#define TS "\"2024-12-31T19:00:00.000Z\""
static const char *const valid[] = {
	[KCG_INRIVER_ENTITY_CREATED] = "{\"id\":" GUID ",\"numericId\":42,\"timestamp\":" TS "}",
	[KCG_INRIVER_ENTITY_UPDATED] = "{\"id\":" GUID ",\"numericId\":42,\"timestamp\":" TS
				       ",\"fields\":[{\"fieldTypeId\":\"ItemName\"},"
				       "{\"fieldTypeId\":\"ItemNumber\"}]}",
	[KCG_INRIVER_ENTITY_DELETED] = "{\"id\":" GUID ",\"numericId\":42,\"timestamp\":" TS
				       ",\"entityTypeId\":\"Item\",\"displayName\":\"Red shirt\","
				       "\"fieldSetId\":null}",
	[KCG_INRIVER_LINK_CREATED] = "{\"id\":\"1234\",\"timestamp\":" TS "}",
	[KCG_INRIVER_LINK_DELETED] = "{\"id\":1234,\"timestamp\":" TS ",\"linkTypeId\":\"ProductItem\","
				     "\"sourceEntityNumericId\":1,\"sourceEntityTypeId\":\"Product\","
				     "\"targetEntityNumericId\":2,\"targetEntityTypeId\":\"Item\","
				     "\"index\":0,\"inactive\":false}",
};

/* A valid body with one field changed: @p value NULL deletes it. Caller frees. */
static char *edit(enum kcg_inriver_event ev, const char *field, json_t *value)
{
	json_t *o = json_loads(valid[ev], 0, NULL);
	char *s;

	assert_non_null(o);
	if (value)
		json_object_set_new(o, field, value);
	else
		json_object_del(o, field);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	assert_non_null(s);
	return s;
}

/* Wraps @p payload (a JSON text) as a CloudEvents envelope. Caller frees. */
static char *envelope(const char *payload)
{
	const char *fmt = "{\"specversion\":\"1.0\",\"type\":\"com.inriver.entity\",\"source\":"
			  "\"/inriver\",\"id\":\"e1\",\"data\":%s}";
	size_t n = strlen(fmt) + strlen(payload) + 1;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, fmt, payload);
	return s;
}

/* ---- Mirakl -------------------------------------------------------------- */

static void test_mirakl_object(void **state)
{
	mirakl_ok("{\"order_id\":\"A-1\"}", "webhook");
	mirakl_ok("{}", "webhook");
	/* A Mirakl Connect envelope: the kind is its type. */
	mirakl_ok("{\"id\":\"01HZY6X5T8K3N4P5Q6R7S8T9VW\",\"time\":\"2024-01-01T10:00:00Z\","
		  "\"type\":\"ORDER_CREATED\",\"data\":{\"order_id\":\"A-1\"}}",
		  "ORDER_CREATED");
	mirakl_ok(" \r\n\t{\"type\":\"x\"} \n", "x");
	mirakl_ok("{\"type\":\"\"}", "webhook");
	mirakl_ok("{\"data\":{\"type\":5}}", "webhook"); /* only the top-level type counts */
}

static void test_mirakl_array(void **state)
{
	mirakl_ok("[{\"type\":\"ORDER_UPDATED\"},{\"type\":\"OTHER\"}]", "ORDER_UPDATED");
	mirakl_ok("[{\"order_id\":\"A-1\"},{\"type\":\"OTHER\"}]", "webhook");
	mirakl_ok("[{}]", "webhook");
	/* Only the first object's type is read, so only it is checked. */
	mirakl_ok("[{\"type\":\"A\"},{\"type\":7}]", "A");
	mirakl_bad("[]", KCG_EPAYLOAD, "expected at least one event in the array");
	mirakl_bad("[{},{},{},1]", KCG_EPAYLOAD, "[3]: expected an object");
	mirakl_bad("[[]]", KCG_EPAYLOAD, "[0]: expected an object");
	mirakl_bad("[{}, null]", KCG_EPAYLOAD, "[1]: expected an object");
	mirakl_bad("[{\"type\":[]}]", KCG_EPAYLOAD, "[0].type: expected a string");
}

static char *array_of(size_t n)
{
	char *s = malloc(3 * n + 2);
	size_t k = 0;

	assert_non_null(s);
	s[k++] = '[';
	for (size_t i = 0; i < n; i++) {
		if (i)
			s[k++] = ',';
		s[k++] = '{';
		s[k++] = '}';
	}
	s[k++] = ']';
	s[k] = '\0';
	return s;
}

static void test_mirakl_array_limit(void **state)
{
	char *s = array_of(10000);

	mirakl_ok(s, "webhook");
	free(s);
	s = array_of(10001);
	mirakl_bad(s, KCG_EPAYLOAD, "too many events in one array (limit 10000)");
	free(s);
}

static void test_mirakl_not_object(void **state)
{
	const char *want = "expected a JSON object or an array of objects";

	mirakl_bad("42", KCG_EPAYLOAD, want);
	mirakl_bad("\"x\"", KCG_EPAYLOAD, want);
	mirakl_bad("null", KCG_EPAYLOAD, want);
	mirakl_bad("true", KCG_EPAYLOAD, want);
}

static void test_mirakl_type(void **state)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];
	char body[256];
	char want[KCG_KIND_MAX];

	mirakl_bad("{\"type\":5}", KCG_EPAYLOAD, "type: expected a string");
	mirakl_bad("{\"type\":null}", KCG_EPAYLOAD, "type: expected a string");
	mirakl_bad("{\"type\":{\"a\":1}}", KCG_EPAYLOAD, "type: expected a string");
	/* Non-printable and non-ASCII bytes are dropped. */
	mirakl_ok("{\"type\":\"a\\u00e9b\\tc\\u0001d\"}", "abcd");
	mirakl_ok("{\"type\":\"\xc3\xa9\\n\"}", "webhook");
	/* Cut to KCG_KIND_MAX - 1 bytes. */
	memset(want, 'T', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"type\":\"%sEXTRA\"}", want);
	assert_int_equal(mirakl(body, kind, why), 0);
	assert_int_equal(strlen(kind), KCG_KIND_MAX - 1);
	assert_string_equal(kind, want);
}

static void test_mirakl_invalid_json(void **state)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];

	mirakl_bad("{\"a\":", KCG_EJSON, "invalid JSON at line 1, column 5: unexpected token near end of file");
	mirakl_bad("{} x", KCG_EJSON, "invalid JSON at line 1, column 4: end of file expected near 'x'");
	mirakl_bad("[{}] []", KCG_EJSON, "invalid JSON at line 1, column 6: end of file expected near '['");
	mirakl_bad("", KCG_EJSON, "invalid JSON at line 1, column 0: unexpected token near end of file");
	mirakl_bad("{\"a\"\n:\n\"x\x01\"}", KCG_EJSON,
		   "invalid JSON at line 3, column 2: control character 0x1 near '\"x'");
	mirakl_bad("{\"a\":1,\"b\":[1,2,}", KCG_EJSON,
		   "invalid JSON at line 1, column 17: unexpected token near '}'");
	/* Non-ASCII quoted back from the input is masked. */
	mirakl_bad("{\"a\": \xc3\xa9}", KCG_EJSON, "invalid JSON at line 1, column 7: invalid token near '?\?'");
	mirakl_bad("\xff", KCG_EJSON, "invalid JSON at line 1, column 0: unable to decode byte 0xff");
	mirakl_bad("{\"a\":\"\\u0000\"}", KCG_EJSON,
		   "invalid JSON at line 1, column 13: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"'");
	mirakl_bad("{\"a\":99999999999999999999}", KCG_EJSON,
		   "invalid JSON at line 1, column 25: too big integer near '99999999999999999999'");

	/* A NUL byte inside the length is trailing garbage, not an end. */
	memset(why, 0, sizeof(why));
	assert_int_equal(kcg_payload_mirakl("{}\0", 3, kind, why), KCG_EJSON);
	assert_int_equal(kcg_payload_mirakl("{}\0", 2, kind, why), 0);
	/* NULL body is an empty body. */
	assert_int_equal(kcg_payload_mirakl(NULL, 0, kind, why), KCG_EJSON);
	assert_int_equal(kcg_payload_mirakl(NULL, 10, kind, why), KCG_EJSON);
	/* The length bounds the read: the rest of the buffer is not looked at. */
	assert_int_equal(kcg_payload_mirakl("{\"type\":\"ab\"}garbage", 13, kind, why), 0);
	assert_string_equal(kind, "ab");
}

static void test_mirakl_duplicates(void **state)
{
	mirakl_bad("{\"a\":1,\"a\":2}", KCG_EPAYLOAD, "at line 1, column 10: duplicate object key near '\"a\"'");
	mirakl_bad("[{\"type\":\"x\",\"type\":\"y\"}]", KCG_EPAYLOAD,
		   "at line 1, column 19: duplicate object key near '\"type\"'");
	/* The same key in different objects is fine. */
	mirakl_ok("[{\"type\":\"x\"},{\"type\":\"y\"}]", "x");
}

static char *nested(size_t depth)
{
	char *s = malloc(2 * depth + 1);

	assert_non_null(s);
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	return s;
}

static void test_mirakl_deep(void **state)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];
	char *s = nested(100000);

	assert_int_equal(mirakl(s, kind, why), KCG_EJSON);
	assert_string_equal(why, "invalid JSON at line 1, column 2049: maximum parsing depth reached near '['");
	free(s);
	/* Within jansson's depth, still a shape error: [[...]] is not an array of objects. */
	s = nested(1000);
	mirakl_bad(s, KCG_EPAYLOAD, "[0]: expected an object");
	free(s);
}

static void test_mirakl_position(void **state)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];
	size_t n = 100000;
	char *s = malloc(n + 4);

	/* The position is jansson's line and column, so a sender can find the spot. */
	assert_non_null(s);
	s[0] = '{';
	memset(s + 1, '\n', n);
	memcpy(s + 1 + n, "1}", 3);
	assert_int_equal(mirakl(s, kind, why), KCG_EJSON);
	assert_string_equal(why, "invalid JSON at line 100001, column 1: string or '}' expected near '1'");
	free(s);
	/* jansson leaves out "near" for long tokens, so messages stay short. */
	mirakl_bad("{\"a\":tttttttttttttttttttttttttttttt}", KCG_EJSON,
		   "invalid JSON at line 1, column 35: invalid token");
}

/* ---- inriver ------------------------------------------------------------- */

static void test_inriver_names(void **state)
{
	assert_string_equal(kcg_inriver_event_name(KCG_INRIVER_ENTITY_CREATED), "EntityCreated");
	assert_string_equal(kcg_inriver_event_name(KCG_INRIVER_ENTITY_UPDATED), "EntityUpdated");
	assert_string_equal(kcg_inriver_event_name(KCG_INRIVER_ENTITY_DELETED), "EntityDeleted");
	assert_string_equal(kcg_inriver_event_name(KCG_INRIVER_LINK_CREATED), "LinkCreated");
	assert_string_equal(kcg_inriver_event_name(KCG_INRIVER_LINK_DELETED), "LinkDeleted");
	assert_string_equal(kcg_inriver_event_name((enum kcg_inriver_event)99), "unknown");
}

static void test_inriver_valid(void **state)
{
	for (int ev = 0; ev <= KCG_INRIVER_LINK_DELETED; ev++) {
		char *ce = envelope(valid[ev]);

		inriver_ok(ev, false, valid[ev]);
		inriver_ok(ev, true, ce);
		inriver_ok(ev, false, ce); /* recognised without the Content-Type */
		free(ce);
	}
	/* Bodies with more fields than the others need are valid for those too. */
	inriver_ok(KCG_INRIVER_ENTITY_CREATED, false, valid[KCG_INRIVER_ENTITY_DELETED]);
	inriver_ok(KCG_INRIVER_LINK_CREATED, false, valid[KCG_INRIVER_ENTITY_CREATED]);
}

static void test_inriver_unknown_fields(void **state)
{
	char *s = edit(KCG_INRIVER_ENTITY_CREATED, "vendorExtra", json_pack("{s:[i]}", "x", 1));

	inriver_ok(KCG_INRIVER_ENTITY_CREATED, false, s);
	free(s);
	inriver_ok(KCG_INRIVER_ENTITY_UPDATED, false,
		   "{\"id\":\"g\",\"numericId\":1,\"timestamp\":\"t\",\"fields\":"
		   "[{\"fieldTypeId\":\"A\",\"value\":null,\"extra\":1}]}");
}

/* Each event's required fields: which, and what a wrong value is called. */
struct req {
	enum kcg_inriver_event ev;
	const char *field;
	const char *wrong_json; /* a value of the wrong type */
	const char *wrong_why;  /* the message after "<field>: " */
};

static const struct req reqs[] = {
	{ KCG_INRIVER_ENTITY_CREATED, "id", "42", "expected a string" },
	{ KCG_INRIVER_ENTITY_CREATED, "numericId", "\"42\"", "expected an integer" },
	{ KCG_INRIVER_ENTITY_CREATED, "timestamp", "1735671600", "expected a string" },
	{ KCG_INRIVER_ENTITY_UPDATED, "id", "null", "expected a string" },
	{ KCG_INRIVER_ENTITY_UPDATED, "numericId", "42.0", "expected an integer" },
	{ KCG_INRIVER_ENTITY_UPDATED, "timestamp", "{}", "expected a string" },
	{ KCG_INRIVER_ENTITY_UPDATED, "fields", "{\"fieldTypeId\":\"A\"}", "expected an array" },
	{ KCG_INRIVER_ENTITY_DELETED, "id", "[]", "expected a string" },
	{ KCG_INRIVER_ENTITY_DELETED, "numericId", "true", "expected an integer" },
	{ KCG_INRIVER_ENTITY_DELETED, "timestamp", "null", "expected a string" },
	{ KCG_INRIVER_ENTITY_DELETED, "entityTypeId", "3", "expected a string" },
	{ KCG_INRIVER_LINK_CREATED, "id", "1.5", "expected a string or an integer" },
	{ KCG_INRIVER_LINK_CREATED, "timestamp", "false", "expected a string" },
	{ KCG_INRIVER_LINK_DELETED, "id", "true", "expected a string or an integer" },
	{ KCG_INRIVER_LINK_DELETED, "timestamp", "0", "expected a string" },
	{ KCG_INRIVER_LINK_DELETED, "linkTypeId", "null", "expected a string" },
	{ KCG_INRIVER_LINK_DELETED, "sourceEntityNumericId", "\"1\"", "expected an integer" },
	{ KCG_INRIVER_LINK_DELETED, "sourceEntityTypeId", "1", "expected a string" },
	{ KCG_INRIVER_LINK_DELETED, "targetEntityNumericId", "2.5", "expected an integer" },
	{ KCG_INRIVER_LINK_DELETED, "targetEntityTypeId", "[\"Item\"]", "expected a string" },
	{ KCG_INRIVER_LINK_DELETED, "index", "\"0\"", "expected an integer" },
	{ KCG_INRIVER_LINK_DELETED, "inactive", "0", "expected a boolean" },
};

static void test_inriver_required(void **state)
{
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		const struct req *r = &reqs[i];
		char want[KCG_ERROR_MAX];
		char *s = edit(r->ev, r->field, NULL);
		char *ce = envelope(s);

		snprintf(want, sizeof(want), "%s: required", r->field);
		inriver_bad(r->ev, false, s, want);
		snprintf(want, sizeof(want), "data.%s: required", r->field);
		inriver_bad(r->ev, true, ce, want);
		inriver_bad(r->ev, false, ce, want);
		free(ce);
		free(s);
	}
}

static void test_inriver_types(void **state)
{
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		const struct req *r = &reqs[i];
		char want[KCG_ERROR_MAX];
		json_t *v = json_loads(r->wrong_json, JSON_DECODE_ANY, NULL);
		char *s, *ce;

		assert_non_null(v);
		s = edit(r->ev, r->field, v);
		ce = envelope(s);
		snprintf(want, sizeof(want), "%s: %s", r->field, r->wrong_why);
		inriver_bad(r->ev, false, s, want);
		snprintf(want, sizeof(want), "data.%s: %s", r->field, r->wrong_why);
		inriver_bad(r->ev, true, ce, want);
		free(ce);
		free(s);
	}
}

static void test_inriver_messages(void **state)
{
	/* A representative set, spelled out. */
	inriver_bad(KCG_INRIVER_ENTITY_CREATED, false, "{\"id\":\"g\",\"timestamp\":\"t\"}", "numericId: required");
	inriver_bad(KCG_INRIVER_ENTITY_CREATED, false, "{\"id\":\"g\",\"numericId\":\"42\",\"timestamp\":\"t\"}",
		    "numericId: expected an integer");
	inriver_bad(KCG_INRIVER_ENTITY_CREATED, false, "{}", "id: required");
	inriver_bad(KCG_INRIVER_ENTITY_CREATED, false, "{\"id\":\"\",\"numericId\":1,\"timestamp\":\"t\"}",
		    "id: must not be empty");
	inriver_bad(KCG_INRIVER_LINK_CREATED, false, "{\"id\":\"\",\"timestamp\":\"t\"}", "id: must not be empty");
	inriver_bad(KCG_INRIVER_LINK_DELETED, false, valid[KCG_INRIVER_LINK_CREATED], "linkTypeId: required");
	inriver_bad(KCG_INRIVER_ENTITY_DELETED, false, valid[KCG_INRIVER_ENTITY_CREATED], "entityTypeId: required");
	/* Integers beyond int64 never reach the schema (jansson refuses them). */
	inriver_ok(KCG_INRIVER_ENTITY_CREATED, false,
		   "{\"id\":\"g\",\"numericId\":-9223372036854775808,\"timestamp\":\"t\"}");
}

static void test_inriver_optional(void **state)
{
	const enum kcg_inriver_event ev = KCG_INRIVER_ENTITY_DELETED;
	char *s;

	s = edit(ev, "displayName", NULL);
	inriver_ok(ev, false, s);
	free(s);
	s = edit(ev, "fieldSetId", json_string("Default"));
	inriver_ok(ev, false, s);
	free(s);
	s = edit(ev, "displayName", json_null());
	inriver_ok(ev, false, s);
	free(s);
	s = edit(ev, "displayName", json_integer(5));
	inriver_bad(ev, false, s, "displayName: expected a string or null");
	free(s);
	s = edit(ev, "fieldSetId", json_array());
	inriver_bad(ev, false, s, "fieldSetId: expected a string or null");
	free(s);
}

static void test_inriver_fields(void **state)
{
	const enum kcg_inriver_event ev = KCG_INRIVER_ENTITY_UPDATED;
	const char *pre = "{\"id\":\"g\",\"numericId\":1,\"timestamp\":\"t\",\"fields\":";
	char body[256], *ce;

	snprintf(body, sizeof(body), "%s[]}", pre);
	inriver_ok(ev, false, body);
	snprintf(body, sizeof(body), "%s[{\"fieldTypeId\":\"A\"},{\"fieldTypeId\":\"B\"},{\"fieldTypeId\":3}]}", pre);
	inriver_bad(ev, false, body, "fields[2].fieldTypeId: expected a string");
	ce = envelope(body);
	inriver_bad(ev, true, ce, "data.fields[2].fieldTypeId: expected a string");
	free(ce);
	snprintf(body, sizeof(body), "%s[{\"fieldTypeId\":\"A\"},{}]}", pre);
	inriver_bad(ev, false, body, "fields[1].fieldTypeId: required");
	snprintf(body, sizeof(body), "%s[{\"fieldTypeId\":\"A\"},\"B\"]}", pre);
	inriver_bad(ev, false, body, "fields[1]: expected an object");
	snprintf(body, sizeof(body), "%snull}", pre);
	inriver_bad(ev, false, body, "fields: expected an array");
}

static void test_inriver_link_ids(void **state)
{
	inriver_ok(KCG_INRIVER_LINK_CREATED, false, "{\"id\":7,\"timestamp\":\"t\"}");
	inriver_ok(KCG_INRIVER_LINK_CREATED, false, "{\"id\":\"7\",\"timestamp\":\"t\"}");
	inriver_bad(KCG_INRIVER_LINK_CREATED, false, "{\"id\":7.0,\"timestamp\":\"t\"}",
		    "id: expected a string or an integer");
	/* Entity ids are strings only. */
	inriver_bad(KCG_INRIVER_ENTITY_CREATED, false, "{\"id\":7,\"numericId\":1,\"timestamp\":\"t\"}",
		    "id: expected a string");
}

static void test_inriver_not_object(void **state)
{
	char why[KCG_ERROR_MAX];

	inriver_bad(KCG_INRIVER_ENTITY_CREATED, false, "[]", "expected a JSON object");
	inriver_bad(KCG_INRIVER_ENTITY_CREATED, false, "42",
		    "expected a JSON object");
	inriver_bad(KCG_INRIVER_LINK_DELETED, true, "null", "expected a JSON object");
	assert_int_equal(inriver(KCG_INRIVER_ENTITY_CREATED, false, "{\"id\":", why), KCG_EJSON);
	assert_string_equal(why, "invalid JSON at line 1, column 6: unexpected token near end of file");
	assert_int_equal(inriver(KCG_INRIVER_ENTITY_CREATED, false, "{\"id\":\"a\",\"id\":\"b\"}", why), KCG_EPAYLOAD);
	assert_string_equal(why, "at line 1, column 14: duplicate object key near '\"id\"'");
	assert_int_equal(kcg_payload_inriver(KCG_INRIVER_ENTITY_CREATED, false, NULL, 0, why), KCG_EJSON);
	assert_int_equal(kcg_payload_inriver((enum kcg_inriver_event)5, false, "{}", 2, why), -EINVAL);
	assert_int_equal(kcg_payload_inriver((enum kcg_inriver_event)-1, false, "{}", 2, why), -EINVAL);
}

static void test_inriver_cloudevents(void **state)
{
	const enum kcg_inriver_event ev = KCG_INRIVER_ENTITY_CREATED;
	const char *body = valid[ev];
	char buf[512];

	/* Content-Type says CloudEvents but the body is bare. */
	inriver_bad(ev, true, body, "specversion: required");
	inriver_bad(ev, true, "{\"specversion\":1.0,\"data\":{}}", "specversion: expected a string");
	inriver_bad(ev, true, "{\"specversion\":\"1.0\"}", "data: required");
	inriver_bad(ev, true, "{\"specversion\":\"1.0\",\"data\":\"{}\"}", "data: expected an object");
	inriver_bad(ev, false, "{\"specversion\":\"1.0\",\"data\":[]}", "data: expected an object");
	inriver_bad(ev, false, "{\"specversion\":\"1.0\",\"data\":null}", "data: expected an object");
	inriver_bad(ev, true, "{\"specversion\":\"1.0\",\"data\":{\"id\":\"g\",\"numericId\":\"1\"}}",
		    "data.numericId: expected an integer");
	/* Without the flag, it takes a string specversion and a data member to be an envelope. */
	inriver_bad(ev, false, "{\"specversion\":\"1.0\"}", "id: required");
	inriver_bad(ev, false, "{\"specversion\":1,\"data\":{}}", "id: required");
	inriver_bad(ev, false, "{\"data\":{}}", "id: required");
	/* A bare body with vendor fields named like envelope fields is still bare. */
	snprintf(buf, sizeof(buf), "{\"id\":\"g\",\"numericId\":1,\"timestamp\":\"t\",\"specversion\":2}");
	inriver_ok(ev, false, buf);
	/* The envelope's own id/type do not stand in for the payload's. */
	inriver_bad(ev, true, "{\"specversion\":\"1.0\",\"id\":\"x\",\"data\":{}}", "data.id: required");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mirakl_object),
		cmocka_unit_test(test_mirakl_array),
		cmocka_unit_test(test_mirakl_array_limit),
		cmocka_unit_test(test_mirakl_not_object),
		cmocka_unit_test(test_mirakl_type),
		cmocka_unit_test(test_mirakl_invalid_json),
		cmocka_unit_test(test_mirakl_duplicates),
		cmocka_unit_test(test_mirakl_deep),
		cmocka_unit_test(test_mirakl_position),
		cmocka_unit_test(test_inriver_names),
		cmocka_unit_test(test_inriver_valid),
		cmocka_unit_test(test_inriver_unknown_fields),
		cmocka_unit_test(test_inriver_required),
		cmocka_unit_test(test_inriver_types),
		cmocka_unit_test(test_inriver_messages),
		cmocka_unit_test(test_inriver_optional),
		cmocka_unit_test(test_inriver_fields),
		cmocka_unit_test(test_inriver_link_ids),
		cmocka_unit_test(test_inriver_not_object),
		cmocka_unit_test(test_inriver_cloudevents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
