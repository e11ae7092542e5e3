#!/usr/bin/env python3
"""kcgate end-to-end tests of the alerts ([alerts]), against kcgate-sim: its
webhook catcher (POST /alerts/...) and its SMTP sink (--smtp-listen), both
shown by GET /_sim/alerts (docs/sim.md section 9).

    alerts.py --kcgate PATH --sim PATH [--keep] SCENARIO

An order on a SKU Khaos does not know raises unknown_sku (critical, owner
ecommerce): the exception every scenario alerts on.

SCENARIO is one of:
  once       one webhook post (Slack's shape) and one mail to ecommerce's
             addresses (RFC 5322, decoded with Python's email package: the
             subject, the exception's message, system and owner), sent with
             SMTP AUTH; the same exception raised again (a second order on
             the SKU) sends nothing more; after [alerts] repeat_h (0.005 h =
             18 s) while still open it is sent again, "(still open)"
  transient  [alerts] delay_s = 20: an exception that resolves itself
             within the delay (its SKU appears in Khaos) is never sent; one
             still open after it is, once
  dead-mail  the mail server answers 451 to everything: alert.mail is
             retried, then dead after [alerts] max_attempts with a dead_job
             exception (system alerts) that is posted to the webhook and not
             mailed; meanwhile orders on known SKUs are accepted and booked
  kill9      the webhook and the mail server hold every call; kcgate is
             killed with SIGKILL after the exception is committed and its
             sends are in flight; restarted with both healthy: the alert is
             posted once and mailed once
  digest     [alerts] digest_at a few seconds ahead (local time): one digest
             per team (ecommerce: its open unknown_sku; operations, listed in
             [alerts.mail_to], none) by webhook and by mail, with the sync
             health figures; no second one

Output like run.py; exit status 1 on any failure. Each scenario stays
under 60 s.
"""

import datetime
import email
import email.policy
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as h  # noqa: E402
import orders as o  # noqa: E402  (the sim, the world, waits)

Report = h.Report
short = h.short
ENV_SMTP_USER = "KCG_E2E_SMTP_USER"
ENV_SMTP_PASSWORD = "KCG_E2E_SMTP_PASSWORD"
ENV_WEBHOOK_URL = "KCG_E2E_ALERT_WEBHOOK"
ECOM = ["ecom@shop.example", "ecom-lead@shop.example"]
OPS = ["ops@shop.example"]
o.SCENARIO_BUDGET = 58.0


class AlertWorld(o.World):
    """orders.World with the sim's SMTP sink and [alerts] pointing at it."""

    def __init__(self, args, rep, name, alerts=None, extra=None, fmt="slack"):
        super().__init__(args, rep, name, extra, sim_args=("--smtp-listen", "127.0.0.1:0"))
        line, t0 = "", time.monotonic()
        while not line and time.monotonic() - t0 < 5:  # printed right after the HTTP line
            line = next((ln for ln in list(self.sim.stderr) if "smtp listening on smtp://" in ln), "")
            time.sleep(0.02)
        self.smtp_port = int(line.strip().rsplit(":", 1)[1]) if line else 0
        self.smtp_password = "smtp-pw-" + os.urandom(8).hex()
        self.hook_token = "T0/B0/" + os.urandom(12).hex()
        self.hook_path = "/alerts/services/" + self.hook_token
        os.environ[ENV_SMTP_USER] = "kcgate-alerts"
        os.environ[ENV_SMTP_PASSWORD] = self.smtp_password
        os.environ[ENV_WEBHOOK_URL] = "http://127.0.0.1:%d%s" % (self.sim.port, self.hook_path)
        cfg = {"webhook_url": "env:" + ENV_WEBHOOK_URL, "webhook_format": fmt,
               "smtp_url": "smtp://127.0.0.1:%d" % self.smtp_port,
               "smtp_user": "env:" + ENV_SMTP_USER, "smtp_password": "env:" + ENV_SMTP_PASSWORD,
               "mail_from": "kcgate alerts <alerts@shop.example>", "min_severity": "warning",
               "digest_at": "off", "repeat_h": "24", "timeout_s": "5", "delay_s": "0"}
        cfg.update(alerts or {})
        self.inst.overrides["alerts"] = cfg
        self.inst.overrides["alerts.mail_to"] = {"ecommerce": ", ".join(ECOM), "operations": ", ".join(OPS)}
        self.inst.overrides.setdefault("khaos", {})["sku_refresh_s"] = "10"

    def alerts(self):
        return self.sim.ok("GET", "/_sim/alerts")

    def posts(self, pred=None):
        return [w for w in self.alerts()["webhooks"] if w["path"] == "/services/" + self.hook_token
                and (pred is None or pred(w))]

    def mails(self, pred=None):
        out = []
        for m in self.alerts()["mails"]:
            msg = email.message_from_string(m["data"], policy=email.policy.default)
            m["msg"] = msg
            m["subject"] = str(msg["Subject"] or "")
            m["text"] = msg.get_content() if not msg.is_multipart() else ""
            if pred is None or pred(m):
                out.append(m)
        return out

    def finish(self, what):
        # the SMTP password and the webhook URL's token are secrets too
        self.hs.secrets_extra = [self.smtp_password, self.hook_token]
        super().finish(what)


