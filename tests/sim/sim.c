/*
 * kcgate-sim: server, request pipeline (count, log, latency, auth, faults)
 * and main(). The control API is in sim_ctl.c, the peers themselves in
 * sim_mirakl*.c, sim_khaos*.c and sim_inriver.c. How to use it: docs/sim.md.
 *
 * Pipeline of a peer request (/mirakl, /khaos, /inriver), once its body is in:
 * count and log it; sleep latency_ms; check auth; classify read or write;
 * roll the fault dice; a rate limit answers 429 at once; an error or timeout
 * on a read (or the "before" half of writes) answers without running the
 * handler; the "after" half runs the handler (the effect happens) and then
 * throws its answer away.
 */
#include "sim.h"

#include <microhttpd.h>

#include <libxml/parser.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_NS "urn:IKosWebIntf-IKosWeb"
#define DEFAULT_UPDATE_DELTA_S 60
#define MAX_CONNECTIONS 2000
#define IDLE_TIMEOUT_S 120

struct sim_state sim;

const char *const sim_system_names[SIM_NSYSTEMS] = {"mirakl", "khaos", "inriver", "alerts", "smtp"};

enum fault_kind {
	F_NONE,
	F_RATE_LIMIT,
	F_ERROR,
	F_TIMEOUT,
};

/* ---- small helpers ---- */

static bool has_prefix_seg(const char *path, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0 || (path[n] != '/' && path[n] != '\0'))
		return false;
	*rest = path + n;
	return true;
}

int sim_system_by_name(const char *s)
{
	for (int i = 0; i < SIM_NSYSTEMS; i++) {
		if (s && strcmp(s, sim_system_names[i]) == 0)
			return i;
	}
	return -1;
}

/*
 * Wait @p ms, or less if the sim is reset or stopping (so a held request
 * never outlives the test that set it up, nor blocks shutdown).
 */
