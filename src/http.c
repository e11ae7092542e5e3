/*
 * http.c: libmicrohttpd, TLS through its GnuTLS build, in one place.
 *
 * The daemon runs a pool of polling threads (epoll). A request's state is
 * allocated on the first callback and freed in the completion callback,
 * which also writes the request's log line. Webhook handlers suspend their
 * connection while the store's writer commits, so a slow fsync never ties
 * up a server thread and many requests share one commit.
 */
#include "kcgate/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "kcgate/auth.h"
#include "kcgate/log.h"
#include "kcgate/metrics.h"
#include "routes.h"

struct kcg_http {
	struct MHD_Daemon *daemon;
	struct kcg_app *app;
	size_t max_body;
	atomic_size_t in_flight;
};

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
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Request-Id", req->request_id);
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

void kcg_http_respond_error(struct kcg_request *req, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kcg_http_respond_json(req, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

void kcg_http_respond_text(struct kcg_request *req, unsigned status, const char *content_type, const char *text,
			   size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
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
			kcg_http_respond_error(req, 404, "not_found", "no such path: %s", req->path);
		}
		return false;
	}
	if (r->auth == KCG_ROUTE_ADMIN &&
	    kcg_auth_bearer(kcg_http_header(req, MHD_HTTP_HEADER_AUTHORIZATION), req->app->cfg->admin.token) != 0) {
		kcg_http_respond_error(req, 401, "unauthorized", "a valid admin bearer token is required");
		return false;
	}
	if (r->body == KCG_BODY_NONE)
		return true;
	/* Requests already begun finish during the drain; new ones are turned away. */
	if (r->auth == KCG_ROUTE_WEBHOOK && atomic_load(&req->app->shutting_down)) {
		kcg_http_respond_error(req, 503, "shutting_down", "kcgate is shutting down; nothing was stored, retry");
		return false;
	}

	const char *cl = kcg_http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = kcg_http_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (!cl && !(te && strcasestr(te, "chunked"))) {
		kcg_http_respond_error(req, 411, "length_required", "a request body needs a Content-Length");
		return false;
	}
	if (cl) {
		uint64_t len;
		if (kcg_parse_u64(cl, 0, UINT64_MAX, &len) != 0) {
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
			 (r->body == KCG_BODY_JSON_CE && media_type_is(ct, "application/cloudevents+json")));
	if (!ok) {
		kcg_http_respond_error(req, 415, "unsupported_media_type", "Content-Type must be %s",
				       r->body == KCG_BODY_JSON_CE ? "application/json or application/cloudevents+json"
								   : "application/json");
		return false;
	}
	return true;
}

static struct kcg_request *request_create(struct kcg_http *http, struct MHD_Connection *conn, const char *url,
					  const char *method)
{
	struct kcg_request *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->app = http->app;
	req->conn = conn;
	req->method = method;
	req->path = url;
	req->start_ns = kcg_mono_ns();
	if (kcg_make_id(kcg_now_ms(), req->request_id) != 0)
		snprintf(req->request_id, sizeof(req->request_id), "unknown");
	atomic_fetch_add(&http->in_flight, 1);
	return req;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct kcg_http *http = cls;
	struct kcg_request *req = *con_cls;

	if (!req) {
		req = request_create(http, conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		char allow[64];
		req->route = kcg_routes_match(method, url, req->param, sizeof(req->param), allow, sizeof(allow));
		if (req->route)
			req->source = req->route->source;
		if (!check_headers(http, req, allow) && req->source)
			kcg_metrics_webhook(req->source, KCG_RES_INVALID);
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

	uint64_t ns = kcg_mono_ns() - req->start_ns;
	kcg_metrics_request(ns);

	unsigned status = req->status;
	enum kcg_log_level level =
		status >= 500 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? KCG_LOG_WARN : KCG_LOG_INFO;
	if (kcg_log_enabled(level)) {
		json_t *f = json_pack("{s:s, s:s, s:s, s:i, s:f}", "request_id", req->request_id, "method", req->method,
				      "path", req->path, "status", (json_int_t)status, "duration_ms", (double)ns / 1e6);
		if (f && req->source)
			json_object_set_new(f, "source", json_string(req->source));
		if (f && req->event_id[0])
			json_object_set_new(f, "event_id", json_string(req->event_id));
		if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			json_object_set_new(f, "termination", json_string(termination_name(toe)));
		kcg_log(level, "request", f);
	}
	free(req->body);
	free(req);
	atomic_fetch_sub(&http->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	kcg_log_str(KCG_LOG_DEBUG, "libmicrohttpd", msg);
}

struct kcg_http *kcg_http_start(const struct kcg_http_options *opt, struct kcg_app *app, const char **why)
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
	http->app = app;
	http->max_body = opt->max_body_bytes;

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (opt->cert_pem)
		flags |= MHD_USE_TLS;

	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)opt->cert_pem },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)opt->key_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };

	http->daemon = MHD_start_daemon(
		flags, opt->port, NULL, NULL, on_request, http,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)opt->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opt->connection_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)opt->max_header_bytes,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, http,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_ARRAY, opt->cert_pem ? tls : none,
		MHD_OPTION_END);
	if (!http->daemon) {
		*why = "cannot start the HTTP server (address in use, bad certificate or key?)";
		free(http);
		return NULL;
	}
	return http;
}

size_t kcg_http_in_flight(struct kcg_http *http)
{
	return atomic_load(&http->in_flight);
}

void kcg_http_stop(struct kcg_http *http)
{
	if (!http)
		return;
	MHD_stop_daemon(http->daemon);
	free(http);
}