def secrets_with_extra(orig):
    def secrets(self):
        return orig(self) + list(getattr(self, "secrets_extra", []))
    return secrets


h.Harness.secrets = secrets_with_extra(h.Harness.secrets)


def post_text(p):
    """The Slack body's text and sections as one string."""
    b = p.get("body") or {}
    if not isinstance(b, dict):
        return str(b)
    parts = [b.get("text") or ""]
    for blk in b.get("blocks") or []:
        t = blk.get("text") or {}
        parts.append(t.get("text") or "")
    return "\n".join(parts)


def started(w, what):
    """kcgate started and its first SKU refresh done (else known SKUs are unknown for a moment)."""
    if not w.start(what):
        return False
    ok, _ = w.wait(lambda: w.job_done("skus.refresh", "all", "khaos"), 10)
    w.rep.check(ok, "%s: the start-up SKU refresh is done" % what)
    return ok


def held_order(w, sku, tag, n=1):
    oid = w.sim.order("AL-%s-%d" % (tag, n), [(sku, 1, 9.5)])
    r = w.webhook(oid)
    return oid, r


def about(sku):
    return lambda x: sku in (post_text(x) if "body" in x else x.get("subject", "") + x.get("text", ""))


# ---------------------------------------------------------------- once

def scenario_once(args, rep):
    w = AlertWorld(args, rep, "once", {"repeat_h": "0.005"})
    try:
        tag = os.urandom(3).hex().upper()
        sku = "NOPE-" + tag
        w.sim.stock("KNOWN-" + tag)
        if not started(w, "once"):
            return
        oid, r = held_order(w, sku, tag)
        rep.check(r.status == 202, "once: webhook acknowledged", [r.summary()])
        t_raise = time.monotonic()
        posts, secs = w.wait(lambda: w.posts(about(sku)), 15)
        rep.check(len(posts or []) == 1, "once: one webhook post for the unknown_sku exception (%.1f s)" % secs,
                  [short(json.dumps(w.alerts()), 800)] + w.evidence([oid]))
        if posts:
            b = posts[0]["body"]
            rep.check(isinstance(b, dict) and isinstance(b.get("blocks"), list) and b["blocks"][0]["type"] == "header"
                      and "unknown_sku" in b.get("text", "") and posts[0]["content_type"] == "application/json",
                      "once: the post has Slack's shape (text + header and mrkdwn blocks)", [short(json.dumps(b), 600)])
            txt = post_text(posts[0])
            rep.check("System at fault: mirakl" in txt and "Owning team: ecommerce" in txt and oid in txt,
                      "once: the post says what happened (the order), the system at fault and the owning team",
                      [short(txt, 600)])
        mails, secs = w.wait(lambda: w.mails(about(sku)), 15)
        rep.check(len(mails or []) == 1, "once: one mail for it (%.1f s)" % secs, [short(json.dumps(w.alerts()), 800)])
        if mails:
            m = mails[0]
            rep.check(sorted(m["rcpt"]) == sorted(ECOM) and m["from"] == "alerts@shop.example"
                      and m["auth_user"] == "kcgate-alerts",
                      "once: to ecommerce's addresses, from mail_from, over SMTP AUTH",
                      ["rcpt %s from %s auth %s" % (m["rcpt"], m["from"], m["auth_user"])])
            msg = m["msg"]
            rep.check(m["subject"].startswith("[kcgate] critical unknown_sku: " + sku)
                      and msg["Message-ID"] and msg["Date"] and msg["To"]
                      and msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
                      and "System at fault: mirakl" in m["text"] and "Owning team: ecommerce" in m["text"]
                      and oid in m["text"],
                      "once: an RFC 5322 mail: subject, Date, Message-ID, To, text/plain UTF-8 with the exception",
                      [m["subject"], short(m["data"], 800)])
        # the same exception again: a second order on the SKU raises it again
        oid2, r = held_order(w, sku, tag, 2)
        ok, _ = w.wait(lambda: (w.exceptions(1, "unknown_sku") or [{}])[0].get("count", 0) >= 2, 10)
        rep.check(ok, "once: the exception was raised again (count >= 2)",
                  [short(json.dumps(w.exceptions(None)), 600)])
        time.sleep(max(0.5, min(3.0, 14 - (time.monotonic() - t_raise))))
        n_posts, n_mails = len(w.posts(about(sku))), len(w.mails(about(sku)))
        rep.check(n_posts == 1 and n_mails == 1 and time.monotonic() - t_raise < 18,
                  "once: raised again while open: nothing more sent (%d post, %d mail, %.1f s after the raise)"
                  % (n_posts, n_mails, time.monotonic() - t_raise))
        # still open after repeat_h (18 s): sent again
        again, secs = w.wait(lambda: len(w.posts(about(sku))) >= 2 and len(w.mails(about(sku))) >= 2, 25)
        posts, mails = w.posts(about(sku)), w.mails(about(sku))
        rep.check(again and len(posts) == 2 and len(mails) == 2 and "(still open)" in posts[1]["body"]["text"]
                  and "(still open)" in mails[1]["subject"],
                  "once: still open after repeat_h: sent again, once, \"(still open)\" (%.1f s after the raise)"
                  % (time.monotonic() - t_raise),
                  [short(json.dumps([p["body"].get("text") for p in posts])), str([m["subject"] for m in mails])])
        w.finish("once")
    finally:
        w.close(rep.failed > 0)


