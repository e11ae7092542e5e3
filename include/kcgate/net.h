/**
 * kcgate/net.h: one outbound HTTP call, as data.
 *
 * The peer clients (mirakl.c, khaos.c) are pure: they build a struct
 * kcg_call and parse a struct kcg_reply, and never touch the network. The
 * job engine (engine.c) sends calls through the libcurl driver (net_curl.h).
 * That keeps the clients unit-testable and every retry decision in one place.
 */
#ifndef KCGATE_NET_H
#define KCGATE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcgate/common.h" /* KCG_ERROR_MAX */

#define KCG_CALL_MAX_HEADERS 8
#define KCG_CALL_MAX_RCPT 32 /**< recipients of one mail */

/** A request to send. Everything is owned by the call (kcg_call_finish() frees it). */
struct kcg_call {
	const char *what;             /**< static name for logs: "OR11", "ImportOrders" */
	const char *method;           /**< static: "GET", "PUT", "POST" */
	char *url;
	char *body;                   /**< NULL: no body (a PUT/POST then sends Content-Length: 0) */
	size_t body_len;
	char *headers[KCG_CALL_MAX_HEADERS]; /**< "Name: value" */
	size_t n_headers;
	bool secret_headers;          /**< headers (or the URL) carry credentials: never log them, wiped when finished */
	unsigned timeout_s;
	/* A mail (url smtp:// or smtps://; method and headers unused): the
	 * envelope, and body is the RFC 5322 message (CRLF line ends). */
	char *mail_from;              /**< the envelope sender's address; non-NULL makes the call SMTP */
	char *mail_rcpt[KCG_CALL_MAX_RCPT]; /**< the envelope recipients' addresses */
	size_t n_rcpt;
	char *user, *password;        /**< SMTP AUTH, or NULL; wiped when the call is finished */
	bool require_tls;             /**< smtp://: STARTTLS or fail (else STARTTLS when the server offers it) */
	uint64_t max_reply_bytes;     /**< longest answer read for this call; 0 = the driver's ([jobs] max_reply_bytes) */
};

/** What came back. Owned by the reply (kcg_reply_finish() frees it). */
struct kcg_reply {
	long status;                  /**< HTTP status; 0 when there was no answer. A mail: the
	                                   server's last SMTP reply code, also with a transport
	                                   error (a refusal: 4xx transient, 5xx permanent) */
	char *body;                   /**< NUL-terminated (may be NULL when empty) */
	size_t len;
	long retry_after_s;           /**< Retry-After in seconds, -1 when absent */
	int transport_error;          /**< the CURLcode; 0 when an answer arrived */
	char error[KCG_ERROR_MAX];    /**< curl's message when transport_error != 0 */
};

/** Appends "Name: value" (printf-style) to @p call. @return 0, -ENOSPC or -ENOMEM. */
int kcg_call_header(struct kcg_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Frees what @p call owns and zeroes it. NULL-safe. */
void kcg_call_finish(struct kcg_call *call);

/** Frees what @p reply owns and zeroes it. NULL-safe. */
void kcg_reply_finish(struct kcg_reply *reply);

/**
 * True when trying again later may succeed: no answer (network error,
 * timeout), 5xx, 408 or 429. Other answers are final.
 */
bool kcg_reply_transient(const struct kcg_reply *reply);

/**
 * A short, printable excerpt of the reply for a job's last_error:
 * "HTTP 400: {\"message\":...}" or "timeout: Operation timed out after...".
 * Control characters are replaced; cut to KCG_ERROR_MAX - 1 bytes.
 */
void kcg_reply_excerpt(const struct kcg_reply *reply, char out[KCG_ERROR_MAX]);

/**
 * Formats a client's error sentence into @p why, keeping it printable ASCII
 * (peer and order text is quoted into it, and it ends up in JSON answers
 * and logs).
 */
void kcg_why(char why[KCG_ERROR_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Percent-encodes @p in for a URL query or path segment; malloc'd, or NULL. */
char *kcg_url_escape(const char *in);

#endif
