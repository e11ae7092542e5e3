#!/usr/bin/env python3
"""./dev bench orders: how fast kcgate takes Mirakl orders through their
life (accept, the debit, book in Khaos at SHIPPING), against kcgate-sim
with a fixed latency on every peer call.

1,000 orders (default) wait in the simulated Mirakl before kcgate starts;
kcgate's first OR11 poll (at start) finds them, the sim's signed webhooks
tell it of every change after (the poll is the safety net). The clock runs
from kcgate's start until every order is SHIPPING on the simulated Mirakl
and booked in the simulated Khaos. Khaos's own dedupe is off; duplicates
are the simulator's count of ImportOrders that booked an associated ref a
second time: it must be 0.

The last line is
  orders: n=<n> seconds=<s> orders_per_s=<r> duplicates=<d> booked=<b>
or "orders: FAILED: <why>" with exit status 1. Python stdlib only.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

procs = []


class Failed(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sim_call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def wait_line(path, text, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open(path) as f:
                for line in f:
                    if text in line:
                        return line
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise Failed("no %r in %s within %d s" % (text, path, timeout))


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def seed_orders(sim, skus, args):
    """args.orders orders waiting in the sim (1 to 3 of one SKU each), then
    args.latency_ms on every Mirakl and Khaos call; their order ids."""
    ids = []
    for i in range(0, args.orders, 100):
        batch = [{"order_lines": [{"offer_sku": skus[(i + j) % len(skus)], "quantity": 1 + (i + j) % 3}]}
                 for j in range(min(100, args.orders - i))]
        ids += sim_call(sim, "POST", "/_sim/mirakl/orders", batch)["order_ids"]
    for system in ("mirakl", "khaos"):
        sim_call(sim, "POST", "/_sim/faults", {"system": system, "latency_ms": args.latency_ms})
    return ids


def start_sim(build, tmp, extra=()):
    """kcgate-sim on a free port, with the bench's credentials (and @extra
    arguments); its base URL."""
    sim_log = os.path.join(tmp, "sim.log")
    with open(sim_log, "w") as log:
        procs.append(subprocess.Popen(
            [os.path.join(build, "kcgate-sim"), "--listen", "127.0.0.1:0", "--mirakl-key", "bench-key",
             "--khaos-user", "kcgate", "--khaos-password", "bench-password"] + list(extra), stderr=log))
    line = wait_line(sim_log, "listening on", 10)
    return line.strip().split("listening on ")[1]


def write_secrets(tmp):
    """The secret files the bench configurations name (file:TMP/admin, api, khaos, whsec)."""
    for name, value in (("admin", "bench-admin-token-0123456789"), ("api", "bench-key"),
                        ("khaos", "bench-password"), ("whsec", "whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA==")):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(value)


def write_conf(tmp, sim, map_size_mb, mirakl="", more="", inriver=""):
    """The bench configuration TMP/kcgate.conf (kcgate on a free port, its
    store in TMP/store, the sim's Mirakl and Khaos) and the secret files it
    names (write_secrets()). mirakl: more [mirakl] lines; more: whole
    sections after [khaos]; inriver: more [inriver] lines (and sections
    after it). Every piece ends with a newline. (path, port)."""
    write_secrets(tmp)
    port = free_port()
    conf = os.path.join(tmp, "kcgate.conf")
    with open(conf, "w") as f:
        f.write("""[server]
listen = 127.0.0.1:%d
[store]
path = %s/store
map_size_mb = %d
[admin]
token = file:%s/admin
[mirakl]
webhook_auth = standard
webhook_secret = file:%s/whsec
base_url = %s/mirakl
api_key = file:%s/api
%s[khaos]
soap_url = %s/khaos/soap/IKosWeb
soap_user = kcgate
soap_password = file:%s/khaos
site = 1
sales_source = MIRAKL
%s[inriver]
webhook_auth = none
%s""" % (port, tmp, map_size_mb, tmp, tmp, sim, tmp, mirakl, sim, tmp, more, inriver))
    return conf, port


def run(args, tmp):
    build = args.build
    sim = start_sim(build, tmp)
    skus = ["SKU-%d" % i for i in range(1, 11)]
    sim_call(sim, "POST", "/_sim/khaos/stock", {"items": [{"code": s, "available": 1000} for s in skus]})
    seed_orders(sim, skus, args)
    conf, port = write_conf(tmp, sim, 1024, more="[lanes]\nmirakl = %d\nkhaos = %d\n" % (args.lanes, args.lanes))
    # The order's life: accept, the debit (the sim's default 500 ms), book at
    # SHIPPING. The sim's signed webhooks tell kcgate of each change (the
    # poll is the safety net); Khaos's own dedupe is off so a double booking
    # would be counted, not hidden.
    sim_call(sim, "POST", "/_sim/mirakl/settings", {
        "webhook_url": "http://127.0.0.1:%d/webhooks/mirakl" % port,
        "webhook_secret": "whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA=="})
    sim_call(sim, "POST", "/_sim/khaos/settings", {"dedupe": False})
    kc_log = os.path.join(tmp, "kcgate.log")
    t0 = time.time()
    with open(kc_log, "w") as log:
        procs.append(subprocess.Popen([os.path.join(build, "kcgate"), "--config", conf], stderr=log))
    deadline = t0 + args.timeout
    while True:
        state = sim_call(sim, "GET", "/_sim/state")
        booked = len(state["khaos"]["sales_orders"])
        accepted = sum(1 for o in state["mirakl"]["orders"] if o["order_state"] == "SHIPPING")
        if booked >= args.orders and accepted >= args.orders:
            break
        if procs[-1].poll() is not None:
            raise Failed("kcgate exited with status %d; log: %s" % (procs[-1].returncode, kc_log))
        if time.time() > deadline:
            raise Failed("after %d s: %d booked, %d accepted of %d" % (args.timeout, booked, accepted, args.orders))
        time.sleep(0.1)
    seconds = time.time() - t0
    dups = state["khaos"]["duplicate_orders"]
    print("orders: booked=%d accepted=%d khaos_calls=%d mirakl_calls=%d latency_ms=%d lanes=%d" %
          (booked, accepted, state["calls"]["khaos"], state["calls"]["mirakl"], args.latency_ms, args.lanes),
          file=sys.stderr)
    print("orders: n=%d seconds=%.2f orders_per_s=%.1f duplicates=%d booked=%d" %
          (args.orders, seconds, args.orders / seconds, dups, booked))
    return dups == 0


def bench_args(doc):
    """The options every bench against kcgate-sim takes."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--lanes", type=int, default=16, help="[lanes] mirakl and khaos: calls in flight per system")
    ap.add_argument("--timeout", type=int, default=300)
    return ap


def main():
    return run_in_tmp("orders", run, bench_args(__doc__).parse_args())


def run_in_tmp(name, fn, args):
    """Runs bench @name (fn(args, tmp) -> ok) in a fresh temp dir, removed
    when it passes; the processes it started are stopped. Exit status."""
    tmp = tempfile.mkdtemp(prefix="kcgate-bench-%s-" % name)
    ok = False
    try:
        ok = fn(args, tmp)
    except (Failed, OSError) as e:
        print("%s: FAILED: %s (files kept in %s)" % (name, e, tmp))
    finally:
        stop_all()
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