# ---------------------------------------------------------------- dead-mail

def scenario_dead_mail(args, rep):
    w = AlertWorld(args, rep, "dead-mail", {"max_attempts": "3"})
    try:
        tag = os.urandom(3).hex().upper()
        sku, good = "NOPE-" + tag, "GOOD-" + tag
        w.sim.stock(good)
        w.sim.faults(system="smtp", error_rate=1.0, status=451)
        if not started(w, "dead-mail"):
            return
        oid, r = held_order(w, sku, tag)
        rep.check(r.status == 202, "dead-mail: webhook acknowledged", [r.summary()])
        # orders keep flowing meanwhile
        oids = [w.sim.order("DM-%s-%d" % (tag, i), [(good, 1, 3.0)]) for i in range(3)]
        for x in oids:
            w.webhook(x)

        def dead_mail():
            return [j for j in w.jobs("dead", "alerts_mail") or [] if j.get("kind") == "alert.mail"]
        dead, secs = w.wait(dead_mail, 25)
        job = dead[0] if dead else {}
        rep.check(dead and job.get("attempts") == 3 and "451" in (job.get("last_error") or ""),
                  "dead-mail: alert.mail retried, then dead after max_attempts = 3 with the server's 451 (%.1f s)" % secs,
                  [short(json.dumps(w.jobs(None, "alerts_mail")), 800)])
        excs, _ = w.wait(lambda: [e for e in w.exceptions(1, "dead_job") or [] if e.get("subject") == job.get("id")], 5)
        rep.check(bool(excs) and excs[0].get("system") == "alerts" and excs[0].get("owner") == "operations",
                  "dead-mail: a dead_job exception for it (system alerts, owner operations)",
                  [short(json.dumps(w.exceptions(None)), 800)])
        # a dead alert job is alerted on no channel (the other may be dead
        # too: ping-pong); it shows in the console and the next digest
        time.sleep(2.0)
        posted = w.posts(lambda p: "dead_job" in post_text(p) and job.get("id", "-") in post_text(p))
        rep.check(not posted and not [j for j in w.jobs(None, "alerts") or [] if j.get("subject") in {e["id"] for e in excs}],
                  "dead-mail: the dead mail job's dead_job is not alerted on the webhook either",
                  [short(json.dumps(w.alerts()["webhooks"]), 800)])
        mail_jobs = [j for j in w.jobs(None, "alerts_mail") or [] if j.get("kind") == "alert.mail"]
        own = {e["id"] for e in excs}
        rep.check(len(mail_jobs) == 1 and not [j for j in mail_jobs if j.get("subject") in own]
                  and w.alerts()["mails"] == [],
                  "dead-mail: no mail job for the dead mail job's own exception (no loop), no mail delivered",
                  [short(json.dumps(mail_jobs), 600)])
        rep.check(w.alerts()["smtp"]["refused"] == 3, "dead-mail: the server refused exactly 3 attempts",
                  [json.dumps(w.alerts()["smtp"])])
        done, secs, last = o.wait_all_done(w, oids, max(5, w.left() - 8))
        rep.check(done, "dead-mail: orders on known SKUs were accepted and booked meanwhile (%.1f s)" % secs,
                  [json.dumps(last)])
        w.finish("dead-mail")
    finally:
        w.close(rep.failed > 0)


