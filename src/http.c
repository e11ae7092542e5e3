/*
 * http.c: libmicrohttpd, TLS through its GnuTLS build, in one place.
 *
 * The daemon runs a pool of polling threads (epoll). A request's state is
 * allocated on the first callback and freed in the completion callback,
 * which also writes the request's log line. Webhook handlers suspend their
 * connection while the store's writer commits, so a slow fsync never ties
 * up a server thread and many requests share one commit.
 *
 * Hostile clients (the defences, and where libmicrohttpd 0.9.75 falls
 * short so kcgate does it here):
 * - Deadlines. libmicrohttpd only knows an idle timeout, which a client
 *   sending one byte at a time never hits. Every connection is tracked from
 *   the accept (MHD_OPTION_NOTIFY_CONNECTION) with an absolute deadline:
 *   the first request line within handshake_timeout_s (TLS handshake
 *   included), the end of the headers within header_timeout_s (from the
 *   accept, or from the previous answer on a kept-alive connection), the
 *   end of the body within body_timeout_s of the end of the headers (none
 *   while a handler waits for the store). The request line is seen by the
 *   URI log callback, the end of the headers by the first access-handler
 *   call, the end of the body by the call with no upload data. A timer thread shutdown(2)s the socket
 *   of a connection past its deadline; libmicrohttpd then sees the end of
 *   the stream and closes it as usual (the fd is only closed by it, after
 *   the CLOSED notification has taken the connection off our list).
 * - Health reserve: libmicrohttpd admits max_connections + health_reserve;
 *   a connection accepted beyond max_connections keeps the short deadline,
 *   answers only /health/ and closes.
 * - Framing (RFC 9112 6.1, 6.3): strict client mode, plus the checks
 *   libmicrohttpd does not make, on the first access-handler call: 400 and
 *   close. A body on a route that takes none: 413 and close, unread.
 * - Admin 401s are counted per client address (IPv6: per /64); past the
 *   burst the address gets 429 (without its token being looked at) until
 *   the count decays.
 */
#include "http_private.h"

#include <errno.h>
#include <float.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "kcgate/auth.h"
#include "kcgate/log.h"
#include "kcgate/metrics.h"
#include "routes.h"


const char *kcg_http_header(struct kcg_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *kcg_http_query(struct kcg_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void queue(struct kcg_request *req, unsigned status, struct MHD_Response *resp)
{
	req->responded = true;
	if (!resp) {
		/* Out of memory: closing the connection is the only honest answer. */
		req->status = 500;
		req->failed = true;
		return;
	}
	if (!MHD_get_response_header(resp, "Cache-Control"))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Request-Id", req->request_id);
	/* An answer before the body was read leaves the connection's framing
	 * unknown: it cannot carry another request. */
	if (req->close || (req->has_body && !req->body_done))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	if (MHD_queue_response(req->conn, status, resp) == MHD_YES) {
		req->status = status;
	} else {
		req->status = 500;
		req->failed = true;
	}
	MHD_destroy_response(resp);
}

/* A JSON response (the reference is stolen), or NULL when out of memory. */
static struct MHD_Response *json_response(json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return NULL;
	/* json_dumps allocates with malloc; MHD frees with free(). */
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return NULL;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return resp;
}

void kcg_http_respond_json(struct kcg_request *req, unsigned status, json_t *body)
{
	queue(req, status, json_response(body));
}

/* @p src as printable ASCII in @p dst (of 3 * strlen(src) + 1 at least):
 * its spaces kept, every other byte outside 0x21..0x7e written %XX. */
static void printable_message(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	while (*src && n + 1 < cap) {
		size_t run = strcspn(src, " ");
		if (run == 0) {
			dst[n++] = *src++;
			continue;
		}
		kcg_printable(dst + n, cap - n, src, run, KCG_PRINT_PERCENT);
		n += strlen(dst + n);
		src += run;
	}
	dst[n] = '\0';
}

void kcg_http_respond_error(struct kcg_request *req, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512], clean[3 * sizeof(msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A message may quote what the client sent (a route id, a path), any
	 * bytes: json_pack refuses what is not UTF-8, and then no answer at all
	 * would go out. Sanitised here, every error answer is valid JSON. */
	printable_message(clean, sizeof(clean), msg);
	kcg_http_respond_json(req, status, json_pack("{s:s, s:s}", "error", code, "message", clean));
}

void kcg_http_respond_text(struct kcg_request *req, unsigned status, const char *content_type, const char *text,
			   size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	queue(req, status, resp);
}

void kcg_http_respond_with(struct kcg_request *req, unsigned status, const char *content_type, const void *data,
			   size_t len, const char *const *headers)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (resp && content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; resp && headers && headers[i] && headers[i + 1]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	queue(req, status, resp);
}

void kcg_http_respond_empty(struct kcg_request *req, unsigned status)
{
	queue(req, status, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

void kcg_http_suspend(struct kcg_request *req, void (*resume)(struct kcg_request *req))
{
	req->resume = resume;
	req->suspended = true;
	MHD_suspend_connection(req->conn);
}

void kcg_http_resume(struct kcg_request *req)
{
	MHD_resume_connection(req->conn);
}

/* The media type of Content-Type without parameters, compared case-insensitively. */
static bool media_type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* ---------------------------------------------------------------- requests */

/* RFC 9110 tchar */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c && strchr("!#$%&'*+-.^_`|~", c))))
			return false;
	}
	return true;
}

