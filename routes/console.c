/*
 * console.c: the operations console's own routes. The pages are static
 * files built into the binary (console_assets.h); everything they show
 * comes from the admin API, called with the session cookie set here.
 *
 *   GET  /console            303 to /console/
 *   GET  /console/           the console when signed in, else the sign-in page
 *   GET  /console/{file}     an asset (ETag, revalidated: no-cache)
 *   POST /console/session    the admin token, once (form or JSON): a session cookie
 *   GET  /console/api/whoami the session's CSRF token and expiry (401 without a session)
 *   POST /console/logout     ends the session (needs its CSRF token)
 *
 * The token is compared in constant time and never echoed; a wrong one
 * counts against the admin throttle (the route is KCG_ROUTE_SIGNIN, so a
 * client past the burst gets 429 before its token is looked at).
 */
#include "routes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "console_assets.h"
#include "kcgate/session.h"

/* No inline script or style, nothing from elsewhere, no framing. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
	    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
#define TOKEN_MAX 4096 /* longest admin token a sign-in may send */

static const struct kcg_console_asset *asset(const char *name)
{
	for (const struct kcg_console_asset *a = kcg_console_assets; a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* Serves @p a with the console's security headers; 304 when the browser's
 * copy is current. HTML pages are never cached (they decide signed in or
 * not); the other assets are revalidated by ETag. */
static void serve(struct kcg_request *req, const struct kcg_console_asset *a)
{
	bool html = strncmp(a->content_type, "text/html", 9) == 0;
	const char *headers[] = { "Content-Security-Policy", CSP, "X-Frame-Options", "DENY", "Referrer-Policy",
				  "no-referrer", "Cache-Control", html ? "no-store" : "no-cache", html ? NULL : "ETag",
				  a->etag, NULL };
	const char *inm = kcg_http_header(req, "If-None-Match");
	if (!html && inm && strcmp(inm, a->etag) == 0) {
		kcg_http_respond_with(req, 304, NULL, "", 0, headers);
		return;
	}
	kcg_http_respond_with(req, 200, a->content_type, a->data, a->len, headers);
}

/* The session the request's cookie names, checked (with its CSRF header
 * when @p write). */
static enum kcg_session_check session_of(struct kcg_request *req, bool write, char *csrf, uint64_t *expires_ms,
					 char *sid)
{
	const char *id = kcg_cookie_value(kcg_http_header(req, "Cookie"), KCG_SESSION_COOKIE, sid, KCG_SESSION_HEX + 2);
	return kcg_sessions_check(req->app->sessions, id, req->app->cfg->admin.token, kcg_now_ms(), write,
				  kcg_http_header(req, KCG_CSRF_HEADER), csrf, expires_ms);
}

void kcg_route_console_root(struct kcg_request *req)
{
	const char *headers[] = { "Location", "/console/", NULL };
	kcg_http_respond_with(req, 303, NULL, "", 0, headers);
}

void kcg_route_console_index(struct kcg_request *req)
{
	char sid[KCG_SESSION_HEX + 2];
	bool in = session_of(req, false, NULL, NULL, sid) == KCG_SESSION_OK;
	serve(req, asset(in ? "index.html" : "signin.html"));
}

void kcg_route_console_asset(struct kcg_request *req)
{
	const struct kcg_console_asset *a = asset(req->param);
	if (!a) {
		kcg_http_respond_error(req, 404, "not_found", "the console has no file %s", req->param);
		return;
	}
	serve(req, a);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The form field @p name of an x-www-form-urlencoded @p body, decoded into
 * @p out; NULL when absent, malformed or too long. */
static const char *form_field(const char *body, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, name, nlen) != 0 || p[nlen] != '=')
			continue;
		size_t n = 0;
		for (const char *v = p + nlen + 1; *v && *v != '&'; v++) {
			int c = (unsigned char)*v;
			if (c == '+') {
				c = ' ';
			} else if (c == '%') {
				int hi = hexval(v[1]), lo = hi < 0 ? -1 : hexval(v[2]);
				if (lo < 0)
					return NULL;
				c = hi * 16 + lo;
				v += 2;
			}
			if (n + 1 >= cap || c == 0)
				return NULL;
			out[n++] = (char)c;
		}
		out[n] = '\0';
		return out;
	}
	return NULL;
}

/* An Origin header, when the browser sent one, must be this server's own
 * (a sign-in form posted from another site is refused). */
static bool same_origin(struct kcg_request *req)
{
	const char *origin = kcg_http_header(req, "Origin");
	const char *host = kcg_http_header(req, "Host");
	if (!origin)
		return true;
	const char *rest = strncmp(origin, "https://", 8) == 0 ? origin + 8
			   : strncmp(origin, "http://", 7) == 0 ? origin + 7 : NULL;
	return rest && host && strcasecmp(rest, host) == 0;
}