# ---------------------------------------------------------------- kill9

def scenario_kill9(args, rep):
    w = AlertWorld(args, rep, "kill9", {"timeout_s": "20"})
    try:
        tag = os.urandom(3).hex().upper()
        sku = "NOPE-" + tag
        w.sim.stock("KNOWN-" + tag)
        # every webhook post and SMTP MAIL FROM is held 30 s, then dropped unanswered
        w.sim.faults(system="alerts", timeout_rate=1.0, timeout_ms=30000)
        w.sim.faults(system="smtp", timeout_rate=1.0, timeout_ms=30000)
        if not started(w, "kill9"):
            return
        oid, r = held_order(w, sku, tag)
        rep.check(r.status == 202, "kill9: webhook acknowledged", [r.summary()])
        exc, _ = w.wait(lambda: w.exceptions(1, "unknown_sku"), 10)
        in_flight, secs = w.wait(lambda: w.sim.requests("alerts") and w.alerts()["smtp"]["connections"] >= 1, 10)
        rep.check(bool(exc) and bool(in_flight),
                  "kill9: the exception is committed and both sends are in flight (%.1f s)" % secs,
                  [short(json.dumps(w.alerts()), 400)])
        w.inst.kill9()
        w.sim.ok("POST", "/_sim/faults", {"system": "alerts", "clear": True})
        w.sim.ok("POST", "/_sim/faults", {"system": "smtp", "clear": True})
        rep.check(w.posts() == [] and w.alerts()["mails"] == [], "kill9: nothing was delivered before the kill")
        if not w.start("kill9: restart"):
            return
        ok, secs = w.wait(lambda: w.posts(about(sku)) and w.mails(about(sku)), 15)
        time.sleep(2.0)
        rep.check(len(w.posts(about(sku))) == 1 and len(w.mails(about(sku))) == 1,
                  "kill9: after the restart the alert is posted once and mailed once (%.1f s)" % secs,
                  [short(json.dumps(w.alerts()), 800)])
        w.finish("kill9")
    finally:
        w.close(rep.failed > 0)


# ---------------------------------------------------------------- digest

def scenario_digest(args, rep):
    at = datetime.datetime.now() + datetime.timedelta(seconds=12)  # local time, as kcgate reads it
    w = AlertWorld(args, rep, "digest", {"digest_at": at.strftime("%H:%M:%S")}, fmt="json")
    try:
        tag = os.urandom(3).hex().upper()
        sku = "NOPE-" + tag
        w.sim.stock("KNOWN-" + tag)
        if not started(w, "digest"):
            return
        oid, r = held_order(w, sku, tag)
        rep.check(r.status == 202, "digest: webhook acknowledged", [r.summary()])
        w.wait(lambda: w.exceptions(1, "unknown_sku"), 10)
        rep.check(not w.posts(lambda p: p["body"].get("type") == "digest"), "digest: none before digest_at (%s)"
                  % at.strftime("%H:%M:%S"))

        def digests():
            ds = w.posts(lambda p: p["body"].get("type") == "digest")
            return ds if len(ds) >= 2 and len(w.mails(lambda m: "daily digest" in m["subject"])) >= 2 else None
        ds, secs = w.wait(digests, 30)
        late = (datetime.datetime.now() - at).total_seconds()
        ds = ds or []
        by = {d["body"].get("team"): d["body"] for d in ds}
        rep.check(sorted(by) == ["ecommerce", "operations"] and -1 < late < 10,
                  "digest: one digest post per team (ecommerce, operations) at digest_at (%.1f s after it)" % late,
                  [short(json.dumps(ds), 800)])
        e = by.get("ecommerce", {})
        rep.check([x.get("subject") for x in e.get("exceptions", [])] == [sku] and sku in e.get("text", "")
                  and any("khaos lane" in f.get("name", "") for f in e.get("figures", []))
                  and any("OR11" in f.get("name", "") for f in e.get("figures", []))
                  and "Sync health:" in e.get("text", ""),
                  "digest: ecommerce's lists its open unknown_sku and the sync health figures (lanes, OR11 poll)",
                  [short(json.dumps(e), 800)])
        rep.check(by.get("operations", {}).get("exceptions") == [],
                  "digest: operations has no open exception", [short(json.dumps(by.get("operations")), 400)])
        mails = w.mails(lambda m: "daily digest" in m["subject"])
        to = sorted(sorted(m["rcpt"]) for m in mails)
        rep.check(to == sorted([sorted(ECOM), OPS]) and all("Sync health:" in m["text"] for m in mails),
                  "digest: one digest mail to each team's addresses, with the figures", [str(to)])
        time.sleep(3.0)
        rep.check(len(w.posts(lambda p: p["body"].get("type") == "digest")) == 2
                  and len(w.mails(lambda m: "daily digest" in m["subject"])) == 2,
                  "digest: no second digest")
        w.finish("digest")
    finally:
        w.close(rep.failed > 0)


