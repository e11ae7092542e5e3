/*
 * http_guard.c: the server's guard against hostile clients, what
 * libmicrohttpd 0.9.75 does not do itself: every connection tracked from
 * the accept with an absolute deadline (a timer thread shuts down the
 * socket of one past it), and the per-address count of admin 401s that
 * turns into 429 past a burst, by the client's address (the peer, or
 * behind a trusted proxy the one X-Forwarded-For names). http.c sets the
 * deadlines as a request advances and asks the throttle before and after
 * an admin token check;
 * the admin check itself (bearer token, or console session + CSRF) is here.
 */
#include "http_private.h"

#include <arpa/inet.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "kcgate/auth.h"
#include "kcgate/session.h"

#define REAPER_TICK_MS 200     /* how often deadlines are looked at */
#define THROTTLE_PROBE 8
#define XFF_MAX 2048            /* X-Forwarded-For: characters looked at, from the right end */
#define XFF_ENTRIES 64          /* X-Forwarded-For: entries looked at, from the right end */

/* ---------------------------------------------------------------- connections */

struct conn *http_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void http_set_deadline(struct kcg_http *http, struct conn *c, uint64_t deadline_ns)
{
	if (!c)
		return;
	pthread_mutex_lock(&http->lock);
	c->deadline_ns = deadline_ns;
	pthread_mutex_unlock(&http->lock);
}

void http_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct kcg_http *http = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		unsigned open = atomic_fetch_add(&http->open, 1) + 1;
		struct conn *c = calloc(1, sizeof(*c));
		*socket_context = c;
		if (!c)
			return; /* untracked: only the idle timeout applies */
		const union MHD_ConnectionInfo *fd = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ad = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		c->fd = fd ? fd->connect_fd : -1;
		c->reserve = open > http->max_connections;
		snprintf(c->peer, sizeof(c->peer), "unknown");
		if (ad && ad->client_addr) {
			const struct sockaddr *sa = ad->client_addr;
			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof(c->peer));
		}
		uint64_t first = http->handshake_ns < http->header_ns ? http->handshake_ns : http->header_ns;
		c->accepted_ns = kcg_mono_ns();
		c->deadline_ns = c->accepted_ns + first;
		pthread_mutex_lock(&http->lock);
		c->next = http->conns;
		if (c->next)
			c->next->prev = c;
		http->conns = c;
		pthread_mutex_unlock(&http->lock);
		return;
	}
	/* CLOSED: libmicrohttpd closes the fd only after this. */
	struct conn *c = *socket_context;
	*socket_context = NULL;
	atomic_fetch_sub(&http->open, 1);
	if (!c)
		return;
	pthread_mutex_lock(&http->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		http->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&http->lock);
	free(c);
}

/* The timer thread: shuts down connections past their deadline. */
void *http_reaper_main(void *arg)
{
	struct kcg_http *http = arg;
	pthread_mutex_lock(&http->lock);
	while (!http->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += REAPER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&http->wake, &http->lock, &ts);
		uint64_t now = kcg_mono_ns();
		for (struct conn *c = http->conns; c; c = c->next) {
			if (c->deadline_ns && now >= c->deadline_ns && !c->reaped && c->fd >= 0) {
				/* Not close(): the fd stays libmicrohttpd's; it sees EOF and closes. */
				shutdown(c->fd, SHUT_RDWR);
				c->reaped = true;
				c->deadline_ns = 0;
			}
		}
	}
	pthread_mutex_unlock(&http->lock);
	return NULL;
}


/* The key an address is counted under: an IPv4 address as it is, an IPv6
 * address by its /64 (one host commonly holds a whole /64, so exact keys
 * would give it 2^64 bursts), an IPv4-mapped IPv6 address as its IPv4. */
static void throttle_key(const char *addr, char key[KCG_ADDR_MAX])
{
	struct in6_addr a6;
	snprintf(key, KCG_ADDR_MAX, "%s", addr);
	if (!strchr(addr, ':') || inet_pton(AF_INET6, addr, &a6) != 1)
		return;
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		inet_ntop(AF_INET, &a6.s6_addr[12], key, KCG_ADDR_MAX);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	char net[KCG_ADDR_MAX];
	if (inet_ntop(AF_INET6, &a6, net, sizeof(net)))
		snprintf(key, KCG_ADDR_MAX, "%.*s/64", KCG_ADDR_MAX - 4, net);
}