void kcg_route_console_signin(struct kcg_request *req)
{
	const char *ct = kcg_http_header(req, "Content-Type");
	bool form = ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
	static char none[1];
	char tok[TOKEN_MAX];
	const char *token = NULL;

	if (!same_origin(req)) {
		kcg_http_respond_error(req, 403, "cross_origin", "a sign-in must come from the console's own page");
		return;
	}
	if (form) {
		token = form_field(req->body ? req->body : none, "token", tok, sizeof(tok));
	} else {
		json_error_t err;
		json_t *j = json_loadb(req->body ? req->body : none, req->body_len, 0, &err);
		const char *s = json_string_value(json_object_get(j, "token"));
		if (s && strlen(s) < sizeof(tok))
			token = strcpy(tok, s);
		json_decref(j);
	}
	if (!token || !*token) {
		kcg_http_respond_error(req, 400, "invalid_request", "token: expected the admin token (form field or JSON member)");
		return;
	}
	const char *want = req->app->cfg->admin.token; /* once: a reload may swap it */
	bool ok = want && *want && kcg_ct_equal(token, strlen(token), want, strlen(want));
	memset(tok, 0, sizeof(tok));
	if (!ok) {
		kcg_http_auth_failed(req);
		if (form) {
			const char *headers[] = { "Location", "/console/?signin=failed", NULL };
			kcg_http_respond_with(req, 303, NULL, "", 0, headers);
		} else {
			kcg_http_respond_error(req, 401, "unauthorized", "that is not the admin token");
		}
		return;
	}
	char id[KCG_SESSION_HEX + 1], csrf[KCG_SESSION_HEX + 1], cookie[256];
	uint64_t expires_ms;
	if (!req->app->sessions || kcg_sessions_open(req->app->sessions, kcg_now_ms(), want, id, csrf, &expires_ms) != 0) {
		kcg_http_respond_error(req, 500, "internal_error", "no session could be opened");
		return;
	}
	snprintf(cookie, sizeof(cookie), "%s=%s; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=%llu",
		 KCG_SESSION_COOKIE, id, (unsigned long long)(req->app->cfg->console.session_ttl_min * 60));
	memset(id, 0, sizeof(id));
	if (form) {
		const char *headers[] = { "Set-Cookie", cookie, "Location", "/console/", NULL };
		kcg_http_respond_with(req, 303, NULL, "", 0, headers);
	} else {
		char when[32], *text;
		kcg_format_time(expires_ms, when, sizeof(when));
		json_t *j = json_pack("{s:s, s:s}", "csrf", csrf, "expires_at", when);
		text = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		const char *headers[] = { "Set-Cookie", cookie, NULL };
		if (text)
			kcg_http_respond_with(req, 200, "application/json", text, strlen(text), headers);
		else
			kcg_http_respond_error(req, 500, "internal_error", "out of memory");
		free(text);
	}
	memset(cookie, 0, sizeof(cookie));
}

void kcg_route_console_whoami(struct kcg_request *req)
{
	char sid[KCG_SESSION_HEX + 2], csrf[KCG_SESSION_HEX + 1], when[32];
	uint64_t expires_ms;
	if (session_of(req, false, csrf, &expires_ms, sid) != KCG_SESSION_OK) {
		kcg_http_respond_error(req, 401, "unauthorized", "not signed in to the console");
		return;
	}
	kcg_format_time(expires_ms, when, sizeof(when));
	kcg_http_respond_json(req, 200, json_pack("{s:s, s:s}", "csrf", csrf, "expires_at", when));
}

void kcg_route_console_logout(struct kcg_request *req)
{
	char sid[KCG_SESSION_HEX + 2];
	enum kcg_session_check c = session_of(req, true, NULL, NULL, sid);
	if (c == KCG_SESSION_NONE) {
		kcg_http_respond_error(req, 401, "unauthorized", "not signed in to the console");
		return;
	}
	if (c == KCG_SESSION_BAD_CSRF) {
		kcg_http_respond_error(req, 403, "csrf_required",
				       "signing out needs the session's " KCG_CSRF_HEADER " header (GET /console/api/whoami)");
		return;
	}
	kcg_sessions_close(req->app->sessions, sid);
	const char *headers[] = { "Set-Cookie",
				  KCG_SESSION_COOKIE "=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0", NULL };
	const char *body = "{\"signed_out\":true}";
	kcg_http_respond_with(req, 200, "application/json", body, strlen(body), headers);
}
