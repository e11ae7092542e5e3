#!/usr/bin/env python3
"""./dev bench despatch: how fast kcgate takes Khaos despatches to Mirakl
(OR23 tracking + OR24 ship), against kcgate-sim with a fixed latency on
every peer call.

1,000 orders (default) are first taken through flow 1 (accepted, debited,
booked in Khaos at SHIPPING: not timed). Then every one is despatched in
the simulated Khaos at once (a box with courier and consignment ref), and
the clock runs until every order is SHIPPED on the simulated Mirakl. The
despatch poll (one ExportOrderStatusEx by date range) runs every
--poll-s seconds; the calls counted are those of the despatch phase only:
the poll must cost a handful of Khaos calls, not one per order.

The last line is
  despatch: n=<n> seconds=<s> per_s=<r> khaos_calls=<k> mirakl_calls=<m>
or "despatch: FAILED: <why>" with exit status 1. Python stdlib only.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import orders as ob  # noqa: E402  (bench/orders.py: the sim and process helpers)

Failed = ob.Failed
sim_call = ob.sim_call

CONF = """[server]
listen = 127.0.0.1:%(port)d
[store]
path = %(tmp)s/store
map_size_mb = 1024
[admin]
token = file:%(tmp)s/admin
[mirakl]
webhook_auth = standard
webhook_secret = file:%(tmp)s/whsec
base_url = %(sim)s/mirakl
api_key = file:%(tmp)s/api
[khaos]
soap_url = %(sim)s/khaos/soap/IKosWeb
soap_user = kcgate
soap_password = file:%(tmp)s/khaos
site = 1
sales_source = MIRAKL
[lanes]
mirakl = %(lanes)d
khaos = %(lanes)d
[inriver]
webhook_auth = none
[despatch]
poll_interval_s = %(poll)d
[carriers]
Royal Mail 48 = RM
DPD Next Day = DPD
"""


def wait_until(sim, what, pred, timeout, proc):
    deadline = time.time() + timeout
    while True:
        state = sim_call(sim, "GET", "/_sim/state")
        if pred(state):
            return state
        if proc.poll() is not None:
            raise Failed("kcgate exited with status %d while %s" % (proc.returncode, what))
        if time.time() > deadline:
            raise Failed("after %d s: still %s" % (timeout, what))
        time.sleep(0.1)


def run(args, tmp):
    build = args.build
    sim = ob.start_sim(build, tmp)
    skus = ["SKU-%d" % i for i in range(1, 11)]
    sim_call(sim, "POST", "/_sim/khaos/stock", {"items": [{"code": s, "available": 100000} for s in skus]})
    sim_call(sim, "POST", "/_sim/mirakl/carriers", {"carriers": [
        {"code": "RM", "label": "Royal Mail", "tracking_url": "https://rm.example/{trackingId}"},
        {"code": "DPD", "label": "DPD"}]})
    ids = ob.seed_orders(sim, skus, args)
    ob.write_secrets(tmp)
    port = ob.free_port()
    conf = os.path.join(tmp, "kcgate.conf")
    with open(conf, "w") as f:
        f.write(CONF % {"port": port, "tmp": tmp, "sim": sim, "lanes": args.lanes, "poll": args.poll_s})
    sim_call(sim, "POST", "/_sim/mirakl/settings", {
        "webhook_url": "http://127.0.0.1:%d/webhooks/mirakl" % port,
        "webhook_secret": "whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA=="})
    kc_log = os.path.join(tmp, "kcgate.log")
    with open(kc_log, "w") as log:
        proc = subprocess.Popen([os.path.join(build, "kcgate"), "--config", conf], stderr=log)
    ob.procs.append(proc)
    n = args.orders
    # flow 1 first (not timed): every order booked and SHIPPING
    wait_until(sim, "booking the orders", lambda s: len(s["khaos"]["sales_orders"]) >= n and sum(
        1 for o in s["mirakl"]["orders"] if o["order_state"] == "SHIPPING") >= n, args.timeout, proc)
    time.sleep(1.0)  # the booking's tail (record writes) settles
    before = sim_call(sim, "GET", "/_sim/state")["calls"]
    t0 = time.time()
    couriers = ("Royal Mail 48", "DPD Next Day")
    for i, oid in enumerate(ids):
        sim_call(sim, "POST", "/_sim/khaos/despatch", {"associated_ref": oid, "courier": couriers[i % 2],
                                                       "consignment_ref": "CN%07d" % i})
    state = wait_until(sim, "shipping the orders", lambda s: sum(
        1 for o in s["mirakl"]["orders"] if o["order_state"] == "SHIPPED") >= n, args.timeout, proc)
    seconds = time.time() - t0
    calls = state["calls"]
    k, m = calls["khaos"] - before["khaos"], calls["mirakl"] - before["mirakl"]
    wrong = sum(1 for i, oid in enumerate(ids) if ((next(o for o in state["mirakl"]["orders"] if o["order_id"] == oid)
                                                    .get("tracking") or {}).get("tracking_number")) != "CN%07d" % i)
    print("despatch: repeated_ship_calls=%d wrong_tracking=%d latency_ms=%d lanes=%d poll_s=%d" %
          (state["mirakl"]["repeated_ship_calls"], wrong, args.latency_ms, args.lanes, args.poll_s), file=sys.stderr)
    print("despatch: n=%d seconds=%.2f per_s=%.1f khaos_calls=%d mirakl_calls=%d" % (n, seconds, n / seconds, k, m))
    return wrong == 0 and state["mirakl"]["repeated_ship_calls"] == 0


def main():
    ap = ob.bench_args(__doc__)
    ap.add_argument("--poll-s", type=int, default=5, help="[despatch] poll_interval_s")
    return ob.run_in_tmp("despatch", run, ap.parse_args())

if __name__ == "__main__":
    sys.exit(main())
