/*
 * test_dynbuf.c: struct kcg_dynbuf from src/dynbuf.c.
 *
 * Allocation failures are made on demand: this test is linked with
 * -Wl,--wrap=realloc,--wrap=malloc (tests/meson.build), so every realloc()
 * and malloc() in dynbuf.c goes through the wrappers below, which fail
 * once fail_in reaches zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/dynbuf.h"

void *__real_realloc(void *p, size_t n);
void *__real_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);

static int fail_in = -1; /* allocations to let through before failing; -1: never fail */
static unsigned n_fails;

static bool should_fail(void)
{
	if (fail_in < 0)
		return false;
	if (fail_in > 0) {
		fail_in--;
		return false;
	}
	n_fails++;
	return true;
}

void *__wrap_realloc(void *p, size_t n)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, n);
}

void *__wrap_malloc(size_t n)
{
	if (should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(n);
}

static int reset(void **state)
{
	fail_in = -1;
	n_fails = 0;
	return 0;
}

static void test_empty_and_take(void **state)
{
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, 100);
	assert_string_equal(kcg_dynbuf_ptr(&b), "");
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_int_equal(kcg_dynbuf_error(&b), 0);
	assert_null(b.mem); /* init allocates nothing */

	/* An empty take is a malloc'd "", not NULL. */
	size_t len = 99;
	char *s = kcg_dynbuf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);

	assert_int_equal(kcg_dynbuf_addstr(&b, "hello"), 0);
	assert_int_equal(kcg_dynbuf_add(&b, ", ", 2), 0);
	assert_int_equal(kcg_dynbuf_addstr(&b, ""), 0);
	assert_int_equal(kcg_dynbuf_printf(&b, "%s %d", "world", 42), 0);
	assert_string_equal(kcg_dynbuf_ptr(&b), "hello, world 42");
	s = kcg_dynbuf_take(&b, &len);
	assert_string_equal(s, "hello, world 42");
	assert_int_equal(len, 15);
	free(s);

	/* The take left it empty and usable, with the same cap. */
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_string_equal(kcg_dynbuf_ptr(&b), "");
	assert_int_equal(b.max, 100);
	assert_int_equal(kcg_dynbuf_addstr(&b, "again"), 0);
	assert_string_equal(kcg_dynbuf_ptr(&b), "again");
	kcg_dynbuf_finish(&b);
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_null(b.mem);
	kcg_dynbuf_finish(&b); /* twice is fine */
	kcg_dynbuf_finish(NULL);
}

static void test_embedded_nuls(void **state)
{
	static const char bytes[] = { 'a', '\0', 'b', '\0', '\0', 'c' };
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, 1024);

	assert_int_equal(kcg_dynbuf_add(&b, bytes, sizeof(bytes)), 0);
	assert_int_equal(kcg_dynbuf_len(&b), sizeof(bytes));
	assert_memory_equal(kcg_dynbuf_ptr(&b), bytes, sizeof(bytes));
	assert_int_equal(kcg_dynbuf_ptr(&b)[sizeof(bytes)], '\0'); /* still terminated */
	/* printf's %c can write a NUL too; the length counts it. */
	assert_int_equal(kcg_dynbuf_printf(&b, "%c%s", '\0', "z"), 0);
	assert_int_equal(kcg_dynbuf_len(&b), sizeof(bytes) + 2);

	size_t len = 0;
	char *s = kcg_dynbuf_take(&b, &len);
	assert_int_equal(len, sizeof(bytes) + 2);
	assert_memory_equal(s, bytes, sizeof(bytes));
	assert_memory_equal(s + sizeof(bytes), "\0z", 3);
	free(s);
}

static void test_printf_growth(void **state)
{
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, 10 * 1024 * 1024);

	/* One text far longer than the first allocation. */
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(kcg_dynbuf_printf(&b, "<%s|%d>", big, -7), 0);
	assert_int_equal(kcg_dynbuf_len(&b), 1 + 4999 + 4);
	assert_int_equal(kcg_dynbuf_ptr(&b)[0], '<');
	assert_int_equal(strncmp(kcg_dynbuf_ptr(&b) + 5000, "|-7>", 5), 0);
	kcg_dynbuf_finish(&b);

	/* Many small appends, checked against a reference built by hand. */
	char *ref = calloc(200000, 1);
	assert_non_null(ref);
	size_t n = 0;
	for (unsigned i = 0; i < 20000; i++) {
		assert_int_equal(kcg_dynbuf_printf(&b, "%u,", i), 0);
		n += (size_t)sprintf(ref + n, "%u,", i);
		assert_int_equal(kcg_dynbuf_len(&b), n);
	}
	assert_string_equal(kcg_dynbuf_ptr(&b), ref);
	assert_true(b.alloc >= n + 1);
	assert_true(b.alloc <= 4 * (n + 1)); /* doubling, not wild */
	free(ref);

	/* A format that yields nothing is fine, also on an empty buffer. */
	kcg_dynbuf_finish(&b);
	assert_int_equal(kcg_dynbuf_printf(&b, "%s", ""), 0);
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_string_equal(kcg_dynbuf_ptr(&b), "");
	kcg_dynbuf_finish(&b);
}

