#!/usr/bin/env python3
"""kcgate end-to-end tests of flow 2 (Khaos stock to Mirakl), against
kcgate-sim: the real kcgate binary over HTTPS, the real simulator.

    stock.py --kcgate PATH --sim PATH [--keep] SCENARIO

Every scenario runs with [mirakl] stock_rate_limits = sim (the flush and
STO02 floors drop to 1 s; kcgate warns) and the sim's own STO01 limit
lowered to match (stock_import_min_interval_ms), so a case takes seconds,
not minutes; the 60 s floor itself is a unit test (test_stock) and a
config test.

SCENARIO is one of:
  buffer        a stock change reaches Mirakl less the buffer ([stock]
                buffer, a [stock.buffers] override); a later change follows
  discontinued  STATUS 4 -> 0 on Mirakl; STATUS 5 -> the offer left alone
  reserved      an order accepted on Mirakl and not booked in Khaos holds
                its quantity back from the published figure; once booked
                (Khaos allocates it), Mirakl never shows it again in between
  batch         1,000 changes inside one flush interval -> exactly one STO01
                with 1,000 lines, all COMPLETE
  error-lines   a SKU with no offer on Mirakl -> an error line, a
                stock_import_line exception; not sent again while nothing
                changed; resolved by hand -> sent again (and refused
                again); the offer created (the fix) -> the drift check
                finds it, it is sent and published, the exception resolved
  stale         the Khaos poll failing past stale_after_s -> stock_sync_stale
                (critical, both ages); Khaos back -> resolved
  drift         Mirakl's quantity changed behind kcgate's back -> stock_drift
                with both figures, repaired by the next import
  ghost         a Mirakl offer whose SKU Khaos does not have -> ghost_sku
  warehouses    [stock.warehouses]: each Khaos site polled, one STO01 line per
                offer and warehouse (the figure per site), a change at one
                site, a drift of the offer's total repaired everywhere
  booked-inflight  an order booked while the import holding its units back
                runs, no Khaos poll after: Mirakl keeps the held-back figure
  booked-sum    one order booked (not yet in a polled level) and another
                accepted: both held back (the sum, not the larger)
  sto02-flat    an import RUNNING for 20 s, production retry settings: STO02
                asked every (flat) interval, COMPLETE seen at once, not after
                an exponential backoff
  unsendable    a Khaos code with a control character: stock_sku_unsendable
                naming it, not dirty, no stock_sync_stale
  bad-item      one STOCK_ITEM kcgate cannot read (a 70-byte code): skipped,
                named in stock_item_unreadable, the rest published
  sale-no-drift an order created on Mirakl lowers its offer (as Mirakl
                does): no stock_drift; more than published still is one
  ghost-gone    a ghost offer deactivated on Mirakl: ghost_sku resolved at
                the next drift check
  quote         SKUs with '"' and ';': published, and the error report (the
                sim's reason quoting the SKU, CSV-escaped) read right
  report-short  STO03 with fewer rows than STO02's lines_in_error: taken as
                no usable report, nothing counted published on a guess
  kill9         kcgate killed with SIGKILL during flushes (2-3 times) while
                300 SKUs change: after the restarts Mirakl shows every
                expected figure, no import left running, no dead job

Output like run.py; exit status 1 on any failure.
"""

import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import orders as o  # noqa: E402  (its Sim and World)
import run as h  # noqa: E402

Report = h.Report


def stock_world(args, rep, name, stock=None, mirakl=None, sim_settings=None, more=None):
    extra = {
        "stock": {"enabled": "true", "poll_interval_s": "1", "poll_overlap_s": "2", "stale_after_s": "30",
                  "drift_check_interval_s": "3600"},
        "mirakl": {"stock_flush_interval_s": "2", "stock_rate_limits": "sim"},
        "orders": {"accept_requires_stock": "true"},
    }
    extra["stock"].update(stock or {})
    extra["mirakl"].update(mirakl or {})
    extra.update(more or {})
    w = o.World(args, rep, name, extra)
    settings = {"import_delay_ms": 300, "stock_import_min_interval_ms": 1000}
    settings.update(sim_settings or {})
    w.sim.ok("POST", "/_sim/mirakl/settings", settings)
    return w


def offers(w, *skus):
    """{sku: quantity} of the sim's Mirakl offers (filtered)."""
    st, j = w.sim.call("GET", "/_sim/state?sku=" + ",".join(skus))
    if st != 200:
        return {}
    return {x["shop_sku"]: x["quantity"] for x in j["mirakl"]["offers"]}


def imports(w):
    return w.sim.state()["mirakl"]["stock_imports"]


def set_offers(w, pairs):
    w.sim.ok("POST", "/_sim/mirakl/offers", {"offers": [{"shop_sku": s, "quantity": q} for s, q in pairs]})


def khaos(w, items):
    w.sim.ok("POST", "/_sim/khaos/stock", {"items": items})


def wait_offers(w, want, timeout):
    """Until the sim's offers show @p want ({sku: quantity}); (ok, secs, last)."""
    last = {}

    def ok():
        last.clear()
        last.update(offers(w, *want))
        return all(last.get(k) == v for k, v in want.items())
    v, secs = w.wait(ok, timeout, 0.2)
    return bool(v), secs, dict(last)


def open_exc(w, kind):
    return w.exceptions(1, kind) or []


def wait_exc(w, kind, subject, want_open, timeout):
    def check():
        ex = [e for e in (w.exceptions(None, kind) or []) if e.get("subject") == subject]
        if not ex:
            return None
        is_open = ex[0].get("resolved_at") is None
        return ex[0] if is_open == want_open else None
    return w.wait(check, timeout, 0.25)


