/**
 * kcgate/http.h: the HTTPS server. Every libmicrohttpd idiom lives in
 * src/http.c and nowhere else.
 *
 * For each request http.c: refuses ambiguous framing (400 and close:
 * Content-Length with Transfer-Encoding, a Transfer-Encoding other than
 * exactly chunked, several Content-Lengths or Hosts, no Host on HTTP/1.1, a
 * header name that is not a token), matches the route table (404 and 405 +
 * Allow fall out of it), checks admin authentication: the bearer token,
 * or a console session cookie that must carry its X-CSRF-Token on writes
 * (403 csrf_required; kcgate/session.h), 429 after
 * server.admin_auth_burst failures from one address (an IPv6 one counted by
 * its /64; the console's sign-in counts too), refuses any body on a route that takes none (413 and close,
 * nothing read), refuses a body that is too
 * large (413 from Content-Length before reading; a chunked body is cut off
 * by closing the connection once it passes the limit), has no length (411) or the wrong media type (415),
 * checks what of the webhook authentication the headers alone can decide
 * (401 before a byte of the body is read), reads the body, then calls the
 * route's handler.
 *
 * Hostile connections: each connection must reach its first request line
 * within server.handshake_timeout_s of the accept (the TLS handshake
 * included) and the end of each request's headers within
 * server.header_timeout_s (of the accept, or of the previous answer on a
 * kept-alive connection), and the end of its body within
 * server.body_timeout_s of the end of its headers, however slowly it
 * trickles; a timer thread shuts down the socket of a connection past its
 * deadline. Connections beyond
 * server.max_connections (up to server.health_reserve more) serve only
 * /health/ and answer anything else 503. A handler answers exactly once
 * with one of the kcg_http_respond_*() calls, either before it returns or,
 * after kcg_http_suspend(), from its resume function. When the request ends
 * http.c writes the one JSON log line and records the duration metric.
 */
#ifndef KCGATE_HTTP_H
#define KCGATE_HTTP_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/common.h"
#include "kcgate/config.h"
#include "kcgate/events.h"

#define KCG_PARAM_MAX 255 /**< longest {id} path segment (order ids run to 100 characters) */
#define KCG_ADDR_MAX 46   /**< an IPv6 address as text, with the NUL (INET6_ADDRSTRLEN) */
#define KCG_LOG_PATH_MAX 512 /**< the path as logged (sanitised, cut beyond this) */

struct MHD_Connection;
struct kcg_route;
struct kcg_http;
struct kcg_engine;
struct kcg_sessions;

/** What the handlers share: configuration, the store and the lifecycle flag. */
struct kcg_app {
	const struct kcg_config *cfg;
	struct kcg_store *store;
	struct kcg_engine *engine;   /**< the job engine, or NULL when no flow is configured */
	struct kcg_sessions *sessions; /**< the console's sign-in sessions (NULL: no console sign-in) */
	atomic_bool shutting_down;   /**< set at SIGTERM: ready turns 503, ingest refuses */
};

/** One HTTP request, from its first header to its completion. */
struct kcg_request {
	struct kcg_app *app;
	struct MHD_Connection *conn;
	const struct kcg_route *route;
	const char *method;           /**< owned by libmicrohttpd, valid for the request */
	const char *path;             /**< percent-decoded by libmicrohttpd: any bytes */
	char param[KCG_PARAM_MAX + 1]; /**< the {id} segment of a pattern route, or "" */
	char peer[KCG_ADDR_MAX];      /**< the TCP peer's address */
	char client[KCG_ADDR_MAX];    /**< the client: the peer, or from X-Forwarded-For when
	                                   the peer is in server.trusted_proxies */
	char *body;                   /**< NUL-terminated copy of the body (NULL if none) */
	size_t body_len;
	char request_id[KCG_ID_LEN + 1];
	uint64_t start_ns;
	unsigned status;              /**< the answer's status, once queued */

	/* For the log line; handlers fill what applies. */
	const char *source;
	char event_id[KCG_ID_LEN + 1];

	/* Ingest state of a webhook request (see routes/webhooks.c). */
	struct kcg_ingest ingest;
	char dedupe_key[KCG_DEDUPE_KEY_MAX + 1];
	char kind[KCG_KIND_MAX];

	bool via_session;             /**< an admin route let in by a console session, not the bearer token */