struct framing {
	unsigned n_cl, n_te, n_host;
	bool bad_name;
	const char *te;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct framing *f = cls;
	if (!is_token(key))
		f->bad_name = true;
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->n_cl++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->n_te++;
		f->te = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		f->n_host++;
	return MHD_YES;
}

static bool refuse(struct kcg_request *req, const char *why)
{
	req->close = true;
	kcg_http_respond_error(req, 400, "bad_request", "%s", why);
	return false;
}

/* RFC 9112 6.1, 6.3: framing that two parsers could read two ways is
 * refused (400, and the connection closed: what follows cannot be trusted). */
static bool check_framing(struct kcg_request *req, const char *version)
{
	struct framing f = { 0 };
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_header, &f);
	if (f.bad_name)
		return refuse(req, "a header name holds a character a token cannot (whitespace before the colon?)");
	if (f.n_te && f.n_cl)
		return refuse(req, "Content-Length and Transfer-Encoding together");
	/* Exactly what libmicrohttpd itself takes for chunked: the value as it
	 * keeps it (leading whitespace stripped, trailing kept) compared
	 * case-insensitively. Anything else it reads as a body running to the
	 * end of the connection, so "chunked " must not pass here either. */
	if (f.n_te && (f.n_te > 1 || strcasecmp(f.te, "chunked") != 0))
		return refuse(req, "Transfer-Encoding: only chunked alone is accepted");
	if (f.n_cl > 1)
		return refuse(req, "more than one Content-Length");
	if (f.n_host > 1)
		return refuse(req, "more than one Host");
	if (f.n_host == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
		return refuse(req, "HTTP/1.1 needs a Host header");
	const char *cl = kcg_http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t len = 0;
	req->has_body = f.n_te || (cl && (kcg_parse_u64(cl, 0, UINT64_MAX, &len) != 0 || len > 0));
	return true;
}

static const char *header_of(void *ctx, const char *name)
{
	return kcg_http_header(ctx, name);
}

/* A webhook-id becomes a dedupe key and an admin JSON string: printable
 * ASCII only, 1 to 256 characters. */
#define WEBHOOK_ID_MAX 256
static bool webhook_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > WEBHOOK_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e)
			return false;
	return true;
}

/* Checks made once the headers are in, before any body is read. Answers
 * and returns false when the request stops here. */
