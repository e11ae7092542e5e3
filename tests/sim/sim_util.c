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

char *sim_json_dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));

	json_decref(j);
	if (!s)
		abort();
	return s;
}

void sim_reply_dumped(struct sim_reply *r, unsigned status, char *s)
{
	sim_reply_clear(r);
	r->status = status;
	r->body = s;
	r->len = strlen(s);
	r->content_type = "application/json";
}

void sim_reply_json(struct sim_reply *r, unsigned status, json_t *j)
{
	sim_reply_dumped(r, status, sim_json_dump(j));
}

const char *sim_unknown_key(json_t *obj, const char *const *keys, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i = 0;

		while (i < n && strcmp(key, keys[i]) != 0)
			i++;
		if (i == n)
			return key;
	}
	return NULL;
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

bool sim_mirakl_method_is(const char *m, const char *want, struct sim_reply *r)
{
	if (strcmp(m, want) == 0)
		return true;
	sim_reply_mirakl_error(r, 405, "Request method '%s' not supported", m);
	r->allow = want;
	return false;
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

long sim_base64_decode(const char *in, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	const char *p;

	for (p = in; *p && *p != '='; p++) {
		int v;

		if (*p >= 'A' && *p <= 'Z')
			v = *p - 'A';
		else if (*p >= 'a' && *p <= 'z')
			v = *p - 'a' + 26;
		else if (*p >= '0' && *p <= '9')
			v = *p - '0' + 52;
		else if (*p == '+')
			v = 62;
		else if (*p == '/')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	while (*p == '=')
		p++;
	if (*p || bits >= 6)
		return -1;
	return (long)o;
}

/* ---- SHA-256 (FIPS 180-4) and HMAC (RFC 2104), for signing webhooks ---- */

struct sha256 {
	uint32_t h[8];
	unsigned char buf[64];
	size_t nbuf;
	uint64_t total;
};

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *c, const unsigned char *b)
{
	uint32_t w[64], a, bb, cc, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = c->h[0], bb = c->h[1], cc = c->h[2], d = c->h[3];
	e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & cc) ^ (bb & cc));

		h = g, g = f, f = e, e = d + t1;
		d = cc, cc = bb, bb = a, a = t1 + t2;
	}
	c->h[0] += a, c->h[1] += bb, c->h[2] += cc, c->h[3] += d;
	c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

static void sha256_init(struct sha256 *c)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(c->h, iv, sizeof(iv));
	c->nbuf = 0;
	c->total = 0;
}

static void sha256_update(struct sha256 *c, const void *data, size_t n)
{
	const unsigned char *p = data;

	c->total += n;
	while (n) {
		size_t k = 64 - c->nbuf < n ? 64 - c->nbuf : n;

		memcpy(c->buf + c->nbuf, p, k);
		c->nbuf += k;
		p += k;
		n -= k;
		if (c->nbuf == 64) {
			sha256_block(c, c->buf);
			c->nbuf = 0;
		}
	}
}

static void sha256_final(struct sha256 *c, unsigned char out[32])
{
	uint64_t bits = c->total * 8;
	unsigned char pad = 0x80, zero = 0, len[8];

	sha256_update(c, &pad, 1);
	while (c->nbuf != 56)
		sha256_update(c, &zero, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(c, len, 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}

void sim_hmac_sha256(const unsigned char *key, size_t keylen, const void *const *parts,
		     const size_t *lens, size_t nparts, unsigned char mac[32])
{
	unsigned char k[64] = {0}, pad[64], inner[32];
	struct sha256 c;

	if (keylen > 64) {
		sha256_init(&c);
		sha256_update(&c, key, keylen);
		sha256_final(&c, k);
	} else {
		memcpy(k, key, keylen);
	}
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&c);
	sha256_update(&c, pad, 64);
	for (size_t i = 0; i < nparts; i++)
		sha256_update(&c, parts[i], lens[i]);
	sha256_final(&c, inner);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&c);
	sha256_update(&c, pad, 64);
	sha256_update(&c, inner, 32);
	sha256_final(&c, mac);
}

uint64_t sim_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double sim_uniform(uint64_t *s)
{
	return (double)(sim_splitmix64(s) >> 11) * 0x1.0p-53;
}

/* ---- an index by name ---- */

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void index_put(struct sim_index *x, size_t i, sim_key_of key_of, void *arg)
{
	size_t mask = x->cap - 1, h = name_hash(key_of(i, arg)) & mask;
	while (x->slot[h])
		h = (h + 1) & mask;
	x->slot[h] = i + 1;
}

void sim_index_add(struct sim_index *x, size_t i, size_t n, sim_key_of key_of, void *arg)
{
	if ((n + 1) * 2 <= x->cap) {
		index_put(x, i, key_of, arg);
		return;
	}
	free(x->slot);
	x->cap = x->cap ? x->cap * 4 : 1024;
	x->slot = calloc(x->cap, sizeof(*x->slot));
	if (!x->slot)
		abort();
	for (size_t k = 0; k < n; k++)
		index_put(x, k, key_of, arg);
}

long sim_index_find(const struct sim_index *x, const char *key, sim_key_of key_of, void *arg)
{
	if (!x->cap)
		return -1;
	size_t mask = x->cap - 1;
	for (size_t h = name_hash(key) & mask; x->slot[h]; h = (h + 1) & mask)
		if (strcmp(key_of(x->slot[h] - 1, arg), key) == 0)
			return (long)(x->slot[h] - 1);
	return -1;
}

void sim_index_free(struct sim_index *x)
{
	free(x->slot);
	x->slot = NULL;
	x->cap = 0;
}