	/* private to http.c */
	struct kcg_http *http;
	void (*resume)(struct kcg_request *req);
	char log_path[KCG_LOG_PATH_MAX]; /**< the path as sent, sanitised (kcg_printable, KCG_PRINT_PERCENT) */
	bool started;                 /**< the headers are in: the access handler ran */
	bool has_body;                /**< Content-Length > 0 or chunked */
	bool body_done;               /**< the whole body was read */
	bool close;                   /**< answer with Connection: close */
	bool counted;                 /**< the webhook metric is recorded already */
	bool responded;
	bool failed;                  /**< no answer could be queued: close the connection */
	bool suspended;
};

struct kcg_http_options {
	const char *host;
	uint16_t port;
	const char *cert_pem;         /**< PEM text (not a path), or NULL for plain HTTP */
	const char *key_pem;
	unsigned threads;
	unsigned max_connections;
	unsigned connection_timeout_s;
	size_t max_header_bytes;
	size_t max_body_bytes;
	unsigned header_timeout_s;     /**< accept/previous answer -> end of headers */
	unsigned handshake_timeout_s;  /**< accept -> first request line */
	unsigned body_timeout_s;       /**< end of the headers -> end of the body */
	unsigned max_connections_per_ip; /**< 0 = no limit */
	unsigned health_reserve;       /**< extra connections that serve only /health/ */
	const char *tls_priorities;    /**< GnuTLS priority string (NULL: GnuTLS's default) */
	const char *trusted_proxies;   /**< address list (kcg_cidr_parse_list) or NULL */
	unsigned admin_auth_burst;     /**< admin 401s per client address before 429; 0 = off */
	unsigned admin_auth_interval_s; /**< one failure forgiven per this many seconds */
};

/**
 * Creates the server, listening and serving on background threads from the
 * moment it returns (libmicrohttpd has no separate start).
 * @return the server, or NULL with *@p why set to a static reason.
 */
struct kcg_http *kcg_http_create(const struct kcg_http_options *opt, struct kcg_app *app, const char **why);

/** Requests begun and not yet completed (for the shutdown drain). */
size_t kcg_http_in_flight(struct kcg_http *http);

/**
 * Stops and frees the server: closes the listening socket and every
 * connection, joins the threads. Nothing may be suspended any more (the
 * store is stopped first, which completes every suspended request). NULL-safe.
 */
void kcg_http_destroy(struct kcg_http *http);

/** A request header (case-insensitive name), or NULL. */
const char *kcg_http_header(struct kcg_request *req, const char *name);
/** A query-string argument, or NULL. */
const char *kcg_http_query(struct kcg_request *req, const char *name);

/** Answers with @p body as JSON (the reference is stolen). */
void kcg_http_respond_json(struct kcg_request *req, unsigned status, json_t *body);
/** Answers {"error": code, "message": formatted sentence}. The sentence may
 * quote client bytes: every byte outside printable ASCII but the space is
 * written %XX, so the answer is always valid JSON. */
void kcg_http_respond_error(struct kcg_request *req, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** Answers with a text body of @p content_type (copied). */
void kcg_http_respond_text(struct kcg_request *req, unsigned status, const char *content_type, const char *text,
			   size_t len);
/**
 * Answers with @p len bytes of @p content_type (copied) and extra headers:
 * @p headers is name, value, name, value, ..., NULL (NULL for none). A
 * Cache-Control among them replaces the default no-store.
 */
void kcg_http_respond_with(struct kcg_request *req, unsigned status, const char *content_type, const void *data,
			   size_t len, const char *const *headers);
/**
 * Counts a failed sign-in from the request's client against the admin
 * throttle (server.admin_auth_burst): past the burst its admin and sign-in
 * requests get 429 before they are looked at.
 */
void kcg_http_auth_failed(struct kcg_request *req);
/** Answers with no body (204 and friends). */
void kcg_http_respond_empty(struct kcg_request *req, unsigned status);

/**
 * Parks the request until kcg_http_resume(); then @p resume is called on a
 * server thread and must answer. Call before handing the request to
 * another thread.
 */
void kcg_http_suspend(struct kcg_request *req, void (*resume)(struct kcg_request *req));
/** Wakes a suspended request; callable from any thread, once. */
void kcg_http_resume(struct kcg_request *req);

#endif
