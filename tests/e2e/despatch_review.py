"""kcgate end-to-end tests of flow 3, the cases the issue 9 review found
(each failed before its fix): run through despatch.py, which lists them.

  samecons        two boxes with one consignment ref (Khaos's template has
                  them): each its own ST01, the order SHIPPED
  crash-ship      kill -9 while OR24 is in flight: the restart reads the
                  order first and sends nothing again
  crash-st01      kill -9 while ST01 is in flight: ST11 read first, one
                  ST01 per box
  prefix          [khaos] order_ref_prefix changed: orders booked under the
                  old one still despatched
  or23refused     OR23 refused for a carrier Mirakl dropped: unmapped_carrier,
                  parked, SH21 read again once, the deadline watch sees it
  poison          an order past the parser's caps skipped (named), the
                  others ship
  cancel-resolves shipping_deadline resolved on a cancel; no booked_cancelled
                  beside shipped_cancelled
  invoice-shape   the single-parcel shape (INVOICE, no BOX), two invoices
  booked-by-hand  an order booked by hand in Khaos is confirmed to Mirakl
  packed          a BOX SHIPPED="0" sends nothing
  sh21-refused    SH21 403: one carriers_unavailable, not asked each minute
"""

import base64
import json
import os
import signal
import time

import orders as o
import run as h
from despatch import (CARRIERS, booked, booked_orders, calls_to, despatch, exc_of, mirakl, shipped,  # noqa: F401
                      short, st01_posts, world)


def one_order(w, rep, name, code, qtys):
    """booked_orders() of one order <code>-<tag>-A: (order id, stock codes),
    or (None, None)."""
    oids, skus = booked_orders(w, rep, name, code, [code], qtys)
    return (oids[0] if oids else None), skus


def scenario_same_consignment(args, rep):
    """Two boxes with the same CONSIGNMENT_REF (Khaos's own template has
    them): each is its own shipment; shipped only when Mirakl says so."""
    w = world(args, rep, "samecons", despatch={"mode": "shipments"})
    try:
        oid, skus = one_order(w, rep, "samecons", "SC", [1, 1])
        if not oid:
            return
        s1, s2 = skus
        despatch(w, oid, "Royal Mail 48", "SAME-1", items=[(s1, 1)])
        got, _ = w.wait(lambda: len(st01_posts(w)) >= 1, 15)
        despatch(w, oid, "Royal Mail 48", "SAME-1", items=[(s2, 1)])
        got, secs = w.wait(lambda: shipped(w, oid), 15)
        m = mirakl(w, oid)
        rep.check(got and all(l["order_line_state"] == "SHIPPED" for l in m.get("order_lines", [])),
                  "samecons: two boxes with one consignment ref -> both boxes sent by ST01, Mirakl SHIPPED (%.1f s)"
                  % secs, [short(json.dumps([r["body"] for r in st01_posts(w)]), 900),
                           short(json.dumps(m), 600)])
        rec = w.order_rec(oid) or {}
        rep.check(rec.get("state") != "shipped" or m.get("order_state") == "SHIPPED",
                  "samecons: the record is shipped only when Mirakl has it shipped", [rec.get("state")])
        w.finish("samecons")
    finally:
        w.close(rep.failed > 0)


def crash_world(args, rep, name, mode):
    w = world(args, rep, name, despatch={"mode": mode})
    oid, skus = one_order(w, rep, name, "CR", [2])
    return w, oid, (skus or [None])[0], bool(oid)


def killed_in_flight(w, rep, what, seen):
    """kill -9 while Mirakl holds the call @p seen() waits for; the call
    completes in the sim (the effect happens), the answer is lost."""
    w.sim.faults(system="mirakl", latency_ms=2500)
    got, _ = w.wait(seen, 20, 0.05)
    rep.check(bool(got), "%s: the call is in flight when kcgate is killed" % what, [])
    os.kill(w.inst.proc.pid, signal.SIGKILL)
    w.inst.proc.wait()
    time.sleep(3)
    w.sim.faults(system="mirakl", clear=True)
    return bool(got)


