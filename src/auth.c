/*
 * auth.c: Standard Webhooks signatures, a shared token header, HTTP Basic
 * and the admin bearer token.
 *
 * Everything here reads attacker-controlled header values, so parsing
 * never copies more than a bounded amount, every secret comparison goes
 * through kcg_ct_equal(), and every failure is the same KCG_EAUTH (the
 * @p why strings are for debug logs only, never for the HTTP answer).
 */
#include "kcgate/auth.h"

#include "kcgate/common.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* Bounds on the webhook-signature header: a sender rotating secrets needs
 * two or three entries, so anything far beyond is refused rather than
 * decoded entry by entry. */
#define SIG_HEADER_MAX 4096
#define SIG_ENTRIES_MAX 16

#define MAC_LEN 32 /* HMAC-SHA256 */

/* Longest Basic credential we decode ("user:password"). */
#define BASIC_MAX 1024

#define DEFAULT_TOKEN_HEADER "X-Webhook-Token"

/* The HMAC implementation is fetched once: a fetch per request would take
 * OpenSSL's provider lock and a name lookup on every webhook. */
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac_alg;

static void hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static void set_why(const char **why, const char *reason)
{
	if (why)
		*why = reason;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* HMAC-SHA256(key, id "." ts "." body), streamed so the body (up to
 * max_body_bytes) is never copied. */
static int mac_one(EVP_MAC_CTX *ctx, const unsigned char *key, size_t key_len, const char *id,
		   const char *ts, const void *body, size_t body_len, unsigned char out[MAC_LEN])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	size_t out_len = 0;

	if (EVP_MAC_init(ctx, key, key_len, params) != 1)
		return -EIO;
	if (EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1)
		return -EIO;
	if (body_len > 0 && EVP_MAC_update(ctx, body, body_len) != 1)
		return -EIO;
	if (EVP_MAC_final(ctx, out, &out_len, MAC_LEN) != 1 || out_len != MAC_LEN)
		return -EIO;
	return 0;
}

/* Too old and too new both fail; exactly tolerance_s away still passes
 * (as in the reference Standard Webhooks libraries). */
static bool timestamp_ok(const char *timestamp, int64_t now_s, uint64_t tolerance_s)
{
	uint64_t ts;

	if (now_s < 0)
		return false;
	if (kcg_parse_u64(timestamp, 0, INT64_MAX, &ts) != 0)
		return false;
	uint64_t now = (uint64_t)now_s;
	uint64_t skew = ts > now ? ts - now : now - ts;
	return skew <= tolerance_s;
}

int kcg_auth_standard(const struct kcg_source_auth *auth, const char *id, const char *timestamp,
		      const char *signature, const void *body, size_t body_len, int64_t now_s,
		      const char **why)
{
	unsigned char macs[KCG_MAX_SECRETS][MAC_LEN];
	size_t n_macs = 0;
	bool matched = false;
	int ret = KCG_EAUTH;

	if (!id) {
		set_why(why, "missing webhook-id");
		return KCG_EAUTH;
	}
	if (!timestamp) {
		set_why(why, "missing webhook-timestamp");
		return KCG_EAUTH;
	}
	if (!signature) {
		set_why(why, "missing webhook-signature");
		return KCG_EAUTH;
	}
	if (strnlen(signature, SIG_HEADER_MAX + 1) > SIG_HEADER_MAX) {
		set_why(why, "webhook-signature too long");
		return KCG_EAUTH;
	}
	if (!timestamp_ok(timestamp, now_s, auth->tolerance_s)) {
		set_why(why, "timestamp outside tolerance");
		return KCG_EAUTH;
	}

	pthread_once(&hmac_once, hmac_fetch);
	if (!hmac_alg) {
		set_why(why, "HMAC unavailable");
		return KCG_EAUTH;
	}
	/* One context for all keys: the only allocation per request. */
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
	if (!ctx) {
		set_why(why, "out of memory");
		return KCG_EAUTH;
	}
	/* Each key's MAC once, then every entry is compared against all of
	 * them: the body is hashed n_secrets times, not n_entries times. */
	for (size_t k = 0; k < auth->n_secrets && k < KCG_MAX_SECRETS; k++) {
		if (auth->secret_lens[k] == 0 || auth->secret_lens[k] > sizeof(auth->secrets[k]))
			continue;
		if (mac_one(ctx, auth->secrets[k], auth->secret_lens[k], id, timestamp, body, body_len,
			    macs[n_macs]) != 0) {
			set_why(why, "HMAC failure");
			goto out_ctx;
		}
		n_macs++;
	}
	if (n_macs == 0) {
		set_why(why, "no webhook secret configured");
		goto out_ctx;
	}

	const char *p = signature;
	size_t entries = 0;
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && !is_space(*p))
			p++;
		size_t len = (size_t)(p - start);
		if (++entries > SIG_ENTRIES_MAX) {
			set_why(why, "too many signatures");
			goto out_macs;
		}
		/* Only v1 is HMAC-SHA256; v1a (ed25519) and unknown versions are
		 * someone else's, and an entry without a comma is malformed:
		 * either way not ours to match. */
		if (len < 3 || memcmp(start, "v1,", 3) != 0)
			continue;
		unsigned char sig[64];
		int n = kcg_base64_decode(start + 3, len - 3, sig, sizeof(sig));
		if (n < 0)
			continue;
		for (size_t k = 0; k < n_macs; k++)
			matched |= kcg_ct_equal(sig, (size_t)n, macs[k], MAC_LEN);
	}
	if (matched) {
		set_why(why, "ok");
		ret = 0;
	} else {
		set_why(why, entries ? "signature mismatch" : "empty webhook-signature");
	}

