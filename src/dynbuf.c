/*
 * dynbuf.c: the one growable buffer (see kcgate/dynbuf.h).
 *
 * Growth doubles (from MIN_ALLOC) so n appends cost O(n) copies, and is
 * clamped to the cap plus the NUL, so a capped buffer never allocates more
 * than it may hold. The first failure frees the contents: a half-built
 * string is never handed out by mistake.
 */
#include "kcgate/dynbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_ALLOC 64

void kcg_dynbuf_init(struct kcg_dynbuf *b, size_t max)
{
	*b = (struct kcg_dynbuf){ .max = max };
}

void kcg_dynbuf_finish(struct kcg_dynbuf *b)
{
	if (!b)
		return;
	free(b->mem);
	kcg_dynbuf_init(b, b->max);
}

/* Records the first failure and drops the contents. */
static int fail(struct kcg_dynbuf *b, int err)
{
	free(b->mem);
	b->mem = NULL;
	b->len = b->alloc = 0;
	b->err = err;
	return err;
}

/* Makes room for @p extra more bytes plus the NUL. */
static int reserve(struct kcg_dynbuf *b, size_t extra)
{
	if (b->err)
		return b->err;
	if (extra > b->max - b->len)
		return fail(b, -E2BIG);
	size_t need = b->len + extra + 1; /* cannot overflow: len + extra <= max < SIZE_MAX... */
	if (need == 0)                    /* ...unless max is SIZE_MAX */
		return fail(b, -E2BIG);
	if (need <= b->alloc)
		return 0;
	size_t alloc = b->alloc ? b->alloc : MIN_ALLOC;
	while (alloc < need && alloc <= SIZE_MAX / 2)
		alloc *= 2;
	if (alloc < need)
		alloc = need;
	if (alloc > b->max + 1 && b->max < SIZE_MAX)
		alloc = b->max + 1; /* >= need, since len + extra <= max */
	char *mem = realloc(b->mem, alloc);
	if (!mem)
		return fail(b, -ENOMEM);
	b->mem = mem;
	b->alloc = alloc;
	return 0;
}

int kcg_dynbuf_add(struct kcg_dynbuf *b, const void *mem, size_t len)
{
	if (len == 0)
		return b->err;
	int r = reserve(b, len);
	if (r != 0)
		return r;
	memcpy(b->mem + b->len, mem, len);
	b->len += len;
	b->mem[b->len] = '\0';
	return 0;
}

int kcg_dynbuf_addstr(struct kcg_dynbuf *b, const char *s)
{
	return kcg_dynbuf_add(b, s, strlen(s));
}

int kcg_dynbuf_vprintf(struct kcg_dynbuf *b, const char *fmt, va_list ap)
{
	if (b->err)
		return b->err;
	/* First into what is free; when that is too short, grow to the exact
	 * size vsnprintf asked for and format again. */
	for (int pass = 0; pass < 2; pass++) {
		size_t room = b->mem ? b->alloc - b->len : 0;
		va_list aq;
		va_copy(aq, ap);
		int n = vsnprintf(room ? b->mem + b->len : NULL, room, fmt, aq);
		va_end(aq);
		if (n < 0)
			return fail(b, -EINVAL);
		if ((size_t)n < room) {
			/* room never passes the cap: alloc <= max + 1 */
			b->len += (size_t)n;
			return 0;
		}
		int r = reserve(b, (size_t)n);
		if (r != 0)
			return r;
	}
	return fail(b, -EINVAL); /* the same format gave a longer text twice */
}

int kcg_dynbuf_printf(struct kcg_dynbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = kcg_dynbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int kcg_dynbuf_fail(struct kcg_dynbuf *b, int err)
{
	return b->err ? b->err : fail(b, err);
}

const char *kcg_dynbuf_ptr(const struct kcg_dynbuf *b)
{
	return b->mem ? b->mem : "";
}

size_t kcg_dynbuf_len(const struct kcg_dynbuf *b)
{
	return b->len;
}

int kcg_dynbuf_error(const struct kcg_dynbuf *b)
{
	return b->err;
}

char *kcg_dynbuf_take(struct kcg_dynbuf *b, size_t *len)
{
	if (b->err)
		return NULL;
	char *s = b->mem;
	if (!s) {
		s = malloc(1);
		if (!s) {
			fail(b, -ENOMEM);
			return NULL;
		}
		s[0] = '\0';
	}
	if (len)
		*len = b->len;
	kcg_dynbuf_init(b, b->max);
	return s;
}
