/**
 * kcgate/dynbuf.h: the one growable buffer (the shape of curl's
 * lib/dynbuf.h).
 *
 * A struct kcg_dynbuf holds bytes (NULs allowed) and always keeps a NUL
 * after them, so text can be read as a C string. It never holds more than
 * the cap given to kcg_dynbuf_init(): every buffer has a bound.
 *
 * Failures are sticky, so a builder appends freely and checks once at the
 * end: the first failure (-ENOMEM, or -E2BIG when an append would pass the
 * cap) frees the contents, turns every later append into a no-op that
 * returns the same code, and is what kcg_dynbuf_error() reports and why
 * kcg_dynbuf_take() returns NULL.
 *
 *     struct kcg_dynbuf b;
 *     kcg_dynbuf_init(&b, 64 * 1024);
 *     kcg_dynbuf_addstr(&b, base);
 *     kcg_dynbuf_printf(&b, "?max=%u", max);
 *     char *s = kcg_dynbuf_take(&b, NULL);   // NULL: kcg_dynbuf_error() says why
 */
#ifndef KCGATE_DYNBUF_H
#define KCGATE_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

struct kcg_dynbuf {
	char *mem;    /**< NULL until the first byte is added */
	size_t len;   /**< bytes held, without the trailing NUL */
	size_t alloc; /**< bytes allocated at @c mem */
	size_t max;   /**< the cap on @c len */
	int err;      /**< 0, or the first failure (-ENOMEM, -E2BIG): sticky */
};

/** Makes @p b empty, holding at most @p max bytes. Allocates nothing. */
void kcg_dynbuf_init(struct kcg_dynbuf *b, size_t max);

/** Frees what @p b holds and makes it empty again (same cap, no error). NULL-safe. */
void kcg_dynbuf_finish(struct kcg_dynbuf *b);

/**
 * Appends @p len bytes at @p mem (which may contain NULs, and must not
 * point into @p b's own contents).
 * @return 0, or the buffer's sticky error (-ENOMEM, -E2BIG); on the first
 * failure the contents are freed.
 */
int kcg_dynbuf_add(struct kcg_dynbuf *b, const void *mem, size_t len);

/** Appends the C string @p s. @return as kcg_dynbuf_add(). */
int kcg_dynbuf_addstr(struct kcg_dynbuf *b, const char *s);

/**
 * Appends printf-style text, growing as needed. @return as kcg_dynbuf_add();
 * -EINVAL (sticky too) when vsnprintf itself fails.
 */
int kcg_dynbuf_printf(struct kcg_dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** kcg_dynbuf_printf() with a va_list. */
int kcg_dynbuf_vprintf(struct kcg_dynbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/**
 * Fails @p b with @p err (a negative errno) as if an append had failed: for
 * a builder whose own allocation failed half-way, so the one check at the
 * end still sees it. A buffer that has already failed keeps its first error.
 * @return the buffer's error.
 */
int kcg_dynbuf_fail(struct kcg_dynbuf *b, int err);

/** The bytes held, NUL-terminated: "" (static) when empty or failed. Valid until the next call on @p b. */
const char *kcg_dynbuf_ptr(const struct kcg_dynbuf *b);

/** How many bytes are held (0 after a failure). */
size_t kcg_dynbuf_len(const struct kcg_dynbuf *b);

/** 0, or the sticky failure: -ENOMEM, -E2BIG or -EINVAL. */
int kcg_dynbuf_error(const struct kcg_dynbuf *b);

/**
 * Hands the contents to the caller: a malloc'd, NUL-terminated string (a
 * malloc'd "" when nothing was added) that the caller frees with free();
 * its length goes to @p len when not NULL. @p b is left empty, ready for
 * reuse; kcg_dynbuf_finish() is then not needed.
 * @return the string, or NULL when the buffer has failed (its error stays
 * for kcg_dynbuf_error()); a take of an empty buffer whose "" cannot be
 * allocated fails the buffer with -ENOMEM.
 */
char *kcg_dynbuf_take(struct kcg_dynbuf *b, size_t *len);

#endif
