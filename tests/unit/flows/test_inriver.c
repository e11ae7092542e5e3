/*
 * test_inriver.c: the inriver flow's decisions as pure functions: which
 * fields are Khaos's, the echo of kcgate's own write told from a person's
 * edit, what is written (only [inriver.fields], only what differs, the status of a discontinued code
 * only once Mirakl shows 0), publishability and the write interval.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kcgate/flows/inriver.h"

static struct kcg_inriver_config cfg_all(void)
{
	return (struct kcg_inriver_config){ .entity_type = "Item", .sku_field = "ItemNumber",
					    .field_khaos_status = "KhaosStatus", .field_available = "KhaosAvailable",
					    .field_last_sync = "KhaosLastSync" };
}

static json_t *changed(const char *a, const char *b)
{
	json_t *arr = json_array();
	if (a)
		json_array_append_new(arr, json_pack("{s:s}", "fieldTypeId", a));
	if (b)
		json_array_append_new(arr, json_pack("{s:s}", "fieldTypeId", b));
	return arr;
}

static void test_owned(void **state)
{
	(void)state;
	struct kcg_inriver_config c = cfg_all();
	const char *f[4];
	assert_int_equal(kcg_inriver_owned(&c, f), 3);
	assert_string_equal(f[0], "KhaosStatus");
	c.field_available = NULL;
	c.field_price = "KhaosPrice";
	assert_int_equal(kcg_inriver_owned(&c, f), 3);
	assert_string_equal(f[1], "KhaosPrice");
	struct kcg_inriver_config none = { .sku_field = "ItemNumber" };
	assert_int_equal(kcg_inriver_owned(&none, f), 0);
}

static void test_echo(void **state)
{
	(void)state;
	struct kcg_inriver_config c = cfg_all();
	json_t *own = changed("KhaosStatus", "KhaosLastSync"), *mixed = changed("KhaosStatus", "ItemName"),
	       *content = changed("ItemName", NULL), *none = json_array();
	/* kcgate wrote status, level and last_sync at 1000 and expects their echo until 121000 */
	json_t *expect = json_pack("{s:[s,s,s], s:I}", "fields", "KhaosStatus", "KhaosAvailable", "KhaosLastSync",
				   "until_ms", (json_int_t)121000);
	assert_true(kcg_inriver_echo(&c, own, expect, 2000));
	assert_true(kcg_inriver_echo(&c, own, expect, 120999));
	assert_false(kcg_inriver_echo(&c, own, expect, 121000)); /* too late: a person's edit */
	assert_false(kcg_inriver_echo(&c, own, NULL, 2000));     /* nothing expected: a person's edit */
	assert_false(kcg_inriver_echo(&c, mixed, expect, 2000)); /* a person edited content too: read it */
	assert_false(kcg_inriver_echo(&c, content, expect, 2000));
	assert_false(kcg_inriver_echo(&c, none, expect, 2000)); /* nothing named: could be anything */
	assert_false(kcg_inriver_echo(&c, NULL, expect, 2000));
	/* the SKU field is never Khaos-owned: a changed SKU is always read */
	json_t *sku = changed("ItemNumber", NULL);
	assert_false(kcg_inriver_echo(&c, sku, expect, 2000));
	/* kcgate wrote only the level: a changed status is a person's, even inside the window */
	json_t *level = json_pack("{s:[s,s], s:I}", "fields", "KhaosAvailable", "KhaosLastSync", "until_ms",
				  (json_int_t)121000);
	json_t *status = changed("KhaosStatus", NULL), *avail = changed("KhaosAvailable", "KhaosLastSync");
	assert_false(kcg_inriver_echo(&c, status, level, 2000));
	assert_false(kcg_inriver_echo(&c, own, level, 2000));
	assert_true(kcg_inriver_echo(&c, avail, level, 2000));
	/* an expected field no longer owned ([inriver.fields] changed since): not kcgate's to write */
	c.field_available = NULL;
	assert_false(kcg_inriver_echo(&c, avail, level, 2000));
	/* a malformed expectation expects nothing */
	json_t *bad = json_pack("{s:s, s:I}", "fields", "KhaosStatus", "until_ms", (json_int_t)121000);
	json_t *no_until = json_pack("{s:[s]}", "fields", "KhaosStatus");
	assert_false(kcg_inriver_echo(&c, status, bad, 2000));
	assert_false(kcg_inriver_echo(&c, status, no_until, 2000));
	json_decref(own), json_decref(mixed), json_decref(content), json_decref(none), json_decref(sku);
	json_decref(expect), json_decref(level), json_decref(status), json_decref(avail), json_decref(bad),
		json_decref(no_until);
}

