#!/usr/bin/env python3
"""./dev bench inriver: how fast kcgate carries Khaos changes into inriver's
Khaos-owned fields, and that the writes are coalesced, against kcgate-sim.

10,000 stock codes exist in the simulated Khaos (each with a Mirakl offer)
and 10,000 inriver items hold them. kcgate starts; its first mapping audit
links every item (mapuniquevalues, batches of 999) and writes Khaos's
fields once (the initial sync). Then every code changes in Khaos five
times, a second apart (available 80 to 84; the SKU cache polls every
second, so kcgate sees each). The clock runs from the first change until
inriver shows 84 on every item read back and no write is left to do;
writes are the PUTs over that span: with [inriver] write_interval_s 5
each item gets at most one per interval (the first change at once, the
rest coalesced into one), so at most two per item, not five. rss_mb is kcgate's peak RSS over the whole run. The
Mirakl import of the same change is timed too (stderr): the inriver_push
lane must not delay it.

The last line is
  inriver: changes=10000 seconds=<s> writes=<w> rss_mb=<m>
or "inriver: FAILED: <why>" with exit status 1. Python stdlib only.
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from orders import Failed, procs, run_in_tmp, sim_call, start_sim, write_conf  # noqa: E402
from stock import OVERLAP_S, cpu_s, imports, peak_rss_mb, rss_now_mb  # noqa: E402

KEY = "bench-inriver-key"
WAVES = (80, 81, 82, 83, 84)  # every code changes five times, a second apart


def code(i):
    return "SKU-%07d" % i


def ir_state(sim):
    return sim_call(sim, "GET", "/_sim/state?sku=none")["inriver"]


def settle(sim, kc, want_puts, timeout, what):
    """Until the sim has seen @p want_puts PUTs and none for 2 s; returns the count."""
    deadline = time.time() + timeout
    last, since = -1, time.time()
    while True:
        n = ir_state(sim)["puts"]
        if n != last:
            last, since = n, time.time()
        if n >= want_puts and time.time() - since >= 2:
            return n
        if kc.poll() is not None:
            raise Failed("kcgate exited with status %d" % kc.returncode)
        if time.time() > deadline:
            raise Failed("%s: %d PUTs after %d s (want %d)" % (what, n, timeout, want_puts))
        time.sleep(0.2)


def run(args, tmp):
    build = args.build
    sim = start_sim(build, tmp, ["--inriver-key", KEY])
    n = args.changes
    sim_call(sim, "POST", "/_sim/khaos/stock", {"generate": {"count": n, "prefix": "SKU-", "available": 50}})
    sim_call(sim, "POST", "/_sim/mirakl/offers", {"generate": {"count": n, "prefix": "SKU-", "quantity": 0}})
    sim_call(sim, "POST", "/_sim/mirakl/settings", {"import_delay_ms": 2000, "stock_import_min_interval_ms": 10000})
    sim_call(sim, "POST", "/_sim/inriver/entities", {"entities": [
        {"entity_type": "Item", "fields": {"ItemNumber": code(i), "ItemName": "Item %d" % i}} for i in range(1, n + 1)]})
    time.sleep(OVERLAP_S + 1)  # a catalogue changed long before kcgate starts (see stock.py)

    conf, _ = write_conf(
        tmp, sim, 2048, mirakl="stock_flush_interval_s = 10\nstock_rate_limits = sim\n",
        more="[stock]\nenabled = true\npoll_interval_s = 1\npoll_overlap_s = %d\n" % OVERLAP_S,
        inriver="base_url = %s/inriver\napi_key = file:%s/ir\nwrite_interval_s = 5\n[inriver.fields]\n"
                "khaos_status = KhaosStatus\navailable = KhaosAvailable\nlast_sync = KhaosLastSync\n" % (sim, tmp))
    with open(os.path.join(tmp, "ir"), "w") as f:
        f.write(KEY)
    kc_log = os.path.join(tmp, "kcgate.log")
    with open(kc_log, "w") as log:
        procs.append(subprocess.Popen([os.path.join(build, "kcgate"), "--config", conf], stderr=log))
    kc = procs[-1]

    t_start = time.time()
    first = settle(sim, kc, n, args.timeout, "the initial sync")
    print("inriver: initial sync (audit + first writes) of %d items: %.1f s, %d PUTs, cpu %.2f s, rss now %s MB"
          % (n, time.time() - t_start, first, cpu_s(kc.pid), rss_now_mb(kc.pid)), file=sys.stderr)
    n_imports = len(imports(sim))

    cpu0 = cpu_s(kc.pid)
    t0 = time.time()
    for avail in WAVES:
        for k in range(1, n + 1, 5000):
            sim_call(sim, "POST", "/_sim/khaos/stock", {"items": [
                {"code": code(i), "available": avail} for i in range(k, min(n + 1, k + 5000))]})
        if avail != WAVES[-1]:
            time.sleep(1)
    total = settle(sim, kc, first + n, args.timeout, "the change")
    seconds = time.time() - t0 - 2  # settle's quiet 2 s are not the change's
    writes = total - first
    ents = ir_state(sim)["entities"]
    stale = [e["id"] for e in ents if e["fields"].get("KhaosAvailable") != WAVES[-1]]
    if stale:
        raise Failed("items still without the last figure: %s" % stale[:10])
    ims = imports(sim)[n_imports:]
    done = [i for i in ims if i["status"] == "COMPLETE"]
    print("inriver: Mirakl imports meanwhile: %d (%d COMPLETE, %d lines); kcgate cpu %.2f s over the change"
          % (len(ims), len(done), sum(i["lines"] for i in ims), cpu_s(kc.pid) - cpu0), file=sys.stderr)
    print("inriver: changes=%d seconds=%.1f writes=%d rss_mb=%.0f" % (n, seconds, writes, peak_rss_mb(kc.pid)))
    return writes <= n * 2 and not stale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--changes", type=int, default=10000)
    ap.add_argument("--timeout", type=int, default=300)
    return run_in_tmp("inriver", run, ap.parse_args())

if __name__ == "__main__":
    sys.exit(main())
