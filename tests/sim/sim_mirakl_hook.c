/*
 * kcgate-sim, Mirakl: the webhooks a change of an order announces, signed
 * as Standard Webhooks say (webhook-id, webhook-timestamp, webhook-signature
 * v1 = HMAC-SHA256 of "id.timestamp.body" with the whsec_ secret). They are
 * queued (bounded) and POSTed by their own thread, so request handling
 * never waits for the receiver; a failed send is counted and dropped.
 */
#include "sim_mirakl.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Webhooks: queue bound, socket timeouts. */
#define WEBHOOK_QUEUE_MAX 100000
#define WEBHOOK_TIMEOUT_MS 2000

struct hook {
	struct hook *next;
	char *url;
	unsigned char key[64];
	size_t keylen;
	char *body;
	char *order_id;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hook *head, *tail;
	size_t len;
	unsigned long sent, failed;
	uint64_t gen;		/* bumped by reset: an in-flight send is not counted */
	uint64_t msg_seq;	/* never reset: webhook ids stay unique for the process */
	int64_t boot_ms;
	bool stop;
} wh = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void hook_free(struct hook *h)
{
	if (!h)
		return;
	free(h->url);
	free(h->body);
	free(h->order_id);
	free(h);
}

/* "http://host[:port][/path]" into its parts; false if not that shape. */
static bool parse_url(const char *url, char *host, size_t hostsz, char *port, size_t portsz,
		      const char **path)
{
	const char *p, *h, *he;
	size_t n;

	if (!url || strncasecmp(url, "http://", 7) != 0)
		return false;
	h = url + 7;
	if (*h == '[') {
		he = strchr(h, ']');
		if (!he)
			return false;
		h++;
		p = he + 1;
	} else {
		he = h + strcspn(h, ":/?#");
		p = he;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= hostsz)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*p == ':') {
		size_t pl = strspn(p + 1, "0123456789");

		if (pl == 0 || pl >= portsz || (p[1 + pl] && p[1 + pl] != '/'))
			return false;
		memcpy(port, p + 1, pl);
		port[pl] = '\0';
		p += 1 + pl;
	} else {
		if (*p && *p != '/')
			return false;
		snprintf(port, portsz, "80");
	}
	*path = *p ? p : "/";
	return strlen(*path) < 2048 && !strpbrk(*path, " \r\n");
}

/* Announce a change of order @p o; lock held. */
void mk_webhook(struct sim_order *o, const char *type)
{
	struct hook *h;
	json_t *b;

	if (!mk_set.webhook_url || !mk_set.keylen)
		return;
	b = json_pack("{s:s, s:{s:s, s:O}}", "type", type, "data", "order_id", o->id,
		"order_state", json_object_get(o->json, "order_state"));
	h = calloc(1, sizeof(*h));
	if (!b || !h)
		abort();
	h->body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	if (!h->body)
		abort();
	h->url = sim_strdup(mk_set.webhook_url);
	h->order_id = sim_strdup(o->id);
	memcpy(h->key, mk_set.key, sizeof(h->key));
	h->keylen = mk_set.keylen;
	pthread_mutex_lock(&wh.mu);
	if (wh.len >= WEBHOOK_QUEUE_MAX) {
		wh.failed++;
		pthread_mutex_unlock(&wh.mu);
		fprintf(stderr, "kcgate-sim: webhook for order %s dropped: %d webhooks queued\n",
			o->id, WEBHOOK_QUEUE_MAX);
		hook_free(h);
		return;
	}
	if (wh.tail)
		wh.tail->next = h;
	else
		wh.head = h;
	wh.tail = h;
	wh.len++;
	pthread_cond_signal(&wh.cv);
	pthread_mutex_unlock(&wh.mu);
}

