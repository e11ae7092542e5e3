/*
 * test_auth.c: Standard Webhooks signatures, token, Basic and bearer.
 *
 * Expected signatures never come from auth.c: they are either fixed
 * vectors computed with the openssl command line (the command is next to
 * each) or computed at run time by running `openssl dgst -mac HMAC`, so a
 * bug in how auth.c builds the signed content cannot hide itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kcgate/auth.h"
#include "kcgate/common.h"

/* The published Standard Webhooks example (standardwebhooks.com spec):
 * secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw. Checked with:
 *   printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
 *     openssl dgst -sha256 -mac HMAC \
 *       -macopt hexkey:31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0 -binary |
 *     openssl base64 -A
 *   -> g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= */
static const unsigned char key_a[] = {0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a,
				      0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c,
				      0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0};
#define EX_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define EX_TS "1614265330"
#define EX_NOW 1614265330
#define EX_BODY "{\"test\": 2432232314}"
#define EX_SIG "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* A second key, bytes 00..1f (hex 000102...1f). Vector from:
 *   printf '%s' 'msg_2Kq7.1700000000.[{"order_id":"A-1","state":"SHIPPED"}]' |
 *     openssl dgst -sha256 -mac HMAC \
 *       -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
 *       -binary | openssl base64 -A */
static unsigned char key_b[32];
#define B_ID "msg_2Kq7"
#define B_TS "1700000000"
#define B_NOW 1700000000
#define B_BODY "[{\"order_id\":\"A-1\",\"state\":\"SHIPPED\"}]"
#define B_SIG "bkDLTnHWnIixDiYEAcVLtin8W8caQKjhDax/11RnkYg="

/* A key nobody configures. */
static const unsigned char key_c[] = "an unrelated key, 32 bytes long!";

static void auth_with(struct kcg_source_auth *auth, const unsigned char *const keys[],
		      const size_t lens[], size_t n)
{
	memset(auth, 0, sizeof(*auth));
	auth->mode = KCG_AUTH_STANDARD;
	auth->tolerance_s = 300;
	for (size_t i = 0; i < n; i++) {
		memcpy(auth->secrets[i], keys[i], lens[i]);
		auth->secret_lens[i] = lens[i];
	}
	auth->n_secrets = n;
}

static void auth_a(struct kcg_source_auth *auth)
{
	const unsigned char *keys[] = {key_a};
	size_t lens[] = {sizeof(key_a)};
	auth_with(auth, keys, lens, 1);
}

/* HMAC-SHA256 base64 of "id.ts.body" by the openssl CLI; the message goes
 * through a temporary file so no shell quoting touches it. */
static void openssl_sign(const unsigned char *key, size_t key_len, const char *id, const char *ts,
			 const char *body, char out[64])
{
	const char *dir = getenv("KCG_TEST_TMP");
	char path[512], hex[2 * 64 + 1], cmd[1024];

	snprintf(path, sizeof(path), "%s/kcg-auth-msg-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "%s.%s.%s", id, ts, body);
	assert_int_equal(fclose(f), 0);

	for (size_t i = 0; i < key_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	snprintf(cmd, sizeof(cmd),
		 "openssl dgst -sha256 -mac HMAC -macopt hexkey:%s -binary < '%s' | openssl base64 -A",
		 hex, path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, 63, p);
	int status = pclose(p);
	unlink(path);
	out[n] = '\0';
	if (status != 0 || n != 44)
		fail_msg("openssl CLI failed (status %d, output '%s'): is openssl installed?", status,
			 out);
}

static int std_check(const struct kcg_source_auth *auth, const char *id, const char *ts,
		     const char *sig, const char *body, int64_t now)
{
	const char *why = NULL;
	int r = kcg_auth_standard(auth, id, ts, sig, body, body ? strlen(body) : 0, now, &why);
	assert_non_null(why);
	if (r != 0)
		assert_int_equal(r, KCG_EAUTH);
	return r;
}

static void test_published_vector(void **state)
{
	struct kcg_source_auth auth;
	auth_a(&auth);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, EX_BODY, EX_NOW), 0);
}

static void test_openssl_matches_published(void **state)
{
	/* The run-time signer agrees with the published vector, so the
	 * vectors below that it makes can be trusted. */
	char sig[64];
	openssl_sign(key_a, sizeof(key_a), EX_ID, EX_TS, EX_BODY, sig);
	assert_string_equal(sig, EX_SIG);
}

