/*
 * test_inriver_client.c: the inriver REST client: every call's method, URL,
 * X-inRiver-APIKey (secret) and body; the PUT carries exactly the values
 * given; answers read, bounded and refused with precise reasons; 429 and
 * 5xx transient, 404 not found.
 */
#include "net_fixtures.h"

#include <errno.h>
#include <stdio.h>

#include "kcgate/peers/inriver.h"

static struct kcg_inriver_config cfg = { .base_url = "https://ir.example/", .api_key = "ik-secret",
					 .entity_type = "Item", .sku_field = "ItemNumber", .timeout_s = 30 };

static void test_calls(void **state)
{
	(void)state;
	struct kcg_call c;
	assert_int_equal(kcg_inriver_summary(&cfg, 42, &c), 0);
	assert_string_equal(c.method, "GET");
	assert_string_equal(c.url, "https://ir.example/api/v1.0.0/entities/42/summary");
	assert_string_equal(header(&c, "X-inRiver-APIKey"), "ik-secret");
	assert_true(c.secret_headers);
	kcg_call_finish(&c);
	assert_int_equal(kcg_inriver_summary(&cfg, 0, &c), -EINVAL);

	const char *f[] = { "ItemNumber", "Odd,Name" };
	assert_int_equal(kcg_inriver_fields_get(&cfg, 7, f, 2, &c), 0);
	assert_string_equal(c.url, "https://ir.example/api/v1.0.0/entities/7/fieldvalues?fieldTypeIds=ItemNumber,Odd%2CName");
	kcg_call_finish(&c);

	assert_int_equal(kcg_inriver_query_sku(&cfg, "SKU \"1\"", &c), 0);
	assert_string_equal(c.method, "POST");
	assert_string_equal(c.url, "https://ir.example/api/v1.0.0/query");
	assert_string_equal(c.body, "{\"systemCriteria\":[{\"type\":\"EntityTypeId\",\"value\":\"Item\",\"operator\":\"Equal\"}],"
				    "\"dataCriteria\":[{\"fieldTypeId\":\"ItemNumber\",\"value\":\"SKU \\\"1\\\"\",\"operator\":\"Equal\"}]}");
	assert_string_equal(header(&c, "Content-Type"), "application/json");
	kcg_call_finish(&c);

	assert_int_equal(kcg_inriver_query_modified(&cfg, 1735671600000ULL, &c), 0);
	assert_non_null(strstr(c.body, "{\"type\":\"LastModified\",\"operator\":\"GreaterThan\",\"value\":\"2024-12-31T19:00:00.000Z\"}"));
	kcg_call_finish(&c);

	const char *vals[] = { "A", "B" };
	assert_int_equal(kcg_inriver_map(&cfg, vals, 2, &c), 0);
	assert_string_equal(c.url, "https://ir.example/api/v1.0.0/entities:mapuniquevalues");
	assert_string_equal(c.body, "{\"fieldTypeId\":\"ItemNumber\",\"uniqueValues\":[\"A\",\"B\"]}");
	kcg_call_finish(&c);
	assert_int_equal(kcg_inriver_map(&cfg, vals, 0, &c), -EINVAL);
	assert_int_equal(kcg_inriver_map(&cfg, vals, KCG_INRIVER_MAP_BATCH + 1, &c), -EINVAL);

	assert_int_equal(kcg_inriver_getempty(&cfg, &c), 0);
	assert_string_equal(c.url, "https://ir.example/api/v1.0.0/entities:getempty?entityTypeId=Item");
	kcg_call_finish(&c);
}

/* The PUT names exactly the fields given, in key order, and nothing else. */
static void test_put(void **state)
{
	(void)state;
	struct kcg_call c;
	json_t *v = json_pack("{s:s, s:i, s:n}", "KhaosStatus", "OK", "KhaosAvailable", 7, "KhaosPrice");
	assert_int_equal(kcg_inriver_fields_put(&cfg, 9, v, &c), 0);
	assert_string_equal(c.method, "PUT");
	assert_string_equal(c.url, "https://ir.example/api/v1.0.0/entities/9/fieldvalues");
	assert_string_equal(c.body, "[{\"fieldTypeId\":\"KhaosAvailable\",\"value\":7},{\"fieldTypeId\":\"KhaosPrice\","
				    "\"value\":null},{\"fieldTypeId\":\"KhaosStatus\",\"value\":\"OK\"}]");
	kcg_call_finish(&c);
	json_t *empty = json_object(), *nested = json_pack("{s:{}}", "X");
	assert_int_equal(kcg_inriver_fields_put(&cfg, 9, empty, &c), -EINVAL);
	assert_int_equal(kcg_inriver_fields_put(&cfg, 9, nested, &c), -EINVAL);
	assert_int_equal(kcg_inriver_fields_put(&cfg, 0, v, &c), -EINVAL);
	json_decref(v), json_decref(empty), json_decref(nested);

	json_t *model = json_pack("{s:s, s:[{s:s, s:n}, {s:s, s:n}]}", "entityTypeId", "Item", "fieldValues", "fieldTypeId",
				  "ItemNumber", "value", "fieldTypeId", "ItemName", "value");
	json_t *set = json_pack("{s:s, s:s}", "ItemNumber", "SKU-9", "KhaosStatus", "OK");
	assert_int_equal(kcg_inriver_createnew(&cfg, model, set, &c), 0);
	assert_string_equal(c.body, "{\"entityTypeId\":\"Item\",\"fieldValues\":[{\"fieldTypeId\":\"ItemNumber\",\"value\":"
				    "\"SKU-9\"},{\"fieldTypeId\":\"ItemName\",\"value\":null},{\"fieldTypeId\":"
				    "\"KhaosStatus\",\"value\":\"OK\"}]}");
	kcg_call_finish(&c);
	json_decref(model), json_decref(set);
}

