/**
 * kcgate/common.h: the error convention, the one error-text size and
 * sanitiser, checked number parsing, time, ids and the small crypto helpers
 * every module shares.
 *
 * Error convention (LMDB / systemd style): functions return int, 0 on
 * success, a negative errno (-ENOMEM, -EINVAL, ...) or a negative KCG_E*
 * code. kcg_strerror() names either kind.
 */
#ifndef KCGATE_COMMON_H
#define KCGATE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KCGATE_VERSION "0.1.0"

/* kcgate's own error codes; below -4095 so they never collide with -errno. */
enum {
	KCG_EDUPLICATE = -5001,  /**< the event was seen before (not a failure for callers) */
	KCG_ESTOREFULL = -5002,  /**< the LMDB map is full; nothing was written */
	KCG_ESHUTDOWN = -5003,   /**< the process is shutting down */
	KCG_ENOTFOUND = -5004,   /**< no such record */
	KCG_EAUTH = -5005,       /**< authentication failed (never says which check) */
	KCG_EPAYLOAD = -5006,    /**< a body that parsed but does not have the required shape */
	KCG_EJSON = -5007,       /**< a body that is not JSON */
	KCG_ESTORE = -5008,      /**< an unexpected LMDB failure */
	KCG_ECONFIG = -5009,     /**< the configuration has errors */
};

/**
 * Room for a human error sentence, NUL included: a validation message for a
 * 400 answer, a peer client's why, a job's last_error, a reply excerpt.
 */
#define KCG_ERROR_MAX 200

/** True for printable ASCII (0x20..0x7e), the only bytes kcgate puts in messages. */
static inline bool kcg_is_printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

/** Flags for kcg_printable(). */
enum {
	KCG_PRINT_SQUEEZE = 1u << 0,  /**< each run of space, tab, CR, LF becomes one space */
	KCG_PRINT_DROP = 1u << 1,     /**< leave other bytes out instead of writing '?' */
	KCG_PRINT_ELLIPSIS = 1u << 2, /**< a cut result ends in "..." (when @p cap > 4) */
	/** every byte outside 0x21..0x7e written as %XX (not in place): for
	 * network bytes in a log line or a JSON answer, so any byte sequence
	 * gives valid printable UTF-8 and a path "/\xFF" reads "/%FF" ('%'
	 * itself is kept: the result is for reading, not for decoding back) */
	KCG_PRINT_PERCENT = 1u << 3,
};

/**
 * The one sanitiser: copies @p len bytes of @p src (NULs included) into
 * @p dst as printable ASCII, so untrusted text can go into JSON answers,
 * logs and terminals. Every byte outside 0x20..0x7e (controls, DEL, NUL,
 * each byte of a UTF-8 sequence) becomes '?', unless @p flags say otherwise.
 * At most @p cap - 1 bytes are written, then a NUL (nothing when @p cap is
 * 0). @p dst may be @p src (sanitising in place); no other overlap.
 * @return true when all of @p src fitted, false when the result was cut.
 */
bool kcg_printable(char *dst, size_t cap, const char *src, size_t len, unsigned flags);

/** Stores @p v big-endian in 8 bytes (sortable keys and counters in LMDB). */
static inline void kcg_put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

/** Reads 8 big-endian bytes. */
static inline uint64_t kcg_get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/** A static, human sentence for @p err (a -errno or a KCG_E* code). */
const char *kcg_strerror(int err);

/**
 * Parses a whole decimal string into @p out and checks min <= value <= max.
 * Leading/trailing garbage, signs, empty strings and overflow are errors.
 * @return 0, -EINVAL (not a number) or -ERANGE (out of bounds); @p out is
 * untouched on failure.
 */
int kcg_parse_u64(const char *str, uint64_t min, uint64_t max, uint64_t *out);

/** Wall-clock milliseconds since the Unix epoch. */
uint64_t kcg_now_ms(void);
/** Monotonic nanoseconds, for durations only. */
uint64_t kcg_mono_ns(void);

/** Formats @p ms (Unix ms) as "2024-01-01T10:00:00.123Z" into @p buf (>= 32 bytes). */
void kcg_format_time(uint64_t ms, char *buf, size_t len);

#define KCG_ID_LEN 26 /**< length of an id from kcg_make_id(), without NUL */

/**
 * Writes a new time-sortable id (a ULID: 48-bit ms timestamp + 80 random
 * bits in Crockford base32) for time @p ms into @p out (KCG_ID_LEN + 1 bytes).
 * Ids made later in the same process always sort after earlier ones.
 * @return 0, or -EIO if the random source failed.
 */
int kcg_make_id(uint64_t ms, char out[KCG_ID_LEN + 1]);

/** Characters (UTF-8 code points) in @p s: the unit of the peers' field limits. */
size_t kcg_utf8_chars(const char *s);

/** The length (1 to 4) of the well-formed UTF-8 sequence at @p s when it is
 * a printable character (no C0, DEL or C1 control; no overlong form,
 * surrogate or code point past U+10FFFF), else 0 (also at the end). */
size_t kcg_utf8_printable(const char *s);

/** Constant-time equality of two byte strings (lengths compared too, without early exit on content). */
bool kcg_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/** SHA-256 of @p len bytes as 64 lowercase hex characters plus NUL into @p hex. */
void kcg_sha256_hex(const void *data, size_t len, char hex[65]);

/**
 * Decodes standard base64 (with padding, no whitespace) of @p in_len bytes
 * (at most 4096).
 * @return the decoded length, or -EINVAL if the input is not valid base64
 * or does not fit in @p out_cap.
 */
int kcg_base64_decode(const char *in, size_t in_len, unsigned char *out, size_t out_cap);

#define KCG_CIDR_MAX 64 /**< most entries in an address list (server.trusted_proxies) */

/** One address block: IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct kcg_cidr {
	unsigned char addr[16];
	unsigned bits; /**< prefix length over the 128-bit form */
};

/**
 * Parses a list of IPv4/IPv6 addresses or CIDR blocks separated by spaces
 * or commas ("10.0.0.0/8, ::1") into @p out (at most @p cap entries).
 * @return 0, -EINVAL (a malformed entry) or -E2BIG (more than @p cap).
 */
int kcg_cidr_parse_list(const char *text, struct kcg_cidr *out, size_t cap, size_t *n);

/** True when the textual address @p addr (IPv4 or IPv6) lies in one of the blocks. */
bool kcg_cidr_match(const struct kcg_cidr *list, size_t n, const char *addr);

/** Encodes @p len bytes as base64 with padding into @p out (needs 4*((len+2)/3)+1). Returns the length. */
size_t kcg_base64_encode(const unsigned char *in, size_t len, char *out);

#endif