/* Every key of @p v is one of cfg's owned fields. */
static void assert_only_owned(const struct kcg_inriver_config *c, const json_t *v)
{
	const char *f[4], *k;
	size_t n = kcg_inriver_owned(c, f);
	json_t *x;
	json_object_foreach((json_t *)v, k, x) {
		bool ok = false;
		for (size_t i = 0; i < n; i++)
			ok = ok || strcmp(f[i], k) == 0;
		assert_true(ok);
	}
}

static void test_values(void **state)
{
	(void)state;
	struct kcg_inriver_config c = cfg_all();
	struct kcg_inriver_khaos active = { .known = true, .available = 7, .price = -1 };
	json_t *v = kcg_inriver_values(&c, &active, NULL, "2026-01-01T00:00:00.000Z");
	assert_string_equal(json_string_value(json_object_get(v, "KhaosStatus")), "OK");
	assert_int_equal(json_integer_value(json_object_get(v, "KhaosAvailable")), 7);
	assert_non_null(json_object_get(v, "KhaosLastSync"));
	assert_int_equal(json_object_size(v), 3);
	assert_only_owned(&c, v);
	/* what the item holds already is not written again, nor last_sync alone */
	json_t *again = kcg_inriver_values(&c, &active, v, "2026-01-01T00:01:00.000Z");
	assert_int_equal(json_object_size(again), 0);
	active.available = 6;
	json_t *moved = kcg_inriver_values(&c, &active, v, "2026-01-01T00:01:00.000Z");
	assert_int_equal(json_object_size(moved), 2); /* the level and last_sync */
	assert_null(json_object_get(moved, "KhaosStatus"));
	/* unknown: the status only, no level */
	struct kcg_inriver_khaos unknown = { .known = false, .price = -1 };
	json_t *u = kcg_inriver_values(&c, &unknown, NULL, NULL);
	assert_string_equal(json_string_value(json_object_get(u, "KhaosStatus")), "UNKNOWN_STOCK_CODE");
	assert_null(json_object_get(u, "KhaosAvailable"));
	assert_null(json_object_get(u, "KhaosLastSync")); /* no time given */
	/* discontinued: no status until Mirakl shows 0, then DISCONTINUED */
	struct kcg_inriver_khaos disc = { .known = true, .discontinued = true, .available = 3, .price = -1 };
	json_t *d1 = kcg_inriver_values(&c, &disc, v, NULL);
	assert_null(json_object_get(d1, "KhaosStatus"));
	disc.confirmed_zero = true;
	json_t *d2 = kcg_inriver_values(&c, &disc, v, NULL);
	assert_string_equal(json_string_value(json_object_get(d2, "KhaosStatus")), "DISCONTINUED");
	/* only the configured fields: without available, no level ever */
	c.field_available = NULL;
	c.field_last_sync = NULL;
	active.available = 99;
	json_t *o = kcg_inriver_values(&c, &active, NULL, "2026-01-01T00:00:00.000Z");
	assert_int_equal(json_object_size(o), 1);
	assert_only_owned(&c, o);
	/* price: Khaos's, as a JSON number, only with [inriver.fields] price and a price given */
	c = cfg_all();
	c.field_price = "KhaosPrice";
	struct kcg_inriver_khaos priced = { .known = true, .available = 2, .price = 199900 };
	json_t *p1 = kcg_inriver_values(&c, &priced, NULL, NULL);
	assert_true(json_is_real(json_object_get(p1, "KhaosPrice")));
	assert_true(json_real_value(json_object_get(p1, "KhaosPrice")) == 19.99);
	char *body = json_dumps(p1, JSON_COMPACT | JSON_REAL_PRECISION(15));
	assert_non_null(strstr(body, "\"KhaosPrice\":19.99")); /* as the PUT sends it */
	free(body);
	json_t *p2 = kcg_inriver_values(&c, &priced, p1, NULL);
	assert_int_equal(json_object_size(p2), 0); /* written already */
	priced.price = -1; /* no price from Khaos: none written, none cleared */
	json_t *p3 = kcg_inriver_values(&c, &priced, NULL, NULL);
	assert_null(json_object_get(p3, "KhaosPrice"));
	/* inriver answering the same numbers in another type: nothing to write */
	json_t *same = json_pack("{s:f, s:s, s:s}", "KhaosAvailable", 2.0, "KhaosPrice", "19.99", "KhaosStatus", "OK");
	priced.price = 199900;
	json_t *p5 = kcg_inriver_values(&c, &priced, same, NULL);
	assert_int_equal(json_object_size(p5), 0);
	json_object_set_new(same, "KhaosPrice", json_string("19.99x")); /* no number: written */
	json_object_set_new(same, "KhaosAvailable", json_real(2.5));
	json_t *p6 = kcg_inriver_values(&c, &priced, same, NULL);
	assert_int_equal(json_object_size(p6), 2);
	json_decref(same), json_decref(p5), json_decref(p6);
	struct kcg_inriver_khaos nocode = { .known = false, .price = 100 };
	json_t *p4 = kcg_inriver_values(&c, &nocode, NULL, NULL);
	assert_null(json_object_get(p4, "KhaosPrice"));
	json_decref(v), json_decref(again), json_decref(moved), json_decref(u), json_decref(d1), json_decref(d2),
		json_decref(o), json_decref(p1), json_decref(p2), json_decref(p3), json_decref(p4);
}