def stock_view(w, sku):
    return w.aget("/admin/stock/" + sku)


def evidence(w, skus=()):
    out = []
    for s in list(skus)[:3]:
        out.append("admin stock %s: %s" % (s, h.short(json.dumps(stock_view(w, s)), 400)))
    out.append("admin sync: %s" % h.short(json.dumps(w.aget("/admin/sync")), 400))
    try:
        out.append("sim imports: %s" % h.short(json.dumps(imports(w)[-5:]), 400))
    except (OSError, AssertionError, ValueError) as e:
        out.append("sim state unavailable: %r" % e)
    return out + w.inst.log_tail(10)


# ---------------------------------------------------------------- scenarios

def scenario_buffer(args, rep):
    w = stock_world(args, rep, "buffer", stock={"buffer": "2"}, more={"stock.buffers": {"SKU-B": "0"}})
    try:
        set_offers(w, [("SKU-A", 0), ("SKU-B", 0)])
        khaos(w, [{"code": "SKU-A", "available": 10}, {"code": "SKU-B", "available": 3}])
        if not w.start("buffer"):
            return
        ok, secs, last = wait_offers(w, {"SKU-A": 8, "SKU-B": 3}, 20)
        rep.check(ok, "buffer: Mirakl shows Khaos's level less the buffer (10-2=8; SKU-B's [stock.buffers] 0: 3) "
                  "in %.1f s" % secs,
                  [json.dumps(last)] + ([] if ok else evidence(w, ["SKU-A"])))
        view, _ = w.wait(lambda: (lambda v: v if (v.get("last_published") or {}).get("quantity") == 8 else None)(
            stock_view(w, "SKU-A") or {}), 10)
        view = view or stock_view(w, "SKU-A") or {}
        rep.check(view.get("buffer") == 2 and view.get("publishable") == 8 and
                  (view.get("last_published") or {}).get("quantity") == 8,
                  "buffer: GET /admin/stock/SKU-A shows level, buffer, publishable and the last published",
                  [json.dumps(view)])
        khaos(w, [{"code": "SKU-A", "available": 1}])
        ok, secs, last = wait_offers(w, {"SKU-A": 0}, 15)
        rep.check(ok, "buffer: a level below the buffer publishes 0, never less (%.1f s)" % secs, [json.dumps(last)])
        khaos(w, [{"code": "SKU-B", "available": 40}])
        ok, secs, last = wait_offers(w, {"SKU-B": 40}, 15)
        rep.check(ok, "buffer: a later change follows (40, %.1f s)" % secs, [json.dumps(last)])
        sync = w.aget("/admin/sync") or {}
        rep.check(sync.get("last_import", {}).get("status") == "COMPLETE" and sync.get("stale") is False,
                  "buffer: GET /admin/sync shows the last import COMPLETE, not stale", [json.dumps(sync)])
        st, metrics = w.admin("GET", "/metrics")
        rep.check(st == 200 and "kcgate_stock_dirty" in str(metrics) and "kcgate_stock_poll_age_seconds" in str(metrics),
                  "buffer: /metrics carries the stock gauges", [h.short(str(metrics), 300)])
        w.finish("buffer")
    finally:
        w.close(rep.failed > 0)


def scenario_discontinued(args, rep):
    w = stock_world(args, rep, "discontinued", stock={"buffer": "1"})
    try:
        set_offers(w, [("SKU-D", 7), ("SKU-N", 42), ("SKU-C", 0)])
        khaos(w, [{"code": "SKU-D", "available": 10, "status": 4}, {"code": "SKU-N", "available": 0, "status": 5},
                  {"code": "SKU-C", "available": 5, "status": 0}])
        if not w.start("discontinued"):
            return
        ok, secs, last = wait_offers(w, {"SKU-D": 0, "SKU-C": 4}, 20)
        rep.check(ok, "discontinued: STATUS 4 -> 0 on Mirakl whatever the level (%.1f s)" % secs,
                  [json.dumps(last)] + ([] if ok else evidence(w, ["SKU-D"])))
        time.sleep(3)
        rep.check(offers(w, "SKU-N").get("SKU-N") == 42,
                  "discontinued: STATUS 5 (not stock-controlled) leaves the offer alone (uncontrolled_quantity = leave)",
                  [json.dumps(offers(w, "SKU-N")), json.dumps(stock_view(w, "SKU-N"))])
        w.finish("discontinued")
    finally:
        w.close(rep.failed > 0)


