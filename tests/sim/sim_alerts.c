/*
 * sim_alerts.c: where kcgate's alerts land (docs/sim.md section 9).
 *
 *  - A webhook catcher: POST /alerts/{anything} (through the peer pipeline,
 *    so faults apply: system "alerts") records the body and answers
 *    200 "ok" as Slack does.
 *  - An SMTP sink on --smtp-listen HOST:PORT: RFC 5321 server side, enough
 *    for libcurl: 220 greeting; EHLO (250, advertising AUTH PLAIN and
 *    8BITMIME) or HELO; AUTH PLAIN, with the credentials on its line or
 *    after a 334 (235, the user recorded, the password
 *    not); MAIL FROM, RCPT TO (250); DATA (354, then the message up to
 *    <CRLF>.<CRLF>, dot-unstuffed, 250); RSET, NOOP (250); QUIT (221);
 *    anything else 502. Faults (system "smtp", POST /_sim/faults): an
 *    "error" answers MAIL FROM with the fault's status (e.g. 451 or 554)
 *    and nothing is recorded; a "timeout" holds the connection at MAIL
 *    FROM, then closes it without an answer.
 *
 * GET /_sim/alerts shows both: {"webhooks": [...], "mails": [...],
 * "smtp": {"connections", "refused"}}. POST /_sim/reset clears them.
 */
#include "sim.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SMTP_LINE_MAX 1000         /* RFC 5321 4.5.3.1.6: a text line, CRLF included */
#define SMTP_DATA_MAX (4u << 20)
#define SMTP_IDLE_S 30
#define KEEP_MAX 1000              /* webhooks and mails kept */

struct sim_mail {
	char *helo, *auth_user, *from, *data;
	json_t *rcpt;
};

static json_t *webhooks;           /* lock held */
static struct sim_mail mails[KEEP_MAX];
static size_t n_mails;
static unsigned long smtp_connections, smtp_refused;
static int smtp_fd = -1;

/* ---- the webhook catcher ---- */

void sim_alerts_webhook(struct sim_request *req, const char *sub, struct sim_reply *r)
{
	if (strcmp(req->method, "POST") != 0) {
		sim_reply_mirakl_error(r, 405, "POST only");
		r->allow = "POST";
		return;
	}
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
	json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
	pthread_mutex_lock(&sim.lock);
	if (!webhooks)
		webhooks = json_array();
	if (json_array_size(webhooks) < KEEP_MAX)
		json_array_append_new(webhooks, json_pack("{s:s, s:s, s:o}", "path", sub, "content_type", ct ? ct : "",
							  "body", body ? body : sim_json_string_lossy(req->body, req->body_len)));
	else
		json_decref(body);
	pthread_mutex_unlock(&sim.lock);
	sim_reply_clear(r);
	r->status = 200;
	r->body = sim_strdup("ok");
	r->len = 2;
	r->content_type = "text/plain";
}

/* ---- the SMTP sink ---- */

struct conn {
	int fd;
	char buf[SMTP_LINE_MAX * 2];
	size_t len;
	struct sim_mail mail;
};

static void mail_free(struct sim_mail *m)
{
	free(m->helo);
	free(m->auth_user);
	free(m->from);
	free(m->data);
	json_decref(m->rcpt);
	*m = (struct sim_mail){ 0 };
}

static bool say(struct conn *c, const char *line)
{
	size_t n = strlen(line);
	return send(c->fd, line, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* One line without its CRLF into @p out; false on EOF, error or an overlong line. */
static bool read_line(struct conn *c, char *out, size_t cap)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			size_t keep = n > 0 && c->buf[n - 1] == '\r' ? n - 1 : n;
			if (keep >= cap)
				return false;
			memcpy(out, c->buf, keep);
			out[keep] = '\0';
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return true;
		}
		if (c->len == sizeof(c->buf))
			return false;
		ssize_t got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (got <= 0)
			return false;
		c->len += (size_t)got;
	}
}

/* "<addr>" (with parameters after it) of MAIL FROM: / RCPT TO: */
static char *path_arg(const char *s)
{
	const char *lt = strchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (!gt)
		return NULL;
	char *a = sim_xmalloc((size_t)(gt - lt));
	memcpy(a, lt + 1, (size_t)(gt - lt - 1));
	a[gt - lt - 1] = '\0';
	return a;
}

