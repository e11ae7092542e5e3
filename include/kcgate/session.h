/**
 * kcgate/session.h: the console's signed-in sessions and their CSRF tokens.
 *
 * The console's sign-in page takes the admin token once; what the browser
 * keeps afterwards is a session id in an HttpOnly cookie, never the token.
 * A session is a random 256-bit id bound to a random 256-bit CSRF token,
 * held in memory only (a restart signs everyone out) with an absolute
 * expiry ([console] session_ttl_min). At most [console] max_sessions live
 * at once: signing in past the cap ends the session closest to its expiry.
 *
 * A session is bound to the admin token it was opened with: once a reload
 * (SIGHUP) changes the token, every session opened with the old one is
 * over (a leaked token rotated out takes its sessions with it).
 *
 * Lookups compare every slot in constant time (CRYPTO_memcmp over the
 * SHA-256 of the id, so neither the id nor its prefix leaks through timing).
 * Thread safe: one mutex, held for a scan of at most max_sessions slots.
 */
#ifndef KCGATE_SESSION_H
#define KCGATE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KCG_SESSION_HEX 64         /**< an id or a CSRF token as hex (256 bits) */
#define KCG_SESSION_COOKIE "__Host-kcgate_session" /**< Secure, Path=/, no Domain */
#define KCG_CSRF_HEADER "X-CSRF-Token"

struct kcg_sessions;

/** What a request's credentials amount to. */
enum kcg_session_check {
	KCG_SESSION_OK,        /**< a live session (and, when asked, the right CSRF token) */
	KCG_SESSION_NONE,      /**< no cookie, an unknown or an expired session */
	KCG_SESSION_BAD_CSRF,  /**< a live session, but the CSRF token is missing or wrong */
};

/** A session table of @p cap slots whose sessions live @p ttl_ms; NULL when out of memory. */
struct kcg_sessions *kcg_sessions_create(size_t cap, uint64_t ttl_ms);
/** Frees the table, wiping every id and token. NULL-safe. */
void kcg_sessions_destroy(struct kcg_sessions *s);

/**
 * Opens a session at @p now_ms for admin token @p token (checked by the
 * caller): writes its id and CSRF token as NUL-terminated
 * hex into @p id and @p csrf (KCG_SESSION_HEX + 1 each), *@p expires_ms
 * (optional) its expiry. Expired sessions are dropped first; past the cap
 * the session nearest its expiry is ended. @return 0, or -EIO when the
 * random generator fails (nothing opened).
 */
int kcg_sessions_open(struct kcg_sessions *s, uint64_t now_ms, const char *token, char *id, char *csrf,
		      uint64_t *expires_ms);

/**
 * Checks session @p id (hex, may be NULL) at @p now_ms, opened with admin
 * token @p token (the current one: another makes it KCG_SESSION_NONE). With @p need_csrf,
 * @p csrf (may be NULL) must be its CSRF token. On KCG_SESSION_OK,
 * @p csrf_out (optional, KCG_SESSION_HEX + 1) gets the session's CSRF token
 * and *@p expires_ms (optional) its expiry.
 */
enum kcg_session_check kcg_sessions_check(struct kcg_sessions *s, const char *id, const char *token, uint64_t now_ms,
					  bool need_csrf,
					  const char *csrf, char *csrf_out, uint64_t *expires_ms);

/** Ends session @p id (nothing when there is none). */
void kcg_sessions_close(struct kcg_sessions *s, const char *id);

/** Live sessions at @p now_ms. */
size_t kcg_sessions_live(struct kcg_sessions *s, uint64_t now_ms);

/**
 * The value of cookie @p name in a Cookie header (`a=1; b=2`), copied into
 * @p out (of @p cap); NULL when @p header is NULL, the cookie is absent or
 * its value does not fit.
 */
const char *kcg_cookie_value(const char *header, const char *name, char *out, size_t cap);

#endif
