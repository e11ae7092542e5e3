/**
 * kcgate/auth.h: proving who sent a webhook, and the admin bearer token.
 *
 * Pure functions over the request's headers and raw body; no I/O, no
 * logging. Every comparison of secret material is constant time. A failure
 * is always KCG_EAUTH, whatever check failed, so answers never tell an
 * attacker which part was wrong (the optional @p why is for debug logs only).
 */
#ifndef KCGATE_AUTH_H
#define KCGATE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "kcgate/config.h"

/** Looks up a request header by name (case-insensitive); NULL when absent. */
typedef const char *(*kcg_header_fn)(void *ctx, const char *name);

/**
 * Verifies a Standard Webhooks signature.
 * @p id, @p timestamp, @p signature are the values of the headers
 * webhook-id, webhook-timestamp, webhook-signature (any may be NULL =
 * missing). The signature header is a space-separated list of
 * `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`; any entry that
 * matches any key in @p auth->secrets is enough. Entries of other versions
 * are skipped. The timestamp (unix seconds) must be within
 * auth->tolerance_s of @p now_s.
 * @return 0 or KCG_EAUTH; *@p why (optional) gets a static reason.
 */
int kcg_auth_standard(const struct kcg_source_auth *auth, const char *id, const char *timestamp,
		      const char *signature, const void *body, size_t body_len, int64_t now_s,
		      const char **why);

/**
 * Authenticates a webhook request for one source with whatever mode it is
 * configured for (standard, token, basic, none).
 * @return 0 or KCG_EAUTH.
 */
int kcg_auth_webhook(const struct kcg_source_auth *auth, kcg_header_fn header, void *ctx,
		     const void *body, size_t body_len, int64_t now_s, const char **why);

/**
 * What of kcg_auth_webhook() can be decided from the headers alone, so that
 * an unauthenticated sender is refused before a byte of its body is read:
 * the whole check for token, basic and none; for standard, the presence of
 * webhook-id and webhook-signature (and its length bound) and the presence
 * and freshness of webhook-timestamp. kcg_auth_webhook() must still be
 * called over the body (the signature).
 * @return 0 or KCG_EAUTH.
 */
int kcg_auth_webhook_headers(const struct kcg_source_auth *auth, kcg_header_fn header, void *ctx,
			     int64_t now_s, const char **why);

/**
 * Checks an `Authorization: Bearer <token>` header value against @p token.
 * @return 0 or KCG_EAUTH.
 */
int kcg_auth_bearer(const char *authorization, const char *token);

#endif