static bool check_headers(struct kcg_http *http, struct kcg_request *req, const char *allow)
{
	const struct kcg_route *r = req->route;

	if (!r) {
		if (allow[0]) {
			struct MHD_Response *resp = json_response(json_pack(
				"{s:s, s:s+}", "error", "method_not_allowed", "message", "this path accepts: ", allow));
			if (resp)
				MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
			queue(req, 405, resp);
		} else {
			kcg_http_respond_error(req, 404, "not_found", "no such path: %s", req->log_path);
		}
		return false;
	}
	if (r->auth == KCG_ROUTE_ADMIN || r->auth == KCG_ROUTE_SIGNIN) {
		unsigned wait = http_throttle(http, req->client, false);
		if (wait) {
			struct MHD_Response *resp = json_response(json_pack(
				"{s:s, s:s}", "error", "too_many_requests", "message",
				"too many failed admin authentications from this address; retry later"));
			char secs[16];
			snprintf(secs, sizeof(secs), "%u", wait);
			if (resp)
				MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
			queue(req, 429, resp);
			return false;
		}
		if (r->auth == KCG_ROUTE_ADMIN && !http_admin_allowed(http, req))
			return false;
	}
	if (r->body == KCG_BODY_NONE) {
		/* Answered now, libmicrohttpd reads none of the body and closes:
		 * nothing unasked for is held in memory. */
		if (req->has_body) {
			req->close = true;
			kcg_http_respond_error(req, 413, "payload_too_large", "this path takes no request body");
			return false;
		}
		return true;
	}
	/* Requests already begun finish during the drain; new ones are turned away. */
	if (r->auth == KCG_ROUTE_WEBHOOK && atomic_load(&req->app->shutting_down)) {
		kcg_http_respond_error(req, 503, "shutting_down", "kcgate is shutting down; nothing was stored, retry");
		return false;
	}

	const char *cl = kcg_http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = kcg_http_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (!cl && !te) {
		kcg_http_respond_error(req, 411, "length_required", "a request body needs a Content-Length");
		return false;
	}
	if (cl) {
		uint64_t len;
		if (kcg_parse_u64(cl, 0, UINT64_MAX, &len) != 0) {
			req->close = true;
			kcg_http_respond_error(req, 400, "invalid_request", "Content-Length is not a number");
			return false;
		}
		if (len > http->max_body) {
			kcg_http_respond_error(req, 413, "payload_too_large", "the body is larger than the limit of %zu bytes (server.max_body_bytes)",
					       http->max_body);
			return false;
		}
	}
	const char *ct = kcg_http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	bool ok = ct && (media_type_is(ct, "application/json") ||
			 (r->body == KCG_BODY_JSON_CE && media_type_is(ct, "application/cloudevents+json")) ||
			 (r->body == KCG_BODY_FORM_OR_JSON && media_type_is(ct, "application/x-www-form-urlencoded")));
	if (!ok) {
		kcg_http_respond_error(req, 415, "unsupported_media_type", "Content-Type must be %s",
				       r->body == KCG_BODY_JSON_CE ? "application/json or application/cloudevents+json"
				       : r->body == KCG_BODY_FORM_OR_JSON ? "application/json or application/x-www-form-urlencoded"
									    : "application/json");
		return false;
	}
	if (r->auth == KCG_ROUTE_WEBHOOK) {
		const char *id = kcg_http_header(req, "webhook-id");
		if (id && !webhook_id_ok(id)) {
			kcg_http_respond_error(req, 400, "invalid_payload",
					       "webhook-id: must be 1 to %d printable ASCII characters", WEBHOOK_ID_MAX);
			return false;
		}
		/* Everything but the signature is decided here, before the body. */
		const struct kcg_source_auth *auth =
			strcmp(r->source, "mirakl") == 0 ? &req->app->cfg->mirakl.webhook : &req->app->cfg->inriver.webhook;
		if (kcg_auth_webhook_headers(auth, header_of, req, (int64_t)(kcg_now_ms() / 1000), NULL) != 0) {
			kcg_metrics_webhook(req->source, KCG_RES_UNAUTHORIZED);
			req->counted = true;
			kcg_http_respond_error(req, 401, "unauthorized", "the request could not be authenticated");
			return false;
		}
	}
	return true;
}

static struct kcg_request *request_create(struct kcg_http *http, struct MHD_Connection *conn, const char *uri)
{
	struct kcg_request *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->app = http->app;
	req->http = http;
	req->conn = conn;
	req->method = "-";
	req->path = "";
	req->start_ns = kcg_mono_ns();
	if (kcg_make_id(kcg_now_ms(), req->request_id) != 0)
		snprintf(req->request_id, sizeof(req->request_id), "unknown");
	struct conn *c = http_conn_of(conn);
	snprintf(req->peer, sizeof(req->peer), "%s", c ? c->peer : "unknown");
	snprintf(req->client, sizeof(req->client), "%s", req->peer);
	if (uri)
		kcg_printable(req->log_path, sizeof(req->log_path), uri, strcspn(uri, "?"), KCG_PRINT_PERCENT | KCG_PRINT_ELLIPSIS);
	atomic_fetch_add(&http->in_flight, 1);
	return req;
}

/* The request line is in (so is the TLS handshake): from here the headers
 * have until header_timeout_s after the accept or the previous answer. The
 * request's state starts here so that a request libmicrohttpd refuses
 * itself still gets its log line. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct kcg_http *http = cls;
	struct conn *c = http_conn_of(conn);
	if (c) {
		pthread_mutex_lock(&http->lock);
		/* the first request line replaces the handshake deadline; a later
		 * one keeps the deadline set when the previous answer went out */
		if (!c->had_request && !c->reserve && c->deadline_ns)
			c->deadline_ns = c->accepted_ns + http->header_ns;
		c->had_request = true;
		pthread_mutex_unlock(&http->lock);
	}
	return request_create(http, conn, uri);
}