/* DATA: lines up to ".", dot-unstuffed, CRLF kept. */
static bool read_data(struct conn *c, char **out)
{
	size_t cap = 4096, len = 0;
	char *d = sim_xmalloc(cap), line[SMTP_LINE_MAX + 1];
	for (;;) {
		if (!read_line(c, line, sizeof(line))) {
			free(d);
			return false;
		}
		if (strcmp(line, ".") == 0)
			break;
		const char *l = line[0] == '.' ? line + 1 : line;
		size_t n = strlen(l);
		if (len + n + 3 > SMTP_DATA_MAX) {
			free(d);
			return false;
		}
		sim_grow((void **)&d, &cap, len + n + 3, 1);
		memcpy(d + len, l, n);
		memcpy(d + len + n, "\r\n", 2);
		len += n + 2;
	}
	d[len] = '\0';
	*out = d;
	return true;
}

/* A fault for this MAIL FROM: 0 none, else the status to answer (or -1: hold and drop). */
static long smtp_fault(void)
{
	struct sim_faults *f = &sim.faults[SIM_SMTP];
	long out = 0;
	pthread_mutex_lock(&sim.lock);
	if (f->active) {
		double x = sim_uniform(&f->rng);
		if (x < f->error_rate)
			out = f->status;
		else if (x < f->error_rate + f->timeout_rate)
			out = -1;
		if (out)
			smtp_refused++;
	}
	long hold_ms = f->timeout_ms;
	pthread_mutex_unlock(&sim.lock);
	if (out == -1) {
		struct timeval tv = { hold_ms / 1000, (hold_ms % 1000) * 1000 };
		select(0, NULL, NULL, NULL, &tv);
	}
	return out;
}

static void keep_mail(struct conn *c)
{
	pthread_mutex_lock(&sim.lock);
	if (n_mails < KEEP_MAX) {
		mails[n_mails] = c->mail;
		mails[n_mails].helo = c->mail.helo ? sim_strdup(c->mail.helo) : NULL;
		mails[n_mails].auth_user = c->mail.auth_user ? sim_strdup(c->mail.auth_user) : NULL;
		n_mails++;
		c->mail.from = c->mail.data = NULL;
		c->mail.rcpt = NULL;
	}
	pthread_mutex_unlock(&sim.lock);
}

