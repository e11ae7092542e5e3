/**
 * kcgate/net_curl.h: the libcurl driver. "Send these calls; tell me when
 * each one is over."
 *
 * The one place that touches libcurl's easy and multi interfaces (the way
 * curl keeps transfer.c apart from multi.c): the job engine hands it a
 * struct kcg_call (net.h) and later gets a struct kcg_reply back, and
 * never sees a CURL handle. Many calls are in flight at once; nothing here
 * decides what is worth retrying (net.h, the engine do).
 *
 * Per call: the headers of the call plus "Expect:" (no 100-continue round
 * trip), the call's timeout (30 s when 0) and a 10 s connect timeout, http
 * and https only, no signals. A call with mail_from set is a mail instead
 * (smtp and smtps only): its envelope, its body uploaded as the message,
 * STARTTLS when offered (or required: require_tls), SMTP AUTH when it has
 * a user; its reply's status is the server's last SMTP code. An answer longer than the cap given at
 * create aborts the transfer (a transport error saying so). Retry-After in
 * seconds (0..86400) is kept in the reply; HTTP dates are rare and treated
 * as absent.
 *
 * Threads: one thread owns the driver (create, send, run, abandon,
 * destroy); kcg_net_curl_wakeup() may be called from any thread.
 */
#ifndef KCGATE_NET_CURL_H
#define KCGATE_NET_CURL_H

#include <stdint.h>

#include "kcgate/net.h"

struct kcg_net_curl;

/**
 * Allocates a driver that cuts answers longer than @p max_reply_bytes and
 * reports finished calls to @p done.
 *
 * done() is called by kcg_net_curl_run() when a call is over, with the
 * @p arg given to kcg_net_curl_send() and the reply: an answer (status,
 * body, Retry-After) or a transport error (transport_error, error, and
 * Retry-After if headers came first). The callee takes what @p reply owns
 * (and frees it with kcg_reply_finish()). It may send new calls.
 *
 * @return 0 with *@p out, or -ENOMEM.
 */
int kcg_net_curl_create(uint64_t max_reply_bytes, void (*done)(void *arg, struct kcg_reply *reply),
			struct kcg_net_curl **out);

/** Abandons every call in flight (no done() for them), then frees the driver. NULL-safe. */
void kcg_net_curl_destroy(struct kcg_net_curl *nc);

/**
 * Starts sending @p call. The driver copies what it needs except the body,
 * so @p call must stay valid until done() (or kcg_net_curl_abandon_all()).
 * @return 0 (done() will be called exactly once, from kcg_net_curl_run()),
 * or -ENOMEM (nothing was started, done() will not be called).
 */
int kcg_net_curl_send(struct kcg_net_curl *nc, const struct kcg_call *call, void *arg);

/**
 * Moves the calls in flight along, calls done() for each one that is over,
 * then waits up to @p wait_ms for network activity or a wakeup.
 */
void kcg_net_curl_run(struct kcg_net_curl *nc, int wait_ms);

/** Ends kcg_net_curl_run()'s wait now. Thread-safe, cheap, NULL-safe. */
void kcg_net_curl_wakeup(struct kcg_net_curl *nc);

/** Drops every call in flight without calling done(): their args are the
 * caller's to free. The driver stays usable. */
void kcg_net_curl_abandon_all(struct kcg_net_curl *nc);

#endif
