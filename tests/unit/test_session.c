/*
 * test_session.c: the console's sessions (src/session.c): ids and CSRF
 * tokens, expiry, the cap, the binding to the admin token, sign-out, and
 * the Cookie header parser; and the runbook table (src/runbook.c) every
 * kind in exceptions.h needs a row of.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/runbook.h"
#include "kcgate/session.h"

#define TOKEN "admin-token-0123456789"
#define TTL 60000u
#define T0 1000000u

static bool is_hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static void test_open_check(void **state)
{
	(void)state;
	struct kcg_sessions *s = kcg_sessions_create(4, TTL);
	assert_non_null(s);
	char id[65], csrf[65], got[65];
	uint64_t exp = 0, exp2 = 0;
	assert_int_equal(kcg_sessions_open(s, T0, TOKEN, id, csrf, &exp), 0);
	assert_true(is_hex64(id));
	assert_true(is_hex64(csrf));
	assert_string_not_equal(id, csrf);
	assert_int_equal(exp, T0 + TTL);
	/* a read needs no CSRF token; it is handed out */
	assert_int_equal(kcg_sessions_check(s, id, TOKEN, T0 + 1, false, NULL, got, &exp2), KCG_SESSION_OK);
	assert_string_equal(got, csrf);
	assert_int_equal(exp2, exp);
	/* a write needs it, exactly */
	assert_int_equal(kcg_sessions_check(s, id, TOKEN, T0 + 1, true, NULL, NULL, NULL), KCG_SESSION_BAD_CSRF);
	assert_int_equal(kcg_sessions_check(s, id, TOKEN, T0 + 1, true, "", NULL, NULL), KCG_SESSION_BAD_CSRF);
	char wrong[65];
	memcpy(wrong, csrf, sizeof(wrong));
	wrong[63] = wrong[63] == '0' ? '1' : '0';
	assert_int_equal(kcg_sessions_check(s, id, TOKEN, T0 + 1, true, wrong, NULL, NULL), KCG_SESSION_BAD_CSRF);
	assert_int_equal(kcg_sessions_check(s, id, TOKEN, T0 + 1, true, id, NULL, NULL), KCG_SESSION_BAD_CSRF);
	assert_int_equal(kcg_sessions_check(s, id, TOKEN, T0 + 1, true, csrf, NULL, NULL), KCG_SESSION_OK);
	/* the CSRF token is no session id */
	assert_int_equal(kcg_sessions_check(s, csrf, TOKEN, T0 + 1, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	kcg_sessions_destroy(s);
}

static void test_bad_ids(void **state)
{
	(void)state;
	struct kcg_sessions *s = kcg_sessions_create(2, TTL);
	char id[65], csrf[65], up[65];
	assert_int_equal(kcg_sessions_open(s, T0, TOKEN, id, csrf, NULL), 0);
	for (size_t i = 0; i < 65; i++)
		up[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	const char *bad[] = { NULL, "", "abc", up, TOKEN };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kcg_sessions_check(s, bad[i], TOKEN, T0, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	char longer[70];
	snprintf(longer, sizeof(longer), "%s00", id);
	assert_int_equal(kcg_sessions_check(s, longer, TOKEN, T0, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	char shorter[65];
	snprintf(shorter, sizeof(shorter), "%.63s", id);
	assert_int_equal(kcg_sessions_check(s, shorter, TOKEN, T0, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	/* the NULL table (no console) knows no session */
	assert_int_equal(kcg_sessions_check(NULL, id, TOKEN, T0, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	kcg_sessions_destroy(s);
	kcg_sessions_destroy(NULL);
}

static void test_expiry_and_close(void **state)
{
	(void)state;
	struct kcg_sessions *s = kcg_sessions_create(4, TTL);
	char a[65], b[65], csrf[65];
	assert_int_equal(kcg_sessions_open(s, T0, TOKEN, a, csrf, NULL), 0);
	assert_int_equal(kcg_sessions_open(s, T0 + 10, TOKEN, b, csrf, NULL), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(kcg_sessions_live(s, T0 + 20), 2);
	assert_int_equal(kcg_sessions_check(s, a, TOKEN, T0 + TTL - 1, false, NULL, NULL, NULL), KCG_SESSION_OK);
	assert_int_equal(kcg_sessions_check(s, a, TOKEN, T0 + TTL, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	assert_int_equal(kcg_sessions_check(s, b, TOKEN, T0 + TTL, false, NULL, NULL, NULL), KCG_SESSION_OK);
	kcg_sessions_close(s, b);
	assert_int_equal(kcg_sessions_check(s, b, TOKEN, T0 + 20, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	assert_int_equal(kcg_sessions_live(s, T0 + 20), 1);
	kcg_sessions_close(s, "not-a-session");
	kcg_sessions_destroy(s);
}

/* Past the cap, signing in ends the session nearest its expiry. */
static void test_cap(void **state)
{
	(void)state;
	struct kcg_sessions *s = kcg_sessions_create(3, TTL);
	char ids[4][65], csrf[65];
	for (int i = 0; i < 4; i++)
		assert_int_equal(kcg_sessions_open(s, T0 + (uint64_t)i, TOKEN, ids[i], csrf, NULL), 0);
	assert_int_equal(kcg_sessions_live(s, T0 + 5), 3);
	assert_int_equal(kcg_sessions_check(s, ids[0], TOKEN, T0 + 5, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	for (int i = 1; i < 4; i++)
		assert_int_equal(kcg_sessions_check(s, ids[i], TOKEN, T0 + 5, false, NULL, NULL, NULL), KCG_SESSION_OK);
	/* an expired slot is reused before a live one is ended */
	char e[65];
	assert_int_equal(kcg_sessions_open(s, T0 + 1 + TTL, TOKEN, e, csrf, NULL), 0);
	assert_int_equal(kcg_sessions_check(s, ids[3], TOKEN, T0 + 2 + TTL, false, NULL, NULL, NULL), KCG_SESSION_OK);
	assert_int_equal(kcg_sessions_check(s, e, TOKEN, T0 + 2 + TTL, false, NULL, NULL, NULL), KCG_SESSION_OK);
	kcg_sessions_destroy(s);
}

/* A reload that changes the admin token ends the sessions opened with the old one. */
static void test_token_binding(void **state)
{
	(void)state;
	struct kcg_sessions *s = kcg_sessions_create(2, TTL);
	char id[65], csrf[65];
	assert_int_equal(kcg_sessions_open(s, T0, TOKEN, id, csrf, NULL), 0);
	assert_int_equal(kcg_sessions_check(s, id, "a-new-admin-token-9876", T0, false, NULL, NULL, NULL),
			 KCG_SESSION_NONE);
	assert_int_equal(kcg_sessions_check(s, id, NULL, T0, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	assert_int_equal(kcg_sessions_check(s, id, "", T0, false, NULL, NULL, NULL), KCG_SESSION_NONE);
	assert_int_equal(kcg_sessions_check(s, id, TOKEN, T0, true, csrf, NULL, NULL), KCG_SESSION_OK);
	kcg_sessions_destroy(s);
}

static void test_cookie_value(void **state)
{
	(void)state;
	char out[80];
	assert_string_equal(kcg_cookie_value("a=1; sid=abc; b=2", "sid", out, sizeof(out)), "abc");
	assert_string_equal(kcg_cookie_value("sid=abc", "sid", out, sizeof(out)), "abc");
	assert_string_equal(kcg_cookie_value("xsid=no; sid=yes", "sid", out, sizeof(out)), "yes");
	assert_string_equal(kcg_cookie_value("sid=first; sid=second", "sid", out, sizeof(out)), "first");
	assert_string_equal(kcg_cookie_value("  sid=abc  ;", "sid", out, sizeof(out)), "abc");
	assert_null(kcg_cookie_value(NULL, "sid", out, sizeof(out)));
	assert_null(kcg_cookie_value("", "sid", out, sizeof(out)));
	assert_null(kcg_cookie_value("sidx=1; s=2", "sid", out, sizeof(out)));
	assert_null(kcg_cookie_value("sid", "sid", out, sizeof(out)));
	assert_null(kcg_cookie_value("sid=0123456789", "sid", out, 5)); /* does not fit: no session */
	assert_string_equal(kcg_cookie_value("sid=", "sid", out, sizeof(out)), "");
}

/* Every kind exceptions.h names has a runbook row with steps and a known
 * team (tests/runbook/check_docs.py also scans every source for kinds). */
static void test_runbook_rows(void **state)
{
	(void)state;
	const char *kinds[] = {
		KCG_EXC_UNKNOWN_SKU, KCG_EXC_ACCEPTANCE_DEADLINE, KCG_EXC_UNPARSEABLE_WEBHOOK, KCG_EXC_DEAD_JOB,
		KCG_EXC_BOOKED_CANCELLED, KCG_EXC_AUTO_REFUSED, KCG_EXC_ADDRESS_MISSING, KCG_EXC_KHAOS_REJECTED,
		KCG_EXC_MISSING_IN_KHAOS, KCG_EXC_ORDER_REF_TOO_LONG, KCG_EXC_ORDER_UNBOOKABLE, KCG_EXC_PRICE_MISMATCH,
		KCG_EXC_UNMAPPED_SHIPPING_METHOD, KCG_EXC_SHORT_STOCK, KCG_EXC_WEBHOOK_TRUNCATED,
		KCG_EXC_UNMAPPED_CARRIER, KCG_EXC_SHIPPING_DEADLINE, KCG_EXC_SHIPPED_CANCELLED, KCG_EXC_KHAOS_CANCELLED,
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct kcg_runbook_entry *e = kcg_runbook_find(kinds[i]);
		if (!e)
			fail_msg("no runbook row for %s", kinds[i]);
		assert_non_null(e->steps[0]);
		assert_true(strlen(e->meaning) > 20);
		bool team = false;
		for (size_t t = 0; kcg_runbook_teams[t]; t++)
			team |= strcmp(kcg_runbook_teams[t], e->owner) == 0;
		assert_true(team);
		assert_true(kcg_exc_severity_of(e->severity) >= 0);
	}
	assert_null(kcg_runbook_find("no_such_kind"));
	assert_null(kcg_runbook_find(NULL));
	json_t *j = kcg_runbook_json();
	assert_non_null(j);
	json_t *row = json_array_get(json_object_get(j, "kinds"), 0);
	assert_string_equal(json_string_value(json_object_get(row, "kind")), kcg_runbook[0].kind);
	assert_true(json_array_size(json_object_get(row, "steps")) >= 1);
	assert_true(json_array_size(json_object_get(j, "checks")) >= 8);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_check),  cmocka_unit_test(test_bad_ids),
		cmocka_unit_test(test_expiry_and_close), cmocka_unit_test(test_cap),
		cmocka_unit_test(test_token_binding), cmocka_unit_test(test_cookie_value),
		cmocka_unit_test(test_runbook_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
