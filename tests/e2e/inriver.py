#!/usr/bin/env python3
"""kcgate end-to-end tests of flow 4 (inriver <-> Khaos Control), against
kcgate-sim: the real kcgate binary, the real simulator (inriver REST with
--inriver-key, Khaos SOAP, Mirakl).

    inriver.py --kcgate PATH --sim PATH [--keep] SCENARIO

Every world runs the stock flow with kcgate-sim's limits (as stock.py
does), so the SKU cache reads Khaos every second; [inriver.fields] names
KhaosStatus, KhaosAvailable, KhaosPrice and KhaosLastSync; write_interval_s = 1.

SCENARIO is one of:
  good-sku        an item created in inriver with a good SKU (listener
                  EntityCreated) -> KhaosStatus OK, the level and the price
                  written, nothing else: no PUT ever names another field,
                  marketing fields untouched; Khaos changes reach it,
                  coalesced; a price change alone reaches it
  echo            kcgate's own write coming back as EntityUpdated -> no call
                  at all; a marketing edit -> read, no write
  hand-edit       a person edits KhaosAvailable, then KhaosStatus, in inriver
                  (EntityUpdated naming only that field) -> kcgate reads the
                  item and writes Khaos's value back; the correction's own
                  echo -> no call; an echo that comes twice -> reads only
  bad-sku         an item whose SKU is no Khaos code -> identifier_drift
                  (inriver, ecommerce) and KhaosStatus UNKNOWN_STOCK_CODE;
                  a SKU corrected in inriver -> OK, its drift resolved; a
                  SKU too long for Khaos -> drift inriver:<id> and
                  UNKNOWN_STOCK_CODE written
  create-missing  a new Khaos code -> an item created with the SKU and the
                  Khaos fields ([inriver] create_missing_items = true): the
                  createnew sets nothing else (the model's defaults kept)
  unlinked        a new Khaos code with no item -> unlinked_sku (ecommerce)
  discontinued    Khaos discontinues a code -> Mirakl 0 (STO01, confirmed by
                  a STO02 that answered COMPLETE) first, then KhaosStatus
                  DISCONTINUED: the order and the answer are checked in the
                  sim's request log; a code with no Mirakl offer (its 0
                  line refused) is flagged all the same
  deleted         an item deleted in inriver (EntityDeleted) -> Mirakl 0 and
                  archive_in_khaos (khaos, operations)
  deleted-duplicate  two items hold one code; the linked one is deleted ->
                  the other takes the code (Khaos's fields written to it),
                  duplicate_sku resolved, Mirakl unchanged, nothing to
                  archive; the last one deleted -> 0 and archive_in_khaos
  holders         a code followed by a second item, the first deleted ->
                  nothing unpublished, duplicate_sku resolved; the last
                  deleted -> 0 and archive_in_khaos; a holder whose SKU moved
                  to another code is no holder of the old one
  poll-deleted    [inriver] listen = false, require_inriver_link: a linked
                  item deleted (no event) -> the audit finds it gone: Mirakl
                  0 and archive_in_khaos
  warehouses      [stock.warehouses]: inriver gets the code's sum over the
                  sites (one write, not one per site); discontinued ->
                  DISCONTINUED once every warehouse shows 0; deleted -> 0
                  in every warehouse
  require-link    [stock] require_inriver_link = true: an unlinked code stays
                  at 0 on Mirakl until its item appears
  rate-limited    60% of inriver calls answer 429 with Retry-After: the job
                  engine backs off and the fields still arrive
  poll            [inriver] listen = false: an item created in inriver is
                  found by the LastModified poll, no listener call
  stock-list      a price revised alone in Khaos (the sim's "revised_only":
                  a revision ExportStockStatus's LastUpdated does not see)
                  reaches KhaosPrice through GetStockList (skus.revised, [khaos]
                  stock_list_interval_s = 10): GetStockList named the code, an
                  ExportStockStatus for that code alone read it, and no
                  changes-only poll reported it; 501 codes revised at once
                  -> one whole-catalogue read, no single-code call
  audit           10,000 Khaos codes, 10,000 items, planted problems:
                  unlinked_sku, duplicate_sku, identifier_drift, ghost_sku,
                  each found; POST /admin/audit/skus finds a new one;
                  GET /admin/skus?problem=1 and /admin/skus/{code}

Output like run.py; exit status 1 on any failure.
"""

import json
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import orders as o  # noqa: E402
import run as h  # noqa: E402
import stock as s  # noqa: E402

ENV_INRIVER_KEY = "KCG_E2E_INRIVER_API_KEY"
OWNED = {"KhaosStatus", "KhaosAvailable", "KhaosPrice", "KhaosLastSync"}
SKU_FIELD = "ItemNumber"
FIELDS = {"khaos_status": "KhaosStatus", "available": "KhaosAvailable", "price": "KhaosPrice",
          "last_sync": "KhaosLastSync"}


class InriverSim(o.Sim):
    """kcgate-sim that also checks inriver's API key."""
    key = None

    def __init__(self, binary, mirakl_key, khaos_user, khaos_password, extra=()):
        super().__init__(binary, mirakl_key, khaos_user, khaos_password,
                         list(extra) + ["--inriver-key", InriverSim.key])


def world(args, rep, name, inriver=None, stock=None, sim_settings=None, more=None):
    InriverSim.key = "ik-" + os.urandom(12).hex()
    os.environ[ENV_INRIVER_KEY] = InriverSim.key
    o.Sim = InriverSim
    ir = {"write_interval_s": "1", "audit_interval_s": "3600", "api_key": "env:" + ENV_INRIVER_KEY}
    ir.update(inriver or {})
    w = s.stock_world(args, rep, name, stock=stock, sim_settings=sim_settings,
                      more=dict(more or {}, inriver=ir, **{"inriver.fields": dict(FIELDS)}))
    # the base URL needs the sim's port: set it now (the config is written at start)
    w.inst.overrides["inriver"]["base_url"] = "http://127.0.0.1:%d/inriver" % w.sim.port
    w.ir_key = InriverSim.key
    return w


def entities(w):
    return {e["id"]: e for e in w.sim.state()["inriver"]["entities"]}


def add_items(w, items):
    """items: [{field: value}] of Item entities; returns their ids."""
    st, j = w.sim.call("POST", "/_sim/inriver/entities",
                       {"entities": [{"entity_type": "Item", "fields": f} for f in items]})
    assert st == 201, (st, j)
    return j["ids"]


def ir_requests(w):
    st, j = w.sim.call("GET", "/_sim/requests?system=inriver&limit=1000")
    return j["requests"] if st == 200 else []


def puts(w, eid=None):
    return [r for r in ir_requests(w) if r["method"] == "PUT" and
            (eid is None or r["path"].endswith("/entities/%d/fieldvalues" % eid))]


def listener(w, event, nid, **extra):
    body = {"id": str(uuid.uuid4()), "numericId": nid, "timestamp": "2026-01-01T10:00:00.000Z"}
    body.update(extra)
    raw = o.compact(body)
    r = w.client.request("POST", "/api/listeners/" + event, raw, w.hs.inriver_headers())
    return r.status


def wait_fields(w, eid, want, timeout=20):
    last = {}

    def ok():
        e = entities(w).get(eid)
        last.clear()
        last.update(e["fields"] if e else {})
        return e and all(last.get(k) == v for k, v in want.items())
    v, secs = w.wait(ok, timeout, 0.2)
    return bool(v), secs, dict(last)


def audited(w):
    j = w.aget("/admin/skus?problem=1")
    return j and j.get("last_audit")