void mk_webhook_clear(void)
{
	struct hook *h;

	pthread_mutex_lock(&wh.mu);
	h = wh.head;
	wh.head = wh.tail = NULL;
	wh.len = 0;
	wh.sent = wh.failed = 0;
	wh.gen++;
	pthread_mutex_unlock(&wh.mu);
	while (h) {
		struct hook *n = h->next;

		hook_free(h);
		h = n;
	}
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* POST one webhook; 0, or -1 with @p err mk_set. */
static int webhook_post(const struct hook *h, char *err, size_t errsz)
{
	char host[256], port[16], id[64], ts[24], head[3072], resp[1024];
	const char *path;
	const void *parts[5];
	size_t lens[5], got = 0;
	unsigned char mac[32];
	char *sig;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct timeval tv = {.tv_sec = WEBHOOK_TIMEOUT_MS / 1000,
		.tv_usec = (WEBHOOK_TIMEOUT_MS % 1000) * 1000};
	int fd = -1, rc = -1, status = 0, gai;
	size_t blen = strlen(h->body);

	if (!parse_url(h->url, host, sizeof(host), port, sizeof(port), &path)) {
		snprintf(err, errsz, "bad url");
		return -1;
	}
	pthread_mutex_lock(&wh.mu);
	snprintf(id, sizeof(id), "msg_sim%llx_%llu", (unsigned long long)wh.boot_ms,
		(unsigned long long)++wh.msg_seq);
	pthread_mutex_unlock(&wh.mu);
	snprintf(ts, sizeof(ts), "%lld", (long long)(sim_now_ms() / 1000));
	parts[0] = id, lens[0] = strlen(id);
	parts[1] = ".", lens[1] = 1;
	parts[2] = ts, lens[2] = strlen(ts);
	parts[3] = ".", lens[3] = 1;
	parts[4] = h->body, lens[4] = blen;
	sim_hmac_sha256(h->key, h->keylen, parts, lens, 5, mac);
	sig = sim_base64(mac, sizeof(mac));
	snprintf(head, sizeof(head),
		"POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nContent-Type: application/json\r\n"
		"Content-Length: %zu\r\nwebhook-id: %s\r\nwebhook-timestamp: %s\r\n"
		"webhook-signature: v1,%s\r\nUser-Agent: kcgate-sim\r\nConnection: close\r\n\r\n",
		path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port,
		blen, id, ts, sig);
	free(sig);
	gai = getaddrinfo(host, port, &hints, &ai);
	if (gai) {
		snprintf(err, errsz, "%s: %s", host, gai_strerror(gai));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		snprintf(err, errsz, "connect: %s", strerror(errno));
		goto out;
	}
	if (!send_all(fd, head, strlen(head)) || !send_all(fd, h->body, blen)) {
		snprintf(err, errsz, "send: %s", strerror(errno));
		goto out;
	}
	/* Read the status line and headers, then the body (discarded) so the
	 * receiver is not reset mid-answer. */
	while (got < sizeof(resp) - 1) {
		ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		resp[got] = '\0';
		if (strstr(resp, "\r\n\r\n"))
			break;
	}
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/%*d.%*d %d", &status) != 1) {
		snprintf(err, errsz, "no HTTP answer");
		goto out;
	}
	if (strstr(resp, "\r\n\r\n")) {
		const char *cl = strcasestr(resp, "\r\nContent-Length:");
		long long left = cl ? strtoll(cl + 17, NULL, 10) : 1LL << 16;

		left -= (long long)(got - (size_t)(strstr(resp, "\r\n\r\n") + 4 - resp));
		while (left > 0) {
			char sink[4096];
			ssize_t n = recv(fd, sink, sizeof(sink), 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			left -= n;
		}
	}
	if (status < 200 || status > 299) {
		snprintf(err, errsz, "HTTP %d", status);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

static void *webhook_sender(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wh.mu);
	for (;;) {
		struct hook *h;
		uint64_t gen;
		char err[300] = "";
		int rc;

		while (!wh.head && !wh.stop)
			pthread_cond_wait(&wh.cv, &wh.mu);
		if (wh.stop)
			break;
		h = wh.head;
		wh.head = h->next;
		if (!wh.head)
			wh.tail = NULL;
		wh.len--;
		gen = wh.gen;
		pthread_mutex_unlock(&wh.mu);
		rc = webhook_post(h, err, sizeof(err));
		if (rc)
			fprintf(stderr, "kcgate-sim: webhook for order %s to %s failed (%s): dropped\n",
				h->order_id, h->url, err);
		hook_free(h);
		pthread_mutex_lock(&wh.mu);
		if (gen == wh.gen) {
			if (rc)
				wh.failed++;
			else
				wh.sent++;
		}
	}
	pthread_mutex_unlock(&wh.mu);
	return NULL;
}

bool mk_webhook_url_ok(const char *url)
{
	char host[256], port[16];
	const char *path;

	return parse_url(url, host, sizeof(host), port, sizeof(port), &path);
}

void mk_webhook_counts(unsigned long *queued, unsigned long *sent, unsigned long *failed)
{
	pthread_mutex_lock(&wh.mu);
	*queued = wh.len;
	*sent = wh.sent;
	*failed = wh.failed;
	pthread_mutex_unlock(&wh.mu);
}

static pthread_t sender_thread;

bool mk_webhook_start(void)
{
	wh.boot_ms = sim_now_ms();
	return pthread_create(&sender_thread, NULL, webhook_sender, NULL) == 0;
}

void mk_webhook_stop(void)
{
	/* The sender may be inside a send (at most WEBHOOK_TIMEOUT_MS): not waited for. */
	pthread_mutex_lock(&wh.mu);
	wh.stop = true;
	pthread_cond_broadcast(&wh.cv);
	pthread_mutex_unlock(&wh.mu);
	pthread_detach(sender_thread);
}
