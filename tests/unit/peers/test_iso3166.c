/*
 * test_iso3166.c: alpha-3 -> alpha-2 (src/peers/iso3166.c): the table's
 * ends, any case, and what is not alpha-3 coming back as it came.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kcgate/peers/iso3166.h"

static void test_alpha2(void **state)
{
	assert_string_equal(kcg_iso3166_alpha2("GBR"), "GB");
	assert_string_equal(kcg_iso3166_alpha2("fra"), "FR");
	assert_string_equal(kcg_iso3166_alpha2("DeU"), "DE");
	assert_string_equal(kcg_iso3166_alpha2("ABW"), "AW"); /* first */
	assert_string_equal(kcg_iso3166_alpha2("ZWE"), "ZW"); /* last */
	assert_string_equal(kcg_iso3166_alpha2("XKX"), "XK");

	const char *same[] = { "ZZZ", "GB", "", "GBRX", "G!R" };
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		assert_ptr_equal(kcg_iso3166_alpha2(same[i]), same[i]);
	assert_null(kcg_iso3166_alpha2(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alpha2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