def ready(w, rep, what, codes):
    """kcgate started, the SKU cache holds @p codes and the first audit ran."""
    if not w.start(what):
        return False

    def known():
        return all((w.aget("/admin/skus/" + c) or {}).get("khaos", {}).get("known") for c in codes)
    k, _ = w.wait(known, 20, 0.2)
    a, secs = w.wait(lambda: audited(w), 20, 0.2)
    rep.check(bool(k and a), "%s: the SKU cache read Khaos and the first audit ran (%.1f s)" % (what, secs),
              [json.dumps(w.aget("/admin/skus?problem=1"))] + w.inst.log_tail(10))
    return bool(k and a)


def exc(w, kind, subject):
    for e in w.exceptions(None, kind) or []:
        if e.get("subject") == subject:
            return e
    return None


def wait_exc(w, kind, subject, timeout=20):
    return w.wait(lambda: (exc(w, kind, subject) or {}).get("resolved_at", 1) is None and exc(w, kind, subject),
                  timeout, 0.25)


def only_owned(w):
    """Every PUT body names only Khaos-owned fields; every field write too.
    A createnew sends the whole getempty model: of its fields, the ones
    kcgate set (not left at the model's default, as the sim records) are
    only the SKU field and Khaos-owned ones."""
    bad = []
    for r in puts(w):
        for fv in json.loads(r["body"]):
            if fv.get("fieldTypeId") not in OWNED:
                bad.append("PUT %s wrote %s" % (r["path"], fv.get("fieldTypeId")))
    for fw in w.sim.state()["inriver"]["field_writes"]:
        if fw["via"] == "put" and fw["field_type_id"] not in OWNED:
            bad.append("field write %s" % json.dumps(fw))
        if fw["via"] == "createnew" and not fw["default"] and fw["field_type_id"] not in OWNED | {SKU_FIELD}:
            bad.append("createnew set %s" % json.dumps(fw))
    return bad


def set_by_createnew(w, eid):
    """The fields a createnew of entity @p eid set (those not at the model's default)."""
    return {fw["field_type_id"] for fw in w.sim.state()["inriver"]["field_writes"]
            if fw["entity_id"] == eid and fw["via"] == "createnew" and not fw["default"]}


def finish(w, rep, what):
    """Every scenario ends proving no PUT named a field outside [inriver.fields]; then SIGTERM and the logs."""
    bad = only_owned(w)
    rep.check(not bad, "%s: no PUT named a field outside [inriver.fields], no createnew set one other than "
              "the SKU (%d PUT calls)" % (what, w.sim.state()["inriver"]["puts"]), bad[:5])
    w.finish(what)
    leaked = [i for i, line in enumerate(w.inst.log_text().splitlines()) if w.ir_key in line]
    rep.check(not leaked, "%s: the inriver API key is in no log line" % what, ["lines %s" % leaked[:5]])


def evidence(w, skus=()):
    out = ["admin sku %s: %s" % (x, h.short(json.dumps(w.aget("/admin/skus/" + x)), 600)) for x in skus]
    out.append("inriver requests: %s" % h.short(json.dumps(ir_requests(w)[-8:]), 1200))
    return out + w.inst.log_tail(10)


# ---------------------------------------------------------------- scenarios

def linked_item(w, rep, what, sku, avail, name="Red shoe"):
    """Creates an item for @p sku after the start and sends EntityCreated;
    returns its id once Khaos's fields are on it (or None)."""
    eid = add_items(w, [{"ItemNumber": sku, "ItemName": name, "ItemDescription": "Long marketing copy"}])[0]
    rep.check(listener(w, "EntityCreated", eid) == 204, "%s: the listener takes EntityCreated (204)" % what)
    ok, secs, last = wait_fields(w, eid, {"KhaosStatus": "OK", "KhaosAvailable": avail})
    rep.check(ok, "%s: KhaosStatus OK and KhaosAvailable %d written to item %d (%.1f s)" % (what, avail, eid, secs),
              [json.dumps(last)] + ([] if ok else evidence(w, [sku])))
    return eid if ok else None


def scenario_good_sku(args, rep):
    w = world(args, rep, "good-sku", inriver={"write_interval_s": "2"})
    try:
        s.khaos(w, [{"code": "SKU-1", "available": 7}])
        s.set_offers(w, [("SKU-1", 0)])
        if not ready(w, rep, "good-sku", ["SKU-1"]):
            return
        eid = linked_item(w, rep, "good-sku", "SKU-1", 7)
        if eid is None:
            return
        def metrics():
            st, m = w.admin("GET", "/metrics")
            return m if st == 200 and isinstance(m, str) else ""

        def good():  # the PUT lands before kcgate commits the link: wait for it
            m = metrics()
            return ("kcgate_inriver_linked 1\n" in m and "kcgate_inriver_waiting 0\n" in m
                    and "kcgate_inriver_audit_age_seconds -1" not in m and 'kcgate_jobs{lane="inriver_push"' in m)
        v, _ = w.wait(good, 10, 0.2)
        rep.check(bool(v), "good-sku: /metrics shows the link, the audit's age and the inriver_push lane",
                  [l for l in metrics().splitlines() if "kcgate_inriver" in l or "inriver_push" in l][:12])
        e = entities(w)[eid]["fields"]
        rep.check(e.get("ItemName") == "Red shoe" and e.get("ItemDescription") == "Long marketing copy"
                  and e.get("ItemNumber") == "SKU-1" and e.get("KhaosLastSync") and e.get("KhaosPrice") == 10.0,
                  "good-sku: marketing fields and the SKU untouched, KhaosLastSync set, KhaosPrice 10.0 (Khaos's "
                  "SELL_PRICE 10.00)", [json.dumps(e)])
        n0 = len(puts(w, eid))
        for q in (10, 11, 12, 13, 14):
            s.khaos(w, [{"code": "SKU-1", "available": q}])
            time.sleep(0.3)
        ok, secs, last = wait_fields(w, eid, {"KhaosAvailable": 14}, 15)
        n = len(puts(w, eid)) - n0
        rep.check(ok and 1 <= n <= 2,
                  "good-sku: 5 Khaos changes in 1.5 s reach inriver coalesced (%d PUTs, write_interval_s 2; %.1f s)"
                  % (n, secs), [json.dumps(last)] + ([] if ok else evidence(w, ["SKU-1"])))
        # a price change alone in Khaos: written, as a JSON number
        s.khaos(w, [{"code": "SKU-1", "sell_price": "19.99"}])
        ok, secs, last = wait_fields(w, eid, {"KhaosPrice": 19.99}, 15)
        body = [p["body"] for p in puts(w, eid)][-1:]
        rep.check(ok and body and '"fieldTypeId":"KhaosPrice","value":19.99}' in body[0],
                  "good-sku: Khaos's new SELL_PRICE 19.99 reaches KhaosPrice as 19.99 (%.1f s)" % secs,
                  [json.dumps(last), json.dumps(body)])
        bad = only_owned(w)
        rep.check(not bad and len(puts(w)) > 0, "good-sku: no PUT ever names a field outside [inriver.fields] "
                  "(%d PUTs checked)" % len(puts(w)), bad[:5])
        finish(w, rep, "good-sku")
    finally:
        w.close(rep.failed > 0)


