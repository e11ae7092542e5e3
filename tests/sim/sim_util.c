/*
 * kcgate-sim helpers: time, numbers, strings, JSON replies. Out-of-memory
 * aborts: the sim is a test tool and a half-built state is worse than a crash.
 */
#include "sim.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t sim_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fmt_time(int64_t ms, char out[32], const char *fmt)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, fmt, &tm);
}

void sim_fmt_iso(int64_t ms, char out[32])
{
	fmt_time(ms, out, "%Y-%m-%dT%H:%M:%SZ");
}

void sim_fmt_khaos(int64_t ms, char out[32])
{
	fmt_time(ms, out, "%Y-%m-%dT%H:%M:%S");
}

/* Read exactly n digits at *p. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int sim_parse_time(const char *s, int64_t *ms)
{
	const char *p = s;
	int year, mon, day, hour, min, sec = 0, frac_ms = 0;
	int zone_min = 0;
	struct tm tm = {0};

	if (!s)
		return -EINVAL;
	if (digits(&p, 4, &year) || *p++ != '-' || digits(&p, 2, &mon) || *p++ != '-' ||
	    digits(&p, 2, &day))
		return -EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (digits(&p, 2, &hour) || *p++ != ':' || digits(&p, 2, &min))
		return -EINVAL;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &sec))
			return -EINVAL;
		if (*p == '.' || *p == ',') {
			int scale = 100, n = 0;

			p++;
			while (isdigit((unsigned char)*p)) {
				frac_ms += (*p - '0') * scale;
				scale /= 10;
				p++;
				n++;
			}
			if (n == 0)
				return -EINVAL;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-' || *p == ' ') {
		int sign = *p == '-' ? -1 : 1, zh, zm = 0;

		p++;
		if (digits(&p, 2, &zh))
			return -EINVAL;
		if (*p == ':')
			p++;
		if (*p && digits(&p, 2, &zm))
			return -EINVAL;
		if (zh > 23 || zm > 59)
			return -EINVAL;
		zone_min = sign * (zh * 60 + zm);
	}
	if (*p)
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	*ms = ((int64_t)timegm(&tm) - (int64_t)zone_min * 60) * 1000 + frac_ms;
	return 0;
}

int sim_parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void *sim_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

void *sim_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		abort();
	return q;
}

char *sim_strdup(const char *s)
{
	size_t n = strlen(s ? s : "");
	char *d = sim_xmalloc(n + 1);

	memcpy(d, s ? s : "", n + 1);
	return d;
}

void sim_grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;

	if (need <= *cap)
		return;
	while (c < need)
		c *= 2;
	*arr = sim_xrealloc(*arr, c * size);
	*cap = c;
}

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

json_t *sim_json_string_lossy(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	json_t *j = json_stringn(s ? s : "", s ? n : 0);
	char *buf;
	size_t o = 0;

	if (j)
		return j;
	buf = sim_xmalloc(n * 3 + 1);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(u + i, n - i);

		if (l == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, u + i, l);
			o += l;
			i += l;
		}
	}
	j = json_stringn(buf, o);
	free(buf);
	return j ? j : json_string("");
}

char *sim_base64(const unsigned char *in, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = sim_xmalloc((n + 2) / 3 * 4 + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

char **sim_split_csv(const char *s, size_t *count)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	const char *p = s ? s : "";

	while (*p) {
		const char *start = p, *end;

		while (*p && *p != ',')
			p++;
		end = p;
		while (start < end && isspace((unsigned char)*start))
			start++;
		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		if (end > start) {
			char *item = sim_xmalloc((size_t)(end - start) + 1);

			memcpy(item, start, (size_t)(end - start));
			item[end - start] = '\0';
			sim_grow((void **)&v, &cap, n + 1, sizeof(*v));
			v[n++] = item;
		}
		if (*p == ',')
			p++;
	}
	*count = n;
	return v;
}

void sim_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

bool sim_media_type_is(const char *s, const char *type)
{
	size_t n = strlen(type);

	if (!s)
		return false;
	while (*s == ' ')
		s++;
	if (strncasecmp(s, type, n) != 0)
		return false;
	s += n;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0' || *s == ';';
}

void sim_reply_clear(struct sim_reply *r)
{
	free(r->body);
	*r = (struct sim_reply){.status = 500, .retry_after_s = -1};
}

void sim_reply_json(struct sim_reply *r, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));

	json_decref(j);
	sim_reply_clear(r);
	if (!s)
		abort();
	r->status = status;
	r->body = s;
	r->len = strlen(s);
	r->content_type = "application/json";
}

void sim_reply_empty(struct sim_reply *r, unsigned status)
{
	sim_reply_clear(r);
	r->status = status;
}

void sim_reply_mirakl_error(struct sim_reply *r, unsigned status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_reply_json(r, status, json_pack("{s:o, s:i}", "message",
		sim_json_string_lossy(msg, strlen(msg)), "status", (int)status));
}

void sim_reply_ctl_error(struct sim_reply *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sim_reply_json(r, status, json_pack("{s:s, s:o}", "error", code, "message",
		sim_json_string_lossy(msg, strlen(msg))));
}