static void hold(long ms)
{
	struct timespec dl;
	uint64_t gen;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sim.lock);
	gen = sim.generation;
	while (!sim.stopping && sim.generation == gen) {
		if (pthread_cond_timedwait(&sim.wake, &sim.lock, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&sim.lock);
}

/* ---- request log ---- */

static void log_entry_free(struct sim_log_entry *e)
{
	free(e->method);
	free(e->path);
	free(e->query);
	free(e->content_type);
	free(e->body);
	free(e->reply_body);
	*e = (struct sim_log_entry){0};
}

/* Lock held. Headers other than Content-Type (so no credentials) are not kept.
 * @return the entry's seq, for log_reply(). */
static uint64_t log_request(enum sim_system sys, struct sim_request *req)
{
	struct sim_log *l = &sim.log[sys];
	struct sim_log_entry *e = &l->e[l->next];
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");

	log_entry_free(e);
	e->seq = ++sim.log_seq;
	e->method = sim_strdup(req->method);
	e->path = sim_strdup(req->path);
	e->query = sim_strdup(req->query);
	e->content_type = sim_strdup(ct);
	e->body = sim_xmalloc(req->body_len + 1);
	if (req->body_len)
		memcpy(e->body, req->body, req->body_len);
	e->body[req->body_len] = '\0';
	e->body_len = req->body_len;
	l->next = (l->next + 1) % SIM_LOG_CAP;
	if (l->count < SIM_LOG_CAP)
		l->count++;
	return e->seq;
}

/* Lock held. Keeps what request @p seq was answered (its status, the first
 * SIM_LOG_REPLY_MAX bytes of its body), unless its entry was reused. */
static void log_reply(enum sim_system sys, uint64_t seq, const struct sim_reply *r)
{
	struct sim_log *l = &sim.log[sys];
	struct sim_log_entry *e = &l->e[(l->next + SIM_LOG_CAP - 1) % SIM_LOG_CAP];
	for (size_t k = 0; k < l->count && e->seq != seq; k++)
		e = &l->e[(l->next + SIM_LOG_CAP * 2 - 2 - k) % SIM_LOG_CAP];
	if (e->seq != seq)
		return;
	size_t n = r->drop || !r->body ? 0 : r->len < SIM_LOG_REPLY_MAX ? r->len : SIM_LOG_REPLY_MAX;
	free(e->reply_body);
	e->reply_status = r->drop ? 0 : r->status;
	e->reply_body = sim_xmalloc(n + 1);
	if (n)
		memcpy(e->reply_body, r->body, n);
	e->reply_body[n] = '\0';
	e->reply_len = n;
}

static void log_clear(void)
{
	for (int s = 0; s < SIM_NSYSTEMS; s++) {
		for (size_t i = 0; i < SIM_LOG_CAP; i++)
			log_entry_free(&sim.log[s].e[i]);
		sim.log[s].next = sim.log[s].count = 0;
	}
}

void sim_forget_all(void)
{
	sim_mirakl_reset();
	sim_khaos_reset();
	sim_hostile_reset();
	sim_alerts_reset();
	sim_inriver_reset();
	log_clear();
	sim.log_seq = 0;
}

/* ---- peer pipeline ---- */

static void peer_error(enum sim_system sys, struct sim_reply *r, unsigned status, const char *msg)
{
	if (sys == SIM_KHAOS)
		sim_khaos_fault(r, status, status < 500 && status != 429 ? "Client" : "Server", "%s", msg);
	else
		sim_reply_mirakl_error(r, status, "%s", msg);
}

static bool authorized(enum sim_system sys, struct sim_request *req, struct sim_reply *r)
{
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");

	if (sys == SIM_MIRAKL && sim.mirakl_key) {
		/* Mirakl: the raw shop key, no scheme. */
		if (h && strcmp(h, sim.mirakl_key) == 0)
			return true;
		sim_reply_mirakl_error(r, 401, "Unauthorized");
		return false;
	}
	if (sys == SIM_INRIVER && sim.inriver_key) {
		const char *k = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-inRiver-APIKey");
		if (k && strcmp(k, sim.inriver_key) == 0)
			return true;
		sim_reply_mirakl_error(r, 401, "Unauthorized: X-inRiver-APIKey");
		return false;
	}
	if (sys == SIM_KHAOS && sim.khaos_basic) {
		if (h && strncasecmp(h, "Basic ", 6) == 0 && strcmp(h + 6, sim.khaos_basic + 6) == 0)
			return true;
		sim_khaos_fault(r, 401, "Client", "Authentication failed");
		r->www_authenticate = "Basic realm=\"IKosWeb\"";
		return false;
	}
	return true;
}

static enum fault_kind roll(enum sim_system sys, struct sim_faults *f, bool *after)
{
	double x, y;

	pthread_mutex_lock(&sim.lock);
	*f = sim.faults[sys];
	if (!f->active) {
		pthread_mutex_unlock(&sim.lock);
		return F_NONE;
	}
	/* Always two draws, so a sequence of requests is reproducible from the seed. */
	x = sim_uniform(&sim.faults[sys].rng);
	y = sim_uniform(&sim.faults[sys].rng);
	pthread_mutex_unlock(&sim.lock);
	*after = y < 0.5;
	if (x < f->rate_limit_rate)
		return F_RATE_LIMIT;
	if (x < f->rate_limit_rate + f->error_rate)
		return F_ERROR;
	if (x < f->rate_limit_rate + f->error_rate + f->timeout_rate)
		return F_TIMEOUT;
	return F_NONE;
}

static void fault_reply(enum sim_system sys, enum fault_kind kind, const struct sim_faults *f,
			struct sim_reply *r)
{
	if (kind == F_RATE_LIMIT) {
		peer_error(sys, r, 429, "Too Many Requests");
		r->retry_after_s = f->retry_after_s;
	} else if (kind == F_ERROR) {
		peer_error(sys, r, f->status, "Simulated failure");
	} else {
		/* The answer never comes: hold, then close without one. */
		hold(f->timeout_ms);
		sim_reply_clear(r);
		r->drop = true;
	}
}

static void peer(enum sim_system sys, struct sim_request *req, const char *sub, struct sim_reply *r)
{
	struct sim_soap_call *call = NULL;
	struct sim_faults f;
	enum fault_kind kind;
	bool write = false, after = false, prepared = false;
	uint64_t seq;

	pthread_mutex_lock(&sim.lock);
	sim.calls[sys]++;
	seq = log_request(sys, req);
	f = sim.faults[sys];
	pthread_mutex_unlock(&sim.lock);
	if (f.active && f.latency_ms > 0)
		hold(f.latency_ms);
	if (req->too_large) {
		peer_error(sys, r, 413, "Payload Too Large");
		goto out;
	}
	if (!authorized(sys, req, r))
		goto out;
	if (sys == SIM_KHAOS && strcmp(sub, "/wsdl/IKosWeb") == 0) {
		prepared = true;
		write = false;
	} else if (sys == SIM_KHAOS && strcmp(sub, "/soap/IKosWeb") == 0) {
		prepared = true;
		call = sim_khaos_prepare(req, r);
		write = sim_khaos_is_write(call);
	} else if (sys == SIM_MIRAKL || sys == SIM_INRIVER) {
		write = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
	}
	kind = roll(sys, &f, &after);
	if (kind == F_RATE_LIMIT || (kind != F_NONE && !(write && after))) {
		fault_reply(sys, kind, &f, r);
		goto out;
	}
	if (sys == SIM_MIRAKL) {
		if (!sim_hostile_mirakl(req, sub, r))
			sim_mirakl_handle(req, sub, r);
	} else if (call) {
		if (!sim_hostile_khaos(sim_khaos_method(call), r))
			sim_khaos_handle(call, r);
	} else if (sys == SIM_KHAOS && strcmp(sub, "/wsdl/IKosWeb") == 0) {
		sim_khaos_wsdl(req, r);
	} else if (sys == SIM_ALERTS) {
		sim_alerts_webhook(req, sub, r);
	} else if (sys == SIM_INRIVER) {
		sim_inriver_handle(req, sub, r);
	}
	else if (!prepared)
		peer_error(sys, r, 404, "Not Found");
	/* else: r already holds the protocol fault from sim_khaos_prepare() */
	if (kind != F_NONE)
		fault_reply(sys, kind, &f, r);
out:
	sim_khaos_call_free(call);
	pthread_mutex_lock(&sim.lock);
	log_reply(sys, seq, r);
	pthread_mutex_unlock(&sim.lock);
}

static void dispatch(struct sim_request *req, struct sim_reply *r)
{
	const char *rest;

	if (has_prefix_seg(req->path, "/_sim", &rest))
		sim_control(req, req->path, r);
	else if (has_prefix_seg(req->path, "/mirakl", &rest))
		peer(SIM_MIRAKL, req, rest, r);
	else if (has_prefix_seg(req->path, "/khaos", &rest))
		peer(SIM_KHAOS, req, rest, r);
	else if (has_prefix_seg(req->path, "/inriver", &rest))
		peer(SIM_INRIVER, req, rest, r);
	else if (has_prefix_seg(req->path, "/alerts", &rest))
		peer(SIM_ALERTS, req, rest, r);
	else
		sim_reply_ctl_error(r, 404, "not_found", "unknown path %s", req->path);
}

/* ---- libmicrohttpd glue ---- */

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct sim_request *req = calloc(1, sizeof(*req));
	char *q;

	if (!req)
		return NULL;
	req->uri = strdup(uri ? uri : "");
	if (!req->uri) {
		free(req);
		return NULL;
	}
	q = strchr(req->uri, '?');
	req->query = q ? q + 1 : "";
	req->conn = conn;
	return req;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct sim_request *req = *con_cls;

	if (!req)
		return;
	free(req->uri);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static void append_body(struct sim_request *req, const char *data, size_t n)
{
	if (req->too_large || req->body_len + n > SIM_MAX_BODY) {
		req->too_large = true;
		return;
	}
	sim_grow((void **)&req->body, &req->body_cap, req->body_len + n + 1, 1);
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct sim_reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char ra[32];

	if (r->body && r->len) {
		resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
		r->body = NULL;
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	if (r->content_type && r->status != 204)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www_authenticate);
	if (r->status == 429 && r->retry_after_s >= 0) {
		snprintf(ra, sizeof(ra), "%ld", r->retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct sim_request *req = *con_cls;
	struct sim_reply r = {.status = 500, .retry_after_s = -1};
	enum MHD_Result ret;

	if (!req)
		return MHD_NO;
	if (!req->started) {
		req->started = true;
		req->conn = conn;
		req->method = method;
		req->path = url;
		return MHD_YES;
	}
	if (*upload_data_size) {
		append_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	dispatch(req, &r);
	if (r.drop) {
		free(r.body);
		return MHD_NO;
	}
	ret = send_reply(conn, &r);
	free(r.body);
	return ret;
}

/* libmicrohttpd's own errors, minus the line it prints for every deliberate drop. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (strstr(msg, "Application reported internal error"))
		return;
	fprintf(stderr, "kcgate-sim: %s%s", msg, msg[0] && msg[strlen(msg) - 1] == '\n' ? "" : "\n");
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kcgate-sim --listen HOST:PORT [--mirakl-key K] [--inriver-key K] [--khaos-user U --khaos-password P]\n"
		"                  [--khaos-namespace NS] [--mirakl-update-delta-s N] [--smtp-listen HOST:PORT]\n"
		"Simulates Mirakl (/mirakl/api/...), Khaos Control SOAP (/khaos/soap/IKosWeb) and inriver\n"
		"REST (/inriver/api/v1.0.0/...), "
		"with a control API under /_sim. PORT 0 picks a free port. See docs/sim.md.\n");
}

/* "127.0.0.1:8080" or "[::1]:8080" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *host, size_t hostsz)
{
	const char *colon;
	long long port;
	size_t hl;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		if (hl == 0 || hl >= hostsz)
			return -EINVAL;
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
		if (hl == 0 || hl >= hostsz)
			return -EINVAL;
		memcpy(host, s, hl);
		host[hl] = '\0';
	}
	if (sim_parse_ll(colon + 1, 0, 65535, &port))
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	const char *listen = NULL, *kuser = NULL, *kpass = NULL, *smtp_listen = NULL;
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN + 1];
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	pthread_condattr_t ca;
	sigset_t sigs;
	long long delta = DEFAULT_UPDATE_DELTA_S;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int sig = 0;

	sim.khaos_ns = DEFAULT_NS;
	sim.allocate = true; /* Khaos allocates what it books (as after /_sim/reset) */
	/* every option takes a value: step over both */
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "kcgate-sim: %s: missing value or unknown option\n", a);
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--listen") == 0)
			listen = v;
		else if (strcmp(a, "--mirakl-key") == 0)
			sim.mirakl_key = v;
		else if (strcmp(a, "--inriver-key") == 0)
			sim.inriver_key = v;
		else if (strcmp(a, "--khaos-user") == 0)
			kuser = v;
		else if (strcmp(a, "--khaos-password") == 0)
			kpass = v;
		else if (strcmp(a, "--smtp-listen") == 0)
			smtp_listen = v;
		else if (strcmp(a, "--khaos-namespace") == 0)
			sim.khaos_ns = v;
		else if (strcmp(a, "--mirakl-update-delta-s") == 0 && sim_parse_ll(v, 0, 86400, &delta) == 0)
			;
		else {
			fprintf(stderr, "kcgate-sim: %s: unknown option or bad value '%s'\n", a, v);
			usage(stderr);
			return 2;
		}
	}
	if (!listen || parse_listen(listen, &ss, host, sizeof(host))) {
		fprintf(stderr, "kcgate-sim: --listen HOST:PORT is required (IPv4 or [IPv6] literal)\n");
		return 2;
	}
	if (!kuser != !kpass) {
		fprintf(stderr, "kcgate-sim: --khaos-user and --khaos-password go together\n");
		return 2;
	}
	if (!*sim.khaos_ns) {
		fprintf(stderr, "kcgate-sim: --khaos-namespace must not be empty\n");
		return 2;
	}
	sim.mirakl_update_delta_s = (long)delta;
	if (kuser) {
		size_t n = strlen(kuser) + strlen(kpass) + 2;
		char *up = sim_xmalloc(n), *b64;

		snprintf(up, n, "%s:%s", kuser, kpass);
		b64 = sim_base64((const unsigned char *)up, strlen(up));
		sim.khaos_basic = sim_xmalloc(strlen(b64) + 7);
		snprintf(sim.khaos_basic, strlen(b64) + 7, "Basic %s", b64);
		free(b64);
		free(up);
	}

	/* Signals go to sigwait() below; every thread inherits this mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	xmlInitParser();
	pthread_mutex_init(&sim.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sim.wake, &ca);
	pthread_condattr_destroy(&ca);

	struct sockaddr_storage sss;
	char shost[INET6_ADDRSTRLEN + 1];
	unsigned sport = 0;
	if (smtp_listen && (parse_listen(smtp_listen, &sss, shost, sizeof(shost)) || sim_smtp_start(&sss, &sport) != 0)) {
		fprintf(stderr, "kcgate-sim: cannot listen for SMTP on %s\n", smtp_listen);
		return 1;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_URI_LOG_CALLBACK, uri_cb, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "kcgate-sim: cannot listen on %s\n", listen);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (ss.ss_family == AF_INET6)
		fprintf(stderr, "kcgate-sim listening on http://[%s]:%u\n", host, info ? info->port : 0);
	else
		fprintf(stderr, "kcgate-sim listening on http://%s:%u\n", host, info ? info->port : 0);
	if (smtp_listen) /* after the HTTP line, which harnesses wait for */
		fprintf(stderr, "kcgate-sim smtp listening on smtp://%s:%u\n", shost, sport);
	fflush(stderr);
	sim_mirakl_start();

	while (sig != SIGTERM && sig != SIGINT) {
		if (sigwait(&sigs, &sig))
			break;
	}

	pthread_mutex_lock(&sim.lock);
	sim.stopping = true;
	pthread_cond_broadcast(&sim.wake);
	pthread_mutex_unlock(&sim.lock);
	sim_mirakl_stop();
	sim_smtp_stop();
	MHD_stop_daemon(d);
	pthread_mutex_lock(&sim.lock);
	sim_forget_all();
	pthread_mutex_unlock(&sim.lock);
	free(sim.khaos_basic);
	xmlCleanupParser();
	return 0;
}