def scenario_echo(args, rep):
    w = world(args, rep, "echo")
    try:
        s.khaos(w, [{"code": "SKU-E", "available": 3}])
        if not ready(w, rep, "echo", ["SKU-E"]):
            return
        eid = linked_item(w, rep, "echo", "SKU-E", 3)
        if eid is None:
            return
        w.quiet(10)
        before = len(ir_requests(w))
        st = listener(w, "EntityUpdated", eid, fields=[{"fieldTypeId": f} for f in sorted(OWNED)])
        time.sleep(2.5)
        after = ir_requests(w)[before:]
        rep.check(st == 204 and not after,
                  "echo: kcgate's own write echoed as EntityUpdated -> no inriver call at all (no loop)",
                  [json.dumps(after[:5])])
        n_put = len(puts(w, eid))
        before = len(ir_requests(w))
        listener(w, "EntityUpdated", eid, fields=[{"fieldTypeId": "ItemName"}])
        seen, _ = w.wait(lambda: any(r["method"] == "GET" for r in ir_requests(w)[before:]), 10)
        w.quiet(10)
        time.sleep(1)
        rep.check(bool(seen) and len(puts(w, eid)) == n_put,
                  "echo: a marketing edit (ItemName) -> the item is read, nothing written",
                  [json.dumps(ir_requests(w)[before:][:6])])
        finish(w, rep, "echo")
    finally:
        w.close(rep.failed > 0)


def scenario_hand_edit(args, rep):
    w = world(args, rep, "hand-edit")
    try:
        s.khaos(w, [{"code": "SKU-H", "available": 5}])
        if not ready(w, rep, "hand-edit", ["SKU-H"]):
            return
        eid = linked_item(w, rep, "hand-edit", "SKU-H", 5)
        if eid is None:
            return
        w.quiet(10)

        def echo_of_last_put(what):
            """inriver announces kcgate's last PUT (the fields it named): no call at all."""
            last = puts(w, eid)[-1]
            names = sorted(fv["fieldTypeId"] for fv in json.loads(last["body"]))
            before = len(ir_requests(w))
            st = listener(w, "EntityUpdated", eid, fields=[{"fieldTypeId": f} for f in names])
            time.sleep(2.5)
            after = ir_requests(w)[before:]
            rep.check(st == 204 and not after, "hand-edit: %s: kcgate's own write echoed (%s) -> no inriver call "
                      "at all" % (what, ", ".join(names)), [json.dumps(after[:5])])
            return names
        echo_of_last_put("the first write")

        for field, wrong, right in (("KhaosAvailable", 99, 5), ("KhaosStatus", "DISCONTINUED", "OK")):
            n_put = len(puts(w, eid))
            st, j = w.sim.call("POST", "/_sim/inriver/entities/%d/fields" % eid, {"fields": {field: wrong}})
            assert st == 200, (st, j)
            rep.check(listener(w, "EntityUpdated", eid, fields=[{"fieldTypeId": field}]) == 204,
                      "hand-edit: the listener takes EntityUpdated naming %s (204)" % field)
            ok, secs, last = wait_fields(w, eid, {field: right, "ItemName": "Red shoe"}, 15)
            w.quiet(10)
            new = puts(w, eid)[n_put:]
            named = [sorted(fv["fieldTypeId"] for fv in json.loads(r["body"])) for r in new]
            rep.check(ok and len(new) == 1 and field in named[0] and set(named[0]) <= {field, "KhaosLastSync"},
                      "hand-edit: a person set %s = %s in inriver -> kcgate read the item and wrote %s back in one "
                      "PUT naming only what differed (%.1f s; PUTs %s)" % (field, json.dumps(wrong), json.dumps(right),
                                                                           secs, named),
                      [json.dumps(last)] + ([] if ok else evidence(w, ["SKU-H"])))
            if new:
                names = echo_of_last_put("the correction of %s" % field)
                # inriver sends the same echo again (nothing expected any more): read, nothing written
                n_put = len(puts(w, eid))
                before = len(ir_requests(w))
                listener(w, "EntityUpdated", eid, fields=[{"fieldTypeId": f} for f in names])
                seen, _ = w.wait(lambda: any(r["method"] == "GET" for r in ir_requests(w)[before:]), 10)
                w.quiet(10)
                rep.check(bool(seen) and len(puts(w, eid)) == n_put,
                          "hand-edit: the same echo again -> the item is read, nothing written (no loop)",
                          [json.dumps(ir_requests(w)[before:][:6])])
        finish(w, rep, "hand-edit")
    finally:
        w.close(rep.failed > 0)


def scenario_bad_sku(args, rep):
    w = world(args, rep, "bad-sku")
    try:
        s.khaos(w, [{"code": "SKU-G", "available": 1}])
        if not ready(w, rep, "bad-sku", ["SKU-G"]):
            return
        eid = add_items(w, [{"ItemNumber": "NOPE-1", "ItemName": "Mystery"}])[0]
        listener(w, "EntityCreated", eid)
        ok, secs, last = wait_fields(w, eid, {"KhaosStatus": "UNKNOWN_STOCK_CODE"})
        rep.check(ok and "KhaosAvailable" not in last,
                  "bad-sku: KhaosStatus UNKNOWN_STOCK_CODE on the item, no level (%.1f s)" % secs,
                  [json.dumps(last)] + ([] if ok else evidence(w, ["NOPE-1"])))
        e, _ = wait_exc(w, "identifier_drift", "NOPE-1")
        rep.check(bool(e) and e.get("system") == "inriver" and e.get("owner") == "ecommerce"
                  and "%d" % eid in e.get("message", ""),
                  "bad-sku: identifier_drift for NOPE-1 (system inriver, owner ecommerce, names the item)",
                  [json.dumps(e)])
        # a second bad item corrected in inriver: its SKU now a Khaos code -> OK, the old drift resolved
        e2 = add_items(w, [{"ItemNumber": "NOPE-2", "ItemName": "Typo"}])[0]
        listener(w, "EntityCreated", e2)
        wait_exc(w, "identifier_drift", "NOPE-2")
        w.sim.ok("POST", "/_sim/inriver/entities/%d/fields" % e2, {"fields": {"ItemNumber": "SKU-G"}})
        listener(w, "EntityUpdated", e2, fields=[{"fieldTypeId": "ItemNumber"}])
        ok, secs, last = wait_fields(w, e2, {"KhaosStatus": "OK", "KhaosAvailable": 1})
        e, _ = w.wait(lambda: (exc(w, "identifier_drift", "NOPE-2") or {}).get("resolved_at"), 10, 0.2)
        rep.check(ok and bool(e), "bad-sku: the SKU corrected in inriver (NOPE-2 -> SKU-G) -> OK written, the drift "
                  "for NOPE-2 resolved (%.1f s)" % secs, [json.dumps(last), json.dumps(exc(w, "identifier_drift", "NOPE-2"))])
        # the corrected item (now SKU-G's) gets a SKU too long for Khaos: SKU-G is left with no item
        w.sim.ok("POST", "/_sim/inriver/entities/%d/fields" % e2, {"fields": {"ItemNumber": "G" * 70}})
        listener(w, "EntityUpdated", e2, fields=[{"fieldTypeId": "ItemNumber"}])
        ok, _, last = wait_fields(w, e2, {"KhaosStatus": "UNKNOWN_STOCK_CODE"})
        u, _ = wait_exc(w, "unlinked_sku", "SKU-G")
        g = (w.aget("/admin/skus/SKU-G") or {}).get("inriver", {})
        rep.check(ok and bool(u) and not g.get("linked"),
                  "bad-sku: a linked item given a SKU too long for Khaos -> UNKNOWN_STOCK_CODE on it, its old code "
                  "SKU-G unlinked (unlinked_sku)", [json.dumps(last), json.dumps(g)])
        # an item with an unknown SKU deleted: its drift is over, and there is no Khaos code to archive
        e4 = add_items(w, [{"ItemNumber": "NOPE-4", "ItemName": "Gone"}])[0]
        listener(w, "EntityCreated", e4)
        wait_exc(w, "identifier_drift", "NOPE-4")
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % e4)
        listener(w, "EntityDeleted", e4, entityTypeId="Item")
        r, _ = w.wait(lambda: (exc(w, "identifier_drift", "NOPE-4") or {}).get("resolved_at"), 10, 0.2)
        rep.check(bool(r) and not exc(w, "archive_in_khaos", "NOPE-4"),
                  "bad-sku: an item with an unknown SKU deleted -> its drift resolved, no archive_in_khaos (no such "
                  "Khaos code)", [json.dumps(exc(w, "identifier_drift", "NOPE-4")), json.dumps(exc(w, "archive_in_khaos", "NOPE-4"))])
        # a SKU longer than any Khaos code: drift under the item's own name, UNKNOWN_STOCK_CODE on it
        e3 = add_items(w, [{"ItemNumber": "L" * 80, "ItemName": "Long"}])[0]
        listener(w, "EntityCreated", e3)
        ok, secs, last = wait_fields(w, e3, {"KhaosStatus": "UNKNOWN_STOCK_CODE"})
        e, _ = wait_exc(w, "identifier_drift", "inriver:%d" % e3)
        rep.check(ok and bool(e) and "KhaosAvailable" not in last,
                  "bad-sku: a SKU of 80 characters -> identifier_drift inriver:%d and KhaosStatus UNKNOWN_STOCK_CODE "
                  "written, as the message says" % e3, [json.dumps(last), json.dumps(e)])
        s.khaos(w, [{"code": "NOPE-1", "available": 2}])
        listener(w, "EntityUpdated", eid, fields=[{"fieldTypeId": "ItemNumber"}])
        ok, secs, last = wait_fields(w, eid, {"KhaosStatus": "OK", "KhaosAvailable": 2})
        # the PUT lands before kcgate commits its outcome: wait for the resolution too
        e, _ = w.wait(lambda: (exc(w, "identifier_drift", "NOPE-1") or {}).get("resolved_at")
                      and exc(w, "identifier_drift", "NOPE-1"), 10, 0.2)
        rep.check(ok and e, "bad-sku: the code created in Khaos -> OK, drift resolved",
                  [json.dumps(last), json.dumps(exc(w, "identifier_drift", "NOPE-1"))])
        finish(w, rep, "bad-sku")
    finally:
        w.close(rep.failed > 0)