static void *smtp_conn(void *arg)
{
	struct conn *c = arg;
	char line[SMTP_LINE_MAX + 1], reply[SMTP_LINE_MAX + 64];
	struct timeval tv = { SMTP_IDLE_S, 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	say(c, "220 kcgate-sim ESMTP ready\r\n");
	while (read_line(c, line, sizeof(line))) {
		if (strncasecmp(line, "EHLO ", 5) == 0 || strncasecmp(line, "HELO ", 5) == 0) {
			free(c->mail.helo);
			c->mail.helo = sim_strdup(line + 5);
			say(c, toupper((unsigned char)line[0]) == 'E'
				       ? "250-kcgate-sim\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 SIZE 4194304\r\n"
				       : "250 kcgate-sim\r\n");
		} else if (strncasecmp(line, "AUTH PLAIN", 10) == 0 && (line[10] == ' ' || line[10] == '\0')) {
			/* the credentials on the line (SASL-IR), or after a 334 */
			char creds[SMTP_LINE_MAX + 1];
			if (line[10] == '\0') {
				say(c, "334 \r\n");
				if (!read_line(c, creds, sizeof(creds)))
					break;
			} else {
				snprintf(creds, sizeof(creds), "%s", line + 11);
			}
			unsigned char dec[600];
			long n = sim_base64_decode(creds, dec, sizeof(dec) - 1);
			/* authzid NUL authcid NUL passwd */
			const unsigned char *u = n > 0 ? memchr(dec, 0, (size_t)n) : NULL;
			if (!u) {
				say(c, "501 malformed AUTH PLAIN\r\n");
				continue;
			}
			dec[n] = 0;
			free(c->mail.auth_user);
			c->mail.auth_user = sim_strdup((const char *)u + 1);
			say(c, "235 2.7.0 authenticated\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			long f = smtp_fault();
			if (f == -1)
				break; /* no answer: drop */
			if (f) {
				snprintf(reply, sizeof(reply), "%ld simulated failure\r\n", f);
				say(c, reply);
				continue;
			}
			free(c->mail.from);
			c->mail.from = path_arg(line + 10);
			json_decref(c->mail.rcpt);
			c->mail.rcpt = json_array();
			say(c, c->mail.from ? "250 2.1.0 ok\r\n" : "501 expected MAIL FROM:<address>\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			char *to = path_arg(line + 8);
			if (!c->mail.from || !to) {
				say(c, !to ? "501 expected RCPT TO:<address>\r\n" : "503 MAIL first\r\n");
				free(to);
				continue;
			}
			json_array_append_new(c->mail.rcpt, json_string(to));
			free(to);
			say(c, "250 2.1.5 ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			if (!c->mail.from || !json_array_size(c->mail.rcpt)) {
				say(c, "503 MAIL and RCPT first\r\n");
				continue;
			}
			say(c, "354 end with <CRLF>.<CRLF>\r\n");
			if (!read_data(c, &c->mail.data))
				break;
			keep_mail(c);
			say(c, "250 2.0.0 queued\r\n");
		} else if (strcasecmp(line, "RSET") == 0 || strcasecmp(line, "NOOP") == 0) {
			say(c, "250 ok\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			say(c, "221 bye\r\n");
			break;
		} else {
			say(c, "502 command not implemented\r\n");
		}
	}
	close(c->fd);
	mail_free(&c->mail);
	free(c);
	return NULL;
}

static void *smtp_accept(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(smtp_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* closed at stop */
		}
		pthread_mutex_lock(&sim.lock);
		smtp_connections++;
		pthread_mutex_unlock(&sim.lock);
		struct conn *c = calloc(1, sizeof(*c));
		pthread_t t;
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (pthread_create(&t, NULL, smtp_conn, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
}

int sim_smtp_start(const struct sockaddr_storage *ss, unsigned *port)
{
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1;
	smtp_fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (smtp_fd < 0)
		return -errno;
	setsockopt(smtp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(smtp_fd, (const struct sockaddr *)ss, len) != 0 || listen(smtp_fd, 64) != 0) {
		int e = -errno;
		close(smtp_fd);
		smtp_fd = -1;
		return e;
	}
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);
	getsockname(smtp_fd, (struct sockaddr *)&got, &gl);
	*port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
						  : ((struct sockaddr_in *)&got)->sin_port);
	pthread_t t;
	if (pthread_create(&t, NULL, smtp_accept, NULL) != 0)
		return -EAGAIN;
	pthread_detach(t);
	return 0;
}

void sim_smtp_stop(void)
{
	if (smtp_fd >= 0) {
		shutdown(smtp_fd, SHUT_RDWR);
		close(smtp_fd);
		smtp_fd = -1;
	}
}

/* ---- control ---- */

json_t *sim_alerts_state(void)
{
	json_t *ms = json_array();
	for (size_t i = 0; i < n_mails; i++) {
		struct sim_mail *m = &mails[i];
		json_array_append_new(ms, json_pack("{s:s?, s:s?, s:s, s:O, s:o}", "helo", m->helo, "auth_user", m->auth_user,
						    "from", m->from ? m->from : "", "rcpt", m->rcpt,
						    "data", sim_json_string_lossy(m->data, strlen(m->data))));
	}
	json_t *hooks = webhooks ? json_incref(webhooks) : json_array();
	return json_pack("{s:o, s:o, s:{s:I, s:I}}", "webhooks", hooks, "mails", ms, "smtp",
			 "connections", (json_int_t)smtp_connections, "refused", (json_int_t)smtp_refused);
}

void sim_alerts_reset(void)
{
	json_decref(webhooks);
	webhooks = NULL;
	for (size_t i = 0; i < n_mails; i++)
		mail_free(&mails[i]);
	n_mails = 0;
	smtp_connections = smtp_refused = 0;
}