static void test_cap(void **state)
{
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, 10);

	/* Exactly the cap is fine; the allocation never passes cap + NUL. */
	assert_int_equal(kcg_dynbuf_addstr(&b, "0123456"), 0);
	assert_int_equal(kcg_dynbuf_printf(&b, "%d", 789), 0);
	assert_int_equal(kcg_dynbuf_len(&b), 10);
	assert_string_equal(kcg_dynbuf_ptr(&b), "0123456789");
	assert_true(b.alloc <= 11);

	/* One more byte: -E2BIG, the contents are gone, and it sticks. */
	assert_int_equal(kcg_dynbuf_add(&b, "x", 1), -E2BIG);
	assert_int_equal(kcg_dynbuf_error(&b), -E2BIG);
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_string_equal(kcg_dynbuf_ptr(&b), "");
	assert_int_equal(kcg_dynbuf_addstr(&b, ""), -E2BIG);
	assert_int_equal(kcg_dynbuf_addstr(&b, "y"), -E2BIG);
	assert_int_equal(kcg_dynbuf_printf(&b, "%s", "z"), -E2BIG);
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_null(kcg_dynbuf_take(&b, NULL));
	assert_int_equal(kcg_dynbuf_error(&b), -E2BIG); /* a failed take keeps the error */

	/* finish makes it usable again. */
	kcg_dynbuf_finish(&b);
	assert_int_equal(kcg_dynbuf_error(&b), 0);
	assert_int_equal(kcg_dynbuf_addstr(&b, "ok"), 0);

	/* A printf that would pass the cap fails as a whole. */
	assert_int_equal(kcg_dynbuf_printf(&b, "%s", "123456789"), -E2BIG);
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	kcg_dynbuf_finish(&b);

	/* A cap of 0 holds nothing but may be taken empty. */
	kcg_dynbuf_init(&b, 0);
	assert_int_equal(kcg_dynbuf_add(&b, "", 0), 0);
	char *s = kcg_dynbuf_take(&b, NULL);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(kcg_dynbuf_add(&b, "a", 1), -E2BIG);
	kcg_dynbuf_finish(&b);

	/* A huge length never wraps around the cap check. */
	kcg_dynbuf_init(&b, SIZE_MAX);
	assert_int_equal(kcg_dynbuf_addstr(&b, "abc"), 0);
	assert_int_equal(kcg_dynbuf_add(&b, "", SIZE_MAX - 1), -E2BIG);
	kcg_dynbuf_finish(&b);
}

static void test_oom_sticky(void **state)
{
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, 1 << 20);

	/* The first allocation fails. */
	fail_in = 0;
	assert_int_equal(kcg_dynbuf_addstr(&b, "abc"), -ENOMEM);
	assert_int_equal(n_fails, 1);
	fail_in = -1;
	/* Memory is back, but the buffer stays failed until finished. */
	assert_int_equal(kcg_dynbuf_addstr(&b, "def"), -ENOMEM);
	assert_int_equal(kcg_dynbuf_printf(&b, "%d", 1), -ENOMEM);
	assert_int_equal(kcg_dynbuf_error(&b), -ENOMEM);
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_null(kcg_dynbuf_take(&b, NULL));
	assert_int_equal(n_fails, 1); /* no allocation was even tried */
	kcg_dynbuf_finish(&b);

	/* A failure while growing frees what was built (no leak, no half text). */
	assert_int_equal(kcg_dynbuf_addstr(&b, "start"), 0);
	char big[3000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fail_in = 0;
	assert_int_equal(kcg_dynbuf_printf(&b, "%s", big), -ENOMEM);
	fail_in = -1;
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_null(b.mem);
	assert_string_equal(kcg_dynbuf_ptr(&b), "");
	assert_null(kcg_dynbuf_take(&b, NULL));
	kcg_dynbuf_finish(&b);

	/* A builder's own failure recorded with kcg_dynbuf_fail(); the first error wins. */
	assert_int_equal(kcg_dynbuf_addstr(&b, "x"), 0);
	assert_int_equal(kcg_dynbuf_fail(&b, -ENOMEM), -ENOMEM);
	assert_int_equal(kcg_dynbuf_fail(&b, -E2BIG), -ENOMEM);
	assert_int_equal(kcg_dynbuf_len(&b), 0);
	assert_null(kcg_dynbuf_take(&b, NULL));
	kcg_dynbuf_finish(&b);

	/* The "" of an empty take cannot be allocated: NULL and -ENOMEM. */
	fail_in = 0;
	assert_null(kcg_dynbuf_take(&b, NULL));
	fail_in = -1;
	assert_int_equal(kcg_dynbuf_error(&b), -ENOMEM);
	kcg_dynbuf_finish(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_and_take, reset),
		cmocka_unit_test_setup(test_embedded_nuls, reset),
		cmocka_unit_test_setup(test_printf_growth, reset),
		cmocka_unit_test_setup(test_cap, reset),
		cmocka_unit_test_setup(test_oom_sticky, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