def new_code(args, rep, name, create):
    w = world(args, rep, name, inriver={"create_missing_items": "true" if create else "false"})
    try:
        s.khaos(w, [{"code": "SKU-A", "available": 1}])
        add_items(w, [{"ItemNumber": "SKU-A", "ItemName": "A"}])
        if not ready(w, rep, name, ["SKU-A"]):
            return
        s.khaos(w, [{"code": "SKU-NEW", "available": 4}])

        def created():
            return [e for e in entities(w).values() if e["fields"].get("ItemNumber") == "SKU-NEW"]
        if create:
            v, secs = w.wait(lambda: [e for e in created() if e["fields"].get("KhaosStatus") == "OK"], 20)
            f = v[0]["fields"] if v else {}
            mine = set_by_createnew(w, v[0]["id"]) if v else set()
            rep.check(bool(v) and len(created()) == 1 and f.get("KhaosAvailable") == 4
                      and mine == OWNED | {SKU_FIELD} and f.get("ItemDescription") == "",
                      "create-missing: a new Khaos code -> one item created; the createnew set the SKU and "
                      "Khaos's fields only, the model's defaults kept (%.1f s)" % secs,
                      ["set: %s" % sorted(mine), json.dumps(created())] + evidence(w, ["SKU-NEW"]))
            bad = only_owned(w)
            rep.check(bool(v) and not bad, "create-missing: the createnew is checked field by field (no field "
                      "outside the SKU and [inriver.fields] set)", bad[:5])
            if v:  # inriver announces the item kcgate created: read, nothing written again (no loop)
                w.quiet(10)
                n_put = w.sim.state()["inriver"]["puts"]
                listener(w, "EntityCreated", v[0]["id"])
                w.quiet(10)
                time.sleep(0.5)
                rep.check(w.sim.state()["inriver"]["puts"] == n_put and len(created()) == 1,
                          "create-missing: EntityCreated for kcgate's own new item -> no write, no second item")
        else:
            e, secs = wait_exc(w, "unlinked_sku", "SKU-NEW")
            rep.check(bool(e) and e.get("owner") == "ecommerce" and e.get("system") == "inriver" and not created(),
                      "unlinked: a new Khaos code with no item -> unlinked_sku (inriver, ecommerce), nothing "
                      "created (%.1f s)" % secs, [json.dumps(e)] + evidence(w, ["SKU-NEW"]))
        finish(w, rep, name)
    finally:
        w.close(rep.failed > 0)


def scenario_create_missing(args, rep):
    new_code(args, rep, "create-missing", True)


def scenario_unlinked(args, rep):
    new_code(args, rep, "unlinked", False)


def scenario_discontinued(args, rep):
    w = world(args, rep, "discontinued")
    try:
        s.set_offers(w, [("SKU-D", 0)])
        s.khaos(w, [{"code": "SKU-D", "available": 5}, {"code": "SKU-N", "available": 5}])
        eid, nid = add_items(w, [{"ItemNumber": "SKU-D", "ItemName": "Old"},
                                 {"ItemNumber": "SKU-N", "ItemName": "Not on Mirakl"}])
        if not ready(w, rep, "discontinued", ["SKU-D", "SKU-N"]):
            return
        ok1, _, _ = s.wait_offers(w, {"SKU-D": 5}, 20)
        ok2, _, last = wait_fields(w, eid, {"KhaosStatus": "OK", "KhaosAvailable": 5})
        rep.check(ok1 and ok2, "discontinued: linked by the first audit, published 5, KhaosStatus OK",
                  [json.dumps(last)] + evidence(w, ["SKU-D"]))
        s.khaos(w, [{"code": "SKU-D", "available": 5, "status": 4}])
        ok, secs, last = wait_fields(w, eid, {"KhaosStatus": "DISCONTINUED"}, 25)
        rep.check(ok and s.offers(w, "SKU-D").get("SKU-D") == 0,
                  "discontinued: Mirakl 0, then KhaosStatus DISCONTINUED (%.1f s)" % secs,
                  [json.dumps(last)] + evidence(w, ["SKU-D"]))
        st, mk = w.sim.call("GET", "/_sim/requests?system=mirakl&limit=1000")
        mk = mk["requests"] if st == 200 else []
        sto01 = [r for r in mk if r["method"] == "POST" and r["path"].endswith("/stock/imports")
                 and "\"SKU-D\";\"0\"" in r["body"] and r["reply_status"] == 201]
        put = [r["seq"] for r in puts(w, eid) if "DISCONTINUED" in r["body"]]

        def answered(r):
            try:
                return json.loads(r["reply_body"]).get("status")
            except ValueError:
                return None
        imp = json.loads(sto01[0]["reply_body"]).get("import_id") if sto01 else None
        # the STO02 calls about that very import, between it and the PUT, and what each answered
        sto02 = [(r["seq"], r["reply_status"], answered(r)) for r in mk if r["method"] == "GET" and imp
                 and r["path"].endswith("/%s/status" % imp) and put and sto01[0]["seq"] < r["seq"] < put[0]]
        good = sto01 and put and sto01[0]["seq"] < put[0] and (200, "COMPLETE") in [x[1:] for x in sto02]
        rep.check(bool(good), "discontinued: the request log shows STO01 with SKU-D;0 (import %s), a STO02 of it "
                  "that answered COMPLETE, then the PUT (seq %s < %s < %s)"
                  % (imp, [r["seq"] for r in sto01[:1]], [x[0] for x in sto02 if x[2] == "COMPLETE"][:1], put[:1]),
                  ["STO02 answers: %s" % sto02[:6],
                   json.dumps([r for r in mk if r["method"] == "POST"][-3:])[:800]])
        # a code with no offer on Mirakl: nothing to unpublish (its line refused) -> flagged all the same
        ok, _, _ = wait_fields(w, nid, {"KhaosStatus": "OK"})
        s.khaos(w, [{"code": "SKU-N", "available": 5, "status": 4}])
        ok2, secs, last = wait_fields(w, nid, {"KhaosStatus": "DISCONTINUED"}, 25)
        rep.check(ok and ok2, "discontinued: a code with no Mirakl offer (its 0 line refused) -> KhaosStatus "
                  "DISCONTINUED all the same (%.1f s)" % secs, [json.dumps(last)] + evidence(w, ["SKU-N"]))
        finish(w, rep, "discontinued")
    finally:
        w.close(rep.failed > 0)


