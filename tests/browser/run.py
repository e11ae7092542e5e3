#!/usr/bin/env python3
"""run.py --kcgate BIN --sim BIN console: the console's browser tests.

Sets up the world they look at with the order-flow harness
(tests/e2e/orders.py: a real kcgate against kcgate-sim):
  - an order on a SKU Khaos does not know: held, with its unknown_sku exception;
  - an order Khaos refuses to import: its order.book job is dead (as
    orders.py dead-retry does: Khaos loses an item kcgate still has cached);
  - the stock flow on, so the Overview's stock sync and the SKUs page's
    stock view read the real GET /admin/sync and /admin/stock/{sku};
then runs console.test.mjs with node's own test runner, in Debian's
chromium through playwright-core (tests/browser/node_modules, installed by
./dev test). The browser signs in with the admin token like a person does.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import orders as o  # noqa: E402

CHROMIUM = os.environ.get("KCGATE_CHROMIUM", "/usr/bin/chromium")
NODE_TIMEOUT = 180


def scenario_console(args, rep):
    if not os.access(CHROMIUM, os.X_OK) or not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        rep.fail("console: %s and tests/browser/node_modules/playwright-core are needed: ./dev test installs both "
                 "(apt-get install chromium; npm ci in tests/browser)" % CHROMIUM)
        return
    # the stock flow on too (the Overview's stock sync, the SKUs page's stock view)
    w = o.World(args, rep, "console", {"orders": {"import_refused_after_s": "0"}, "stock": {"enabled": "true"},
                                       "mirakl": {"stock_rate_limits": "sim"}})
    try:
        tag = os.urandom(3).hex().upper()
        gone, known, unknown = "GONE-" + tag, "KNOWN-" + tag, "NEW-" + tag
        w.sim.stock(gone, known)
        if not w.start("console"):
            return
        ok, _ = w.wait(lambda: w.job_done("skus.refresh", "all", "khaos"), 15)
        rep.check(ok, "console: the start-up SKU refresh is done", w.evidence())
        w.wait(lambda: w.job_done("mirakl.poll", "or11", "mirakl"), 10)
        # Khaos loses GONE (kcgate's cache still has it): its order is accepted,
        # booked, and Khaos refuses it: a dead order.book job
        w.sim.ok("POST", "/_sim/reset")
        w.sim.no_dedupe()
        w.sim_webhooks()
        w.sim.stock(known)
        dead_oid = w.sim.order("CON-%s-D" % tag, [(gone, 1, 9.0)])
        held_oid = w.sim.order("CON-%s-H" % tag, [(unknown, 1, 5.0)])
        for oid in (dead_oid, held_oid):
            r = w.webhook(oid)
            rep.check(r.status == 202, "console: webhook for %s acknowledged" % oid, [r.summary()])

        def dead_book():
            return [j for j in w.jobs("dead") or [] if j.get("kind") == "order.book" and j.get("subject") == dead_oid]
        dead, _ = w.wait(dead_book, 20)
        held, _ = w.wait(lambda: (w.order_rec(held_oid) or {}).get("state") == "held", 20)
        unk, _ = w.wait(lambda: w.exceptions(True, "unknown_sku"), 10)
        rep.check(bool(dead) and bool(held) and bool(unk),
                  "console: the world is set: a dead order.book job, a held order, its unknown_sku exception",
                  w.evidence([dead_oid, held_oid]))
        if not (dead and held and unk):
            w.finish("console")
            return
        env = dict(os.environ, KCGATE_URL="https://127.0.0.1:%d" % w.inst.port, KCGATE_TOKEN=w.hs.admin_token,
                   HELD_ORDER=held_oid, HELD_SKU=unknown, DEAD_JOB=dead[0]["id"], KCGATE_CHROMIUM=CHROMIUM,
                   SIM_URL="http://127.0.0.1:%d" % w.sim.port, DEAD_SKU=gone, KNOWN_SKU=known,
                   SCREENSHOT_DIR=w.inst.dir)
        cmd = ["node", "--test", "--test-reporter=spec", os.path.join(HERE, "console.test.mjs")]
        try:
            p = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, timeout=NODE_TIMEOUT)
            out = p.stdout + p.stderr
            rc = p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = "%s\n%s" % (e.stdout, e.stderr), -1
        print(out)
        rep.check(rc == 0, "console: node --test console.test.mjs passes in chromium (exit %s)" % rc,
                  [out[-4000:]] if rc else [])
        w.finish("console")
    finally:
        w.close(rep.failed > 0)


if __name__ == "__main__":
    sys.exit(o.main({"console": scenario_console}, "kcgate console browser tests (chromium, playwright-core)"))
