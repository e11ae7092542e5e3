/*
 * fuzz-signature.c: libFuzzer target for the authentication parsers.
 *
 * Input: "<webhook-signature>\n<webhook-id>\n<webhook-timestamp>\n<body>";
 * a part missing because the input has fewer lines is a missing header.
 * The first line is also tried as an Authorization header (Basic and
 * Bearer). Beyond crashes, any accepted signature is re-checked against
 * HMAC() over a concatenated copy, so a false accept aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kcgate/auth.h"
#include "kcgate/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw (the Standard Webhooks example) and
 * a second key 00..1f, as in tests/unit/test_auth.c. */
static const unsigned char key_a[] = {0x31, 0xf2, 0x90, 0xf6, 0xbf, 0x06, 0x29, 0x8a,
				      0xab, 0x4f, 0x08, 0xd4, 0x3c, 0x3f, 0x08, 0x2c,
				      0xf6, 0x48, 0xa3, 0x62, 0xda, 0x2d, 0xa4, 0xb0};
#define NOW_S 1614265330

static struct kcg_source_auth auth;

static void setup(void)
{
	auth.mode = KCG_AUTH_STANDARD;
	auth.tolerance_s = 300;
	memcpy(auth.secrets[0], key_a, sizeof(key_a));
	auth.secret_lens[0] = sizeof(key_a);
	for (int i = 0; i < 32; i++)
		auth.secrets[1][i] = (unsigned char)i;
	auth.secret_lens[1] = 32;
	auth.n_secrets = 2;
	auth.user = "user";
	auth.password = "pass";
}

/* Splits off the next line as a NUL-terminated copy; NULL when no line is left. */
static char *next_line(const uint8_t **p, const uint8_t *end)
{
	if (!*p)
		return NULL;
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, *p, len);
	s[len] = '\0';
	*p = nl ? nl + 1 : NULL;
	return s;
}

static const char *basic_header(void *ctx, const char *name)
{
	return strcasecmp(name, "Authorization") == 0 ? ctx : NULL;
}

/* The independent check: some "v1," entry decodes to HMAC(key, id.ts.body). */
static int really_signed(const char *sig, const char *id, const char *ts, const uint8_t *body,
			 size_t body_len)
{
	size_t id_len = strlen(id), ts_len = strlen(ts);
	size_t len = id_len + 1 + ts_len + 1 + body_len;
	unsigned char *msg = malloc(len + 1);
	unsigned char mac[2][EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	int found = 0;

	if (!msg)
		abort();
	memcpy(msg, id, id_len);
	msg[id_len] = '.';
	memcpy(msg + id_len + 1, ts, ts_len);
	msg[id_len + 1 + ts_len] = '.';
	if (body_len)
		memcpy(msg + id_len + ts_len + 2, body, body_len);
	for (int k = 0; k < 2; k++) {
		if (!HMAC(EVP_sha256(), auth.secrets[k], (int)auth.secret_lens[k], msg, len, mac[k],
			  &mac_len))
			abort();
	}
	free(msg);

	char *copy = strdup(sig), *save = NULL;
	if (!copy)
		abort();
	for (char *e = strtok_r(copy, " \t", &save); e; e = strtok_r(NULL, " \t", &save)) {
		unsigned char dec[64];
		int n;
		if (strncmp(e, "v1,", 3) != 0)
			continue;
		n = kcg_base64_decode(e + 3, strlen(e + 3), dec, sizeof(dec));
		for (int k = 0; k < 2; k++)
			found |= n == (int)mac_len && memcmp(dec, mac[k], mac_len) == 0;
	}
	free(copy);
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	const char *why = NULL;

	if (!auth.n_secrets)
		setup();
	char *sig = next_line(&p, end);
	char *id = next_line(&p, end);
	char *ts = next_line(&p, end);
	const uint8_t *body = p;
	size_t body_len = p ? (size_t)(end - p) : 0;

	int r = kcg_auth_standard(&auth, id, ts, sig, body, body_len, NOW_S, &why);
	if (!why)
		abort();
	if (r == 0 && !really_signed(sig, id, ts, body, body_len))
		abort();
	if (r != 0 && r != KCG_EAUTH)
		abort();

	auth.mode = KCG_AUTH_BASIC;
	r = kcg_auth_webhook(&auth, basic_header, sig, body, body_len, NOW_S, &why);
	if (r == 0 && strncasecmp(sig, "basic ", 6) != 0)
		abort();
	auth.mode = KCG_AUTH_STANDARD;
	(void)kcg_auth_bearer(sig, "s3cret-token");

	free(ts);
	free(id);
	free(sig);
	return 0;
}