def scenario_deleted(args, rep):
    w = world(args, rep, "deleted")
    try:
        s.set_offers(w, [("SKU-X", 0)])
        s.khaos(w, [{"code": "SKU-X", "available": 6}])
        eid = add_items(w, [{"ItemNumber": "SKU-X", "ItemName": "Gone soon"}])[0]
        if not ready(w, rep, "deleted", ["SKU-X"]):
            return
        ok, _, _ = s.wait_offers(w, {"SKU-X": 6}, 20)
        rep.check(ok, "deleted: published 6 while the item lives", evidence(w, ["SKU-X"]))
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % eid)
        rep.check(listener(w, "EntityDeleted", eid, entityTypeId="Item", displayName="Gone soon") == 204,
                  "deleted: the listener takes EntityDeleted (204)")
        ok, secs, last = s.wait_offers(w, {"SKU-X": 0}, 20)
        rep.check(ok, "deleted: Mirakl quantity 0 for SKU-X (%.1f s)" % secs, [json.dumps(last)] + evidence(w, ["SKU-X"]))
        e, _ = wait_exc(w, "archive_in_khaos", "SKU-X")
        rep.check(bool(e) and e.get("system") == "khaos" and e.get("owner") == "operations",
                  "deleted: archive_in_khaos (system khaos, owner operations)", [json.dumps(e)])
        v = w.aget("/admin/skus/SKU-X") or {}
        rep.check(v.get("inriver", {}).get("deleted_at") and v.get("inriver", {}).get("mirakl_gate") == "zero",
                  "deleted: /admin/skus/SKU-X shows the deletion and Mirakl's gate at zero", [json.dumps(v)[:800]])
        # a mistake: the item is created again -> linked, published again, nothing to archive
        eid2 = add_items(w, [{"ItemNumber": "SKU-X", "ItemName": "Back"}])[0]
        listener(w, "EntityCreated", eid2)
        ok, secs, last = s.wait_offers(w, {"SKU-X": 6}, 20)
        e, _ = w.wait(lambda: (exc(w, "archive_in_khaos", "SKU-X") or {}).get("resolved_at"), 10, 0.2)
        rep.check(ok and e, "deleted: the item created again -> published 6 again, archive_in_khaos resolved "
                  "(%.1f s)" % secs, [json.dumps(last), json.dumps(exc(w, "archive_in_khaos", "SKU-X"))])
        finish(w, rep, "deleted")
    finally:
        w.close(rep.failed > 0)


def scenario_deleted_duplicate(args, rep):
    w = world(args, rep, "deleted-duplicate")
    try:
        s.set_offers(w, [("SKU-T", 0)])
        s.khaos(w, [{"code": "SKU-T", "available": 6}])
        a, b = add_items(w, [{"ItemNumber": "SKU-T", "ItemName": "One"}, {"ItemNumber": "SKU-T", "ItemName": "Two"}])
        if not ready(w, rep, "deleted-duplicate", ["SKU-T"]):
            return
        e, _ = wait_exc(w, "duplicate_sku", "SKU-T")
        ok, _, _ = s.wait_offers(w, {"SKU-T": 6}, 20)
        view = (w.aget("/admin/skus/SKU-T") or {}).get("inriver", {})
        linked = view.get("entity_id")
        other = b if linked == a else a
        ok2, _, _ = wait_fields(w, linked, {"KhaosStatus": "OK", "KhaosAvailable": 6})
        rep.check(bool(e) and ok and ok2 and linked in (a, b) and sorted(view.get("holders") or []) == [a, b]
                  and "KhaosStatus" not in entities(w)[other]["fields"],
                  "deleted-duplicate: items %d and %d hold SKU-T: duplicate_sku, published 6, Khaos's fields on "
                  "the linked one (%s), both listed as holders" % (a, b, linked), [json.dumps(view)] + evidence(w))
        # the linked item is deleted: the code lives on in the other
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % linked)
        rep.check(listener(w, "EntityDeleted", linked, entityTypeId="Item") == 204,
                  "deleted-duplicate: the listener takes EntityDeleted of the linked item (204)")
        ok, secs, last = wait_fields(w, other, {"KhaosStatus": "OK", "KhaosAvailable": 6})
        r, _ = w.wait(lambda: (exc(w, "duplicate_sku", "SKU-T") or {}).get("resolved_at"), 10, 0.2)
        w.quiet(10)
        time.sleep(3)  # a flush or two: a 0 would reach Mirakl by now
        view = (w.aget("/admin/skus/SKU-T") or {}).get("inriver", {})
        rep.check(ok and bool(r) and not exc(w, "archive_in_khaos", "SKU-T")
                  and s.offers(w, "SKU-T").get("SKU-T") == 6 and view.get("entity_id") == other
                  and view.get("mirakl_gate") == "open" and not view.get("holders"),
                  "deleted-duplicate: the other item takes the code (Khaos's fields written to it in %.1f s), "
                  "duplicate_sku resolved, Mirakl keeps 6, no archive_in_khaos" % secs,
                  [json.dumps(last), json.dumps(view), json.dumps(s.offers(w, "SKU-T"))] + evidence(w, ["SKU-T"]))
        # the last item holding it is deleted: 0 and archive_in_khaos
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % other)
        listener(w, "EntityDeleted", other, entityTypeId="Item")
        ok, secs, last = s.wait_offers(w, {"SKU-T": 0}, 20)
        e, _ = wait_exc(w, "archive_in_khaos", "SKU-T")
        rep.check(ok and bool(e), "deleted-duplicate: the last item deleted -> Mirakl 0 (%.1f s) and "
                  "archive_in_khaos" % secs, [json.dumps(last)] + evidence(w, ["SKU-T"]))
        finish(w, rep, "deleted-duplicate")
    finally:
        w.close(rep.failed > 0)