def scenario_crash_ship(args, rep):
    """kill -9 while OR24 is in flight: the retry reads the order first
    (the crash raises no attempt count) and sends nothing again."""
    w, oid, sku, ok = crash_world(args, rep, "crash-ship", "order")
    try:
        if not ok:
            return
        despatch(w, oid, "Royal Mail 48", "RM-CRASH-1")
        if not killed_in_flight(w, rep, "crash-ship", lambda: calls_to(w, oid, "/ship")):
            return
        n0 = len(w.sim.requests("mirakl"))
        if not w.start("crash-ship: restart"):
            return
        got, secs = w.wait(lambda: (w.order_rec(oid) or {}).get("state") == "shipped", 15)
        after = [r for r in w.sim.requests("mirakl")[n0:] if oid in r["path"] or oid in r.get("query", "")]
        writes = [r["path"] for r in after if r["method"] == "PUT"]
        m = [x for x in w.sim.state()["mirakl"]["orders"] if x["order_id"] == oid][0]
        rep.check(got and not writes and m["ship_calls"] == 1,
                  "crash-ship: after kill -9 during OR24 the restart reads the order (SHIPPED) and sends no OR23/OR24 "
                  "again (%.1f s)" % secs, [json.dumps([(r["method"], r["path"]) for r in after]), json.dumps(m)])
        w.finish("crash-ship")
    finally:
        w.close(rep.failed > 0)


def scenario_crash_st01(args, rep):
    """kill -9 while ST01 is in flight: the retry lists ST11 first; the box
    is not created twice."""
    w, oid, sku, ok = crash_world(args, rep, "crash-st01", "shipments")
    try:
        if not ok:
            return
        despatch(w, oid, "Royal Mail 48", "BOX-A", items=[(sku, 1)])
        if not killed_in_flight(w, rep, "crash-st01", lambda: st01_posts(w)):
            return
        despatch(w, oid, "DPD Next Day", "BOX-B", items=[(sku, 1)])
        if not w.start("crash-st01: restart"):
            return
        got, secs = w.wait(lambda: shipped(w, oid), 15)
        st = w.sim.state()["mirakl"]
        box_a = [r for r in st01_posts(w) if "BOX-A" in r["body"]]
        rep.check(got and st["shipments"] == 2 and len(box_a) == 1 and not w.jobs("dead"),
                  "crash-st01: after kill -9 during ST01 the restart lists ST11 first: one ST01 per box, the order "
                  "SHIPPED (%.1f s)" % secs,
                  [json.dumps(st)[:300], short(json.dumps([r["body"] for r in st01_posts(w)]), 900),
                   short(json.dumps(w.jobs("dead")), 600)])
        w.finish("crash-st01")
    finally:
        w.close(rep.failed > 0)


def scenario_prefix(args, rep):
    """[khaos] order_ref_prefix changed: orders booked under the old one are
    still despatched (the ref is mapped through what was booked)."""
    w = world(args, rep, "prefix", extra={"khaos": {"order_ref_prefix": "MK"}})
    try:
        tag = os.urandom(2).hex().upper()
        sku = "PX-" + tag
        w.sim.stock(sku)
        oid = "P%s-A" % tag
        w.sim.order(oid, [(sku, 1, 5.0)])
        if not w.start("prefix"):
            return
        got, _ = w.wait(lambda: o.sales_by_ref(w.sim.state()).get("MK" + oid), 20)
        rep.check(bool(got), "prefix: booked as MK<order>", [list(o.sales_by_ref(w.sim.state()).keys())])
        h.stop_check(rep, w.inst, "prefix: stop")
        w.inst.overrides["khaos"]["order_ref_prefix"] = "M"
        o.rewrite_config(w.inst)
        if not w.start("prefix: restart"):
            return
        despatch(w, "MK" + oid, "Royal Mail 48", "RM-PFX-1")
        got, secs = w.wait(lambda: shipped(w, oid), 15)
        rep.check(got, "prefix: an order booked under the old prefix is despatched after the change (%.1f s)" % secs,
                  w.evidence([oid]))
        w.finish("prefix")
    finally:
        w.close(rep.failed > 0)


