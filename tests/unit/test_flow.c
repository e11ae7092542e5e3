/*
 * test_flow.c: the flow registry (flow.h): what the enabled flows bring to
 * the store and the engine for a configuration, and the outbox hook and
 * the cross-flow SKU hook calling only enabled flows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flow.h"
#include "kcgate/jobs.h"

static bool has_name(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static bool has_kind(const struct kcg_flow_set *set, const char *name)
{
	for (size_t i = 0; set->kinds[i]; i++)
		if (strcmp(set->kinds[i]->name, name) == 0)
			return true;
	return false;
}

static size_t count_owners(const struct kcg_flow_set *set)
{
	size_t n = 0;
	while (set->owners[n])
		n++;
	return n;
}

static void test_no_flow_configured(void **state)
{
	static struct kcg_flow_set set;
	static const struct kcg_config cfg;
	assert_int_equal(kcg_flow_set_init(&set, &cfg), 0);
	assert_int_equal(set.n_enabled, 0);
	assert_null(set.kinds[0]);
	assert_int_equal(set.n_timers, 0);
	/* every database is opened all the same: records stay readable */
	assert_true(has_name(set.dbs, "jobs"));
	assert_true(has_name(set.dbs, "exceptions"));
	assert_true(has_name(set.dbs, "orders"));
	assert_true(has_name(set.dbs, "skus"));
	assert_true(has_name(set.dbs, "despatch"));
	assert_true(has_name(set.dbs, "despatch_carriers"));
	/* and every owner's records expire */
	assert_int_equal(count_owners(&set), 4); /* jobs, exceptions, orders, despatch */
	assert_ptr_equal(set.ctx.set, &set);
}

/* Mirakl and Khaos both configured: the order flow runs. */
static struct kcg_config order_cfg(void)
{
	struct kcg_config cfg = { 0 };
	cfg.mirakl.base_url = "https://mirakl.example";
	cfg.khaos.soap_url = "https://khaos.example/soap/IKosWeb";
	cfg.mirakl.poll_interval_s = 300;
	cfg.khaos.sku_refresh_s = 300;
	return cfg;
}

static void test_order_flow_configured(void **state)
{
	static struct kcg_flow_set set;
	struct kcg_config cfg = order_cfg();
	assert_int_equal(kcg_flow_set_init(&set, &cfg), 0);
	assert_int_equal(set.n_enabled, 2);
	assert_string_equal(set.enabled[0]->name, "skus");
	assert_string_equal(set.enabled[1]->name, "orders");
	assert_true(has_kind(&set, "skus.refresh"));
	assert_true(has_kind(&set, "order.book"));
	assert_true(has_kind(&set, "mirakl.poll"));
	assert_int_equal(set.n_timers, 3);
	assert_int_equal(set.timers[0].interval_ms, 300000);
}

static void test_despatch_flow_configured(void **state)
{
	static struct kcg_flow_set set;
	struct kcg_config cfg = order_cfg();
	cfg.despatch.enabled = 1;
	cfg.despatch.poll_interval_s = 60;
	cfg.despatch.watch_interval_s = 30;
	assert_int_equal(kcg_flow_set_init(&set, &cfg), 0);
	assert_int_equal(set.n_enabled, 3);
	assert_string_equal(set.enabled[2]->name, "despatch");
	assert_true(has_kind(&set, "despatch.poll"));
	assert_true(has_kind(&set, "despatch.ship"));
	assert_true(has_kind(&set, "mirakl.carriers"));
	assert_int_equal(set.n_timers, 5);
	assert_int_equal(set.timers[3].interval_ms, 60000);
	assert_int_equal(set.timers[4].interval_ms, 30000);
	/* off: the order flow alone */
	cfg.despatch.enabled = 0;
	assert_int_equal(kcg_flow_set_init(&set, &cfg), 0);
	assert_int_equal(set.n_enabled, 2);
	assert_false(has_kind(&set, "despatch.poll"));
}

static void test_only_khaos_runs_the_sku_cache(void **state)
{
	static struct kcg_flow_set set;
	struct kcg_config cfg = { 0 };
	cfg.khaos.soap_url = "https://khaos.example/soap/IKosWeb";
	cfg.khaos.sku_refresh_s = 60;
	assert_int_equal(kcg_flow_set_init(&set, &cfg), 0);
	assert_int_equal(set.n_enabled, 1);
	assert_true(has_kind(&set, "skus.refresh"));
	assert_false(has_kind(&set, "order.book"));
}

static void test_every_flow_named_once(void **state)
{
	for (size_t i = 0; kcg_flows[i]; i++) {
		assert_non_null(kcg_flows[i]->name);
		assert_non_null(kcg_flows[i]->enabled);
		for (size_t j = i + 1; kcg_flows[j]; j++)
			assert_string_not_equal(kcg_flows[i]->name, kcg_flows[j]->name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_flow_configured),
		cmocka_unit_test(test_order_flow_configured),
		cmocka_unit_test(test_despatch_flow_configured),
		cmocka_unit_test(test_only_khaos_runs_the_sku_cache),
		cmocka_unit_test(test_every_flow_named_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