static void test_valid_now(void **state)
{
	struct kcg_source_auth auth;
	char sig[64], hdr[160], ts[32];
	int64_t now = (int64_t)(kcg_now_ms() / 1000);
	const char *body = "[{\"id\":\"2001\",\"type\":\"ORDER\",\"amount\":\"12.50\"}]";

	auth_a(&auth);
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	openssl_sign(key_a, sizeof(key_a), "msg_now", ts, body, sig);
	snprintf(hdr, sizeof(hdr), "v1,%s", sig);
	assert_int_equal(std_check(&auth, "msg_now", ts, hdr, body, now), 0);
	/* An empty body is signed too ("id.ts."). */
	openssl_sign(key_a, sizeof(key_a), "msg_empty", ts, "", sig);
	snprintf(hdr, sizeof(hdr), "v1,%s", sig);
	assert_int_equal(std_check(&auth, "msg_empty", ts, hdr, "", now), 0);
	assert_int_equal(kcg_auth_standard(&auth, "msg_empty", ts, hdr, NULL, 0, now, NULL), 0);
}

static void test_rotated_secrets(void **state)
{
	struct kcg_source_auth auth;
	const unsigned char *keys[] = {key_a, key_b};
	size_t lens[] = {sizeof(key_a), sizeof(key_b)};
	char sig[64], hdr[160];

	auth_with(&auth, keys, lens, 2);
	/* Signed with the second (new) key only. */
	assert_int_equal(std_check(&auth, B_ID, B_TS, "v1," B_SIG, B_BODY, B_NOW), 0);
	/* ...and the old key still works during rotation. */
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, EX_BODY, EX_NOW), 0);
	/* A sender signing with both keys. */
	openssl_sign(key_a, sizeof(key_a), B_ID, B_TS, B_BODY, sig);
	snprintf(hdr, sizeof(hdr), "v1,%s v1,%s", sig, B_SIG);
	assert_int_equal(std_check(&auth, B_ID, B_TS, hdr, B_BODY, B_NOW), 0);
	/* A key nobody configured. */
	openssl_sign(key_c, sizeof(key_c) - 1, B_ID, B_TS, B_BODY, sig);
	snprintf(hdr, sizeof(hdr), "v1,%s", sig);
	assert_int_equal(std_check(&auth, B_ID, B_TS, hdr, B_BODY, B_NOW), KCG_EAUTH);

	/* Once the old key is removed, its signatures fail. */
	const unsigned char *only_b[] = {key_b};
	size_t only_b_len[] = {sizeof(key_b)};
	auth_with(&auth, only_b, only_b_len, 1);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, EX_BODY, EX_NOW), KCG_EAUTH);
	assert_int_equal(std_check(&auth, B_ID, B_TS, "v1," B_SIG, B_BODY, B_NOW), 0);
}

static void test_last_entry_matches(void **state)
{
	struct kcg_source_auth auth;
	char wrong[64], hdr[512];

	auth_a(&auth);
	openssl_sign(key_c, sizeof(key_c) - 1, EX_ID, EX_TS, EX_BODY, wrong);
	snprintf(hdr, sizeof(hdr), "v1,%s v1a,%s v2,%s garbage v1,%s", wrong, EX_SIG, EX_SIG, EX_SIG);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), 0);
	/* Extra spaces between and around entries are tolerated. */
	snprintf(hdr, sizeof(hdr), "  v1,%s    v1,%s  ", wrong, EX_SIG);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), 0);
	/* Without the matching entry the rest are not enough. */
	snprintf(hdr, sizeof(hdr), "v1,%s v1a,%s v2,%s", wrong, EX_SIG, EX_SIG);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), KCG_EAUTH);
}