def scenario_reserved(args, rep):
    # polls slower than flushes: the window between a booking and the next
    # poll spans several flushes (where a released reservation would show)
    w = stock_world(args, rep, "reserved", stock={"poll_interval_s": "4"}, mirakl={"stock_flush_interval_s": "1"})
    try:
        # accepted on Mirakl, not booked in Khaos: the debit takes minutes
        w.sim_webhooks(debit_delay_ms=600000)
        w.sim.ok("POST", "/_sim/khaos/settings", {"allocate": True})  # Khaos allocates what it books
        set_offers(w, [("SKU-R", 0)])
        khaos(w, [{"code": "SKU-R", "available": 10}])
        if not w.start("reserved"):
            return
        ok, secs, last = wait_offers(w, {"SKU-R": 10}, 20)
        rep.check(ok, "reserved: before any order Mirakl shows the level (%.1f s)" % secs, [json.dumps(last)])
        oid = w.sim.order("R-1", [("SKU-R", 3, 5.0)])
        w.webhook(oid)
        # Mirakl itself takes the 3 off the offer as the order is created (the
        # sim does too): kcgate's own publication of 7 is what shows the hold
        pub, secs = w.wait(lambda: ((stock_view(w, "SKU-R") or {}).get("last_published") or {}).get("quantity") == 7,
                           25, 0.2)
        ok, _, last = wait_offers(w, {"SKU-R": 7}, 5)
        rec = w.order_rec(oid) or {}
        rep.check(bool(pub) and ok, "reserved: an order accepted and not booked holds its 3 back (kcgate publishes "
                  "10-3=7, %.1f s; order %s)" % (secs, rec.get("state")),
                  [json.dumps(last)] + ([] if pub and ok else evidence(w, ["SKU-R"])))
        view = stock_view(w, "SKU-R") or {}
        rep.check(view.get("reserved") == 3, "reserved: GET /admin/stock shows the reserved 3", [json.dumps(view)])
        # the debit ends, kcgate books the order: Khaos allocates the 3 (LEVEL 7) and
        # the reservation ends; Mirakl must never show the 3 again meanwhile
        w.sim.ok("POST", "/_sim/mirakl/orders/%s/debit" % oid, {"fail": False})
        seen, t0, t_booked = [], time.monotonic(), None
        while time.monotonic() - t0 < w.budget(20):
            q = offers(w, "SKU-R").get("SKU-R")
            seen.append(q)
            booked = (w.order_rec(oid) or {}).get("state") in ("booked", "shipped")
            if booked and t_booked is None:
                t_booked = time.monotonic()
            if t_booked is not None and time.monotonic() - t_booked > 7:
                break  # past the next poll, two imports later
            time.sleep(0.05)
        st = w.sim.state()["khaos"]
        rep.check(booked and max(x for x in seen if x is not None) == 7 and seen[-1] == 7 and
                  st["stock"][0]["available"] == 7,
                  "reserved: booked in Khaos (LEVEL 10 -> 7): Mirakl shows 7 throughout, never 10 between the "
                  "booking and the next poll (%d samples)" % len(seen),
                  ["samples: %s" % sorted(set(x for x in seen if x is not None)),
                   json.dumps(stock_view(w, "SKU-R"))])
        w.finish("reserved")
    finally:
        w.close(rep.failed > 0)


def _timeline(w, oid, sku, secs):
    """(samples, booked) of the sim's offer quantity for @p secs."""
    seen, t0, booked = [], time.monotonic(), False
    while time.monotonic() - t0 < secs:
        seen.append(offers(w, sku).get(sku))
        booked = booked or (w.order_rec(oid) or {}).get("state") in ("booked", "shipped")
        time.sleep(0.1)
    return [x for x in seen if x is not None], booked


def scenario_booked_inflight(args, rep):
    # review repro 2: the booking lands while the import carrying the held-back
    # figure runs; no poll for a minute: the figure must stay 7, never 10 again
    w = stock_world(args, rep, "booked-inflight", stock={"poll_interval_s": "60"},
                    mirakl={"stock_flush_interval_s": "1"}, sim_settings={"import_delay_ms": 4000})
    try:
        w.sim_webhooks(debit_delay_ms=3000)
        w.sim.ok("POST", "/_sim/khaos/settings", {"allocate": True})
        set_offers(w, [("SKU-R", 0)])
        khaos(w, [{"code": "SKU-R", "available": 10}])
        if not w.start("booked-inflight"):
            return
        ok, secs, last = wait_offers(w, {"SKU-R": 10}, 20)
        rep.check(ok, "booked-inflight: Mirakl shows the level 10 (%.1f s)" % secs, [json.dumps(last)])
        w.wait(lambda: not (w.aget("/admin/sync") or {}).get("current_import"), 10)
        oid = w.sim.order("R-2", [("SKU-R", 3, 5.0)])
        w.webhook(oid)
        ok, secs, last = wait_offers(w, {"SKU-R": 7}, 15)
        seen, booked = _timeline(w, oid, "SKU-R", 16)
        rep.check(ok and booked and seen and max(seen) == 7 and seen[-1] == 7,
                  "booked-inflight: booked while its import ran (Khaos LEVEL 7, not polled): Mirakl shows 7 "
                  "throughout, never 10 again", ["samples: %s" % sorted(set(seen)),
                                                 json.dumps(stock_view(w, "SKU-R"))])
        w.finish("booked-inflight")
    finally:
        w.close(rep.failed > 0)


def scenario_booked_sum(args, rep):
    # review repro 3: A booked (Khaos LEVEL 10 -> 7, not polled yet), B accepted:
    # held back is A's 3 booked-unseen plus B's 3 reserved: 10 - 6 = 4
    w = stock_world(args, rep, "booked-sum", stock={"poll_interval_s": "40"}, mirakl={"stock_flush_interval_s": "1"})
    try:
        w.sim_webhooks(debit_delay_ms=600000)
        w.sim.ok("POST", "/_sim/khaos/settings", {"allocate": True})
        set_offers(w, [("SKU-R", 0)])
        khaos(w, [{"code": "SKU-R", "available": 10}])
        if not w.start("booked-sum"):
            return
        ok, secs, last = wait_offers(w, {"SKU-R": 10}, 20)
        rep.check(ok, "booked-sum: Mirakl shows the level 10 (%.1f s)" % secs, [json.dumps(last)])
        a = w.sim.order("R-A", [("SKU-R", 3, 5.0)])
        w.webhook(a)
        # Mirakl takes A's 3 off at creation: wait for kcgate's acceptance and its own 7
        ok, secs = w.wait(lambda: (w.order_rec(a) or {}).get("state") == "accepted" and
                          ((stock_view(w, "SKU-R") or {}).get("last_published") or {}).get("quantity") == 7, 20, 0.2)
        rep.check(bool(ok), "booked-sum: order A accepted, its 3 held back (kcgate publishes 7)",
                  [json.dumps(stock_view(w, "SKU-R"))])
        w.sim.ok("POST", "/_sim/mirakl/orders/%s/debit" % a, {"fail": False})
        booked, _ = w.wait(lambda: (w.order_rec(a) or {}).get("state") in ("booked", "shipped"), 20, 0.1)
        b = w.sim.order("R-B", [("SKU-R", 3, 5.0)])
        w.webhook(b)
        acc, _ = w.wait(lambda: (w.order_rec(b) or {}).get("state") == "accepted", 20, 0.1)
        # Mirakl took both orders' units off the offer itself: kcgate's own
        # figure (and what it publishes) is what must be 4
        fig, _ = w.wait(lambda: (stock_view(w, "SKU-R") or {}).get("publishable") == 4 and
                        ((stock_view(w, "SKU-R") or {}).get("last_published") or {}).get("quantity") == 4, 10, 0.2)
        ok, secs, last = wait_offers(w, {"SKU-R": 4}, 5)
        seen, _ = _timeline(w, b, "SKU-R", 4)
        view = stock_view(w, "SKU-R") or {}
        rep.check(bool(booked) and bool(acc) and bool(fig) and ok and seen and max(seen) == 4 and
                  view.get("publishable") == 4,
                  "booked-sum: A booked and unseen by a poll, B reserved: kcgate publishes 10-3-3 = 4, not 7",
                  ["samples: %s" % sorted(set(seen)), json.dumps(last), json.dumps(view)])
        w.finish("booked-sum")
    finally:
        w.close(rep.failed > 0)


