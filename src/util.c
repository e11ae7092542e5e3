/*
 * util.c: the error names, the printable-ASCII sanitisers (for messages and
 * for log lines), checked number parsing, clocks, ULIDs, address blocks and
 * the thin wrappers over OpenSSL that the rest of kcgate shares.
 */
#include "kcgate/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

const char *kcg_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case KCG_EDUPLICATE: return "duplicate event";
	case KCG_ESTOREFULL: return "the store is full (LMDB map size reached)";
	case KCG_ESHUTDOWN: return "shutting down";
	case KCG_ENOTFOUND: return "not found";
	case KCG_EAUTH: return "authentication failed";
	case KCG_EPAYLOAD: return "invalid payload";
	case KCG_EJSON: return "invalid JSON";
	case KCG_ESTORE: return "store failure";
	case KCG_ECONFIG: return "invalid configuration";
	default: break;
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool kcg_printable(char *dst, size_t cap, const char *src, size_t len, unsigned flags)
{
	size_t n = 0;
	bool space = false, cut = false;

	if (cap == 0)
		return len == 0;
	/* Reading src[i] before writing dst[n] with n <= i makes in place safe. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char out;
		if ((flags & KCG_PRINT_PERCENT) && !(c > 0x20 && c < 0x7f)) {
			static const char hex[] = "0123456789ABCDEF";
			if (n + 3 > cap - 1) {
				cut = true;
				break;
			}
			dst[n++] = '%';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
			continue;
		}
		if ((flags & KCG_PRINT_SQUEEZE) && is_space(c)) {
			if (space)
				continue;
			space = true;
			out = ' ';
		} else if (kcg_is_printable(c)) {
			space = false;
			out = (char)c;
		} else if (flags & KCG_PRINT_DROP) {
			continue;
		} else {
			space = false;
			out = '?';
		}
		if (n == cap - 1) {
			cut = true;
			break;
		}
		dst[n++] = out;
	}
	dst[n] = '\0';
	if (cut && (flags & KCG_PRINT_ELLIPSIS) && cap > 4)
		memcpy(dst + (n < cap - 4 ? n : cap - 4), "...", 4);
	return !cut;
}

size_t kcg_utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

size_t kcg_utf8_printable(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	uint32_t cp = n == 2 ? s[0] & 0x1fu : n == 3 ? s[0] & 0x0fu : s[0] & 0x07u;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (n == 0 || (n == 2 && cp < 0xa0) || (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

int kcg_parse_u64(const char *str, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!str || !*str)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = str; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

uint64_t kcg_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t kcg_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kcg_format_time(uint64_t ms, char *buf, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* ULIDs: within one millisecond the random part is incremented rather than
 * redrawn, so ids from this process are strictly increasing (the store's
 * "newest first" listing relies on it). */
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t id_last_ms;
static unsigned char id_last_rand[10];

int kcg_make_id(uint64_t ms, char out[KCG_ID_LEN + 1])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char raw[16];

	pthread_mutex_lock(&id_lock);
	if (ms <= id_last_ms) {
		ms = id_last_ms;
		int i = 9;
		while (i >= 0 && ++id_last_rand[i] == 0)
			i--;
		if (i < 0) /* 2^80 ids in one ms: move to the next ms */
			id_last_ms = ++ms;
	} else {
		if (RAND_bytes(id_last_rand, sizeof(id_last_rand)) != 1) {
			pthread_mutex_unlock(&id_lock);
			return -EIO;
		}
		id_last_rand[0] &= 0x7f; /* leave room to increment within one ms */
		id_last_ms = ms;
	}
	for (int i = 0; i < 6; i++)
		raw[i] = (unsigned char)(ms >> (40 - 8 * i));
	memcpy(raw + 6, id_last_rand, 10);
	pthread_mutex_unlock(&id_lock);

	/* 128 bits -> 26 base32 digits, most significant first (first digit holds 3 bits). */
	for (int i = 0; i < KCG_ID_LEN; i++) {
		int bit = (KCG_ID_LEN - 1 - i) * 5; /* position of this digit's lowest bit */
		unsigned v = 0;
		for (int b = 4; b >= 0; b--) {
			int pos = bit + b;
			unsigned one = 0;
			if (pos < 128)
				one = (raw[15 - pos / 8] >> (pos % 8)) & 1u;
			v = (v << 1) | one;
		}
		out[i] = alphabet[v];
	}
	out[KCG_ID_LEN] = '\0';
	return 0;
}

