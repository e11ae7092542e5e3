#!/usr/bin/env python3
"""console.py --kcgate BIN session: the console's sign-in, sessions and CSRF
over HTTPS, as a browser would speak them (the browser itself is in
tests/browser/): the sign-in page and the assets with their headers
(Content-Security-Policy, nosniff, ETag and 304), sign-in by form and by
JSON (the cookie's attributes, wrong tokens, a foreign Origin), the admin
API through the session (reads without, writes only with the CSRF token,
the bearer token unchanged for scripts), the cap on live sessions, sign-out,
and the admin throttle on failed sign-ins.
"""
import argparse
import json
import os
import re
import sys
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as h  # noqa: E402

COOKIE = "__Host-kcgate_session"


def cookie_of(r):
    m = re.search(COOKIE + r"=([0-9a-f]{64});", r.header("set-cookie") or "")
    return m.group(1) if m else None


def scenario_session(args, rep):
    hs = h.Harness(args.kcgate, args.keep)
    inst = hs.instance("console", {"server": {"admin_auth_burst": "4", "admin_auth_interval_s": "60"},
                                   "console": {"max_sessions": "2", "session_ttl_min": "5"}})
    try:
        if not h.start_or_fail(rep, inst, "console"):
            return
        c = h.Client(inst)
        tok = hs.admin_token

        def get(path, headers=None):
            return c.request("GET", path, None, headers or {})

        def post(path, body=None, headers=None):
            return c.request("POST", path, body, headers or {})

        r = get("/console")
        rep.check(r.status == 303 and r.header("location") == "/console/", "GET /console -> 303 /console/",
                  [r.summary()])
        r = get("/console/")
        csp = r.header("content-security-policy") or ""
        rep.check(r.status == 200 and r.header("content-type") == "text/html; charset=utf-8"
                  and b'action="/console/session"' in r.body and b"<script>" not in r.body
                  and "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
                  and r.header("x-content-type-options") == "nosniff" and r.header("cache-control") == "no-store",
                  "GET /console/ without a session: the sign-in page, a strict CSP, nosniff, no-store",
                  [r.summary(), csp])
        r = get("/console/console.js")
        etag = r.header("etag")
        rep.check(r.status == 200 and r.header("content-type") == "text/javascript; charset=utf-8"
                  and etag and re.fullmatch(r'"[0-9a-f]{16}"', etag) and r.header("cache-control") == "no-cache",
                  "GET /console/console.js: JavaScript, an ETag, revalidated (no-cache)", [r.summary()])
        r = get("/console/console.js", {"If-None-Match": etag or "x"})
        rep.check(r.status == 304 and not r.body, "the same ETag -> 304, no body", [r.summary()])
        r = get("/console/console.css")
        rep.check(r.status == 200 and r.header("content-type") == "text/css; charset=utf-8", "console.css is CSS",
                  [r.summary()])
        r = get("/console/nothing.js")
        rep.check(r.status == 404 and r.json["error"] == "not_found", "an unknown asset -> 404", [r.summary()])

        js = {"Content-Type": "application/json"}
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        r = post("/console/session", json.dumps({"token": "wrong-token-0123456789"}), js)
        rep.check(r.status == 401 and not r.header("set-cookie"), "a wrong token (JSON) -> 401, no cookie",
                  [r.summary()])
        r = post("/console/session", "token=wrong-token-0123456789", form)
        rep.check(r.status == 303 and r.header("location") == "/console/?signin=failed" and not r.header("set-cookie"),
                  "a wrong token (form) -> 303 back to the sign-in page, no cookie", [r.summary()])
        r = post("/console/session", json.dumps({"tok": tok}), js)
        rep.check(r.status == 400 and "token" in r.json["message"], "no token member -> 400 naming it", [r.summary()])
        r = post("/console/session", "token=" + tok, {"Content-Type": "text/plain"})
        rep.check(r.status == 415, "a text/plain sign-in -> 415", [r.summary()])
        r = post("/console/session", json.dumps({"token": tok}), dict(js, Origin="https://evil.example"))
        rep.check(r.status == 403 and r.json["error"] == "cross_origin" and not r.header("set-cookie"),
                  "a sign-in from another origin -> 403 cross_origin", [r.summary()])

        r = post("/console/session", "token=" + urllib.parse.quote(tok, safe=""), form)
        sc = r.header("set-cookie") or ""
        first = cookie_of(r)
        rep.check(r.status == 303 and r.header("location") == "/console/" and first
                  and all(a in sc for a in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=300"))
                  and tok not in sc, "the right token (form) -> 303 /console/ and the session cookie "
                  "(HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=300)", [r.summary(), sc])
        r = post("/console/session", json.dumps({"token": tok}), js)
        sid = cookie_of(r)
        csrf = r.json.get("csrf") if isinstance(r.json, dict) else None
        rep.check(r.status == 200 and sid and sid != first and csrf and re.fullmatch("[0-9a-f]{64}", csrf)
                  and csrf != sid, "the right token (JSON) -> 200 {csrf, expires_at} and another session",
                  [r.summary()])
        ck = {"Cookie": "%s=%s" % (COOKIE, sid)}

        r = get("/console/", ck)
        rep.check(r.status == 200 and b'id="nav"' in r.body and tok.encode() not in r.body,
                  "GET /console/ with the session: the console (no token in it)", [r.summary()])
        r = get("/console/api/whoami", ck)
        rep.check(r.status == 200 and r.json.get("csrf") == csrf, "whoami gives the session's CSRF token",
                  [r.summary()])
        r = get("/admin/overview", ck)
        rep.check(r.status == 200 and {"mirakl", "khaos", "inriver", "alerts"} <= {l["lane"] for l in r.json.get("lanes", [])} and "exceptions" in r.json,
                  "GET /admin/overview with the session cookie", [r.summary()])
        r = get("/admin/runbook", ck)
        kinds = {k["kind"]: k for k in r.json.get("kinds", [])} if r.status == 200 else {}
        rep.check("unknown_sku" in kinds and kinds["unknown_sku"]["steps"] and kinds["unknown_sku"]["owner"] == "ecommerce",
                  "GET /admin/runbook: unknown_sku with its steps, owned by ecommerce", [r.summary()])
        for hdr, what in (({}, "no"), ({"X-CSRF-Token": "0" * 64}, "a wrong"), ({"X-CSRF-Token": sid}, "the session id as")):
            r = post("/admin/exceptions/01J00000000000000000000000/resolve", None, dict(ck, **hdr))
            rep.check(r.status == 403 and r.json["error"] == "csrf_required",
                      "a write with the session and %s CSRF token -> 403 csrf_required" % what, [r.summary()])
        r = post("/admin/exceptions/01J00000000000000000000000/resolve", None, dict(ck, **{"X-CSRF-Token": csrf}))
        rep.check(r.status == 404 and r.json["error"] == "not_found",
                  "a write with the session and its CSRF token gets through (404: no such exception)", [r.summary()])
        r = post("/admin/exceptions/01J00000000000000000000000/resolve", None, hs.admin_headers())
        rep.check(r.status == 404, "scripts: the bearer token alone still works for writes", [r.summary()])
        r = get("/admin/orders/NO-SUCH/timeline", ck)
        rep.check(r.status == 404 and "NO-SUCH" in r.json["message"], "a timeline of an unknown order -> 404",
                  [r.summary()])
        r = get("/admin/overview", {"Cookie": "%s=%s" % (COOKIE, "ab" * 32)})
        rep.check(r.status == 401, "an unknown session -> 401", [r.summary()])

        # the cap (2): a third sign-in ends the oldest session (the form one)
        r = post("/console/session", json.dumps({"token": tok}), js)
        third = cookie_of(r)
        r1 = get("/console/api/whoami", {"Cookie": "%s=%s" % (COOKIE, first)})
        r2 = get("/console/api/whoami", ck)
        rep.check(third and r1.status == 401 and r2.status == 200,
                  "[console] max_sessions = 2: a third sign-in ends the oldest session", [r1.summary(), r2.summary()])

        r = post("/console/logout", None, ck)
        rep.check(r.status == 403 and r.json["error"] == "csrf_required", "sign-out without the CSRF token -> 403",
                  [r.summary()])
        r = post("/console/logout", None, dict(ck, **{"X-CSRF-Token": csrf}))
        rep.check(r.status == 200 and "Max-Age=0" in (r.header("set-cookie") or ""),
                  "sign-out -> 200, the cookie cleared", [r.summary()])
        r = get("/console/api/whoami", ck)
        r2 = get("/admin/overview", ck)
        rep.check(r.status == 401 and r2.status == 401, "after sign-out the session is gone", [r.summary(), r2.summary()])

        # the admin throttle (burst 4; the 401s above count): wrong sign-ins
        # until 429, which then holds for the right token too
        seen = []
        for _ in range(6):
            r = post("/console/session", json.dumps({"token": "wrong-token-0123456789"}), js)
            seen.append(r.status)
            if r.status == 429:
                break
        r = post("/console/session", json.dumps({"token": tok}), js)
        rep.check(429 in seen and r.status == 429 and r.header("retry-after") and not r.header("set-cookie"),
                  "failed sign-ins meet the admin throttle: 429 with Retry-After, even for the right token "
                  "(statuses %s)" % seen, [r.summary()])
        c.close()
        h.stop_check(rep, inst, "console")
        log = inst.log_text()
        rep.check(tok not in log and (sid or "-") not in log and (csrf or "-") not in log,
                  "the log holds no token, session id or CSRF token")
    finally:
        hs.close(rep.failed > 0)


def main():
    ap = argparse.ArgumentParser(description="kcgate console sign-in, sessions and CSRF")
    ap.add_argument("--kcgate", required=True)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("scenario", choices=["session"])
    args = ap.parse_args()
    rep = h.Report()
    t0 = time.monotonic()
    try:
        scenario_session(args, rep)
    except Exception:
        rep.fail("session: unexpected exception", [traceback.format_exc()])
    h.Report.note("session took %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (rep.passed, rep.failed))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