def scenario_sto02_flat(args, rep):
    # review: WAITING/RUNNING was a failure to the engine, its backoff doubling
    # (production retry settings): a 20 s import was seen COMPLETE 25-40 s late
    delay = 20
    w = stock_world(args, rep, "sto02-flat", more={"jobs": {"retry_base_ms": "1000", "retry_max_s": "3600"}},
                    sim_settings={"import_delay_ms": delay * 1000})
    try:
        set_offers(w, [("SKU-A", 0)])
        khaos(w, [{"code": "SKU-A", "available": 4}])
        if not w.start("sto02-flat"):
            return
        sent, _ = w.wait(lambda: imports(w), 20, 0.1)
        t0 = time.monotonic()
        done, _ = w.wait(lambda: (w.aget("/admin/sync") or {}).get("last_complete_ms"), delay + 30, 0.25)
        secs = time.monotonic() - t0
        rep.check(bool(sent) and bool(done) and secs < delay + 3,
                  "sto02-flat: an import COMPLETE after %d s is seen within the flat STO02 interval (%.1f s)"
                  % (delay, secs), evidence(w, ["SKU-A"]))
        dead = w.jobs("dead")
        rep.check(dead == [], "sto02-flat: no dead job", [h.short(json.dumps(dead), 600)])
        w.finish("sto02-flat")
    finally:
        w.close(rep.failed > 0)


def scenario_unsendable(args, rep):
    # review: a code no STO01 line can carry stayed dirty for ever and kept
    # stock_sync_stale (critical) open
    w = stock_world(args, rep, "unsendable", stock={"stale_after_s": "6"})
    try:
        set_offers(w, [("SKU-A", 0)])
        khaos(w, [{"code": "SKU-A", "available": 4}, {"code": "BAD\tX", "available": 3}])
        if not w.start("unsendable"):
            return
        ok, secs, last = wait_offers(w, {"SKU-A": 4}, 20)
        rep.check(ok, "unsendable: the good code is published (%.1f s)" % secs, [json.dumps(last)])
        exc, _ = wait_exc(w, "stock_sku_unsendable", "BAD\\x09X", True, 10)
        rep.check(bool(exc) and (exc or {}).get("owner") == "ecommerce",
                  "unsendable: stock_sku_unsendable names the code (owner ecommerce)",
                  [h.short(json.dumps(w.exceptions(None, "stock_sku_unsendable")), 600)])
        time.sleep(10)  # past stale_after_s
        sync = w.aget("/admin/sync") or {}
        stale = [e for e in open_exc(w, "stock_sync_stale")]
        rep.check(sync.get("dirty") == 0 and not stale,
                  "unsendable: it is not dirty, and stock_sync_stale is not raised for it",
                  [json.dumps(sync), h.short(json.dumps(stale), 400)])
        w.finish("unsendable")
    finally:
        w.close(rep.failed > 0)


def scenario_bad_item(args, rep):
    # review: one STOCK_ITEM kcgate cannot read (a code of 64 bytes or more)
    # failed the whole answer, freezing the catalogue
    w = stock_world(args, rep, "bad-item")
    try:
        long_code = "L" * 70
        set_offers(w, [("SKU-A", 0), ("SKU-B", 0)])
        khaos(w, [{"code": "SKU-A", "available": 4}, {"code": long_code, "available": 3}])
        if not w.start("bad-item"):
            return
        ok, secs, last = wait_offers(w, {"SKU-A": 4}, 20)
        rep.check(ok, "bad-item: the readable item is published despite the unreadable one (%.1f s)" % secs,
                  [json.dumps(last)] + ([] if ok else evidence(w, ["SKU-A"])))
        exc, _ = wait_exc(w, "stock_item_unreadable", "ExportStockStatus", True, 10)
        rep.check(bool(exc) and exc.get("owner") == "operations" and long_code[:40] in exc.get("message", ""),
                  "bad-item: one stock_item_unreadable (owner operations) names the item",
                  [h.short(json.dumps(exc), 600)])
        khaos(w, [{"code": "SKU-B", "available": 6}])
        ok, secs, last = wait_offers(w, {"SKU-B": 6}, 20)
        rep.check(ok, "bad-item: later changes still flow (%.1f s)" % secs, [json.dumps(last)])
        w.finish("bad-item")
    finally:
        w.close(rep.failed > 0)