def scenario_refused(args, rep):
    """OR23 refused (a carrier code Mirakl dropped since SH21 was cached)
    -> unmapped_carrier and parked, not retried blindly; the deadline watch
    sees the parked order."""
    w = world(args, rep, "or23refused", despatch={"deadline_alert_h": "1"})
    try:
        oids, _ = booked_orders(w, rep, "or23refused", "OR", ["OQ"], shipping_deadline=o.iso(time.time() + 3600 + 20))
        if not oids:
            return
        oid = oids[0]
        time.sleep(2)
        w.sim.ok("POST", "/_sim/mirakl/carriers", {"carriers": [CARRIERS[1]]})  # RM dropped by Mirakl
        despatch(w, oid, "Royal Mail 48", "RM-REF-2")
        e, secs = w.wait(lambda: exc_of(w, "unmapped_carrier", oid), 15)
        rep.check(bool(e), "or23refused: OR23 refused for a carrier Mirakl dropped -> unmapped_carrier (%.1f s)" % secs,
                  [short(json.dumps(w.exceptions(1)), 900), short(json.dumps(w.jobs("pending")), 600)])
        n = len(calls_to(w, oid, "/tracking"))
        time.sleep(4)
        rep.check(len(calls_to(w, oid, "/tracking")) == n, "or23refused: parked, not retried blindly",
                  [n, len(calls_to(w, oid, "/tracking"))])
        sh21 = [r for r in w.sim.requests("mirakl") if r["path"] == "/mirakl/api/shipping/carriers"]
        rep.check(len(sh21) == 2, "or23refused: the carrier refusal reads SH21 again (once)", [len(sh21)])
        e, secs = w.wait(lambda: exc_of(w, "shipping_deadline", oid), 25)
        rep.check(bool(e), "or23refused: the deadline watch covers the parked order (%.1f s)" % secs,
                  [short(json.dumps(w.exceptions(1)), 900)])
        w.finish("or23refused")
    finally:
        w.close(rep.failed > 0)


def scenario_oversized(args, rep):
    """One order beyond the parser's caps (201 boxes) does not stall the
    poll: it is skipped with an exception naming it, the rest ship."""
    w = world(args, rep, "poison", despatch={"mode": "shipments"})
    try:
        tag = os.urandom(3).hex().upper()
        sku = "PZ-" + tag
        w.sim.stock(sku)
        big, small = "PB-%s-A" % tag, "PS-%s-A" % tag
        w.sim.order(big, [(sku, 250, 1.0)])
        w.sim.order(small, [(sku, 1, 1.0)])
        if not w.start("poison") or not booked(w, rep, [big, small], "poison"):
            return
        h.stop_check(rep, w.inst, "poison: stop")
        for i in range(201):
            despatch(w, big, "Royal Mail 48", "BIG-%d" % i, items=[(sku, 1)])
        despatch(w, small, "Royal Mail 48", "SMALL-1")
        if not w.start("poison: restart"):
            return
        got, secs = w.wait(lambda: shipped(w, small), 15)
        rep.check(got, "poison: an oversized order does not stop the others (%.1f s)" % secs, w.evidence([small]))
        e, secs = w.wait(lambda: [x for x in (w.exceptions(1) or []) if big in x.get("message", "")], 10)
        rep.check(bool(e), "poison: an exception names the oversized order",
                  [short(json.dumps(w.exceptions(1)), 900)])
        w.finish("poison")
    finally:
        w.close(rep.failed > 0)


def scenario_cancel_resolves(args, rep):
    """Exceptions end with the order: shipping_deadline resolved on a Mirakl
    cancel; shipped_cancelled, not also booked_cancelled, for a parcel sent."""
    w = world(args, rep, "cancel-resolves", despatch={"deadline_alert_h": "12"})
    try:
        oids, skus = booked_orders(w, rep, "cancel", "CC", ["CC", "CD"], shipping_deadline=o.iso(time.time() + 3 * 3600))
        if not oids:
            return
        (a, b), (sku,) = oids, skus
        e, _ = w.wait(lambda: exc_of(w, "shipping_deadline", a) and exc_of(w, "shipping_deadline", b), 15)
        rep.check(bool(e), "cancel: shipping_deadline raised for both", [])
        h.stop_check(rep, w.inst, "cancel: stop")
        despatch(w, a, "Royal Mail 48", "RM-CXL-1")
        w.sim.ok("POST", "/_sim/mirakl/orders/%s/cancel" % a)
        w.sim.ok("POST", "/_sim/mirakl/orders/%s/cancel" % b)
        if not w.start("cancel: restart"):
            return
        got, _ = w.wait(lambda: exc_of(w, "shipped_cancelled", a), 15)
        rep.check(bool(got), "cancel: shipped in Khaos, cancelled on Mirakl -> shipped_cancelled", [])
        done, secs = w.wait(lambda: not exc_of(w, "shipping_deadline", a) and not exc_of(w, "shipping_deadline", b), 10)
        rep.check(done, "cancel: shipping_deadline resolved for cancelled orders (%.1f s)" % secs,
                  [short(json.dumps(w.exceptions(1)), 900)])
        time.sleep(2)
        rep.check(not exc_of(w, "booked_cancelled", a),
                  "cancel: no booked_cancelled (stop the despatch) beside shipped_cancelled (recall the parcel)",
                  [short(json.dumps(exc_of(w, "booked_cancelled", a)), 600)])
        # parked on an unmapped courier, then cancelled: nothing left open for it
        c = "CE-%s-A" % a.split("-")[1]  # a's tag
        w.sim.order(c, [(sku, 1, 5.0)], shipping_deadline=o.iso(time.time() + 3 * 3600))
        if not booked(w, rep, [c], "cancel (parked)"):
            return
        despatch(w, c, "Nowhere Couriers", "NW-1")
        e, _ = w.wait(lambda: exc_of(w, "unmapped_carrier", c), 15)
        rep.check(bool(e), "cancel: an unmapped courier parks the third order", [])
        w.sim.ok("POST", "/_sim/mirakl/orders/%s/cancel" % c)

        def left_open():
            dead = [x for x in (w.exceptions(1, "dead_job") or []) if c in json.dumps(x)]
            return exc_of(w, "unmapped_carrier", c) + exc_of(w, "shipping_deadline", c) + dead
        done, secs = w.wait(lambda: not left_open(), 15)
        rep.check(done, "cancel: cancelled while parked -> unmapped_carrier, shipping_deadline and the parked "
                  "job's dead_job all resolved (%.1f s)" % secs, [short(json.dumps(left_open()), 900)])
        w.finish("cancel")
    finally:
        w.close(rep.failed > 0)