static void test_tampered(void **state)
{
	struct kcg_source_auth auth;
	auth_a(&auth);
	/* body: one changed byte, one extra byte, one missing byte */
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, "{\"test\": 2432232315}", EX_NOW),
			 KCG_EAUTH);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, EX_BODY " ", EX_NOW), KCG_EAUTH);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, "{\"test\": 243223231}", EX_NOW),
			 KCG_EAUTH);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, "", EX_NOW), KCG_EAUTH);
	/* id */
	assert_int_equal(std_check(&auth, "msg_p5jXN8AQM9LWM0D4loKWxJeK", EX_TS, "v1," EX_SIG, EX_BODY,
				   EX_NOW),
			 KCG_EAUTH);
	assert_int_equal(std_check(&auth, "", EX_TS, "v1," EX_SIG, EX_BODY, EX_NOW), KCG_EAUTH);
	/* timestamp (still within tolerance, so only the signature fails) */
	assert_int_equal(std_check(&auth, EX_ID, "1614265331", "v1," EX_SIG, EX_BODY, EX_NOW),
			 KCG_EAUTH);
	/* signature: one flipped character, and one byte short */
	assert_int_equal(std_check(&auth, EX_ID, EX_TS,
				   "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", EX_BODY, EX_NOW),
			 KCG_EAUTH);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS,
				   "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1A==", EX_BODY, EX_NOW),
			 KCG_EAUTH);
}

/* Signs at timestamp now+delta and checks it against now. */
static int at_offset(const struct kcg_source_auth *auth, int64_t now, int64_t delta)
{
	char ts[32], sig[64], hdr[160];
	snprintf(ts, sizeof(ts), "%lld", (long long)(now + delta));
	openssl_sign(key_a, sizeof(key_a), "msg_time", ts, "{}", sig);
	snprintf(hdr, sizeof(hdr), "v1,%s", sig);
	return std_check(auth, "msg_time", ts, hdr, "{}", now);
}

static void test_timestamp_tolerance(void **state)
{
	struct kcg_source_auth auth;
	int64_t now = 1700000000;
	const char *why = NULL;

	auth_a(&auth);
	assert_int_equal(at_offset(&auth, now, 0), 0);
	assert_int_equal(at_offset(&auth, now, -300), 0);   /* just inside, stale side */
	assert_int_equal(at_offset(&auth, now, -301), KCG_EAUTH);
	assert_int_equal(at_offset(&auth, now, 300), 0);    /* just inside, future side */
	assert_int_equal(at_offset(&auth, now, 301), KCG_EAUTH);
	assert_int_equal(at_offset(&auth, now, -86400), KCG_EAUTH);
	assert_int_equal(at_offset(&auth, now, 86400), KCG_EAUTH);
	/* The published vector replayed a day later. */
	assert_int_equal(kcg_auth_standard(&auth, EX_ID, EX_TS, "v1," EX_SIG, EX_BODY,
					   strlen(EX_BODY), EX_NOW + 86400, &why),
			 KCG_EAUTH);
	assert_string_equal(why, "timestamp outside tolerance");
	/* tolerance 0: only the exact second */
	auth.tolerance_s = 0;
	assert_int_equal(at_offset(&auth, now, 0), 0);
	assert_int_equal(at_offset(&auth, now, 1), KCG_EAUTH);
	assert_int_equal(at_offset(&auth, now, -1), KCG_EAUTH);
}

static void test_malformed(void **state)
{
	struct kcg_source_auth auth;
	const char *why = NULL;
	auth_a(&auth);

	static const char *const bad_sigs[] = {
		"",
		"   ",
		"v1" EX_SIG,                 /* no comma */
		"v1 " EX_SIG,                /* space instead of comma */
		"v1;" EX_SIG,
		"," EX_SIG,
		"v1,",
		"v1,!!!!",                   /* not base64 */
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", /* padding missing */
		"v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* base64url */
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==",
		"v1a," EX_SIG,               /* wrong version only */
		"v2," EX_SIG,
		"V1," EX_SIG,
		"v1a," EX_SIG " v2," EX_SIG,
		EX_SIG,
	};
	for (size_t i = 0; i < sizeof(bad_sigs) / sizeof(bad_sigs[0]); i++) {
		if (std_check(&auth, EX_ID, EX_TS, bad_sigs[i], EX_BODY, EX_NOW) != KCG_EAUTH)
			fail_msg("signature header '%s' was accepted", bad_sigs[i]);
	}

	static const char *const bad_ts[] = {
		"", "16142653x0", "-1614265330", "+1614265330", " 1614265330", "1614265330 ",
		"1614265330.0", "0x60372ef2", "1.6e9", "99999999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
		if (std_check(&auth, EX_ID, bad_ts[i], "v1," EX_SIG, EX_BODY, EX_NOW) != KCG_EAUTH)
			fail_msg("timestamp '%s' was accepted", bad_ts[i]);
	}

	/* Missing headers. */
	assert_int_equal(kcg_auth_standard(&auth, NULL, EX_TS, "v1," EX_SIG, EX_BODY,
					   strlen(EX_BODY), EX_NOW, &why),
			 KCG_EAUTH);
	assert_string_equal(why, "missing webhook-id");
	assert_int_equal(kcg_auth_standard(&auth, EX_ID, NULL, "v1," EX_SIG, EX_BODY,
					   strlen(EX_BODY), EX_NOW, &why),
			 KCG_EAUTH);
	assert_string_equal(why, "missing webhook-timestamp");
	assert_int_equal(kcg_auth_standard(&auth, EX_ID, EX_TS, NULL, EX_BODY, strlen(EX_BODY),
					   EX_NOW, &why),
			 KCG_EAUTH);
	assert_string_equal(why, "missing webhook-signature");
	assert_int_equal(kcg_auth_standard(&auth, EX_ID, EX_TS, "v1,AAAA", EX_BODY,
					   strlen(EX_BODY), EX_NOW, &why),
			 KCG_EAUTH);
	assert_string_equal(why, "signature mismatch");
}

