#!/usr/bin/env python3
"""./dev bench stock: how fast and how cheaply kcgate carries a stock change
from Khaos Control to Mirakl, against kcgate-sim.

A catalogue of 100,000 SKUs (default) exists in the simulated Khaos, each
with an offer on the simulated Mirakl. kcgate starts (first run: it reads
the whole catalogue, in one ExportStockStatus answer, and publishes it in
one import); then 10,000 of the SKUs change in Khaos at once. The clock
runs from that change until every import carrying the changes is COMPLETE
on the simulated Mirakl (STO02), and every sampled offer shows its new
figure.

Intervals: [stock] poll_interval_s 5, [mirakl] stock_flush_interval_s 10,
with [mirakl] stock_rate_limits = sim (the sim's STO01 limit is set to 10
s to match) and the sim's import_delay_ms 2000: the seconds are mostly
these waits, by design; cpu_s is kcgate's CPU time (user + system) over
the same span, rss_mb kcgate's peak RSS over the whole run (the first
full read included: the change's own peak is on stderr, as are the first
read's figures), imports the STO01 calls over the span. RSS counts LMDB's
mapped file pages kcgate touched (shared, reclaimable) as well as its heap;
stderr shows both.

The last line is
  stock: skus=<n> changed=<c> seconds=<s> cpu_s=<c> rss_mb=<m> imports=<n>
or "stock: FAILED: <why>" with exit status 1. Python stdlib only.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from orders import Failed, procs, run_in_tmp, sim_call, start_sim, write_conf  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
OVERLAP_S = 10


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def rss_now_mb(pid):
    """VmRSS, and its parts: RssAnon (the heap) and RssFile (LMDB's mapped file, shared)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(line.split()[1]) / 1024.0
    return "%.0f (anon %.0f, file %.0f)" % (out.get("VmRSS", 0), out.get("RssAnon", 0), out.get("RssFile", 0))


def code(i):
    return "SKU-%07d" % i  # the sim's generated names (start 1)


def imports(sim):
    return sim_call(sim, "GET", "/_sim/state?sku=none")["mirakl"]["stock_imports"]


def offers(sim, codes):
    q = urllib.parse.quote(",".join(codes), safe=",")
    return {o["shop_sku"]: o["quantity"] for o in sim_call(sim, "GET", "/_sim/state?sku=" + q)["mirakl"]["offers"]}


def run(args, tmp):
    build = args.build
    sim = start_sim(build, tmp)
    n, changed = args.skus, args.changed
    sim_call(sim, "POST", "/_sim/khaos/stock", {"generate": {"count": n, "prefix": "SKU-", "available": 50}})
    sim_call(sim, "POST", "/_sim/mirakl/offers", {"generate": {"count": n, "prefix": "SKU-", "quantity": 0}})
    sim_call(sim, "POST", "/_sim/mirakl/settings", {"import_delay_ms": 2000, "stock_import_min_interval_ms": 10000})
    # A catalogue changed just now would come again with the polls after the
    # first (the window starts poll_overlap_s before the last poll): a real
    # one changed long before kcgate starts. Wait the overlap out.
    time.sleep(OVERLAP_S + 1)

    conf, _ = write_conf(tmp, sim, 2048, mirakl="stock_flush_interval_s = 10\nstock_rate_limits = sim\n",
                         more="[stock]\nenabled = true\npoll_interval_s = 5\npoll_overlap_s = %d\nbuffer = 1\n" % OVERLAP_S)
    kc_log = os.path.join(tmp, "kcgate.log")
    with open(kc_log, "w") as log:
        procs.append(subprocess.Popen([os.path.join(build, "kcgate"), "--config", conf], stderr=log))
    kc = procs[-1]
    sample = [code(1 + i * (n // 200)) for i in range(200)]

    # the first run: the whole catalogue, published
    t_start = time.time()
    deadline = t_start + args.timeout
    while True:
        ims = imports(sim)
        if ims and all(i["status"] == "COMPLETE" for i in ims) and sum(i["lines"] for i in ims) >= n:
            got = offers(sim, sample)
            if all(got.get(c) == 49 for c in sample):
                break
        if kc.poll() is not None:
            raise Failed("kcgate exited with status %d; log: %s" % (kc.returncode, kc_log))
        if time.time() > deadline:
            raise Failed("the first catalogue was not published in %d s: imports %s" % (args.timeout, ims[-3:]))
        time.sleep(0.25)
    first = time.time() - t_start
    print("stock: first full read and import of %d SKUs: %.1f s, %d import(s), cpu %.2f s, peak rss %.0f MB, "
          "rss now %s MB" % (n, first, len(ims), cpu_s(kc.pid), peak_rss_mb(kc.pid), rss_now_mb(kc.pid)),
          file=sys.stderr)
    # let the flow settle (no import in flight), then change 10,000 SKUs at once
    time.sleep(2)
    n0 = len(imports(sim))
    step = n // changed
    changes = [1 + i * step for i in range(changed)]
    rss_first = peak_rss_mb(kc.pid)
    try:  # resets VmHWM (Linux >= 4.0): the change's own peak is shown apart
        with open("/proc/%d/clear_refs" % kc.pid, "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    cpu0 = cpu_s(kc.pid)
    t0 = time.time()
    for k in range(0, changed, 5000):
        sim_call(sim, "POST", "/_sim/khaos/stock", {"items": [
            {"code": code(i), "available": 80} for i in changes[k:k + 5000]]})
    want = [code(i) for i in changes[:: max(1, changed // 300)]]
    deadline = t0 + args.timeout
    while True:
        ims = imports(sim)[n0:]
        if ims and all(i["status"] == "COMPLETE" for i in ims) and sum(i["lines"] for i in ims) >= changed:
            got = offers(sim, want)
            if all(got.get(c) == 79 for c in want):
                break
        if kc.poll() is not None:
            raise Failed("kcgate exited with status %d; log: %s" % (kc.returncode, kc_log))
        if time.time() > deadline:
            raise Failed("after %d s the change is not published: imports %s" % (args.timeout, ims))
        time.sleep(0.1)
    seconds = time.time() - t0
    cpu = cpu_s(kc.pid) - cpu0
    rss_change = peak_rss_mb(kc.pid)
    rss = max(rss_first, rss_change)
    print("stock: peak rss of the first full read %.0f MB; of the change%s %.0f MB; rss now %s MB" %
          (rss_first, "" if reset else " (not separable: clear_refs refused)", rss_change, rss_now_mb(kc.pid)),
          file=sys.stderr)
    errors = sum(i["lines_in_error"] for i in ims)
    print("stock: new imports %s" % json.dumps(ims), file=sys.stderr)
    print("stock: skus=%d changed=%d seconds=%.1f cpu_s=%.2f rss_mb=%.0f imports=%d" %
          (n, changed, seconds, cpu, rss, len(ims)))
    return errors == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--skus", type=int, default=100000)
    ap.add_argument("--changed", type=int, default=10000)
    ap.add_argument("--timeout", type=int, default=300)
    return run_in_tmp("stock", run, ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