def scenario_invoice_shape(args, rep):
    """The single-parcel shape (an INVOICE of its own, no BOX: courier and
    consignment on the invoice, INVOICE_ITEMS), two invoices for two lines:
    the first waits (order mode), both -> OR23 + OR24, Mirakl SHIPPED."""
    w = world(args, rep, "invoice-shape")
    try:
        oid, skus = one_order(w, rep, "invoice-shape", "IV", [1, 2])
        if not oid:
            return
        s1, s2 = skus
        despatch(w, oid, "Royal Mail 48", "INV-PARCEL-1", items=[(s1, 1)], shape="invoice")
        time.sleep(3)
        rep.check(not calls_to(w, oid, "/ship") and mirakl(w, oid).get("order_state") == "SHIPPING",
                  "invoice-shape: one invoice of two lines -> no OR24 yet", [])
        despatch(w, oid, "DPD Next Day", "INV-PARCEL-2", items=[(s2, 2)], shape="invoice")
        got, secs = w.wait(lambda: shipped(w, oid), 15)
        m = mirakl(w, oid)
        rep.check(got and (m.get("tracking") or {}).get("tracking_number") == "INV-PARCEL-1"
                  and (m.get("tracking") or {}).get("carrier_code") == "RM",
                  "invoice-shape: invoices with no BOX (courier and consignment on the invoice) -> OR23 + OR24, "
                  "SHIPPED (%.1f s)" % secs, [short(json.dumps(m.get("tracking")))] + w.evidence([oid]))
        w.finish("invoice-shape")
    finally:
        w.close(rep.failed > 0)