# ---------------------------------------------------------------- transient

def scenario_transient(args, rep):
    w = AlertWorld(args, rep, "transient", {"delay_s": "20"})
    try:
        tag = os.urandom(3).hex().upper()
        gone, stays = "SOON-" + tag, "NOPE-" + tag
        w.sim.stock("KNOWN-" + tag)
        if not started(w, "transient"):
            return
        t0 = time.monotonic()
        held_order(w, gone, tag, 1)
        held_order(w, stays, tag, 2)
        ok, _ = w.wait(lambda: len(w.exceptions(1, "unknown_sku") or []) == 2, 10)
        rep.check(ok, "transient: two unknown_sku exceptions open", [short(json.dumps(w.exceptions(None)), 600)])
        w.sim.stock(gone)  # Khaos learns it: the next refresh (sku_refresh_s = 10) resolves its exception
        resolved, secs = w.wait(lambda: [e for e in w.exceptions(0, "unknown_sku") or [] if e["subject"] == gone], 15)
        rep.check(bool(resolved) and time.monotonic() - t0 < 19 and not w.posts() and not w.alerts()["mails"],
                  "transient: %s resolved itself within delay_s (%.1f s after the raise), nothing sent yet"
                  % (gone, time.monotonic() - t0))
        sent, _ = w.wait(lambda: w.posts(about(stays)) and w.mails(about(stays)), 30)
        time.sleep(1.0)
        rep.check(bool(sent) and time.monotonic() - t0 >= 19 and len(w.posts()) == 1 and len(w.alerts()["mails"]) == 1
                  and not w.posts(about(gone)),
                  "transient: after delay_s (20 s) the one still open is posted and mailed, the resolved one never "
                  "(%.1f s)" % (time.monotonic() - t0), [short(json.dumps(w.alerts()), 600)])
        done = [j for j in w.jobs("done", "alerts") or [] if j.get("kind") == "alert.webhook"]
        rep.check(len(done) == 2, "transient: both alert jobs are done (one sent, one dropped as resolved)",
                  [short(json.dumps(w.jobs(None, "alerts")), 600)])
        w.finish("transient")
    finally:
        w.close(rep.failed > 0)


# ---------------------------------------------------------------- mail-blocks

def scenario_mail_blocks(args, rep):
    """A hanging mail server (every SMTP exchange stalls 30 s) never delays the
    webhook: mails have their own lane (alerts_mail) and breaker."""
    w = AlertWorld(args, rep, "mail-blocks", {"timeout_s": "20"})
    try:
        tag = os.urandom(3).hex().upper()
        w.sim.stock("KNOWN-" + tag)
        w.sim.faults(system="smtp", timeout_rate=1.0, timeout_ms=30000)
        if not started(w, "mail-blocks"):
            return
        skus = ["NOPE%d-%s" % (i, tag) for i in range(4)]
        t0 = time.monotonic()
        for i, sku in enumerate(skus):
            w.webhook(w.sim.order("MB-%s-%d" % (tag, i), [(sku, 1, 9.5)]))
        seen = {}
        while time.monotonic() - t0 < 25 and len(seen) < len(skus):
            for sku in skus:
                if sku not in seen and w.posts(about(sku)):
                    seen[sku] = round(time.monotonic() - t0, 1)
            time.sleep(0.2)
        rep.check(len(seen) == len(skus) and all(v < 5 for v in seen.values()),
                  "mail-blocks: each exception's webhook post within 5 s while SMTP hangs", seen)
        mail_jobs = w.jobs(None, "alerts_mail") or []
        rep.check(any(j["kind"] == "alert.mail" for j in mail_jobs), "mail-blocks: the mails wait on the alerts_mail lane",
                  [(j["kind"], j["state"]) for j in mail_jobs][:8])
    finally:
        w.close(False)


