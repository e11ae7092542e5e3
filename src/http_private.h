/*
 * http_private.h: what http.c (the daemon and the request's life) and
 * http_guard.c (deadlines and the admin 401 throttle) share. Nothing else
 * includes it.
 */
#ifndef KCGATE_HTTP_PRIVATE_H
#define KCGATE_HTTP_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "kcgate/http.h"

#define THROTTLE_SLOTS 4096 /* client addresses remembered for admin 401s */

/* One TCP connection, from the accept to the close. */
struct conn {
	struct conn *prev, *next;
	int fd;
	uint64_t accepted_ns;
	uint64_t deadline_ns;   /* 0: none (body in: handler, answer) */
	bool had_request;       /* a request line was seen on it */
	bool reserve;           /* accepted beyond max_connections: /health/ only */
	bool reaped;            /* shut down by the timer thread */
	char peer[KCG_ADDR_MAX];
};

struct throttle_slot {
	char addr[KCG_ADDR_MAX]; /* IPv4 address, or IPv6 /64 ("2001:db8::/64") */
	double fails;           /* decays by one per interval */
	uint64_t last_ms;
};

struct kcg_http {
	struct MHD_Daemon *daemon;
	struct kcg_app *app;
	size_t max_body;
	atomic_size_t in_flight;

	uint64_t header_ns, handshake_ns, body_ns;
	unsigned max_connections;
	atomic_uint open;       /* connections accepted and not closed */

	pthread_mutex_t lock;   /* the connection list and the reaper's stop flag */
	pthread_cond_t wake;
	struct conn *conns;
	bool stop;
	bool reaper_started;
	pthread_t reaper;

	struct kcg_cidr proxies[KCG_CIDR_MAX];
	size_t n_proxies;

	pthread_mutex_t throttle_lock;
	unsigned auth_burst, auth_interval_s;
	struct throttle_slot *throttle;
};

/* The tracked connection of @p c, or NULL (untracked: out of memory at accept). */
struct conn *http_conn_of(struct MHD_Connection *c);

/* Sets @p c's deadline (0: none); NULL-safe. */
void http_set_deadline(struct kcg_http *http, struct conn *c, uint64_t deadline_ns);

/* MHD_OPTION_NOTIFY_CONNECTION: tracks each connection from accept to close. */
void http_on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			enum MHD_ConnectionNotificationCode code);

/* The timer thread: shuts down connections past their deadline until http->stop. */
void *http_reaper_main(void *arg);

/* req->client: the peer, or behind a trusted proxy the client
 * X-Forwarded-For names (only its right end is believed). */
void http_find_client(struct kcg_http *http, struct kcg_request *req);

/* Seconds @p addr must wait before its next admin attempt; 0 = go ahead.
 * @p failed: record one more failure. An IPv6 address is counted by its
 * /64 (an IPv4-mapped one as its IPv4 address). */
unsigned http_throttle(struct kcg_http *http, const char *addr, bool failed);

/* The admin check of an admin route: the bearer token (scripts), or a
 * console session cookie (kcgate/session.h), which must also carry its
 * X-CSRF-Token on anything but GET and HEAD. Answers 401 (counted by the
 * throttle) or 403 csrf_required and returns false when refused. */
bool http_admin_allowed(struct kcg_http *http, struct kcg_request *req);

#endif