def scenario_batch(args, rep, n=1000):
    w = stock_world(args, rep, "batch", mirakl={"stock_flush_interval_s": "6"})
    try:
        skus = ["B-%07d" % i for i in range(n)]  # the sim's generated names
        w.sim.ok("POST", "/_sim/mirakl/offers", {"generate": {"count": n, "prefix": "B-", "quantity": 0,
                                                             "start": 0}})
        khaos(w, [{"code": s, "available": 5} for s in skus])
        if not w.start("batch"):
            return
        ok, secs, last = wait_offers(w, {skus[0]: 5, skus[-1]: 5}, 30)
        rep.check(ok, "batch: the first catalogue is published (%.1f s)" % secs, [json.dumps(last)])
        quiet, _ = w.wait(lambda: not (w.aget("/admin/sync") or {}).get("current_import") and
                          (w.aget("/admin/sync") or {}).get("dirty") == 0, 15)
        before = len(imports(w))
        # 1,000 changes well inside one interval (6 s)
        khaos(w, [{"code": s, "available": 9} for s in skus])
        ok, secs, last = wait_offers(w, {skus[0]: 9, skus[n // 2]: 9, skus[-1]: 9}, 30)
        after = imports(w)[before:]
        rep.check(ok and len(after) == 1 and after[0]["lines"] == n and after[0]["status"] == "COMPLETE" and
                  after[0]["lines_in_error"] == 0,
                  "batch: %d changes -> exactly one STO01 with %d lines, COMPLETE (%.1f s)" % (n, n, secs),
                  [json.dumps(after), json.dumps(last)])
        st, j = w.sim.call("GET", "/_sim/state?sku=" + ",".join(skus[::97]))
        rep.check(all(x["quantity"] == 9 for x in j["mirakl"]["offers"]) and len(j["mirakl"]["offers"]) == len(skus[::97]),
                  "batch: every sampled offer shows the new figure", [h.short(json.dumps(j["mirakl"]["offers"]), 300)])
        w.finish("batch")
    finally:
        w.close(rep.failed > 0)


def scenario_error_lines(args, rep):
    w = stock_world(args, rep, "error-lines", stock={"drift_check_interval_s": "4"})
    try:
        set_offers(w, [("SKU-OK", 0)])
        khaos(w, [{"code": "SKU-OK", "available": 5}, {"code": "SKU-NOOFFER", "available": 6}])
        if not w.start("error-lines"):
            return
        ex, secs = wait_exc(w, "stock_import_line", "SKU-NOOFFER", True, 20)
        rep.check(bool(ex) and "does not exist" in (ex or {}).get("message", "") and ex.get("owner") == "ecommerce",
                  "error-lines: the refused line is a stock_import_line exception with Mirakl's reason (%.1f s)" % secs,
                  [json.dumps(ex)] + ([] if ex else evidence(w, ["SKU-NOOFFER"])))
        rep.check(offers(w, "SKU-OK").get("SKU-OK") == 5,
                  "error-lines: the good line of the same import is published", [json.dumps(offers(w, "SKU-OK"))])
        view = stock_view(w, "SKU-NOOFFER") or {}
        rep.check(view.get("last_published", {}).get("quantity") is None and view.get("refused") == 6,
                  "error-lines: the refused SKU does not count as published", [json.dumps(view)])
        # other SKUs change: flushes go on, the refused one is not in them
        n0 = len(imports(w))
        khaos(w, [{"code": "SKU-OK", "available": 8}])
        ok, _, _ = wait_offers(w, {"SKU-OK": 8}, 15)
        later = imports(w)[n0:]
        rep.check(ok and later and all(i["lines_in_error"] == 0 for i in later),
                  "error-lines: later imports leave the refused SKU out until a fix", [json.dumps(later)])
        # resolved by hand (the offer still missing): sent again at the next
        # flush, refused again, the exception reopened
        n1 = len(imports(w))
        ex = [e for e in open_exc(w, "stock_import_line") if e.get("subject") == "SKU-NOOFFER"]
        st, _ = w.admin("POST", "/admin/exceptions/%s/resolve" % (ex[0]["id"] if ex else "none"))
        again, secs = w.wait(lambda: [i for i in imports(w)[n1:] if i["status"] == "COMPLETE" and i["lines_in_error"]],
                             15)
        ex2, _ = wait_exc(w, "stock_import_line", "SKU-NOOFFER", True, 10)
        rep.check(st == 200 and bool(again) and bool(ex2),
                  "error-lines: resolved by hand -> sent again at the next flush, refused again, reopened (%.1f s)"
                  % secs, [json.dumps(imports(w)[n1:]), json.dumps(ex2)])
        # the fix: the offer exists on Mirakl now; the drift check finds it
        set_offers(w, [("SKU-NOOFFER", 0)])
        ok, secs, last = wait_offers(w, {"SKU-NOOFFER": 6}, 25)
        rep.check(ok, "error-lines: after the fix the SKU is sent again and published (%.1f s)" % secs,
                  [json.dumps(last)] + ([] if ok else evidence(w, ["SKU-NOOFFER"])))
        ex, secs = wait_exc(w, "stock_import_line", "SKU-NOOFFER", False, 10)
        rep.check(bool(ex), "error-lines: the stock_import_line exception is resolved", [json.dumps(ex)])
        w.finish("error-lines")
    finally:
        w.close(rep.failed > 0)


def scenario_stale(args, rep):
    w = stock_world(args, rep, "stale", stock={"stale_after_s": "5"})
    try:
        set_offers(w, [("SKU-S", 0)])
        khaos(w, [{"code": "SKU-S", "available": 4}])
        if not w.start("stale"):
            return
        ok, _, _ = wait_offers(w, {"SKU-S": 4}, 20)
        rep.check(ok and not open_exc(w, "stock_sync_stale"), "stale: fresh at first, no stock_sync_stale")
        w.sim.faults(system="khaos", error_rate=1.0, status=500)
        ex, secs = wait_exc(w, "stock_sync_stale", "stock", True, 25)
        rep.check(bool(ex) and ex.get("severity") == "critical" and ex.get("owner") == "operations" and
                  "poll was" in ex.get("message", "") and "import" in ex.get("message", ""),
                  "stale: the Khaos poll failing past 5 s -> stock_sync_stale, critical, both ages (%.1f s)" % secs,
                  [json.dumps(ex)] + ([] if ex else evidence(w)))
        sync = w.aget("/admin/sync") or {}
        rep.check(sync.get("stale") is True and sync.get("poll_age_s", 0) >= 5 and
                  sync.get("open_exceptions", {}).get("stock_sync_stale") == 1,
                  "stale: GET /admin/sync says stale with the poll's age", [json.dumps(sync)])
        w.sim.ok("POST", "/_sim/faults", {"system": "khaos", "clear": True})
        ex, secs = wait_exc(w, "stock_sync_stale", "stock", False, 25)
        rep.check(bool(ex), "stale: Khaos back -> stock_sync_stale resolved (%.1f s)" % secs,
                  [] if ex else evidence(w))
        w.finish("stale")
    finally:
        w.close(rep.failed > 0)


def scenario_drift(args, rep):
    w = stock_world(args, rep, "drift", stock={"drift_check_interval_s": "3"})
    try:
        set_offers(w, [("SKU-X", 0), ("SKU-Y", 0)])
        khaos(w, [{"code": "SKU-X", "available": 12}, {"code": "SKU-Y", "available": 2}])
        if not w.start("drift"):
            return
        ok, secs, last = wait_offers(w, {"SKU-X": 12, "SKU-Y": 2}, 20)
        rep.check(ok, "drift: published first (%.1f s)" % secs, [json.dumps(last)])
        set_offers(w, [("SKU-X", 99)])  # someone changed it on Mirakl
        ex, secs = wait_exc(w, "stock_drift", "SKU-X", True, 20)
        rep.check(bool(ex) and "99" in ex.get("message", "") and "12" in ex.get("message", ""),
                  "drift: detected as stock_drift with both figures (%.1f s)" % secs,
                  [json.dumps(ex)] + ([] if ex else evidence(w, ["SKU-X"])))
        ok, secs, last = wait_offers(w, {"SKU-X": 12}, 20)
        rep.check(ok, "drift: repaired by the next import (%.1f s)" % secs, [json.dumps(last)])
        ex, _ = wait_exc(w, "stock_drift", "SKU-X", False, 10)
        rep.check(bool(ex), "drift: stock_drift resolved once Mirakl took the figure again")
        rep.check(not [e for e in open_exc(w, "stock_drift") if e.get("subject") == "SKU-Y"],
                  "drift: an offer that matches raises nothing")
        w.finish("drift")
    finally:
        w.close(rep.failed > 0)


def scenario_ghost(args, rep):
    w = stock_world(args, rep, "ghost", stock={"drift_check_interval_s": "3"})
    try:
        set_offers(w, [("SKU-LIVE", 0), ("SKU-GHOST", 5)])
        khaos(w, [{"code": "SKU-LIVE", "available": 3}])
        if not w.start("ghost"):
            return
        ex, secs = wait_exc(w, "ghost_sku", "SKU-GHOST", True, 20)
        rep.check(bool(ex) and ex.get("owner") == "ecommerce",
                  "ghost: a Mirakl offer whose SKU Khaos does not have -> ghost_sku (%.1f s)" % secs,
                  [json.dumps(ex)] + ([] if ex else evidence(w)))
        rep.check(not [e for e in open_exc(w, "ghost_sku") if e.get("subject") == "SKU-LIVE"],
                  "ghost: an offer of an active stock code is no ghost")
        khaos(w, [{"code": "SKU-GHOST", "available": 1}])
        ex, secs = wait_exc(w, "ghost_sku", "SKU-GHOST", False, 15)
        rep.check(bool(ex), "ghost: the SKU appears in Khaos -> ghost_sku resolved (%.1f s)" % secs)
        w.finish("ghost")
    finally:
        w.close(rep.failed > 0)


def scenario_sale_no_drift(args, rep):
    # review: Mirakl lowers an offer as an order is created; the drift check
    # took every sale for a drift. Only more than published is one.
    w = stock_world(args, rep, "sale-no-drift", stock={"drift_check_interval_s": "2"})
    try:
        # no webhooks, and the next OR11 poll a minute away: kcgate does not
        # hear of the order, only Mirakl's offer shows it
        set_offers(w, [("SKU-S", 0)])
        khaos(w, [{"code": "SKU-S", "available": 10}])
        if not w.start("sale-no-drift"):
            return
        ok, secs, last = wait_offers(w, {"SKU-S": 10}, 20)
        rep.check(ok, "sale-no-drift: Mirakl shows 10 (%.1f s)" % secs, [json.dumps(last)])
        time.sleep(3)  # a drift check with nothing to say
        w.sim.order("S-1", [("SKU-S", 3, 5.0)])
        ok, _, last = wait_offers(w, {"SKU-S": 7}, 5)
        rep.check(ok, "sale-no-drift: the sim takes the 3 off the offer as Mirakl does", [json.dumps(last)])
        seen, t0 = [], time.monotonic()
        while time.monotonic() - t0 < 6:  # three drift checks
            seen.append(offers(w, "SKU-S").get("SKU-S"))
            time.sleep(0.2)
        ex = [e for e in (w.exceptions(None, "stock_drift") or []) if e.get("subject") == "SKU-S"]
        rep.check(not ex and set(seen) == {7},
                  "sale-no-drift: an order's units taken off on Mirakl are no stock_drift, and kcgate does not "
                  "put them back (3 checks)", ["samples: %s" % sorted(set(x for x in seen if x is not None)),
                                               h.short(json.dumps(ex), 500)])
        set_offers(w, [("SKU-S", 40)])  # more than published: the overselling side
        ex, secs = wait_exc(w, "stock_drift", "SKU-S", True, 15)
        rep.check(bool(ex), "sale-no-drift: Mirakl showing more than published is stock_drift (%.1f s)" % secs)
        w.finish("sale-no-drift")
    finally:
        w.close(rep.failed > 0)


def scenario_ghost_gone(args, rep):
    # review: ghost_sku never resolved once the operator deleted or
    # deactivated the offer
    w = stock_world(args, rep, "ghost-gone", stock={"drift_check_interval_s": "2"})
    try:
        set_offers(w, [("SKU-LIVE", 0), ("SKU-G1", 5)])
        khaos(w, [{"code": "SKU-LIVE", "available": 3}])
        if not w.start("ghost-gone"):
            return
        ex, secs = wait_exc(w, "ghost_sku", "SKU-G1", True, 20)
        rep.check(bool(ex), "ghost-gone: ghost_sku for the offer Khaos does not have (%.1f s)" % secs)
        w.sim.ok("POST", "/_sim/mirakl/offers", {"offers": [{"shop_sku": "SKU-G1", "quantity": 5, "active": False}]})
        ex, secs = wait_exc(w, "ghost_sku", "SKU-G1", False, 15)
        rep.check(bool(ex), "ghost-gone: the offer deactivated on Mirakl (OF21 active false) -> ghost_sku "
                  "resolved at the next drift check (%.1f s)" % secs,
                  [h.short(json.dumps(w.exceptions(None, "ghost_sku")), 500)])
        w.finish("ghost-gone")
    finally:
        w.close(rep.failed > 0)


def scenario_quote(args, rep):
    # review: the sim's STO03 did not CSV-escape its reason (which quotes the
    # offer-sku): a SKU with a quote and a ';' broke the report
    w = stock_world(args, rep, "quote")
    try:
        good, bad = 'Q"X;1', 'N"O;OFFER'
        set_offers(w, [(good, 0), ("SKU-A", 0)])
        khaos(w, [{"code": good, "available": 4}, {"code": bad, "available": 3}, {"code": "SKU-A", "available": 2}])
        if not w.start("quote"):
            return
        ok, secs, last = wait_offers(w, {good: 4, "SKU-A": 2}, 20)
        rep.check(ok, "quote: SKUs with quotes and ';' are published (%.1f s)" % secs, [json.dumps(last)])
        ex, secs = wait_exc(w, "stock_import_line", bad, True, 15)
        rep.check(bool(ex) and ("The offer with sku '%s' does not exist" % bad) in ex.get("message", ""),
                  "quote: the offer Mirakl does not have is a stock_import_line with the sim's reason (%.1f s)" % secs,
                  [h.short(json.dumps(w.exceptions(None, "stock_import_line")), 600)] + ([] if ex else evidence(w)))
        rep.check(w.jobs("dead") == [], "quote: no dead job", [h.short(json.dumps(w.jobs("dead")), 500)])
        w.finish("quote")
    finally:
        w.close(rep.failed > 0)


def scenario_report_short(args, rep):
    # review: STO03's rows were trusted without checking them against STO02's
    # lines_in_error: a report missing a row had that SKU counted published
    w = stock_world(args, rep, "report-short", sim_settings={"error_report_drop": 1})
    try:
        set_offers(w, [("SKU-OK", 0)])
        khaos(w, [{"code": "SKU-OK", "available": 4}, {"code": "NO-1", "available": 1},
                  {"code": "NO-2", "available": 2}])
        if not w.start("report-short"):
            return
        v, secs = w.wait(lambda: ((w.aget("/admin/sync") or {}).get("last_import") or {}).get("status"), 20, 0.2)
        views = {k: ((stock_view(w, k) or {}).get("last_published") or {}).get("quantity")
                 for k in ("SKU-OK", "NO-1", "NO-2")}
        rep.check(v == "COMPLETE_WITHOUT_REPORT" and views["NO-1"] is None and views["NO-2"] is None,
                  "report-short: a report of 1 row for 2 lines in error is no usable report: no SKU counted "
                  "published on a guess (%s)" % v, [json.dumps(views), json.dumps(w.aget("/admin/sync"))])
        w.finish("report-short")
    finally:
        w.close(rep.failed > 0)


def offer_states(w, *skus):
    st, j = w.sim.call("GET", "/_sim/state?sku=" + ",".join(skus))
    return {x["shop_sku"]: x for x in j["mirakl"]["offers"]} if st == 200 else {}


def scenario_warehouses(args, rep):
    w = stock_world(args, rep, "warehouses", stock={"buffer": "1", "drift_check_interval_s": "3"},
                    more={"stock.warehouses": {"1": "WH-A", "2": "WH-B"}},
                    sim_settings={"warehouses": ["WH-A", "WH-B"]})
    try:
        set_offers(w, [("SKU-W", 0), ("SKU-V", 0)])
        khaos(w, [{"code": "SKU-W", "levels": {"1": 5, "2": 7}}, {"code": "SKU-V", "levels": {"1": 0, "2": 3}}])
        if not w.start("warehouses"):
            return
        want = {"SKU-W": {"WH-A": 4, "WH-B": 6}, "SKU-V": {"WH-A": 0, "WH-B": 2}}

        def per_wh():
            got = offer_states(w, "SKU-W", "SKU-V")
            return got if all(got.get(k, {}).get("warehouses") == v for k, v in want.items()) else None
        got, secs = w.wait(per_wh, 20)
        rep.check(bool(got) and got["SKU-W"]["quantity"] == 10,
                  "warehouses: each Khaos site's level, less the buffer, reaches its Mirakl warehouse (%.1f s)" % secs,
                  [json.dumps(offer_states(w, "SKU-W", "SKU-V"))] + ([] if got else evidence(w)))
        ims = imports(w)
        rep.check(len(ims) >= 1 and ims[0]["lines"] == 4 and ims[0]["lines_in_error"] == 0,
                  "warehouses: one import, one line per offer and warehouse", [json.dumps(ims)])
        view = stock_view(w, "SKU-W") or {}
        lines = {x.get("warehouse"): x for x in view.get("warehouses", [])}
        rep.check(lines.get("WH-A", {}).get("khaos", {}).get("level") == 5 and
                  lines.get("WH-B", {}).get("publishable") == 6,
                  "warehouses: GET /admin/stock shows each warehouse's figure", [json.dumps(view)])
        khaos(w, [{"code": "SKU-W", "levels": {"1": 9, "2": 7}}])
        want["SKU-W"] = {"WH-A": 8, "WH-B": 6}
        got, secs = w.wait(per_wh, 15)
        rep.check(bool(got), "warehouses: a change at one site moves that warehouse only (%.1f s)" % secs,
                  [json.dumps(offer_states(w, "SKU-W"))])
        # drift: Mirakl's total no longer the sum kcgate published -> every warehouse sent again
        set_offers(w, [("SKU-V", 50)])
        ex, secs = wait_exc(w, "stock_drift", "SKU-V", True, 15)
        got, secs2 = w.wait(per_wh, 15)
        rep.check(bool(ex) and bool(got),
                  "warehouses: a drift of the offer's total is seen (%.1f s) and every warehouse repaired (%.1f s)"
                  % (secs, secs2), [json.dumps(ex), json.dumps(offer_states(w, "SKU-V"))])
        w.finish("warehouses")
    finally:
        w.close(rep.failed > 0)


def scenario_kill9(args, rep, n=300):
    w = stock_world(args, rep, "kill9", mirakl={"stock_flush_interval_s": "1"},
                    sim_settings={"import_delay_ms": 800})
    try:
        seed = random.randrange(1 << 30)
        rnd = random.Random(seed)
        skus = ["K-%04d" % i for i in range(n)]
        set_offers(w, [(s, 0) for s in skus])
        want = {s: 1 for s in skus}
        khaos(w, [{"code": s, "available": 1} for s in skus])
        if not w.start("kill9"):
            return
        kills = []
        for round_ in range(rnd.choice((2, 3))):
            change = rnd.sample(skus, 100)
            items = []
            for s in change:
                want[s] = rnd.randrange(0, 50)
                items.append({"code": s, "available": want[s]})
            khaos(w, items)
            # kill while an import is in flight (or about to be)
            cur, _ = w.wait(lambda: (w.aget("/admin/sync") or {}).get("current_import"), 6, 0.02)
            time.sleep(rnd.uniform(0, 0.3))
            w.inst.kill9()
            kills.append(cur)
            if not w.start("kill9: restart %d" % len(kills)):
                return
        rep.check(any(kills), "kill9: at least one kill landed with an import in flight (%s)" % kills)
        ok, secs, last = wait_offers(w, want, 45)
        wrong = {k: (last.get(k), v) for k, v in want.items() if last.get(k) != v}
        rep.check(ok, "kill9: after %d kills Mirakl shows every expected figure (%d SKUs, %.1f s, seed %d)"
                  % (len(kills), n, secs, seed), [json.dumps(dict(list(wrong.items())[:8]))] +
                  ([] if ok else evidence(w, list(wrong)[:2])))
        quiet, _ = w.wait(lambda: (w.aget("/admin/sync") or {}).get("dirty") == 0 and
                          not (w.aget("/admin/sync") or {}).get("current_import"), 15)
        rep.check(bool(quiet), "kill9: nothing left dirty or in flight", [json.dumps(w.aget("/admin/sync"))])
        dead = w.jobs("dead")
        rep.check(dead == [], "kill9: no dead job", [h.short(json.dumps(dead), 600)])
        errs = [i for i in imports(w) if i["lines_in_error"]]
        rep.check(not errs, "kill9: no import had an error line", [json.dumps(errs[:3])])
        w.finish("kill9")
    finally:
        w.close(rep.failed > 0)


SCENARIOS = {"buffer": scenario_buffer, "discontinued": scenario_discontinued, "reserved": scenario_reserved,
             "batch": scenario_batch, "error-lines": scenario_error_lines, "stale": scenario_stale,
             "drift": scenario_drift, "ghost": scenario_ghost, "kill9": scenario_kill9,
             "warehouses": scenario_warehouses, "booked-inflight": scenario_booked_inflight,
             "booked-sum": scenario_booked_sum, "sto02-flat": scenario_sto02_flat,
             "unsendable": scenario_unsendable, "bad-item": scenario_bad_item,
             "sale-no-drift": scenario_sale_no_drift, "ghost-gone": scenario_ghost_gone,
             "quote": scenario_quote, "report-short": scenario_report_short}


if __name__ == "__main__":
    sys.exit(o.main(SCENARIOS, "kcgate stock flow end-to-end tests (against kcgate-sim)"))