def scenario_holders(args, rep):
    w = world(args, rep, "holders")
    try:
        s.set_offers(w, [("SKU-T", 0), ("SKU-U", 0), ("SKU-Y", 0)])
        s.khaos(w, [{"code": "SKU-T", "available": 6}, {"code": "SKU-U", "available": 3},
                    {"code": "SKU-Y", "available": 2}])
        a = add_items(w, [{"ItemNumber": "SKU-T", "ItemName": "One"}])[0]
        u1, u2 = add_items(w, [{"ItemNumber": "SKU-U", "ItemName": "U1"}, {"ItemNumber": "SKU-U", "ItemName": "U2"}])
        if not ready(w, rep, "holders", ["SKU-T", "SKU-U", "SKU-Y"]):
            return
        ok, _, _ = s.wait_offers(w, {"SKU-T": 6, "SKU-U": 3}, 20)
        # B created with SKU-T: the code follows B; then A deleted -> nothing unpublished, duplicate resolved
        b = add_items(w, [{"ItemNumber": "SKU-T", "ItemName": "Two"}])[0]
        listener(w, "EntityCreated", b)
        v, _ = w.wait(lambda: (w.aget("/admin/skus/SKU-T") or {}).get("inriver", {}).get("entity_id") == b, 10)
        d, _ = wait_exc(w, "duplicate_sku", "SKU-T")
        rep.check(ok and bool(v) and bool(d), "holders: B created with SKU-T -> the code follows B, duplicate_sku",
                  evidence(w, ["SKU-T"]))
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % a)
        listener(w, "EntityDeleted", a, entityTypeId="Item")
        r, _ = w.wait(lambda: (exc(w, "duplicate_sku", "SKU-T") or {}).get("resolved_at"), 10, 0.2)
        w.quiet(10)
        rep.check(bool(r) and not exc(w, "archive_in_khaos", "SKU-T") and s.offers(w, "SKU-T").get("SKU-T") == 6,
                  "holders: the earlier holder A deleted -> duplicate_sku resolved, Mirakl keeps 6, nothing to archive",
                  [json.dumps(exc(w, "duplicate_sku", "SKU-T"))] + evidence(w, ["SKU-T"]))
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % b)
        listener(w, "EntityDeleted", b, entityTypeId="Item")
        ok, secs, last = s.wait_offers(w, {"SKU-T": 0}, 20)
        e, _ = wait_exc(w, "archive_in_khaos", "SKU-T")
        rep.check(ok and bool(e), "holders: then B, the last holder, deleted -> Mirakl 0 (%.1f s) and "
                  "archive_in_khaos" % secs, [json.dumps(last)] + evidence(w, ["SKU-T"]))
        # two hold SKU-U; the one not linked moves to SKU-Y; then the linked one is deleted
        linked = (w.aget("/admin/skus/SKU-U") or {}).get("inriver", {}).get("entity_id")
        other = u2 if linked == u1 else u1
        w.sim.ok("POST", "/_sim/inriver/entities/%d/fields" % other, {"fields": {"ItemNumber": "SKU-Y"}})
        listener(w, "EntityUpdated", other, fields=[{"fieldTypeId": "ItemNumber"}])
        ok1, _, _ = wait_fields(w, other, {"KhaosAvailable": 2})
        r, _ = w.wait(lambda: (exc(w, "duplicate_sku", "SKU-U") or {}).get("resolved_at"), 10, 0.2)
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % linked)
        listener(w, "EntityDeleted", linked, entityTypeId="Item")
        ok2, secs, last = s.wait_offers(w, {"SKU-U": 0}, 20)
        e, _ = wait_exc(w, "archive_in_khaos", "SKU-U")
        s.khaos(w, [{"code": "SKU-U", "available": 9}])
        time.sleep(3)
        w.quiet(10)
        f = entities(w)[other]["fields"]
        y = (w.aget("/admin/skus/SKU-Y") or {}).get("inriver", {})
        rep.check(ok1 and bool(r) and ok2 and bool(e) and f.get("KhaosAvailable") == 2 and y.get("entity_id") == other,
                  "holders: an item whose SKU moved to SKU-Y leaves SKU-U's holders (duplicate_sku resolved); the "
                  "other deleted -> SKU-U at 0 and archive_in_khaos; SKU-U's figures never reach the moved item",
                  [json.dumps(f), json.dumps(y), json.dumps(last)] + evidence(w, ["SKU-U"]))
        finish(w, rep, "holders")
    finally:
        w.close(rep.failed > 0)


def scenario_poll_deleted(args, rep):
    w = world(args, rep, "poll-deleted", inriver={"listen": "false", "poll_interval_s": "1"},
              stock={"require_inriver_link": "true"})
    try:
        s.set_offers(w, [("SKU-Q", 0)])
        s.khaos(w, [{"code": "SKU-Q", "available": 4}])
        eid = add_items(w, [{"ItemNumber": "SKU-Q", "ItemName": "Q"}])[0]
        if not ready(w, rep, "poll-deleted", ["SKU-Q"]):
            return
        ok, _, _ = s.wait_offers(w, {"SKU-Q": 4}, 20)
        rep.check(ok, "poll-deleted: linked by the first audit, published 4", evidence(w, ["SKU-Q"]))
        # deleted in inriver: the poll hears nothing of it; the audit finds the code without its item
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % eid)
        st, _ = w.admin("POST", "/admin/audit/skus")
        ok, secs, last = s.wait_offers(w, {"SKU-Q": 0}, 30)
        e, _ = wait_exc(w, "archive_in_khaos", "SKU-Q")
        v = (w.aget("/admin/skus/SKU-Q") or {}).get("inriver", {})
        rep.check(st == 202 and ok and bool(e) and not v.get("linked") and v.get("mirakl_gate") == "zero",
                  "poll-deleted: the audit finds the linked item gone -> unlinked, Mirakl 0 (%.1f s), "
                  "archive_in_khaos" % secs, [json.dumps(v), json.dumps(last)] + evidence(w, ["SKU-Q"]))
        finish(w, rep, "poll-deleted")
    finally:
        w.close(rep.failed > 0)


def scenario_warehouses(args, rep):
    w = world(args, rep, "warehouses", more={"stock.warehouses": {"1": "WH-A", "2": "WH-B"}},
              sim_settings={"warehouses": ["WH-A", "WH-B"]})
    try:
        s.set_offers(w, [("SKU-H", 0), ("SKU-G", 0)])
        s.khaos(w, [{"code": "SKU-H", "levels": {"1": 3, "2": 4}}, {"code": "SKU-G", "levels": {"1": 2, "2": 5}}])
        h_id, g_id = add_items(w, [{"ItemNumber": "SKU-H", "ItemName": "Hat"}, {"ItemNumber": "SKU-G", "ItemName": "Glove"}])
        if not ready(w, rep, "warehouses", ["SKU-H", "SKU-G"]):
            return
        want = {"SKU-H": {"WH-A": 3, "WH-B": 4}, "SKU-G": {"WH-A": 2, "WH-B": 5}}

        def per_wh():
            got = s.offer_states(w, *want)
            return all(got.get(k, {}).get("warehouses") == v for k, v in want.items())
        ok1, _ = w.wait(per_wh, 20)
        ok2, secs, last = wait_fields(w, h_id, {"KhaosStatus": "OK", "KhaosAvailable": 7})
        time.sleep(4)  # several polls, each reporting SKU-H once per site
        n_puts = len(puts(w, h_id))
        rep.check(bool(ok1) and ok2 and n_puts == 1 and entities(w)[h_id]["fields"].get("KhaosAvailable") == 7,
                  "warehouses: each site's level on its Mirakl warehouse; inriver gets the code's sum (7), in one "
                  "PUT (%d), not one figure per site" % n_puts,
                  [json.dumps(s.offer_states(w, *want)), json.dumps(last)] + evidence(w, ["SKU-H"]))
        # discontinued: DISCONTINUED only once every warehouse shows 0
        s.khaos(w, [{"code": "SKU-H", "levels": {"1": 3, "2": 4}, "status": 4}])
        ok, secs, last = wait_fields(w, h_id, {"KhaosStatus": "DISCONTINUED"}, 25)
        wh = s.offer_states(w, "SKU-H").get("SKU-H", {}).get("warehouses")
        rep.check(ok and wh == {"WH-A": 0, "WH-B": 0},
                  "warehouses: discontinued -> 0 in both warehouses, then KhaosStatus DISCONTINUED (%.1f s)" % secs,
                  [json.dumps(last), json.dumps(wh)] + evidence(w, ["SKU-H"]))
        # deleted in inriver: every warehouse of the code gets 0
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % g_id)
        listener(w, "EntityDeleted", g_id, entityTypeId="Item")
        want = {"SKU-G": {"WH-A": 0, "WH-B": 0}}
        ok, secs = w.wait(per_wh, 20)
        e, _ = wait_exc(w, "archive_in_khaos", "SKU-G")
        rep.check(bool(ok) and bool(e), "warehouses: the item deleted in inriver -> 0 in both warehouses "
                  "(%.1f s) and archive_in_khaos" % secs, [json.dumps(s.offer_states(w, "SKU-G"))] + evidence(w, ["SKU-G"]))
        finish(w, rep, "warehouses")
    finally:
        w.close(rep.failed > 0)