static struct throttle_slot *throttle_find(struct kcg_http *http, const char *addr, uint64_t now)
{
	uint64_t h = 1469598103934665603u;
	for (const char *p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	struct throttle_slot *victim = NULL;
	double least = DBL_MAX;
	for (unsigned i = 0; i < THROTTLE_PROBE; i++) {
		struct throttle_slot *t = &http->throttle[(h + i) % THROTTLE_SLOTS];
		if (strcmp(t->addr, addr) == 0)
			return t;
		double left = t->fails - (double)(now - t->last_ms) / (http->auth_interval_s * 1000.0);
		if (!t->addr[0] || left < least) {
			least = t->addr[0] ? left : -DBL_MAX;
			victim = t;
		}
	}
	snprintf(victim->addr, sizeof(victim->addr), "%s", addr);
	victim->fails = 0;
	victim->last_ms = now;
	return victim;
}

/* Seconds @p addr must wait before its next admin attempt; 0 = go ahead.
 * @p failed: record one more failure. IPv6 addresses count by their /64. */
unsigned http_throttle(struct kcg_http *http, const char *addr, bool failed)
{
	if (!http->auth_burst || !http->throttle)
		return 0;
	uint64_t now = kcg_now_ms();
	char key[KCG_ADDR_MAX];
	throttle_key(addr, key);
	pthread_mutex_lock(&http->throttle_lock);
	struct throttle_slot *t = throttle_find(http, key, now);
	t->fails -= (double)(now - t->last_ms) / (http->auth_interval_s * 1000.0);
	if (t->fails < 0)
		t->fails = 0;
	t->last_ms = now;
	if (failed)
		t->fails += 1;
	unsigned wait = 0;
	if (t->fails >= http->auth_burst)
	{
		double w = (t->fails - http->auth_burst + 1) * http->auth_interval_s;
		wait = (unsigned)w;
		if (wait < w)
			wait++; /* rounded up, without libm */
	}
	pthread_mutex_unlock(&http->throttle_lock);
	return wait;
}

/* ---------------------------------------------------------------- the client */

/* The X-Forwarded-For header lines joined with ",", in order, of which
 * only the last XFF_MAX characters are kept (the right end is the part our
 * proxies wrote; the left may be anything a client sent). */
struct xff {
	char buf[XFF_MAX + 1];
	size_t len;
	bool cut;               /* characters were dropped from the left */
};

static void xff_add(struct xff *x, const char *s, size_t n)
{
	if (n > XFF_MAX) {
		memcpy(x->buf, s + n - XFF_MAX, XFF_MAX);
		x->len = XFF_MAX;
		x->cut = true;
		return;
	}
	if (x->len + n > XFF_MAX) {
		size_t drop = x->len + n - XFF_MAX;
		memmove(x->buf, x->buf + drop, x->len - drop);
		x->len -= drop;
		x->cut = true;
	}
	memcpy(x->buf + x->len, s, n);
	x->len += n;
}

static enum MHD_Result xff_line(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct xff *x = cls;
	if (strcasecmp(key, "X-Forwarded-For") != 0 || !value)
		return MHD_YES;
	if (x->len)
		xff_add(x, ",", 1);
	xff_add(x, value, strlen(value));
	return MHD_YES;
}

static bool xff_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* The client (req->client): the peer, unless the peer is a trusted proxy; then, reading
 * X-Forwarded-For (every line of it) from the right end, the first address
 * that is not a trusted proxy (the left-most looked at when all are), since
 * only the right end was written by ours. At most the last XFF_ENTRIES
 * entries and XFF_MAX characters are looked at: a longer value is cut on
 * the left (what a client prepends), never ignored, so a client cannot
 * make itself look like the proxy. Should the right-most entry not be an
 * address (a proxy that writes none), the client stays the peer. */
void http_find_client(struct kcg_http *http, struct kcg_request *req)
{
	snprintf(req->client, sizeof(req->client), "%s", req->peer);
	if (!http->n_proxies || !kcg_cidr_match(http->proxies, http->n_proxies, req->peer))
		return;
	struct xff x = { .len = 0 };
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, xff_line, &x);
	size_t start = 0, end = x.len;
	if (x.cut) /* the left-most entry may be a fragment */
		while (start < end && !xff_sep(x.buf[start]))
			start++;
	const char *last = NULL;
	for (unsigned seen = 0; seen < XFF_ENTRIES; seen++) {
		while (end > start && xff_sep(x.buf[end - 1]))
			end--;
		if (end == start)
			break;
		size_t b = end;
		while (b > start && !xff_sep(x.buf[b - 1]))
			b--;
		x.buf[end] = '\0';
		const char *t = x.buf + b;
		unsigned char a[16];
		if (inet_pton(AF_INET, t, a) != 1 && inet_pton(AF_INET6, t, a) != 1)
			break; /* not an address: stop believing what is left of it */
		last = t;
		if (!kcg_cidr_match(http->proxies, http->n_proxies, t))
			break;
		end = b;
	}
	if (last)
		snprintf(req->client, sizeof(req->client), "%s", last);
}

/* ---------------------------------------------------------------- admin check */

void kcg_http_auth_failed(struct kcg_request *req)
{
	if (req->http)
		http_throttle(req->http, req->client, true);
}

bool http_admin_allowed(struct kcg_http *http, struct kcg_request *req)
{
	const char *token = req->app->cfg->admin.token; /* once: a reload may swap it (config.h) */
	if (kcg_auth_bearer(kcg_http_header(req, MHD_HTTP_HEADER_AUTHORIZATION), token) == 0)
		return true;
	char sid[KCG_SESSION_HEX + 2];
	const char *cookie = kcg_cookie_value(kcg_http_header(req, MHD_HTTP_HEADER_COOKIE), KCG_SESSION_COOKIE, sid,
					      sizeof(sid));
	bool write = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
	enum kcg_session_check c = kcg_sessions_check(req->app->sessions, cookie, token, kcg_now_ms(), write,
						      kcg_http_header(req, KCG_CSRF_HEADER), NULL, NULL);
	if (c == KCG_SESSION_OK) {
		req->via_session = true;
		return true;
	}
	if (c == KCG_SESSION_BAD_CSRF) {
		kcg_http_respond_error(req, 403, "csrf_required",
				       "a console action needs the session's " KCG_CSRF_HEADER " header (GET /console/api/whoami)");
		return false;
	}
	http_throttle(http, req->client, true);
	kcg_http_respond_error(req, 401, "unauthorized", "a valid admin bearer token is required");
	return false;
}
