/*
 * net_curl.c: the libcurl driver (see net_curl.h): one easy handle per call
 * on one multi handle.
 *
 * A transfer owns its easy handle, its header list and the answer being
 * received; the body it sends stays the caller's (CURLOPT_POSTFIELDS does
 * not copy). Transfers in flight are on one list, so they can be abandoned
 * all at once when the engine stops.
 */
#include "kcgate/net_curl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "kcgate/common.h"

#define DEFAULT_TIMEOUT_S 30L
#define CONNECT_TIMEOUT_S 10L
#define MAX_HOST_CONNECTIONS 64L
#define RETRY_AFTER_MAX_S 86400

struct transfer {
	struct kcg_net_curl *nc;
	void *arg;
	CURL *easy;
	struct curl_slist *headers;
	char *buf;                 /* the answer being received */
	size_t len, cap;
	bool smtp;                 /* a mail: the reply's status is the last SMTP code */
	struct curl_slist *rcpt;   /* a mail's envelope recipients */
	const char *upload;        /* a mail's message, sent from upload_pos */
	size_t upload_len, upload_pos;
	bool too_long;
	uint64_t max_reply;         /* the call's bound, or the driver's */
	long retry_after_s;
	struct transfer *next;
};

struct kcg_net_curl {
	CURLM *multi;
	uint64_t max_reply_bytes;
	void (*done)(void *arg, struct kcg_reply *reply);
	struct transfer *in_flight;
};