static void test_limits(void **state)
{
	struct kcg_source_auth auth;
	char hdr[8192];
	size_t off = 0;

	auth_a(&auth);
	/* 15 non-matching entries and the good one: 16 entries, accepted. */
	for (int i = 0; i < 15; i++)
		off += (size_t)snprintf(hdr + off, sizeof(hdr) - off, "v1,AAAA ");
	snprintf(hdr + off, sizeof(hdr) - off, "v1,%s", EX_SIG);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), 0);
	/* 17 entries, even with the good one first: refused. */
	snprintf(hdr, sizeof(hdr), "v1,%s", EX_SIG);
	off = strlen(hdr);
	for (int i = 0; i < 16; i++)
		off += (size_t)snprintf(hdr + off, sizeof(hdr) - off, " v1a,x");
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), KCG_EAUTH);

	/* 4096 bytes accepted, 4097 refused (padding with spaces). */
	snprintf(hdr, sizeof(hdr), "v1,%s", EX_SIG);
	off = strlen(hdr);
	memset(hdr + off, ' ', 4096 - off);
	hdr[4096] = '\0';
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), 0);
	hdr[4096] = ' ';
	hdr[4097] = '\0';
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), KCG_EAUTH);

	/* One huge base64 entry (decodes past any MAC length). */
	memcpy(hdr, "v1,", 3);
	memset(hdr + 3, 'A', 4000);
	hdr[4003] = '\0';
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, hdr, EX_BODY, EX_NOW), KCG_EAUTH);
}

static void test_no_secret(void **state)
{
	struct kcg_source_auth auth;
	auth_with(&auth, NULL, NULL, 0);
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, EX_BODY, EX_NOW), KCG_EAUTH);
	/* A zero-length key slot is never used as an (empty) HMAC key. */
	auth.n_secrets = 1;
	auth.secret_lens[0] = 0;
	assert_int_equal(std_check(&auth, EX_ID, EX_TS, "v1," EX_SIG, EX_BODY, EX_NOW), KCG_EAUTH);
}

/* A request's headers for kcg_auth_webhook(): name/value pairs, looked up
 * case-insensitively like libmicrohttpd does. */
struct fake_headers {
	const char *kv[16];
	size_t n;
};

static const char *fake_header(void *ctx, const char *name)
{
	struct fake_headers *h = ctx;
	for (size_t i = 0; i + 1 < h->n; i += 2) {
		if (strcasecmp(h->kv[i], name) == 0)
			return h->kv[i + 1];
	}
	return NULL;
}

static int webhook(const struct kcg_source_auth *auth, struct fake_headers *h, const char *body,
		   int64_t now)
{
	const char *why = NULL;
	int r = kcg_auth_webhook(auth, fake_header, h, body, strlen(body), now, &why);
	assert_non_null(why);
	return r;
}