/* The first access-handler call: the headers are complete. */
static void request_start(struct kcg_http *http, struct kcg_request *req, const char *url, const char *method,
			  const char *version)
{
	struct conn *c = http_conn_of(req->conn);
	req->started = true;
	req->method = method;
	req->path = url;
	http_set_deadline(http, c, 0);
	http_find_client(http, req);

	if (!check_framing(req, version))
		return;
	/* The body, too, has a deadline (libmicrohttpd's idle timeout never
	 * fires for a client sending a byte now and then). It ends when the body
	 * is in (on_request), before a handler may suspend the request for the
	 * store's commit. A request refused before its body keeps it until the
	 * close. */
	if (req->has_body)
		http_set_deadline(http, c, kcg_mono_ns() + http->body_ns);
	if (c && c->reserve) {
		req->close = true;
		if (strncmp(url, "/health/", 8) != 0) {
			kcg_http_respond_error(req, 503, "busy", "every connection is in use (server.max_connections); retry");
			return;
		}
	}
	char allow[64];
	req->route = kcg_routes_match(method, url, req->param, sizeof(req->param), allow, sizeof(allow));
	if (req->route)
		req->source = req->route->source;
	if (!check_headers(http, req, allow) && req->source && !req->counted)
		kcg_metrics_webhook(req->source, KCG_RES_INVALID);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct kcg_http *http = cls;
	struct kcg_request *req = *con_cls;

	if (!req) {
		req = request_create(http, conn, url);
		if (!req)
			return MHD_NO;
		*con_cls = req;
	}
	if (!req->started) {
		request_start(http, req, url, method, version);
		return req->failed ? MHD_NO : MHD_YES;
	}
	if (req->responded)
		return req->failed ? MHD_NO : MHD_YES; /* refused before the body: MHD closes after the answer */

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->body_len + n > http->max_body) {
			/* A chunked body outgrew the limit. libmicrohttpd cannot queue
			 * an answer in the middle of a body, so stop reading here and
			 * close the connection; the log line says 413. (A body with a
			 * Content-Length gets its 413 before anything is read.) */
			req->status = 413;
			return MHD_NO;
		}
		char *grown = realloc(req->body, req->body_len + n + 1);
		if (!grown)
			return MHD_NO;
		req->body = grown;
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (!req->body_done) {
		req->body_done = true;
		if (req->has_body)
			http_set_deadline(http, http_conn_of(conn), 0);
	}

	if (req->suspended) {
		/* Woken by kcg_http_resume(): the handler finishes its answer. */
		req->suspended = false;
		req->resume(req);
		return req->failed ? MHD_NO : MHD_YES;
	}
	if (req->resume)
		return MHD_YES; /* suspended and not woken yet (spurious call) */

	req->route->handler(req);
	return req->failed ? MHD_NO : MHD_YES;
}

static const char *termination_name(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
	default: return "error";
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct kcg_http *http = cls;
	struct kcg_request *req = *con_cls;
	if (!req)
		return;
	*con_cls = NULL;

	struct conn *c = http_conn_of(conn);
	bool reaped = false;
	if (c) {
		pthread_mutex_lock(&http->lock);
		reaped = c->reaped;
		/* kept alive: the next request's headers have header_timeout_s */
		if (!c->reaped)
			c->deadline_ns = kcg_mono_ns() + (c->reserve ? http->handshake_ns : http->header_ns);
		pthread_mutex_unlock(&http->lock);
	}

	uint64_t ns = kcg_mono_ns() - req->start_ns;
	kcg_metrics_request(ns);

	unsigned status = req->status;
	if (!req->started && !status) {
		/* refused by libmicrohttpd itself (strict parsing, header size) */
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
		if (ci)
			status = ci->http_status;
	}
	enum kcg_log_level level =
		status >= 500 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? KCG_LOG_WARN : KCG_LOG_INFO;
	if (kcg_log_enabled(level)) {
		char method[32];
		kcg_printable(method, sizeof(method), req->method, strlen(req->method), KCG_PRINT_PERCENT | KCG_PRINT_ELLIPSIS);
		json_t *f = json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "request_id", req->request_id, "method", method,
				      "path", req->log_path, "status", (json_int_t)status, "duration_ms", (double)ns / 1e6,
				      "peer", req->peer);
		if (f && strcmp(req->client, req->peer) != 0)
			json_object_set_new(f, "client", json_string(req->client));
		if (f && req->source)
			json_object_set_new(f, "source", json_string(req->source));
		if (f && req->event_id[0])
			json_object_set_new(f, "event_id", json_string(req->event_id));
		if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			json_object_set_new(f, "termination",
					    json_string(!reaped ? termination_name(toe)
						        : req->has_body && !req->body_done ? "body_timeout"
											: "header_timeout"));
		kcg_log(level, "request", f);
	}
	free(req->body);
	free(req);
	atomic_fetch_sub(&http->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], clean[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	/* libmicrohttpd may quote client bytes; spaces are kept readable */
	for (size_t i = 0; i < n; i++)
		if (msg[i] == ' ')
			msg[i] = '_';
	kcg_printable(clean, sizeof(clean), msg, n, KCG_PRINT_PERCENT | KCG_PRINT_ELLIPSIS);
	for (char *p = clean; *p; p++)
		if (*p == '_')
			*p = ' ';
	kcg_log_str(KCG_LOG_DEBUG, "libmicrohttpd", clean);
}