/* The entity job diffs against the item's values as inriver answered them:
 * a person's edit of an owned field is written back, an untouched item is not. */
static void test_values_against_inriver(void **state)
{
	(void)state;
	struct kcg_inriver_config c = cfg_all();
	struct kcg_inriver_khaos active = { .known = true, .available = 5 };
	json_t *have = json_pack("{s:s, s:I, s:s}", "KhaosStatus", "OK", "KhaosAvailable", (json_int_t)99,
				 "KhaosLastSync", "2026-01-01T00:00:00.000Z");
	json_t *v = kcg_inriver_values(&c, &active, have, "2026-01-02T00:00:00.000Z");
	assert_int_equal(json_object_size(v), 2); /* the level put back, with last_sync */
	assert_int_equal(json_integer_value(json_object_get(v, "KhaosAvailable")), 5);
	assert_non_null(json_object_get(v, "KhaosLastSync"));
	json_decref(v);
	/* a field the item does not hold (null) is written */
	json_object_set_new(have, "KhaosAvailable", json_integer(5));
	json_object_set_new(have, "KhaosStatus", json_null());
	v = kcg_inriver_values(&c, &active, have, "2026-01-02T00:00:00.000Z");
	assert_string_equal(json_string_value(json_object_get(v, "KhaosStatus")), "OK");
	assert_int_equal(json_object_size(v), 2);
	json_decref(v);
	/* the item holds Khaos's truth: nothing, not even last_sync */
	json_object_set_new(have, "KhaosStatus", json_string("OK"));
	v = kcg_inriver_values(&c, &active, have, "2026-01-02T00:00:00.000Z");
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
	json_decref(have);
}

static void test_publishable(void **state)
{
	(void)state;
	/* shops without inriver: unaffected */
	assert_int_equal(kcg_inriver_gate_of(false, false, false, false), KCG_INRIVER_GATE_OPEN);
	assert_int_equal(kcg_inriver_gate_of(false, false, false, true), KCG_INRIVER_GATE_OPEN);
	assert_int_equal(kcg_inriver_gate_of(true, true, false, true), KCG_INRIVER_GATE_OPEN);
	assert_int_equal(kcg_inriver_gate_of(true, false, false, true), KCG_INRIVER_GATE_ZERO);
	/* the rule just turned on, nothing mapped yet: held, never a moment of 0 on a live marketplace */
	assert_int_equal(kcg_inriver_gate_of(true, false, false, false), KCG_INRIVER_GATE_HOLD);
	assert_int_equal(kcg_inriver_gate_of(true, true, false, false), KCG_INRIVER_GATE_OPEN);
	/* deleted in inriver: 0 whatever the rule */
	assert_int_equal(kcg_inriver_gate_of(false, true, true, false), KCG_INRIVER_GATE_ZERO);
	assert_int_equal(kcg_inriver_gate_of(true, false, true, false), KCG_INRIVER_GATE_ZERO);
	assert_string_equal(kcg_inriver_gate_name(KCG_INRIVER_GATE_HOLD), "hold");
}

static void test_due(void **state)
{
	(void)state;
	assert_int_equal(kcg_inriver_due(1000, 0, 60), 1000); /* never written: now */
	assert_int_equal(kcg_inriver_due(10000, 5000, 60), 65000);
	assert_int_equal(kcg_inriver_due(70000, 5000, 60), 70000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owned),     cmocka_unit_test(test_echo), cmocka_unit_test(test_values),
		cmocka_unit_test(test_values_against_inriver),
		cmocka_unit_test(test_publishable), cmocka_unit_test(test_due),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