static void test_webhook_standard(void **state)
{
	struct kcg_source_auth auth;
	auth_a(&auth);
	struct fake_headers h = {{"Webhook-Id", EX_ID, "Webhook-Timestamp", EX_TS,
				  "Webhook-Signature", "v1a,xyz v1," EX_SIG},
				 6};
	assert_int_equal(webhook(&auth, &h, EX_BODY, EX_NOW), 0);
	assert_int_equal(webhook(&auth, &h, EX_BODY "x", EX_NOW), KCG_EAUTH);
	h.n = 4; /* no signature header */
	assert_int_equal(webhook(&auth, &h, EX_BODY, EX_NOW), KCG_EAUTH);
	struct fake_headers none = {{NULL}, 0};
	assert_int_equal(webhook(&auth, &none, EX_BODY, EX_NOW), KCG_EAUTH);
}

static void test_webhook_token(void **state)
{
	struct kcg_source_auth auth = {0};
	auth.mode = KCG_AUTH_TOKEN;
	auth.token = "s3cret-token";
	auth.token_header = "X-Webhook-Token";

	struct fake_headers ok = {{"x-webhook-token", "s3cret-token"}, 2};
	assert_int_equal(webhook(&auth, &ok, "{}", 0), 0);
	struct fake_headers wrong = {{"X-Webhook-Token", "s3cret-tokem"}, 2};
	assert_int_equal(webhook(&auth, &wrong, "{}", 0), KCG_EAUTH);
	struct fake_headers prefix = {{"X-Webhook-Token", "s3cret-toke"}, 2};
	assert_int_equal(webhook(&auth, &prefix, "{}", 0), KCG_EAUTH);
	struct fake_headers longer = {{"X-Webhook-Token", "s3cret-token2"}, 2};
	assert_int_equal(webhook(&auth, &longer, "{}", 0), KCG_EAUTH);
	struct fake_headers empty = {{"X-Webhook-Token", ""}, 2};
	assert_int_equal(webhook(&auth, &empty, "{}", 0), KCG_EAUTH);
	struct fake_headers other = {{"X-Other-Token", "s3cret-token"}, 2};
	assert_int_equal(webhook(&auth, &other, "{}", 0), KCG_EAUTH);
	struct fake_headers bearer = {{"Authorization", "Bearer s3cret-token"}, 2};
	assert_int_equal(webhook(&auth, &bearer, "{}", 0), KCG_EAUTH);

	/* A custom header name, and the default when none is set. */
	auth.token_header = "X-Inriver-Key";
	struct fake_headers custom = {{"X-Inriver-Key", "s3cret-token"}, 2};
	assert_int_equal(webhook(&auth, &custom, "{}", 0), 0);
	assert_int_equal(webhook(&auth, &ok, "{}", 0), KCG_EAUTH);
	auth.token_header = NULL;
	assert_int_equal(webhook(&auth, &ok, "{}", 0), 0);

	/* No token configured never means "anything goes". */
	auth.token = NULL;
	assert_int_equal(webhook(&auth, &ok, "{}", 0), KCG_EAUTH);
	auth.token = "";
	assert_int_equal(webhook(&auth, &empty, "{}", 0), KCG_EAUTH);
}

static int basic(const struct kcg_source_auth *auth, const char *authorization)
{
	struct fake_headers h = {{"authorization", authorization}, authorization ? 2 : 0};
	return webhook(auth, &h, "{}", 0);
}