bool kcg_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	/* Compare over the expected length (b) so timing does not depend on
	 * where a mismatch is; a length mismatch still costs the same scan. */
	if (blen == 0)
		return alen == 0;
	unsigned char diff = (unsigned char)(alen != blen);
	const unsigned char *pa = a, *pb = b;
	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char)((i < alen ? pa[i] : 0) ^ pb[i]);
	return diff == 0;
}

void kcg_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(data, len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Longest base64 input decoded: secrets and signatures are far shorter. */
#define KCG_B64_MAX 4096

int kcg_base64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_cap)
{
	if (in_len == 0)
		return 0;
	if (in_len % 4 != 0 || in_len > KCG_B64_MAX)
		return -EINVAL;
	for (size_t i = 0; i < in_len; i++) {
		char c = in[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '+' || c == '/' || (c == '=' && i >= in_len - 2);
		if (!ok)
			return -EINVAL;
	}
	if (in[in_len - 2] == '=' && in[in_len - 1] != '=')
		return -EINVAL;
	size_t pad = (in[in_len - 1] == '=') + (in[in_len - 2] == '=');
	size_t n = in_len / 4 * 3 - pad;
	if (n > out_cap)
		return -EINVAL;
	unsigned char tmp[KCG_B64_MAX / 4 * 3 + 1];
	int r = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)in_len);
	if (r < 0)
		return -EINVAL;
	memcpy(out, tmp, n);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return (int)n;
}

size_t kcg_base64_encode(const unsigned char *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* One textual address into 16 bytes (IPv4 as IPv4-mapped IPv6). */
static bool addr16(const char *s, unsigned char out[16], bool *v4)
{
	struct in_addr a4;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		*v4 = true;
		return true;
	}
	*v4 = false;
	return inet_pton(AF_INET6, s, out) == 1;
}

int kcg_cidr_parse_list(const char *text, struct kcg_cidr *out, size_t cap, size_t *n)
{
	char tok[INET6_ADDRSTRLEN + 8];
	*n = 0;
	for (const char *p = text; *p;) {
		p += strspn(p, " ,\t");
		size_t len = strcspn(p, " ,\t");
		if (len == 0)
			break;
		if (len >= sizeof(tok))
			return -EINVAL;
		memcpy(tok, p, len);
		tok[len] = '\0';
		p += len;
		char *slash = strchr(tok, '/');
		if (slash)
			*slash = '\0';
		struct kcg_cidr c;
		bool v4;
		if (!addr16(tok, c.addr, &v4))
			return -EINVAL;
		uint64_t bits = v4 ? 32 : 128;
		if (slash && kcg_parse_u64(slash + 1, 0, v4 ? 32 : 128, &bits) != 0)
			return -EINVAL;
		c.bits = (unsigned)bits + (v4 ? 96 : 0);
		if (*n >= cap)
			return -E2BIG;
		out[(*n)++] = c;
	}
	return 0;
}

bool kcg_cidr_match(const struct kcg_cidr *list, size_t n, const char *addr)
{
	unsigned char a[16];
	bool v4;
	if (!addr16(addr, a, &v4))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned bits = list[i].bits, full = bits / 8, rest = bits % 8;
		if (memcmp(a, list[i].addr, full) != 0)
			continue;
		if (rest && ((a[full] ^ list[i].addr[full]) & (0xff << (8 - rest)) & 0xff))
			continue;
		return true;
	}
	return false;
}