def scenario_require_link(args, rep):
    w = world(args, rep, "require-link", stock={"require_inriver_link": "true"})
    try:
        s.set_offers(w, [("SKU-L", 0), ("SKU-U", 3)])  # SKU-U: a figure from before the rule
        s.khaos(w, [{"code": "SKU-L", "available": 8}, {"code": "SKU-U", "available": 9}])
        add_items(w, [{"ItemNumber": "SKU-L", "ItemName": "Linked"}])
        if not ready(w, rep, "require-link", ["SKU-L", "SKU-U"]):
            return
        ok, secs, last = s.wait_offers(w, {"SKU-L": 8, "SKU-U": 0}, 20)
        g = (w.aget("/admin/skus/SKU-U") or {}).get("inriver", {}).get("mirakl_gate")
        rep.check(ok and g == "zero", "require-link: the linked code is published (8), the unlinked one gets 0 once "
                  "the audit mapped the catalogue (gate %s)" % g, [json.dumps(last)] + evidence(w, ["SKU-U"]))
        eid = add_items(w, [{"ItemNumber": "SKU-U", "ItemName": "Now linked"}])[0]
        listener(w, "EntityCreated", eid)
        ok, secs, last = s.wait_offers(w, {"SKU-U": 9}, 20)
        rep.check(ok, "require-link: its item created in inriver -> published 9 (%.1f s)" % secs,
                  [json.dumps(last)] + evidence(w, ["SKU-U"]))
        finish(w, rep, "require-link")
    finally:
        w.close(rep.failed > 0)


def scenario_poll(args, rep):
    w = world(args, rep, "poll", inriver={"listen": "false", "poll_interval_s": "1"})
    try:
        s.khaos(w, [{"code": "SKU-P", "available": 2}])
        if not ready(w, rep, "poll", ["SKU-P"]):
            return
        time.sleep(1.5)  # the first poll starts the watermark
        eid = add_items(w, [{"ItemNumber": "SKU-P", "ItemName": "Polled"}])[0]
        ok, secs, last = wait_fields(w, eid, {"KhaosStatus": "OK", "KhaosAvailable": 2})
        q = [r for r in ir_requests(w) if r["path"].endswith("/query") and "LastModified" in r["body"]]
        rep.check(ok and q, "poll: no listener; the LastModified query finds the new item, Khaos's fields written "
                  "(%.1f s)" % secs, [json.dumps(last)] + evidence(w, ["SKU-P"]))
        finish(w, rep, "poll")
    finally:
        w.close(rep.failed > 0)


def khaos_calls(w, after_seq):
    """The Khaos SOAP requests after @p after_seq: (seq, method, StockCode, reply body)."""
    out = []
    for r in w.sim.requests("khaos"):
        if r["seq"] <= after_seq or r["method"] != "POST":
            continue
        body = r["body"]
        m = next((x for x in ("GetStockList", "ExportStockStatus", "ImportOrders", "ExportOrderStatusEx",
                              "GetSOPData") if ":" + x + " " in body or ":" + x + ">" in body), "?")
        code = None
        if "<StockCode" in body:
            code = body.split("<StockCode", 1)[1].split(">", 1)[1].split("<", 1)[0]
        out.append((r["seq"], m, code, r["reply_body"]))
    return out


def last_seq(w):
    reqs = w.sim.requests("khaos")
    return reqs[-1]["seq"] if reqs else 0


def scenario_stock_list(args, rep):
    w = world(args, rep, "stock-list", more={"khaos": {"stock_list_interval_s": "10"}})
    try:
        s.khaos(w, [{"code": "SKU-L", "available": 4}])
        if not ready(w, rep, "stock-list", ["SKU-L"]):
            return
        eid = linked_item(w, rep, "stock-list", "SKU-L", 4)
        if eid is None:
            return
        ok, secs, last = wait_fields(w, eid, {"KhaosPrice": 10.0})
        rep.check(ok, "stock-list: KhaosPrice 10.0 (Khaos's SELL_PRICE 10.00) written first", [json.dumps(last)])
        # the first skus.revised only starts GetStockList's clock
        v, secs = w.wait(lambda: w.job_done("skus.revised", "all", "khaos"), 25, 0.25)
        rep.check(bool(v), "stock-list: the first skus.revised ran (it starts the clock; %.1f s)" % secs,
                  w.inst.log_tail(10))
        # (carried on either way: the price below is what must arrive)
        # past the stock poll's overlap (poll_overlap_s 2): SKU-L's last change
        # is in no later changes-only window
        time.sleep(3)
        seq = last_seq(w)
        w.sim.ok("POST", "/_sim/khaos/stock",
                 {"items": [{"code": "SKU-L", "sell_price": "12.50", "revised_only": True}]})
        ok, secs, last = wait_fields(w, eid, {"KhaosPrice": 12.5}, 35)
        calls = khaos_calls(w, seq)
        rep.check(ok, "stock-list: a price revised alone in Khaos (12.50) reaches KhaosPrice as 12.5 (%.1f s)" % secs,
                  [json.dumps(last)] + ["%d %s %s" % c[:3] for c in calls[-12:]] + w.inst.log_tail(10))
        named = [c for c in calls if c[1] == "GetStockList" and "SKU-L" in c[3]]
        alone = [c for c in calls if c[1] == "ExportStockStatus" and c[2] == "SKU-L"]
        polls = [c for c in calls if c[1] == "ExportStockStatus" and c[2] == ""]
        seen = [c[0] for c in polls if "SKU-L" in c[3]]
        rep.check(bool(named) and bool(alone) and named[0][0] < alone[0][0] and len(polls) > 0 and not seen,
                  "stock-list: GetStockList named SKU-L, then ExportStockStatus read SKU-L alone; none of the %d "
                  "changes-only polls since reported it" % len(polls),
                  ["GetStockList naming it: %s" % [c[0] for c in named], "ExportStockStatus for it alone: %s" %
                   [c[0] for c in alone], "polls reporting it: %s" % seen])
        # 501 codes revised at once: not 501 single-code calls, one whole read
        many = ["SKU-M%04d" % i for i in range(501)]
        s.khaos(w, [{"code": c, "available": 1} for c in many])
        time.sleep(3)  # past the poll's overlap, as above
        seq = last_seq(w)
        s.khaos(w, [{"code": c, "sell_price": "3.00", "revised_only": True} for c in many])
        whole = {}

        def whole_read():
            for c in khaos_calls(w, seq):  # every code (no StockCode), since 2000-01-01: the whole catalogue
                if c[1] == "ExportStockStatus" and not c[2]:
                    body = [r["body"] for r in w.sim.requests("khaos") if r["seq"] == c[0]][0]
                    if "2000-01-01T00:00:00" in body:
                        whole["seq"] = c[0]
                        return True
            return False
        v, secs = w.wait(whole_read, 35, 0.5)
        calls = khaos_calls(w, seq)
        singles = [c for c in calls if c[1] == "ExportStockStatus" and c[2] and c[2].startswith("SKU-M")]
        said = "too many revised codes" in w.inst.log_text()
        rep.check(bool(v) and not singles and said,
                  "stock-list: 501 codes revised at once -> one whole-catalogue ExportStockStatus read (%.1f s), "
                  "no single-code call, and the log says why" % secs,
                  ["single-code calls: %d" % len(singles), "log says so: %s" % said] + w.inst.log_tail(5))
        # the whole read done, the polls after it ask for changes only again (no loop of whole reads)
        time.sleep(3)
        later = [r for r in w.sim.requests("khaos") if r["seq"] > whole.get("seq", 1 << 60)
                 and "ExportStockStatus" in r["body"] and "<StockCode" in r["body"]
                 and r["body"].split("<StockCode", 1)[1].split(">", 1)[1].startswith("<")]
        rep.check(bool(later) and all("2000-01-01T00:00:00" not in r["body"] for r in later),
                  "stock-list: the polls after the whole read ask for changes only (%d polls)" % len(later),
                  [r["body"][-300:] for r in later[:2]])
        finish(w, rep, "stock-list")
    finally:
        w.close(rep.failed > 0)