static void test_webhook_basic(void **state)
{
	struct kcg_source_auth auth = {0};
	auth.mode = KCG_AUTH_BASIC;
	auth.user = "user";
	auth.password = "pass";

	/* Credentials from: printf '%s' 'user:pass' | openssl base64 -A, etc. */
	assert_int_equal(basic(&auth, "Basic dXNlcjpwYXNz"), 0);            /* user:pass */
	assert_int_equal(basic(&auth, "basic dXNlcjpwYXNz"), 0);
	assert_int_equal(basic(&auth, "BASIC   dXNlcjpwYXNz"), 0);
	assert_int_equal(basic(&auth, "Basic dXNlcjpwYXNz "), 0);
	assert_int_equal(basic(&auth, "Basic dXNlcjp3cm9uZw=="), KCG_EAUTH); /* user:wrong */
	assert_int_equal(basic(&auth, "Basic dXNlcjo="), KCG_EAUTH);         /* user: */
	assert_int_equal(basic(&auth, "Basic OnBhc3M="), KCG_EAUTH);         /* :pass */
	assert_int_equal(basic(&auth, "Basic dXNlcnBhc3M="), KCG_EAUTH);     /* userpass */
	assert_int_equal(basic(&auth, "Basic dXNlcjpwYTpzcw=="), KCG_EAUTH); /* user:pa:ss */
	assert_int_equal(basic(&auth, "BasicdXNlcjpwYXNz"), KCG_EAUTH);
	assert_int_equal(basic(&auth, "Basic"), KCG_EAUTH);
	assert_int_equal(basic(&auth, "Basic "), KCG_EAUTH);
	assert_int_equal(basic(&auth, "Basic dXNlcjpwYXNz!"), KCG_EAUTH);
	assert_int_equal(basic(&auth, "Basic dXNlcjpwYXN"), KCG_EAUTH);
	assert_int_equal(basic(&auth, "Bearer dXNlcjpwYXNz"), KCG_EAUTH);
	assert_int_equal(basic(&auth, "dXNlcjpwYXNz"), KCG_EAUTH);
	assert_int_equal(basic(&auth, ""), KCG_EAUTH);
	assert_int_equal(basic(&auth, NULL), KCG_EAUTH);

	/* The password may contain ':' (only the first one splits). */
	auth.password = "pa:ss";
	assert_int_equal(basic(&auth, "Basic dXNlcjpwYTpzcw=="), 0);
	assert_int_equal(basic(&auth, "Basic dXNlcjpwYXNz"), KCG_EAUTH);

	/* Nothing configured: no request passes, not even an empty one. */
	auth.password = NULL;
	assert_int_equal(basic(&auth, "Basic dXNlcjo="), KCG_EAUTH);
	auth.password = "";
	assert_int_equal(basic(&auth, "Basic dXNlcjo="), KCG_EAUTH);
}

static void test_webhook_none_unset(void **state)
{
	struct kcg_source_auth auth = {0};
	struct fake_headers none = {{NULL}, 0};

	auth.mode = KCG_AUTH_UNSET;
	assert_int_equal(webhook(&auth, &none, "{}", 0), KCG_EAUTH);
	auth.mode = KCG_AUTH_NONE;
	assert_int_equal(webhook(&auth, &none, "{}", 0), 0);
	auth.mode = (enum kcg_webhook_auth)42;
	assert_int_equal(webhook(&auth, &none, "{}", 0), KCG_EAUTH);
}

static void test_bearer(void **state)
{
	const char *tok = "adm1n-T0ken";

	assert_int_equal(kcg_auth_bearer("Bearer adm1n-T0ken", tok), 0);
	assert_int_equal(kcg_auth_bearer("bearer adm1n-T0ken", tok), 0);
	assert_int_equal(kcg_auth_bearer("BEARER    adm1n-T0ken", tok), 0);
	assert_int_equal(kcg_auth_bearer("Bearer adm1n-T0ken ", tok), 0);
	assert_int_equal(kcg_auth_bearer("Bearer adm1n-t0ken", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer adm1n-T0ke", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer adm1n-T0ken2", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer adm1n-T0ken x", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Beareradm1n-T0ken", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Basic adm1n-T0ken", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("adm1n-T0ken", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer ", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer  ", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("", tok), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer(NULL, tok), KCG_EAUTH);
	/* No admin token configured: nothing passes, not even an empty one. */
	assert_int_equal(kcg_auth_bearer("Bearer ", ""), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer x", ""), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer("Bearer x", NULL), KCG_EAUTH);
	assert_int_equal(kcg_auth_bearer(NULL, NULL), KCG_EAUTH);
}

static int setup_keys(void **state)
{
	for (size_t i = 0; i < sizeof(key_b); i++)
		key_b[i] = (unsigned char)i;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_published_vector),
		cmocka_unit_test(test_openssl_matches_published),
		cmocka_unit_test(test_valid_now),
		cmocka_unit_test(test_rotated_secrets),
		cmocka_unit_test(test_last_entry_matches),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_timestamp_tolerance),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_no_secret),
		cmocka_unit_test(test_webhook_standard),
		cmocka_unit_test(test_webhook_token),
		cmocka_unit_test(test_webhook_basic),
		cmocka_unit_test(test_webhook_none_unset),
		cmocka_unit_test(test_bearer),
	};
	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