out_macs:
	OPENSSL_cleanse(macs, sizeof(macs));
out_ctx:
	EVP_MAC_CTX_free(ctx);
	return ret;
}

/* Matches "<scheme> <credentials>" with a case-insensitive scheme and one
 * or more spaces; returns the credentials (trailing whitespace excluded,
 * length in *len) or NULL. */
static const char *auth_param(const char *value, const char *scheme, size_t *len)
{
	size_t slen = strlen(scheme);

	if (!value || strncasecmp(value, scheme, slen) != 0 || value[slen] != ' ')
		return NULL;
	const char *p = value + slen;
	while (*p == ' ')
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_space(p[n - 1]))
		n--;
	if (n == 0)
		return NULL;
	*len = n;
	return p;
}

int kcg_auth_bearer(const char *authorization, const char *token)
{
	size_t len;

	if (!token || !*token)
		return KCG_EAUTH;
	const char *cred = auth_param(authorization, "Bearer", &len);
	if (!cred)
		return KCG_EAUTH;
	return kcg_ct_equal(cred, len, token, strlen(token)) ? 0 : KCG_EAUTH;
}

static int auth_token(const struct kcg_source_auth *auth, kcg_header_fn header, void *ctx,
		      const char **why)
{
	const char *name = auth->token_header && *auth->token_header ? auth->token_header
								      : DEFAULT_TOKEN_HEADER;
	const char *token = auth->token; /* once: a reload may swap it (config.h) */
	if (!token || !*token) {
		set_why(why, "no webhook token configured");
		return KCG_EAUTH;
	}
	const char *value = header(ctx, name);
	if (!value) {
		set_why(why, "missing token header");
		return KCG_EAUTH;
	}
	if (!kcg_ct_equal(value, strlen(value), token, strlen(token))) {
		set_why(why, "token mismatch");
		return KCG_EAUTH;
	}
	set_why(why, "ok");
	return 0;
}

static int auth_basic(const struct kcg_source_auth *auth, kcg_header_fn header, void *ctx,
		      const char **why)
{
	unsigned char buf[BASIC_MAX];
	size_t len;
	int ret = KCG_EAUTH;

	const char *password = auth->password; /* once: a reload may swap it (config.h) */
	if (!auth->user || !*auth->user || !password || !*password) {
		set_why(why, "no webhook user/password configured");
		return KCG_EAUTH;
	}
	const char *cred = auth_param(header(ctx, "Authorization"), "Basic", &len);
	if (!cred) {
		set_why(why, "missing Basic authorization");
		return KCG_EAUTH;
	}
	int n = kcg_base64_decode(cred, len, buf, sizeof(buf));
	if (n <= 0) {
		set_why(why, "malformed Basic credentials");
		return KCG_EAUTH;
	}
	/* RFC 7617: the user-id cannot contain ':', the password can. */
	unsigned char *colon = memchr(buf, ':', (size_t)n);
	if (!colon) {
		set_why(why, "malformed Basic credentials");
		goto out;
	}
	size_t ulen = (size_t)(colon - buf);
	size_t plen = (size_t)n - ulen - 1;
	/* Both compared whatever the first gives, so timing does not say
	 * whether the user was right. */
	bool user_ok = kcg_ct_equal(buf, ulen, auth->user, strlen(auth->user));
	bool pass_ok = kcg_ct_equal(colon + 1, plen, password, strlen(password));
	if (user_ok & pass_ok) {
		set_why(why, "ok");
		ret = 0;
	} else {
		set_why(why, "credentials mismatch");
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

int kcg_auth_webhook(const struct kcg_source_auth *auth, kcg_header_fn header, void *ctx,
		     const void *body, size_t body_len, int64_t now_s, const char **why)
{
	switch (auth->mode) {
	case KCG_AUTH_STANDARD:
		return kcg_auth_standard(auth, header(ctx, "webhook-id"),
					 header(ctx, "webhook-timestamp"),
					 header(ctx, "webhook-signature"), body, body_len, now_s, why);
	case KCG_AUTH_TOKEN:
		return auth_token(auth, header, ctx, why);
	case KCG_AUTH_BASIC:
		return auth_basic(auth, header, ctx, why);
	case KCG_AUTH_NONE:
		set_why(why, "no authentication configured");
		return 0;
	case KCG_AUTH_UNSET:
	default:
		set_why(why, "webhook_auth not configured");
		return KCG_EAUTH;
	}
}

int kcg_auth_webhook_headers(const struct kcg_source_auth *auth, kcg_header_fn header, void *ctx,
			     int64_t now_s, const char **why)
{
	const char *signature;

	switch (auth->mode) {
	case KCG_AUTH_STANDARD:
		if (!header(ctx, "webhook-id")) {
			set_why(why, "missing webhook-id");
			return KCG_EAUTH;
		}
		signature = header(ctx, "webhook-signature");
		if (!signature || !*signature) {
			set_why(why, "missing webhook-signature");
			return KCG_EAUTH;
		}
		if (strnlen(signature, SIG_HEADER_MAX + 1) > SIG_HEADER_MAX) {
			set_why(why, "webhook-signature too long");
			return KCG_EAUTH;
		}
		if (!timestamp_ok(header(ctx, "webhook-timestamp") ? header(ctx, "webhook-timestamp") : "",
				  now_s, auth->tolerance_s)) {
			set_why(why, "timestamp missing or outside tolerance");
			return KCG_EAUTH;
		}
		set_why(why, "ok so far: the signature needs the body");
		return 0;
	default:
		/* token, basic, none and unset need no body: the whole check */
		return kcg_auth_webhook(auth, header, ctx, NULL, 0, now_s, why);
	}
}