static void test_answers(void **state)
{
	(void)state;
	char why[KCG_ERROR_MAX], type[KCG_INRIVER_FIELD_MAX];
	struct kcg_reply r = reply(200, "{\"id\":42,\"entityTypeId\":\"Item\",\"displayName\":\"x\"}");
	assert_int_equal(kcg_inriver_summary_parse(&r, type, why), 0);
	assert_string_equal(type, "Item");
	kcg_reply_finish(&r);
	r = reply(200, "{\"id\":42}");
	assert_int_equal(kcg_inriver_summary_parse(&r, type, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "entityTypeId"));
	assert_printable(why);
	kcg_reply_finish(&r);

	json_t *vals;
	r = reply(200, "[{\"fieldTypeId\":\"ItemNumber\",\"value\":\"SKU-1\"},{\"fieldTypeId\":\"X\",\"value\":null}]");
	assert_int_equal(kcg_inriver_fields_get_parse(&r, &vals, why), 0);
	assert_string_equal(json_string_value(json_object_get(vals, "ItemNumber")), "SKU-1");
	assert_true(json_is_null(json_object_get(vals, "X")));
	json_decref(vals);
	kcg_reply_finish(&r);
	r = reply(200, "[{\"fieldTypeId\":5}]");
	assert_int_equal(kcg_inriver_fields_get_parse(&r, &vals, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "[0].fieldTypeId"));
	kcg_reply_finish(&r);

	json_t *ids;
	r = reply(200, "{\"count\":2,\"entityIds\":[3,\"4\"]}");
	assert_int_equal(kcg_inriver_query_parse(&r, 10, &ids, why), 0);
	assert_int_equal(json_array_size(ids), 2);
	assert_int_equal(json_integer_value(json_array_get(ids, 1)), 4);
	json_decref(ids);
	assert_int_equal(kcg_inriver_query_parse(&r, 1, &ids, why), KCG_EPAYLOAD); /* the bound */
	assert_non_null(strstr(why, "max_items"));
	kcg_reply_finish(&r);
	r = reply(200, "{\"entityIds\":[0]}");
	assert_int_equal(kcg_inriver_query_parse(&r, 10, &ids, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "entityIds[0]"));
	kcg_reply_finish(&r);

	json_t *map;
	r = reply(200, "{\"A\":1,\"B\":[2,3],\"C\":null,\"D\":[]}");
	assert_int_equal(kcg_inriver_map_parse(&r, &map, why), 0);
	assert_int_equal(json_object_size(map), 2); /* absent means not held */
	assert_int_equal(json_array_size(json_object_get(map, "B")), 2);
	json_decref(map);
	kcg_reply_finish(&r);
	r = reply(200, "{\"A\":\"x\"}");
	assert_int_equal(kcg_inriver_map_parse(&r, &map, why), KCG_EPAYLOAD);
	kcg_reply_finish(&r);

	uint64_t id = 0;
	r = reply(200, "{\"summary\":{\"id\":77}}");
	assert_int_equal(kcg_inriver_createnew_parse(&r, &id, why), 0);
	assert_int_equal(id, 77);
	kcg_reply_finish(&r);
	r = reply(200, "{}");
	assert_int_equal(kcg_inriver_createnew_parse(&r, &id, why), KCG_EPAYLOAD);
	kcg_reply_finish(&r);
	r = reply(200, "not json");
	assert_int_equal(kcg_inriver_getempty_parse(&r, &map, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "not JSON"));
	kcg_reply_finish(&r);
}

static void test_status(void **state)
{
	(void)state;
	char why[KCG_ERROR_MAX];
	struct kcg_reply r = reply(429, "{\"message\":\"slow down\"}");
	r.retry_after_s = 30;
	assert_int_equal(kcg_inriver_fields_put_parse(&r, why), -EAGAIN); /* the engine honours Retry-After */
	kcg_reply_finish(&r);
	r = reply(503, NULL);
	assert_int_equal(kcg_inriver_fields_put_parse(&r, why), -EAGAIN);
	kcg_reply_finish(&r);
	r = reply(404, "{\"message\":\"gone\"}");
	assert_int_equal(kcg_inriver_fields_put_parse(&r, why), KCG_ENOTFOUND);
	kcg_reply_finish(&r);
	r = reply(400, "{\"message\":\"Field type Nope does not exist\"}");
	assert_int_equal(kcg_inriver_fields_put_parse(&r, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "Nope"));
	assert_printable(why);
	kcg_reply_finish(&r);
	r = reply(204, NULL);
	assert_int_equal(kcg_inriver_fields_put_parse(&r, why), 0);
	kcg_reply_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_put),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
