/*
 * net.c: the small helpers around struct kcg_call and struct kcg_reply.
 *
 * No libcurl here: net_curl.c sends calls; this file only owns their
 * memory, decides which answers are worth retrying, and turns an answer
 * into a short printable excerpt for a job's last_error.
 */
#include "kcgate/net.h"
#include "kcgate/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CURLE_OPERATION_TIMEDOUT, spelled out so net.c needs no curl header. */
#define CURL_TIMEOUT_CODE 28

int kcg_call_header(struct kcg_call *call, const char *fmt, ...)
{
	if (call->n_headers >= KCG_CALL_MAX_HEADERS)
		return -ENOSPC;
	va_list ap;
	va_start(ap, fmt);
	char *h = NULL;
	int n = vasprintf(&h, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	call->headers[call->n_headers++] = h;
	return 0;
}

void kcg_call_finish(struct kcg_call *call)
{
	if (!call)
		return;
	for (size_t i = 0; i < call->n_headers; i++) {
		/* Credentials should not linger in freed memory. */
		if (call->secret_headers && call->headers[i])
			explicit_bzero(call->headers[i], strlen(call->headers[i]));
		free(call->headers[i]);
	}
	if (call->secret_headers && call->url) /* a webhook URL can be the credential */
		explicit_bzero(call->url, strlen(call->url));
	free(call->url);
	free(call->body);
	free(call->mail_from);
	for (size_t i = 0; i < call->n_rcpt; i++)
		free(call->mail_rcpt[i]);
	free(call->user);
	if (call->password)
		explicit_bzero(call->password, strlen(call->password));
	free(call->password);
	*call = (struct kcg_call){ 0 };
}

void kcg_reply_finish(struct kcg_reply *reply)
{
	if (!reply)
		return;
	free(reply->body);
	*reply = (struct kcg_reply){ 0 };
}

bool kcg_reply_transient(const struct kcg_reply *reply)
{
	if (reply->transport_error != 0 || reply->status == 0)
		return true;
	return reply->status >= 500 || reply->status == 408 || reply->status == 429;
}

/* Appends @p src to @p out (used so far: *@p n) as printable ASCII, runs of
 * whitespace squeezed to one space, also across pieces (a cut could split a
 * UTF-8 sequence, and the excerpt ends up in JSON). */
static void append_printable(char out[KCG_ERROR_MAX], size_t *n, const char *src, size_t len)
{
	if (*n > 0 && out[*n - 1] == ' ')
		while (len > 0 && (*src == ' ' || *src == '\t' || *src == '\r' || *src == '\n'))
			src++, len--;
	kcg_printable(out + *n, KCG_ERROR_MAX - *n, src, len, KCG_PRINT_SQUEEZE);
	*n += strlen(out + *n);
}

void kcg_reply_excerpt(const struct kcg_reply *reply, char out[KCG_ERROR_MAX])
{
	char head[64];
	size_t n = 0;

	out[0] = '\0';
	if (reply->transport_error != 0 || reply->status == 0) {
		const char *kind = reply->transport_error == CURL_TIMEOUT_CODE ? "timeout" : "no answer";
		snprintf(head, sizeof(head), "%s: ", kind);
		append_printable(out, &n, head, strlen(head));
		append_printable(out, &n, reply->error, strnlen(reply->error, sizeof(reply->error)));
		return;
	}
	snprintf(head, sizeof(head), "HTTP %ld", reply->status);
	append_printable(out, &n, head, strlen(head));
	if (reply->body && reply->len > 0) {
		append_printable(out, &n, ": ", 2);
		append_printable(out, &n, reply->body, reply->len);
	}
	/* Leave no trailing blank from collapsed whitespace at the end. */
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
}

char *kcg_url_escape(const char *in)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(in);
	char *out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	char *p = out;
	for (const unsigned char *s = (const unsigned char *)in; *s; s++) {
		/* RFC 3986 unreserved characters pass; everything else is encoded,
		 * so the result is safe in a query value and in a path segment. */
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '.' || *s == '_' || *s == '~') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*p = '\0';
	return out;
}

void kcg_why(char why[KCG_ERROR_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, KCG_ERROR_MAX, fmt, ap);
	va_end(ap);
	kcg_printable(why, KCG_ERROR_MAX, why, strlen(why), 0);
}