static void http_free(struct kcg_http *http)
{
	if (http->reaper_started) {
		pthread_mutex_lock(&http->lock);
		http->stop = true;
		pthread_cond_signal(&http->wake);
		pthread_mutex_unlock(&http->lock);
		pthread_join(http->reaper, NULL);
	}
	pthread_cond_destroy(&http->wake);
	pthread_mutex_destroy(&http->lock);
	pthread_mutex_destroy(&http->throttle_lock);
	free(http->throttle);
	free(http);
}

struct kcg_http *kcg_http_create(const struct kcg_http_options *opt, struct kcg_app *app, const char **why)
{
	struct sockaddr_storage addr;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", (unsigned)opt->port);
	if (getaddrinfo(opt->host, port, &hints, &res) != 0 || !res) {
		*why = "cannot resolve server.listen host";
		return NULL;
	}
	memset(&addr, 0, sizeof(addr));
	memcpy(&addr, res->ai_addr, res->ai_addrlen);
	bool v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);

	if (opt->cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		*why = "this libmicrohttpd was built without TLS support";
		return NULL;
	}

	struct kcg_http *http = calloc(1, sizeof(*http));
	if (!http) {
		*why = "out of memory";
		return NULL;
	}
	pthread_mutex_init(&http->lock, NULL);
	pthread_cond_init(&http->wake, NULL);
	pthread_mutex_init(&http->throttle_lock, NULL);
	http->app = app;
	http->max_body = opt->max_body_bytes;
	http->max_connections = opt->max_connections;
	http->header_ns = (uint64_t)(opt->header_timeout_s ? opt->header_timeout_s : 10) * 1000000000u;
	http->handshake_ns = (uint64_t)(opt->handshake_timeout_s ? opt->handshake_timeout_s : 5) * 1000000000u;
	http->body_ns = (uint64_t)(opt->body_timeout_s ? opt->body_timeout_s : 30) * 1000000000u;
	http->auth_burst = opt->admin_auth_burst;
	http->auth_interval_s = opt->admin_auth_interval_s ? opt->admin_auth_interval_s : 1;
	if (http->auth_burst) {
		http->throttle = calloc(THROTTLE_SLOTS, sizeof(*http->throttle));
		if (!http->throttle) {
			*why = "out of memory";
			goto fail;
		}
	}
	if (opt->trusted_proxies &&
	    kcg_cidr_parse_list(opt->trusted_proxies, http->proxies, KCG_CIDR_MAX, &http->n_proxies) != 0) {
		*why = "server.trusted_proxies is not a list of addresses";
		goto fail;
	}
	if (pthread_create(&http->reaper, NULL, http_reaper_main, http) != 0) {
		*why = "cannot start the deadline thread";
		goto fail;
	}
	http->reaper_started = true;

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (opt->cert_pem)
		flags |= MHD_USE_TLS;

	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)opt->cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)opt->key_pem },
		{ opt->tls_priorities ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0, (void *)opt->tls_priorities },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };
	struct MHD_OptionItem per_ip[] = {
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)opt->max_connections_per_ip, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	http->daemon = MHD_start_daemon(
		flags, opt->port, NULL, NULL, on_request, http,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(opt->max_connections + opt->health_reserve),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opt->connection_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)opt->max_header_bytes,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
		MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
		MHD_OPTION_NOTIFY_CONNECTION, http_on_connection, http,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, http,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_ARRAY, opt->cert_pem ? tls : none,
		MHD_OPTION_ARRAY, opt->max_connections_per_ip ? per_ip : none,
		MHD_OPTION_END);
	if (!http->daemon) {
		*why = "cannot start the HTTP server (address in use, bad certificate or key, bad server.tls_priorities?)";
		goto fail;
	}
	return http;
fail:
	http_free(http);
	return NULL;
}

size_t kcg_http_in_flight(struct kcg_http *http)
{
	return atomic_load(&http->in_flight);
}

void kcg_http_destroy(struct kcg_http *http)
{
	if (!http)
		return;
	MHD_stop_daemon(http->daemon);
	http_free(http);
}
