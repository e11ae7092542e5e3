/*
 * test_util.c: number parsing, ids, constant-time compare, SHA-256,
 * base64, time formatting and the printable-ASCII sanitiser from src/util.c.
 *
 * The id tests run in the order listed in main(): kcg_make_id() keeps the
 * last millisecond it saw, so the test with a fixed 2016 timestamp must run
 * before any id is made at the current time.
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

#include "kcgate/common.h"

static void test_parse_u64(void **state)
{
	uint64_t v = 77;

	assert_int_equal(kcg_parse_u64("0", 0, UINT64_MAX, &v), 0);
	assert_true(v == 0);
	assert_int_equal(kcg_parse_u64("42", 0, UINT64_MAX, &v), 0);
	assert_true(v == 42);
	assert_int_equal(kcg_parse_u64("007", 0, UINT64_MAX, &v), 0);
	assert_true(v == 7);
	assert_int_equal(kcg_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);

	/* Not numbers: *out stays as it was. */
	static const char *const bad[] = {"", "+1", "-1", "-0", " 1", "1 ", "1\n", "1a", "a1",
					  "0x10", "1.5", "1e3", "1,000", "１"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 77;
		if (kcg_parse_u64(bad[i], 0, UINT64_MAX, &v) != -EINVAL)
			fail_msg("'%s' was not rejected with -EINVAL", bad[i]);
		assert_true(v == 77);
	}
	assert_int_equal(kcg_parse_u64(NULL, 0, UINT64_MAX, &v), -EINVAL);

	/* Overflow. */
	assert_int_equal(kcg_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(kcg_parse_u64("18446744073709551620", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(kcg_parse_u64("99999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(kcg_parse_u64("184467440737095516150", 0, UINT64_MAX, &v), -ERANGE);
	assert_true(v == 77);

	/* Bounds are inclusive. */
	assert_int_equal(kcg_parse_u64("1", 1, 65535, &v), 0);
	assert_true(v == 1);
	assert_int_equal(kcg_parse_u64("65535", 1, 65535, &v), 0);
	assert_true(v == 65535);
	v = 77;
	assert_int_equal(kcg_parse_u64("0", 1, 65535, &v), -ERANGE);
	assert_int_equal(kcg_parse_u64("65536", 1, 65535, &v), -ERANGE);
	assert_true(v == 77);
	assert_int_equal(kcg_parse_u64("5", 5, 5, &v), 0);
	assert_true(v == 5);
}

/* Crockford base32 digit value, or -1. */
static int crockford(char c)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

static void assert_id_shape(const char *id)
{
	assert_int_equal(strlen(id), KCG_ID_LEN);
	for (int i = 0; i < KCG_ID_LEN; i++) {
		if (crockford(id[i]) < 0)
			fail_msg("id %s has '%c' outside the Crockford alphabet", id, id[i]);
	}
	/* 128 bits in 130: the first digit carries only 3 bits. */
	assert_true(id[0] >= '0' && id[0] <= '7');
}

static uint64_t id_ms(const char *id)
{
	uint64_t ms = 0;
	for (int i = 0; i < 10; i++)
		ms = ms * 32 + (uint64_t)crockford(id[i]);
	return ms;
}

static void test_make_id_known_time(void **state)
{
	char id[KCG_ID_LEN + 1];
	/* The ULID spec's example: 1469918176385 encodes as 01ARYZ6S41. */
	assert_int_equal(kcg_make_id(1469918176385ull, id), 0);
	assert_id_shape(id);
	assert_memory_equal(id, "01ARYZ6S41", 10);
	assert_true(id_ms(id) == 1469918176385ull);
}

static void test_make_id_same_ms(void **state)
{
	char prev[KCG_ID_LEN + 1], id[KCG_ID_LEN + 1];
	uint64_t ms = kcg_now_ms();

	assert_int_equal(kcg_make_id(ms, prev), 0);
	assert_id_shape(prev);
	assert_true(id_ms(prev) == ms);
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(kcg_make_id(ms, id), 0);
		if (strcmp(prev, id) >= 0)
			fail_msg("id %s after %s (call %d)", id, prev, i);
		assert_id_shape(id);
		memcpy(prev, id, sizeof(id));
	}
	/* 100000 increments stay within the millisecond. */
	assert_true(id_ms(id) == ms);
}

static void test_make_id_across_ms(void **state)
{
	char prev[KCG_ID_LEN + 1], id[KCG_ID_LEN + 1];
	uint64_t ms = kcg_now_ms() + 1000;

	assert_int_equal(kcg_make_id(ms, prev), 0);
	for (int i = 1; i <= 1000; i++) {
		assert_int_equal(kcg_make_id(ms + (uint64_t)i, id), 0);
		assert_id_shape(id);
		assert_true(id_ms(id) == ms + (uint64_t)i);
		if (strcmp(prev, id) >= 0)
			fail_msg("id %s after %s", id, prev);
		memcpy(prev, id, sizeof(id));
	}
	/* The clock stepping back does not make ids go back. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(kcg_make_id(ms - 5000, id), 0);
		assert_id_shape(id);
		if (strcmp(prev, id) >= 0)
			fail_msg("id %s after %s (clock went back)", id, prev);
		memcpy(prev, id, sizeof(id));
	}
	/* Fresh milliseconds draw fresh randomness. */
	char a[KCG_ID_LEN + 1], b[KCG_ID_LEN + 1];
	assert_int_equal(kcg_make_id(ms + 5000, a), 0);
	assert_int_equal(kcg_make_id(ms + 5001, b), 0);
	assert_memory_not_equal(a + 10, b + 10, 16);
}

static void test_ct_equal(void **state)
{
	assert_true(kcg_ct_equal("secret", 6, "secret", 6));
	assert_false(kcg_ct_equal("secret", 6, "secreT", 6));
	assert_false(kcg_ct_equal("Secret", 6, "secret", 6));
	assert_false(kcg_ct_equal("secret", 6, "secrets", 7));
	assert_false(kcg_ct_equal("secrets", 7, "secret", 6));
	assert_false(kcg_ct_equal("secret", 5, "secret", 6)); /* prefix */
	assert_true(kcg_ct_equal("", 0, "", 0));
	assert_true(kcg_ct_equal(NULL, 0, NULL, 0));
	assert_false(kcg_ct_equal("", 0, "a", 1));
	assert_false(kcg_ct_equal("a", 1, "", 0));
	assert_false(kcg_ct_equal(NULL, 0, "a", 1));
	/* Binary data, NUL bytes included. */
	assert_true(kcg_ct_equal("a\0b", 3, "a\0b", 3));
	assert_false(kcg_ct_equal("a\0b", 3, "a\0c", 3));
	/* A difference in the high bit only. */
	assert_false(kcg_ct_equal("\x80", 1, "\x00", 1));
}

static void test_sha256_hex(void **state)
{
	char hex[65];
	memset(hex, 'x', sizeof(hex));
	kcg_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	kcg_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* FIPS 180-2 two-block vector. */
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	kcg_sha256_hex(m, strlen(m), hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_base64_vectors(void **state)
{
	/* RFC 4648 section 10. */
	static const char *const vec[][2] = {
		{"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},       {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	char enc[64];
	unsigned char dec[64];

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t len = strlen(vec[i][0]);
		memset(enc, 'x', sizeof(enc));
		assert_int_equal(kcg_base64_encode((const unsigned char *)vec[i][0], len, enc),
				 strlen(vec[i][1]));
		assert_string_equal(enc, vec[i][1]);
		assert_int_equal(kcg_base64_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof(dec)),
				 (int)len);
		assert_memory_equal(dec, vec[i][0], len);
	}
}

static void test_base64_round_trip(void **state)
{
	unsigned char in[3072], dec[3072];
	char enc[4097];

	srand(12345);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)rand();
	/* Every length up to 100 (all padding cases), then the largest. */
	for (size_t len = 0; len <= 3072; len = len < 100 ? len + 1 : len + 2972) {
		size_t n = kcg_base64_encode(in, len, enc);
		assert_int_equal(n, 4 * ((len + 2) / 3));
		assert_int_equal(strlen(enc), n);
		assert_int_equal(kcg_base64_decode(enc, n, dec, len), (int)len);
		assert_memory_equal(dec, in, len);
	}
}

static void test_base64_invalid(void **state)
{
	unsigned char out[4096];

	static const char *const bad[] = {
		"Zg",       /* padding missing */
		"Zg=",
		"Zm9vY",
		"Z===",     /* too much padding */
		"====",
		"Zm=v",     /* padding in the middle */
		"=Zm9",
		"Zm9v====",
		"Zg==Zg==", /* padding then more data */
		"Zm9-",     /* base64url alphabet */
		"Zm9_",
		"Zm 9",     /* whitespace */
		"Zm9\n",
		"Zm9v\n",
		"Zm.v",
		"Zm\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (kcg_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out)) != -EINVAL)
			fail_msg("'%s' was not rejected", bad[i]);
	}
	/* An embedded NUL counts as a character, and an invalid one. */
	assert_int_equal(kcg_base64_decode("Zm\0v", 4, out, sizeof(out)), -EINVAL);
	/* Empty input decodes to nothing. */
	assert_int_equal(kcg_base64_decode("", 0, out, 0), 0);
}

static void test_base64_limits(void **state)
{
	static char in[4104];
	static unsigned char out[4096];

	/* At most 4096 input bytes. */
	memset(in, 'A', sizeof(in));
	assert_int_equal(kcg_base64_decode(in, 4096, out, sizeof(out)), 3072);
	assert_int_equal(kcg_base64_decode(in, 4100, out, sizeof(out)), -EINVAL);
	assert_int_equal(kcg_base64_decode(in, 4104, out, sizeof(out)), -EINVAL);

	/* out_cap counts decoded bytes, padding excluded. */
	memset(out, 0xee, 8);
	assert_int_equal(kcg_base64_decode("Zm9vYmFy", 8, out, 5), -EINVAL);
	assert_int_equal(out[0], 0xee); /* nothing written on failure */
	assert_int_equal(kcg_base64_decode("Zm9vYmFy", 8, out, 6), 6);
	assert_int_equal(kcg_base64_decode("Zm9vYg==", 8, out, 3), -EINVAL);
	memset(out, 0xee, 8);
	assert_int_equal(kcg_base64_decode("Zm9vYg==", 8, out, 4), 4);
	assert_memory_equal(out, "foob", 4);
	assert_int_equal(out[4], 0xee); /* no write past the decoded length */
	assert_int_equal(kcg_base64_decode("Zg==", 4, out, 0), -EINVAL);
}

static void test_format_time(void **state)
{
	char buf[32];

	/* Expected values from: date -u -d @SECONDS +%FT%T.%3NZ */
	kcg_format_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	kcg_format_time(1700000000123ull, buf, sizeof(buf));
	assert_string_equal(buf, "2023-11-14T22:13:20.123Z");
	kcg_format_time(951782400999ull, buf, sizeof(buf)); /* leap day 2000 */
	assert_string_equal(buf, "2000-02-29T00:00:00.999Z");
	kcg_format_time(1798761599001ull, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-31T23:59:59.001Z");
	/* A short buffer is truncated, still terminated. */
	char small[11];
	kcg_format_time(1700000000123ull, small, sizeof(small));
	assert_string_equal(small, "2023-11-14");
}

static void test_clocks_and_errors(void **state)
{
	uint64_t ms = kcg_now_ms();
	assert_true(ms > 1600000000000ull); /* after 2020 */
	uint64_t a = kcg_mono_ns(), b = kcg_mono_ns();
	assert_true(b >= a);

	assert_string_equal(kcg_strerror(0), "success");
	assert_string_equal(kcg_strerror(KCG_EAUTH), "authentication failed");
	assert_string_equal(kcg_strerror(-ENOMEM), strerror(ENOMEM));
	assert_non_null(kcg_strerror(-4999));
	assert_non_null(kcg_strerror(12345));
}

/* kcg_printable(), the one sanitiser. */
static void test_printable_replaces(void **state)
{
	char out[32];

	assert_true(kcg_printable(out, sizeof(out), "plain text ~!", 13, 0));
	assert_string_equal(out, "plain text ~!");
	/* NUL, DEL, controls and each byte of a UTF-8 sequence become '?'. */
	static const char src[] = "a\0b\x7f\x1f\xc3\xa9 ~";
	memset(out, 'Z', sizeof(out));
	assert_true(kcg_printable(out, sizeof(out), src, sizeof(src) - 1, 0));
	assert_string_equal(out, "a?b???? ~");
	/* Empty input: an empty string. */
	memset(out, 'Z', sizeof(out));
	assert_true(kcg_printable(out, sizeof(out), "", 0, 0));
	assert_string_equal(out, "");
	/* Every byte value: the printable ones pass, every other one is '?'. */
	char all[256], got[257];
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	assert_true(kcg_printable(got, sizeof(got), all, sizeof(all), 0));
	assert_int_equal(strlen(got), 256);
	for (int i = 0; i < 256; i++)
		assert_int_equal(got[i], i >= 0x20 && i < 0x7f ? i : '?');
}

static void test_printable_truncates(void **state)
{
	char out[8];

	/* Cut to cap - 1 bytes, terminated, and reported. */
	assert_false(kcg_printable(out, 4, "abcdef", 6, 0));
	assert_string_equal(out, "abc");
	/* An exact fit is not a cut. */
	assert_true(kcg_printable(out, 4, "abc", 3, 0));
	assert_string_equal(out, "abc");
	/* The marker: a cut result ends in "...", a whole one does not. */
	assert_false(kcg_printable(out, sizeof(out), "abcdefghij", 10, KCG_PRINT_ELLIPSIS));
	assert_string_equal(out, "abcd...");
	assert_true(kcg_printable(out, sizeof(out), "abcdefg", 7, KCG_PRINT_ELLIPSIS));
	assert_string_equal(out, "abcdefg");
	assert_false(kcg_printable(out, sizeof(out), "\x01\x02\x03\x04\x05\x06\x07\x08", 8, KCG_PRINT_ELLIPSIS));
	assert_string_equal(out, "????...");
	/* Too small for a marker: plain cut. */
	assert_false(kcg_printable(out, 4, "abcdef", 6, KCG_PRINT_ELLIPSIS));
	assert_string_equal(out, "abc");
	/* cap 1: only the NUL; cap 0: nothing is written. */
	assert_false(kcg_printable(out, 1, "a", 1, 0));
	assert_string_equal(out, "");
	out[0] = 'Z';
	assert_false(kcg_printable(out, 0, "a", 1, 0));
	assert_int_equal(out[0], 'Z');
	assert_true(kcg_printable(out, 0, "", 0, 0));
}

static void test_printable_flags(void **state)
{
	char out[32];

	/* Squeeze: each whitespace run is one space; other controls still '?'. */
	assert_true(kcg_printable(out, sizeof(out), " a \t\r\n b\n\x01" "c  ", 13, KCG_PRINT_SQUEEZE));
	assert_string_equal(out, " a b ?c ");
	/* Without it, whitespace controls are '?'. */
	assert_true(kcg_printable(out, sizeof(out), "a\tb\n", 4, 0));
	assert_string_equal(out, "a?b?");
	/* Drop: non-printable bytes, NULs included, are left out. */
	assert_true(kcg_printable(out, sizeof(out), "a\xc3\xa9" "b\tc\0\x01" "d", 9, KCG_PRINT_DROP));
	assert_string_equal(out, "abcd");
	assert_true(kcg_printable(out, sizeof(out), "\xc3\xa9\n", 3, KCG_PRINT_DROP));
	assert_string_equal(out, "");
	/* Dropped bytes take no room. */
	assert_false(kcg_printable(out, 4, "\x01" "a\x02" "b\x03" "c\x04" "d", 8, KCG_PRINT_DROP));
	assert_string_equal(out, "abc");
	/* A cut within trailing whitespace is still a cut. */
	assert_false(kcg_printable(out, 4, "abc   ", 6, KCG_PRINT_SQUEEZE));
	assert_string_equal(out, "abc");
}

static void test_printable_in_place(void **state)
{
	char buf[32] = "x\x01y\x7f";
	assert_true(kcg_printable(buf, sizeof(buf), buf, strlen(buf), 0));
	assert_string_equal(buf, "x?y?");

	char sq[32] = "a  \n\n  b\x02\x03" "c";
	assert_true(kcg_printable(sq, sizeof(sq), sq, strlen(sq), KCG_PRINT_SQUEEZE | KCG_PRINT_DROP));
	assert_string_equal(sq, "a bc");
}

/* KCG_PRINT_PERCENT: network bytes for a log line, every byte readable. */
static void test_printable_percent(void **state)
{
	char out[32];
	assert_true(kcg_printable(out, sizeof(out), "/\xff a%b\x00", 7, KCG_PRINT_PERCENT));
	assert_string_equal(out, "/%FF%20a%b%00");
	/* what does not fit is cut and marked, within the buffer */
	char small[8];
	assert_false(kcg_printable(small, sizeof(small), "ab\xff\xff\xff", 5, KCG_PRINT_PERCENT));
	assert_string_equal(small, "ab%FF");
	assert_false(kcg_printable(small, sizeof(small), "ab\xff\xff\xff", 5, KCG_PRINT_PERCENT | KCG_PRINT_ELLIPSIS));
	assert_string_equal(small, "ab%F...");
	assert_false(kcg_printable(small, sizeof(small), "abcdefghij", 10, KCG_PRINT_PERCENT | KCG_PRINT_ELLIPSIS));
	assert_string_equal(small, "abcd...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_make_id_known_time), /* before any id at "now" */
		cmocka_unit_test(test_make_id_same_ms),
		cmocka_unit_test(test_make_id_across_ms),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_sha256_hex),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_base64_invalid),
		cmocka_unit_test(test_base64_limits),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_clocks_and_errors),
		cmocka_unit_test(test_printable_replaces),
		cmocka_unit_test(test_printable_truncates),
		cmocka_unit_test(test_printable_flags),
		cmocka_unit_test(test_printable_percent),
		cmocka_unit_test(test_printable_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
