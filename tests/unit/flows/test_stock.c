/*
 * test_stock.c: the stock flow's decisions as pure functions: the figure
 * Mirakl should show (buffer, reservations, build potential, STATUS 4 and
 * 5, never below 0, no overflow), whether a SKU is sent, per-SKU buffers,
 * staleness and the rate floors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kcgate/flows/stock.h"

static const struct kcg_stock_rules plain = { .include_build = false, .uncontrolled = KCG_STOCK_LEAVE };

static int64_t fig(const struct kcg_stock_rules *r, int64_t level, int64_t build, int status, uint64_t buffer,
		   uint64_t reserved)
{
	int64_t q = -99;
	if (!kcg_stock_publishable(r, level, build, status, buffer, reserved, &q))
		return -1; /* leave the offer alone */
	return q;
}

static void test_figure(void **state)
{
	(void)state;
	assert_int_equal(fig(&plain, 53, 123, KCG_STOCK_IN_STOCK, 0, 0), 53);
	assert_int_equal(fig(&plain, 53, 123, KCG_STOCK_IN_STOCK, 3, 0), 50);
	assert_int_equal(fig(&plain, 53, 0, KCG_STOCK_IN_STOCK, 3, 10), 40);
	/* never below 0: a buffer or reservations past the level */
	assert_int_equal(fig(&plain, 2, 0, KCG_STOCK_IN_STOCK, 3, 0), 0);
	assert_int_equal(fig(&plain, 5, 0, KCG_STOCK_ALLOCATED, 0, 9), 0);
	assert_int_equal(fig(&plain, -4, 0, KCG_STOCK_NOT_DUE, 0, 0), 0);
	/* unknown STATUS: the level rules */
	assert_int_equal(fig(&plain, 7, 0, -1, 1, 0), 6);
	struct kcg_stock_rules build = { .include_build = true, .uncontrolled = KCG_STOCK_LEAVE };
	assert_int_equal(fig(&build, 53, 123, KCG_STOCK_IN_STOCK, 0, 0), 176);
	assert_int_equal(fig(&build, 0, 5, KCG_STOCK_DUE_IN, 2, 1), 2);
	assert_int_equal(fig(&build, 0, -5, KCG_STOCK_DUE_IN, 0, 0), 0); /* a negative potential adds nothing */
	/* a hostile level cannot wrap */
	assert_true(fig(&build, INT64_MAX, INT64_MAX, KCG_STOCK_IN_STOCK, 0, 0) > 0);
	assert_int_equal(fig(&plain, INT64_MIN, 0, KCG_STOCK_IN_STOCK, UINT64_MAX, UINT64_MAX), 0);
}

static void test_status_4_and_5(void **state)
{
	(void)state;
	/* discontinued: 0 whatever the level */
	assert_int_equal(fig(&plain, 100, 0, KCG_STOCK_DISCONTINUED, 0, 0), 0);
	/* not stock-controlled: left alone by default, or the configured figure */
	assert_int_equal(fig(&plain, 100, 0, KCG_STOCK_NOT_CONTROLLED, 0, 0), -1);
	struct kcg_stock_rules some = { .uncontrolled = 25 };
	assert_int_equal(fig(&some, 0, 0, KCG_STOCK_NOT_CONTROLLED, 5, 3), 25);
	struct kcg_stock_rules none = { .uncontrolled = 0 };
	assert_int_equal(fig(&none, 100, 0, KCG_STOCK_NOT_CONTROLLED, 0, 0), 0);
}

static void test_needs_push(void **state)
{
	(void)state;
	struct kcg_stock_rec rec;
	kcg_stock_rec_init(&rec);
	assert_int_equal(rec.version, KCG_STOCK_REC_VERSION);
	assert_true(rec.published == -1 && rec.failed == -1 && rec.mirakl == -1);
	/* never published: sent, even 0 */
	assert_true(kcg_stock_needs_push(&rec, 0, false));
	rec.published = 8;
	assert_false(kcg_stock_needs_push(&rec, 8, false));
	assert_true(kcg_stock_needs_push(&rec, 7, false));
	/* refused: not again while its exception is open, unless the figure moved */
	rec.failed = 7;
	assert_false(kcg_stock_needs_push(&rec, 7, true));
	assert_true(kcg_stock_needs_push(&rec, 7, false));
	assert_true(kcg_stock_needs_push(&rec, 6, true));
}

/* A booking ends a reservation before Khaos's LEVEL shows the booked
 * units gone: they stay held back until a poll begun after the fall. */
static void test_buffers(void **state)
{
	(void)state;
	struct kcg_config_map_entry e[] = { { "SKU-A", "0", 1 }, { "SKU-B", "12", 2 }, { "SKU-C", "junk", 3 } };
	struct kcg_config_map m = { 3, e, NULL };
	assert_int_equal(kcg_stock_buffer_of(&m, "SKU-A", 5), 0);
	assert_int_equal(kcg_stock_buffer_of(&m, "SKU-B", 5), 12);
	assert_int_equal(kcg_stock_buffer_of(&m, "SKU-C", 5), 5);
	assert_int_equal(kcg_stock_buffer_of(&m, "SKU-Z", 5), 5);
	assert_int_equal(kcg_stock_buffer_of(NULL, "SKU-A", 4), 4);
}

static void test_ages(void **state)
{
	(void)state;
	const uint64_t S = 1000, stale = 900 * S;
	/* fresh */
	struct kcg_stock_ages a = kcg_stock_ages(10000 * S, 1 * S, 9990 * S, 9000 * S, false, stale);
	assert_false(a.stale);
	assert_int_equal(a.poll_age_ms, 10 * S);
	assert_int_equal(a.import_age_ms, 1000 * S);
	/* an old import with nothing waiting is not stale (quiet stock) */
	assert_false(kcg_stock_ages(10000 * S, 1 * S, 9990 * S, 1 * S, false, stale).stale);
	/* ... but is while something waits */
	assert_true(kcg_stock_ages(10000 * S, 1 * S, 9990 * S, 1 * S, true, stale).stale);
	/* the poll failing past the threshold */
	a = kcg_stock_ages(10000 * S, 1 * S, 9000 * S, 9999 * S, false, stale);
	assert_true(a.stale);
	assert_int_equal(a.poll_age_ms, 1000 * S);
	/* never polled: counted from the start */
	assert_false(kcg_stock_ages(100 * S, 50 * S, 0, 0, true, stale).stale);
	assert_true(kcg_stock_ages(1000 * S, 50 * S, 0, 0, false, stale).stale);
	/* a clock that went back gives 0, not a huge age */
	assert_int_equal(kcg_stock_ages(10 * S, 1 * S, 20 * S, 20 * S, false, stale).poll_age_ms, 0);
}

static void test_floors(void **state)
{
	(void)state;
	struct kcg_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.mirakl.stock_rate_limits = KCG_RATE_MIRAKL;
	assert_int_equal(kcg_stock_flush_floor_ms(&cfg), 60000); /* STO01: at most once a minute */
	assert_int_equal(kcg_stock_status_poll_ms(&cfg), 15000); /* STO02: at most every 15 s */
	cfg.mirakl.stock_rate_limits = KCG_RATE_SIM;
	assert_int_equal(kcg_stock_flush_floor_ms(&cfg), 1000);
	assert_int_equal(kcg_stock_status_poll_ms(&cfg), 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_figure),
		cmocka_unit_test(test_status_4_and_5),
		cmocka_unit_test(test_needs_push),
		cmocka_unit_test(test_buffers),
		cmocka_unit_test(test_ages),
		cmocka_unit_test(test_floors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
