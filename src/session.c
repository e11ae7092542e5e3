/*
 * session.c: the console's sessions (kcgate/session.h). A fixed table of
 * slots, each the SHA-256 of a session id, its CSRF token and its expiry;
 * the id itself is never kept, so a memory dump does not hand out live
 * sessions. Every lookup walks every slot and compares in constant time.
 */
#include "kcgate/session.h"

#include "kcgate/common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

struct slot {
	unsigned char id_hash[SHA256_DIGEST_LENGTH];
	unsigned char token_hash[SHA256_DIGEST_LENGTH]; /* the admin token it was opened with */
	char csrf[KCG_SESSION_HEX + 1];
	uint64_t expires_ms; /* 0: free */
};

struct kcg_sessions {
	pthread_mutex_t lock;
	size_t cap;
	uint64_t ttl_ms;
	struct slot *slots;
};

struct kcg_sessions *kcg_sessions_create(size_t cap, uint64_t ttl_ms)
{
	if (cap == 0 || ttl_ms == 0)
		return NULL;
	struct kcg_sessions *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->slots = calloc(cap, sizeof(*s->slots));
	if (!s->slots) {
		free(s);
		return NULL;
	}
	s->cap = cap;
	s->ttl_ms = ttl_ms;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void kcg_sessions_destroy(struct kcg_sessions *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->slots, s->cap * sizeof(*s->slots));
	free(s->slots);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void hex(char *out, const unsigned char *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The hash of a session id as sent: exactly KCG_SESSION_HEX lowercase hex
 * digits, else false (nothing else can be a session). */
static bool id_hash(const char *id, unsigned char *out)
{
	if (!id || strlen(id) != KCG_SESSION_HEX || strspn(id, "0123456789abcdef") != KCG_SESSION_HEX)
		return false;
	SHA256((const unsigned char *)id, KCG_SESSION_HEX, out);
	return true;
}

/* The live slot of @p h at @p now_ms, or NULL; walks every slot either way. */
static struct slot *find(struct kcg_sessions *s, const unsigned char *h, uint64_t now_ms)
{
	struct slot *hit = NULL;
	for (size_t i = 0; i < s->cap; i++) {
		bool same = CRYPTO_memcmp(s->slots[i].id_hash, h, sizeof(s->slots[i].id_hash)) == 0;
		if (same && s->slots[i].expires_ms > now_ms)
			hit = &s->slots[i];
	}
	return hit;
}

static void token_hash(const char *token, unsigned char *out)
{
	SHA256((const unsigned char *)(token ? token : ""), token ? strlen(token) : 0, out);
}

int kcg_sessions_open(struct kcg_sessions *s, uint64_t now_ms, const char *token, char *id, char *csrf,
		      uint64_t *expires_ms)
{
	unsigned char rid[32], rcsrf[32];
	if (RAND_bytes(rid, sizeof(rid)) != 1 || RAND_bytes(rcsrf, sizeof(rcsrf)) != 1)
		return -EIO;
	hex(id, rid, sizeof(rid));
	hex(csrf, rcsrf, sizeof(rcsrf));
	OPENSSL_cleanse(rid, sizeof(rid));
	OPENSSL_cleanse(rcsrf, sizeof(rcsrf));

	pthread_mutex_lock(&s->lock);
	struct slot *use = NULL;
	for (size_t i = 0; i < s->cap; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->expires_ms <= now_ms) {
			OPENSSL_cleanse(sl, sizeof(*sl));
			if (!use)
				use = sl;
		}
	}
	if (!use) { /* full: the session nearest its expiry ends */
		use = &s->slots[0];
		for (size_t i = 1; i < s->cap; i++)
			if (s->slots[i].expires_ms < use->expires_ms)
				use = &s->slots[i];
	}
	SHA256((const unsigned char *)id, KCG_SESSION_HEX, use->id_hash);
	token_hash(token, use->token_hash);
	memcpy(use->csrf, csrf, sizeof(use->csrf));
	use->expires_ms = now_ms + s->ttl_ms;
	if (expires_ms)
		*expires_ms = use->expires_ms;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

enum kcg_session_check kcg_sessions_check(struct kcg_sessions *s, const char *id, const char *token, uint64_t now_ms,
					  bool need_csrf, const char *csrf, char *csrf_out, uint64_t *expires_ms)
{
	unsigned char h[SHA256_DIGEST_LENGTH], th[SHA256_DIGEST_LENGTH];
	if (!s || !token || !*token || !id_hash(id, h))
		return KCG_SESSION_NONE;
	token_hash(token, th);
	enum kcg_session_check res = KCG_SESSION_NONE;
	pthread_mutex_lock(&s->lock);
	struct slot *sl = find(s, h, now_ms);
	if (sl && CRYPTO_memcmp(sl->token_hash, th, sizeof(th)) == 0) {
		res = KCG_SESSION_OK;
		if (need_csrf && (!csrf || !kcg_ct_equal(csrf, strlen(csrf), sl->csrf, KCG_SESSION_HEX)))
			res = KCG_SESSION_BAD_CSRF;
		if (res == KCG_SESSION_OK && csrf_out)
			memcpy(csrf_out, sl->csrf, KCG_SESSION_HEX + 1);
		if (res == KCG_SESSION_OK && expires_ms)
			*expires_ms = sl->expires_ms;
	}
	pthread_mutex_unlock(&s->lock);
	return res;
}

void kcg_sessions_close(struct kcg_sessions *s, const char *id)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	if (!s || !id_hash(id, h))
		return;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->cap; i++)
		if (CRYPTO_memcmp(s->slots[i].id_hash, h, sizeof(h)) == 0)
			OPENSSL_cleanse(&s->slots[i], sizeof(s->slots[i]));
	pthread_mutex_unlock(&s->lock);
}

size_t kcg_sessions_live(struct kcg_sessions *s, uint64_t now_ms)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->cap; i++)
		n += s->slots[i].expires_ms > now_ms;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const char *kcg_cookie_value(const char *header, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = header;
	while (p && *p) {
		p += strspn(p, " \t;");
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = len - nlen - 1;
			while (vlen && (p[nlen + 1 + vlen - 1] == ' ' || p[nlen + 1 + vlen - 1] == '\t'))
				vlen--;
			if (vlen + 1 > cap)
				return NULL;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return out;
		}
		p = end;
	}
	return NULL;
}