def scenario_booked_by_hand(args, rep):
    """An order kcgate could not book (address_missing) booked by hand in
    Khaos, as the runbook says: when Khaos reports its despatch, kcgate
    records it booked (the exception resolved) and confirms it to Mirakl."""
    w = world(args, rep, "booked-by-hand")
    try:
        tag = os.urandom(3).hex().upper()
        sku = "BH-" + tag
        w.sim.stock(sku)
        good, bad = "HG-%s-A" % tag, "HN-%s-A" % tag
        w.sim.order(good, [(sku, 1, 5.0)])
        w.sim.order(bad, [(sku, 1, 5.0)], customer={"shipping_address": {}, "billing_address": {}})
        if not w.start("booked-by-hand") or not booked(w, rep, [good], "booked-by-hand"):
            return
        e, secs = w.wait(lambda: exc_of(w, "address_missing", bad), 20)
        rep.check(bool(e), "booked-by-hand: the order with no address is not booked (address_missing) (%.1f s)" % secs,
                  [short(json.dumps(w.exceptions(1)), 600)])
        # by hand in Khaos: the good order's booking, with the other's ref (same lines)
        imp = [r for r in w.sim.requests("khaos") if o.soap_call(r.get("body", ""))[0] == "ImportOrders"
               and good in r.get("body", "")]
        body = imp[0]["body"].replace(good, bad)
        conn = o.http.client.HTTPConnection("127.0.0.1", w.sim.port, timeout=10)
        conn.request("POST", "/khaos/soap/IKosWeb", body=body.encode("utf-8"),
                     headers={"Content-Type": imp[0]["content_type"], "SOAPAction": '""',
                              "Authorization": "Basic " + base64.b64encode(
                                  ("%s:%s" % (w.khaos_user, w.khaos_password)).encode()).decode()})
        r = conn.getresponse()
        r.read()
        conn.close()
        got = o.sales_by_ref(w.sim.state()).get(bad)
        rep.check(r.status == 200 and got, "booked-by-hand: booked by hand in Khaos", [r.status])
        despatch(w, bad, "Royal Mail 48", "RM-HAND-1")
        got, secs = w.wait(lambda: shipped(w, bad), 15)
        rep.check(got, "booked-by-hand: its despatch is confirmed to Mirakl (OR23 + OR24) (%.1f s)" % secs,
                  w.evidence([bad]))
        rec, _ = w.wait(lambda: o.rec_in(w, bad, "shipped"), 10)
        rep.check(rec and not exc_of(w, "address_missing", bad),
                  "booked-by-hand: the record is shipped, address_missing resolved",
                  [short(json.dumps({k: v for k, v in (w.order_rec(bad) or {}).items() if k != "order"}), 600)])
        w.finish("booked-by-hand")
    finally:
        w.close(rep.failed > 0)


def scenario_packed(args, rep):
    """A box being packed (SHIPPED="0", dated, with a consignment ref) is not
    a shipment: nothing goes to Mirakl until the box ships."""
    w = world(args, rep, "packed")
    try:
        oid, _ = one_order(w, rep, "packed", "PK", [1])
        if not oid:
            return
        despatch(w, oid, "Royal Mail 48", "PACKING-1", shape="packed")
        time.sleep(3)
        rep.check(not calls_to(w, oid, "/tracking") and not calls_to(w, oid, "/ship"),
                  "packed: a BOX SHIPPED=\"0\" sends nothing to Mirakl", [])
        despatch(w, oid, "Royal Mail 48", "SHIPPED-1")
        got, secs = w.wait(lambda: shipped(w, oid), 15)
        rep.check(got and (mirakl(w, oid).get("tracking") or {}).get("tracking_number") == "SHIPPED-1",
                  "packed: the box that ships is the one tracked (%.1f s)" % secs, w.evidence([oid]))
        w.finish("packed")
    finally:
        w.close(rep.failed > 0)


def scenario_sh21_refused(args, rep):
    """SH21 refused for good (403): one carriers_unavailable exception, SH21
    asked again at most hourly (not each watch), no dead job per attempt."""
    w = world(args, rep, "sh21-refused")
    try:
        w.sim.faults(system="mirakl", error_rate=1.0, status=403)
        if not w.start("sh21-refused"):
            return
        e, secs = w.wait(lambda: [x for x in (w.exceptions(1, "carriers_unavailable") or [])], 15)
        rep.check(e and len(e) == 1 and "403" in json.dumps(e),
                  "sh21-refused: SH21 403 -> one carriers_unavailable naming it (%.1f s)" % secs,
                  [short(json.dumps(w.exceptions(1)), 900)])
        time.sleep(5)  # the watch runs every second here
        sh21 = [r for r in w.sim.requests("mirakl") if r["path"] == "/mirakl/api/shipping/carriers"]
        dead = [j for j in (w.jobs("dead") or []) if j.get("kind") == "mirakl.carriers"]
        rep.check(len(sh21) == 1 and not dead,
                  "sh21-refused: SH21 not asked again within the hour, no dead mirakl.carriers job",
                  [len(sh21), short(json.dumps(dead), 400)])
        w.sim.faults(system="mirakl", clear=True)
        w.finish("sh21-refused")
    finally:
        w.close(rep.failed > 0)



SCENARIOS = {"samecons": scenario_same_consignment, "crash-ship": scenario_crash_ship,
             "crash-st01": scenario_crash_st01, "prefix": scenario_prefix, "or23refused": scenario_refused,
             "poison": scenario_oversized, "cancel-resolves": scenario_cancel_resolves,
             "invoice-shape": scenario_invoice_shape, "booked-by-hand": scenario_booked_by_hand,
             "packed": scenario_packed, "sh21-refused": scenario_sh21_refused}