def scenario_audit(args, rep, n=10000):
    w = world(args, rep, "audit", stock={"drift_page_delay_ms": "0"})
    try:
        codes = ["A%05d" % i for i in range(n)]
        unlinked = ["A00010", "A04020", "A09030"]
        dups = ["A00100", "A05200"]
        bad = ["BAD-1", "BAD-2", "BAD-3"]
        w.sim.ok("POST", "/_sim/khaos/stock", {"items": [{"code": c, "available": 5} for c in codes]})
        s.set_offers(w, [(c, 5) for c in codes] + [("GHOST-1", 3)])
        items = [{"ItemNumber": c} for c in codes if c not in unlinked]
        items += [{"ItemNumber": c, "ItemName": "twin"} for c in dups] + [{"ItemNumber": b} for b in bad]
        ids = add_items(w, items)
        t0 = time.monotonic()
        if not ready(w, rep, "audit", codes[:1] + codes[-1:]):
            return

        def found():
            miss = [("unlinked_sku", c) for c in unlinked if not exc(w, "unlinked_sku", c)]
            miss += [("duplicate_sku", c) for c in dups if not exc(w, "duplicate_sku", c)]
            miss += [("identifier_drift", b) for b in bad if not exc(w, "identifier_drift", b)]
            miss += [("ghost_sku", "GHOST-1")] if not exc(w, "ghost_sku", "GHOST-1") else []
            return miss
        v, secs = w.wait(lambda: not found(), 40, 0.5)
        miss = found()
        rep.check(not miss, "audit: %d codes, %d items: every planted problem found (%.1f s after start)"
                  % (n, len(items), time.monotonic() - t0), [json.dumps(miss)] + evidence(w, unlinked[:1]))
        extra = [e for e in (w.exceptions(1) or []) if e["kind"] in ("unlinked_sku", "duplicate_sku", "identifier_drift")
                 and e["subject"] not in unlinked + dups + bad]
        rep.check(not extra, "audit: nothing else reported", [json.dumps(extra[:3])])
        e = exc(w, "duplicate_sku", "A00100") or {}
        rep.check("Khaos: active" in e.get("message", "") and "Mirakl:" in e.get("message", ""),
                  "audit: the exception gives the three systems' view", [e.get("message", "")])
        add_items(w, [{"ItemNumber": "BAD-4"}])
        st, j = w.admin("POST", "/admin/audit/skus")
        rep.check(st == 202 and j.get("kind") == "inriver.audit", "audit: POST /admin/audit/skus -> 202", [json.dumps(j)])
        e4, secs = wait_exc(w, "identifier_drift", "BAD-4", 30)
        rep.check(bool(e4), "audit: the audit on demand finds a new bad item (%.1f s)" % secs)
        p = w.aget("/admin/skus?problem=1&limit=1000") or {}
        listed = {x["sku"] for x in p.get("skus", [])}
        want = set(unlinked + dups + bad + ["GHOST-1", "BAD-4"])
        rep.check(want <= listed and p.get("last_audit", {}).get("codes") == n,
                  "audit: GET /admin/skus?problem=1 lists every one, with the last audit's summary",
                  [json.dumps(sorted(want - listed)), json.dumps(p.get("last_audit"))])
        one = w.aget("/admin/skus/A00100") or {}
        rep.check(one.get("khaos", {}).get("active") and one.get("inriver", {}).get("linked")
                  and "duplicate_sku" in one.get("problems", []) and one.get("mirakl") is not None,
                  "audit: GET /admin/skus/A00100 shows Khaos, inriver and Mirakl", [json.dumps(one)[:800]])
        # the twin is read (an edit): the code follows it; deleting the original then unpublishes nothing
        original = ids[[i["ItemNumber"] for i in items].index("A00100")]
        twin = ids[len(items) - len(bad) - len(dups)]
        listener(w, "EntityUpdated", twin, fields=[{"fieldTypeId": "ItemName"}])
        v, _ = w.wait(lambda: (w.aget("/admin/skus/A00100") or {}).get("inriver", {}).get("entity_id") == twin, 10)
        w.sim.ok("POST", "/_sim/inriver/entities/%d/delete" % original)
        listener(w, "EntityDeleted", original, entityTypeId="Item")
        w.quiet(10)
        one = w.aget("/admin/skus/A00100") or {}
        rep.check(bool(v) and not exc(w, "archive_in_khaos", "A00100")
                  and one.get("inriver", {}).get("mirakl_gate") == "open" and not one["inriver"].get("deleted_at"),
                  "audit: duplicates: the code follows the item read last; deleting the other unpublishes nothing",
                  [json.dumps(one.get("inriver"))])
        finish(w, rep, "audit")
    finally:
        w.close(rep.failed > 0)


def scenario_rate_limited(args, rep):
    w = world(args, rep, "rate-limited")
    try:
        s.khaos(w, [{"code": "SKU-R", "available": 4}])
        if not ready(w, rep, "rate-limited", ["SKU-R"]):
            return
        w.sim.ok("POST", "/_sim/faults", {"system": "inriver", "rate_limit_rate": 0.6, "retry_after_s": 1,
                                          "seed": 7})
        eid = add_items(w, [{"ItemNumber": "SKU-R", "ItemName": "Busy"}])[0]
        listener(w, "EntityCreated", eid)
        ok, secs, last = wait_fields(w, eid, {"KhaosStatus": "OK", "KhaosAvailable": 4}, 30)
        st, reqs = w.sim.call("GET", "/_sim/requests?system=inriver&limit=1000")
        js = [j for j in (w.jobs(None, "inriver") or []) if j.get("kind") == "inriver.entity"]
        retried = [j for j in js if j.get("attempts", 0) > 0]
        rep.check(ok and retried and not [j for j in js if j.get("state") == "dead"],
                  "rate-limited: 60%% of inriver calls answered 429 (Retry-After 1) -> retried with backoff, "
                  "Khaos's fields written (%.1f s, %d attempts)" % (secs, sum(j.get("attempts", 0) for j in js)),
                  [json.dumps(last), json.dumps(js)[:600]])
        w.sim.ok("POST", "/_sim/faults", {"system": "inriver", "clear": True})
        finish(w, rep, "rate-limited")
    finally:
        w.close(rep.failed > 0)


SCENARIOS = {
    "rate-limited": scenario_rate_limited,
    "good-sku": scenario_good_sku,
    "echo": scenario_echo,
    "hand-edit": scenario_hand_edit,
    "bad-sku": scenario_bad_sku,
    "create-missing": scenario_create_missing,
    "unlinked": scenario_unlinked,
    "discontinued": scenario_discontinued,
    "deleted": scenario_deleted,
    "deleted-duplicate": scenario_deleted_duplicate,
    "holders": scenario_holders,
    "poll-deleted": scenario_poll_deleted,
    "warehouses": scenario_warehouses,
    "require-link": scenario_require_link,
    "poll": scenario_poll,
    "stock-list": scenario_stock_list,
    "audit": scenario_audit,
}


if __name__ == "__main__":
    sys.exit(o.main(SCENARIOS, "kcgate inriver flow end-to-end tests (against kcgate-sim)"))