int kcg_net_curl_create(uint64_t max_reply_bytes, void (*done)(void *arg, struct kcg_reply *reply),
			struct kcg_net_curl **out)
{
	struct kcg_net_curl *nc = calloc(1, sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	nc->multi = curl_multi_init();
	if (!nc->multi) {
		free(nc);
		return -ENOMEM;
	}
	curl_multi_setopt(nc->multi, CURLMOPT_MAX_HOST_CONNECTIONS, MAX_HOST_CONNECTIONS);
	nc->max_reply_bytes = max_reply_bytes;
	nc->done = done;
	*out = nc;
	return 0;
}

static void free_transfer(struct transfer *x)
{
	if (x->easy) {
		curl_multi_remove_handle(x->nc->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->rcpt);
	free(x->buf);
	free(x);
}

void kcg_net_curl_abandon_all(struct kcg_net_curl *nc)
{
	while (nc->in_flight) {
		struct transfer *x = nc->in_flight;
		nc->in_flight = x->next;
		free_transfer(x);
	}
}

void kcg_net_curl_destroy(struct kcg_net_curl *nc)
{
	if (!nc)
		return;
	kcg_net_curl_abandon_all(nc);
	curl_multi_cleanup(nc->multi);
	free(nc);
}

void kcg_net_curl_wakeup(struct kcg_net_curl *nc)
{
	if (nc)
		curl_multi_wakeup(nc->multi);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *x = arg;
	size_t len = size * n;
	if (x->len + len > x->max_reply) {
		x->too_long = true;
		return 0; /* aborts the transfer */
	}
	if (x->len + len + 1 > x->cap) {
		size_t cap = (x->len + len + 1) * 2;
		char *p = realloc(x->buf, cap);
		if (!p)
			return 0;
		x->buf = p;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, len);
	x->len += len;
	x->buf[x->len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *x = arg;
	size_t len = size * n;
	if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char v[32];
		size_t vl = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;
		memcpy(v, data + 12, vl);
		v[vl] = '\0';
		char *p = v;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\r\n ")] = '\0';
		uint64_t secs;
		/* HTTP dates are possible too; they are rare and treated as absent. */
		if (kcg_parse_u64(p, 0, RETRY_AFTER_MAX_S, &secs) == 0)
			x->retry_after_s = (long)secs;
	}
	return len;
}

/* A mail's message, handed to libcurl as it asks (it dot-stuffs and ends
 * the DATA itself). */
static size_t on_upload(char *buf, size_t size, size_t n, void *arg)
{
	struct transfer *x = arg;
	size_t want = size * n, left = x->upload_len - x->upload_pos;
	if (want > left)
		want = left;
	memcpy(buf, x->upload + x->upload_pos, want);
	x->upload_pos += want;
	return want;
}

/* The SMTP part of a call: envelope, message, credentials, TLS. */
static int setup_smtp(struct transfer *x, CURL *h, const struct kcg_call *c)
{
	char from[300];
	x->smtp = true;
	for (size_t i = 0; i < c->n_rcpt; i++) {
		char to[300];
		snprintf(to, sizeof(to), "<%s>", c->mail_rcpt[i]);
		struct curl_slist *l = curl_slist_append(x->rcpt, to);
		if (!l)
			return -ENOMEM;
		x->rcpt = l;
	}
	snprintf(from, sizeof(from), "<%s>", c->mail_from);
	x->upload = c->body ? c->body : "";
	x->upload_len = c->body ? c->body_len : 0;
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, x->rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
	curl_easy_setopt(h, CURLOPT_READDATA, x);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->upload_len);
	curl_easy_setopt(h, CURLOPT_USE_SSL, c->require_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
	if (c->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->password ? c->password : "");
	}
	return 0;
}

int kcg_net_curl_send(struct kcg_net_curl *nc, const struct kcg_call *c, void *arg)
{
	struct transfer *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->nc = nc;
	x->max_reply = c->max_reply_bytes ? c->max_reply_bytes : nc->max_reply_bytes;
	x->arg = arg;
	x->retry_after_s = -1;
	CURL *h = curl_easy_init();
	if (!h)
		goto fail_transfer;
	for (size_t i = 0; i < c->n_headers; i++) {
		struct curl_slist *l = curl_slist_append(x->headers, c->headers[i]);
		if (!l)
			goto fail_easy;
		x->headers = l;
	}
	x->headers = curl_slist_append(x->headers, "Expect:"); /* no 100-continue round trip */
	curl_easy_setopt(h, CURLOPT_URL, c->url);
	if (c->mail_from) {
		if (setup_smtp(x, h, c) != 0)
			goto fail_easy;
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	}
	if (!c->mail_from && strcmp(c->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? c->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(c->body ? c->body_len : 0));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s ? (long)c->timeout_s : DEFAULT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "kcgate/" KCGATE_VERSION);
	if (curl_multi_add_handle(nc->multi, h) != CURLM_OK)
		goto fail_easy;
	x->easy = h;
	x->next = nc->in_flight;
	nc->in_flight = x;
	return 0;
fail_easy:
	curl_easy_cleanup(h);
fail_transfer:
	curl_slist_free_all(x->headers);
	curl_slist_free_all(x->rcpt);
	free(x);
	return -ENOMEM;
}

/* A transfer is over: hand its reply to done() and free it. */
static void transfer_done(struct kcg_net_curl *nc, struct transfer *x, CURLcode code)
{
	struct kcg_reply r = { .retry_after_s = x->retry_after_s };
	if (code == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
		r.body = x->buf;
		r.len = x->len;
		x->buf = NULL;
	} else {
		r.transport_error = (int)code;
		if (x->smtp) /* the server's refusal (4xx/5xx), or 0 if it never answered */
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
		if (x->too_long)
			snprintf(r.error, sizeof(r.error), "answer longer than %llu bytes (jobs.max_reply_bytes, or the "
				 "call's own bound): %s", (unsigned long long)x->max_reply, curl_easy_strerror(code));
		else
			snprintf(r.error, sizeof(r.error), "%s", curl_easy_strerror(code));
	}
	for (struct transfer **pp = &nc->in_flight; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	void *arg = x->arg;
	free_transfer(x);
	nc->done(arg, &r);
}

void kcg_net_curl_run(struct kcg_net_curl *nc, int wait_ms)
{
	int running;
	curl_multi_perform(nc->multi, &running);
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(nc->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct transfer *x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		transfer_done(nc, x, msg->data.result);
	}
	curl_multi_poll(nc->multi, NULL, 0, wait_ms, NULL);
}