# ---------------------------------------------------------------- ping-pong

def scenario_ping_pong(args, rep):
    """Both channels dead: the alert jobs die, their dead_job exceptions are
    alerted on no channel (console and digest only), so no chain starts."""
    w = AlertWorld(args, rep, "ping-pong", {"max_attempts": "1"})
    try:
        tag = os.urandom(3).hex().upper()
        w.sim.stock("KNOWN-" + tag)
        w.sim.faults(system="smtp", error_rate=1.0, status=451)
        w.sim.faults(system="alerts", error_rate=1.0, status=503)
        if not started(w, "ping-pong"):
            return
        held_order(w, "NOPE-" + tag, tag)
        def alert_jobs(state):
            return [j for j in (w.jobs(state) or []) if j["kind"].startswith(("alert.", "digest."))]
        ok, _ = w.wait(lambda: len(alert_jobs("dead")) >= 2, 20)
        rep.check(ok, "ping-pong: the first webhook post and mail die")
        time.sleep(15)
        dead, pending = alert_jobs("dead"), alert_jobs("pending")
        dj = w.exceptions(1, "dead_job") or []
        rep.check(len(dead) == 2 and not pending and len(dj) == 2,
                  "ping-pong: two dead alert jobs, their two dead_job exceptions, and no alert about them",
                  {"dead": [(j["kind"], j["subject"]) for j in dead], "pending": [(j["kind"], j["subject"]) for j in pending],
                   "dead_job": len(dj)})
    finally:
        w.close(False)


# ---------------------------------------------------------------- storm

def scenario_storm(args, rep):
    """A stock import refusing 40 lines raises 40 stock_import_line: one
    alert per channel at once, the rest gathered and sent as one summary
    when [alerts] coalesce_s closes (not 40 posts and 40 mails)."""
    w = AlertWorld(args, rep, "storm", {"delay_s": "0", "coalesce_s": "15"},
                   extra={"stock": {"enabled": "true"},
                          "mirakl": {"stock_rate_limits": "sim", "stock_flush_interval_s": "2"}})
    try:
        tag = os.urandom(3).hex().upper()
        codes = ["C%02d-%s" % (i, tag) for i in range(40)]
        w.sim.stock(*codes)
        if not started(w, "storm"):
            return
        ok, _ = w.wait(lambda: len(w.exceptions(1, "stock_import_line") or []) >= 40, 25)
        rep.check(ok, "storm: 40 stock_import_line exceptions open")
        first = len(w.posts(lambda p: "stock_import_line" in post_text(p)))
        summary, secs = w.wait(lambda: w.posts(lambda p: "more stock_import_line" in post_text(p)), 25)
        posts = w.posts(lambda p: "stock_import_line" in post_text(p))
        mails = w.mails(lambda m: "stock_import_line" in m["subject"] + m["text"])
        rep.check(first <= 2 and bool(summary) and len(posts) <= 3 and len(mails) <= 3,
                  "storm: at most one post per window and one summary naming the rest (%.1f s)" % secs,
                  {"posts": len(posts), "mails": len(mails), "first": first})
        text = post_text(summary[0]) if summary else ""
        rep.check(text.count(tag) >= 10 and "more" in text,
                  "storm: the summary names the SKUs gathered (and counts the rest)", [short(text, 600)])
    finally:
        w.close(False)


SCENARIOS = {"once": scenario_once, "transient": scenario_transient, "dead-mail": scenario_dead_mail, "kill9": scenario_kill9,
             "digest": scenario_digest, "mail-blocks": scenario_mail_blocks, "ping-pong": scenario_ping_pong,
             "storm": scenario_storm}


if __name__ == "__main__":
    sys.exit(o.main(SCENARIOS, "kcgate alerts end-to-end tests (against kcgate-sim)"))
