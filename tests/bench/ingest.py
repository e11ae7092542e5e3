#!/usr/bin/env python3
"""./dev bench ingest: kcgate's webhook ingest rate against a bare libmicrohttpd server.

    ingest.py [--build DIR] [--seconds S] [--connections N] [--threads N]
              [--log-level LEVEL] [--tmpdir DIR] [--keep]

1. Makes a self-signed certificate (openssl CLI), a whsec_ secret and an admin
   token in a temporary directory, and a kcgate config on a free loopback port
   with the store in that directory ([mirakl] standard signatures, [inriver]
   none).
2. Starts build/kcgate, waits for GET /health/ready = 200, runs
   build/tests/bench-load (signed 1 KiB Mirakl webhooks, unique ids, N
   keep-alive HTTPS connections, a 1 s warm-up, then S counted seconds), and
   stops kcgate with SIGTERM.
3. Durability: restarts kcgate on the same store and checks with
   GET /admin/stats that the Mirakl "received" count is at least the number
   of 2xx answers the load generator got over the whole run (warm-up and
   drain included): every acknowledged webhook is on disk.
4. Starts build/tests/bench-baseline (same certificate, same thread count),
   runs the same load, stops it.

Prints a machine line, the two load lines and, as its last line,
    ingest: kcgate=<req/s> baseline=<req/s> ratio=<kcgate/baseline> p99_ms=<kcgate p99>
or `ingest: FAILED: <why>` with exit status 1 when something did not start,
a load run got no answer at all, or the durability check failed. Every child
process is stopped on every way out. Python 3 standard library only.
"""

import argparse
import base64
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
READY_TIMEOUT_S = 20
SHUTDOWN_TIMEOUT_S = 10
WARMUP_S = 1
LOAD_LINE = re.compile(r"^load: requests=(\d+) ok=(\d+) errors=(\d+) rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+)$")
ACKED = re.compile(r"^load: acked=(\d+)", re.M)

children = []


class Failed(Exception):
    """Something the benchmark cannot go on without: a one-line reason, and details (log tails)."""

    def __init__(self, reason, details=""):
        super().__init__(reason)
        self.details = details


def say(msg):
    print("ingest: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(argv, log_path, cwd):
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=cwd)
    children.append(proc)
    return proc


def stop(proc, timeout):
    """SIGTERM, wait; SIGKILL if it does not go. Returns the exit status (None if killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def kill_all():
    for proc in children:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in lines[-n:])


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d cores, %s, Linux %s" % (os.cpu_count() or 0, cpu, platform.release())


def fs_type(path):
    """The filesystem type of @path from /proc/mounts (longest mount point prefix)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


class Bench:
    def __init__(self, args):
        self.args = args
        build = os.path.abspath(args.build)
        self.kcgate = os.path.join(build, "kcgate")
        self.load = os.path.join(build, "tests", "bench-load")
        self.baseline = os.path.join(build, "tests", "bench-baseline")
        for exe in (self.kcgate, self.load, self.baseline):
            if not os.access(exe, os.X_OK):
                raise Failed("%s is missing (build first: ./dev build)" % exe)
        self.tmp = tempfile.mkdtemp(prefix="kcgate-bench-", dir=args.tmpdir)
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "key.pem")
        self.store = os.path.join(self.tmp, "store")
        self.secret_file = os.path.join(self.tmp, "mirakl_secret")
        self.admin_file = os.path.join(self.tmp, "admin_token")
        self.admin_token = os.urandom(24).hex()
        self.port = free_port()
        self.conf = os.path.join(self.tmp, "kcgate.conf")
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
        self.starts = 0

    def prepare(self):
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", self.key, "-out", self.cert],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise Failed("openssl could not make a certificate: " + r.stderr.decode(errors="replace").strip())
        os.chmod(self.key, 0o600)
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        for path, value in ((self.secret_file, secret), (self.admin_file, self.admin_token)):
            with open(path, "w") as f:
                f.write(value + "\n")
            os.chmod(path, 0o600)
        a = self.args
        with open(self.conf, "w") as f:
            f.write("# written by tests/bench/ingest.py\n"
                    "[server]\nlisten = %s:%d\ntls_cert = %s\ntls_key = %s\nthreads = %d\n"
                    "max_connections = 1024\nshutdown_timeout_s = %d\nlog_level = %s\n\n"
                    "[store]\npath = %s\nmap_size_mb = 2048\n\n"
                    "[admin]\ntoken = file:%s\n\n"
                    "[mirakl]\nwebhook_auth = standard\nwebhook_secret = file:%s\n\n"
                    "[inriver]\nwebhook_auth = none\n"
                    % (HOST, self.port, self.cert, self.key, a.threads, SHUTDOWN_TIMEOUT_S, a.log_level,
                       self.store, self.admin_file, self.secret_file))

    def request(self, method, path, headers=None):
        c = http.client.HTTPSConnection(HOST, self.port, context=self.ctx, timeout=5)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def start_kcgate(self):
        self.starts += 1
        log = os.path.join(self.tmp, "kcgate.%d.log" % self.starts)
        proc = spawn([self.kcgate, "--config", self.conf], log, self.tmp)
        t0 = time.monotonic()
        last = "no answer"
        while time.monotonic() - t0 < READY_TIMEOUT_S:
            if proc.poll() is not None:
                raise Failed("kcgate exited with status %d before it was ready" % proc.returncode, tail(log))
            try:
                status, _ = self.request("GET", "/health/ready")
                if status == 200:
                    return proc, log
                last = "status %d" % status
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.05)
        raise Failed("kcgate not ready within %d s (last: %s)" % (READY_TIMEOUT_S, last), tail(log))

    def stop_kcgate(self, proc, log):
        rc = stop(proc, SHUTDOWN_TIMEOUT_S + 5)
        if rc != 0:
            raise Failed("kcgate did not exit cleanly after SIGTERM (status %s)" % rc, tail(log))

    def start_baseline(self):
        port = free_port()
        log = os.path.join(self.tmp, "baseline.log")
        proc = spawn([self.baseline, "--listen", "%s:%d" % (HOST, port), "--cert", self.cert, "--key", self.key,
                      "--threads", str(self.args.threads)], log, self.tmp)
        t0 = time.monotonic()
        while time.monotonic() - t0 < READY_TIMEOUT_S:
            if proc.poll() is not None:
                raise Failed("bench-baseline exited with status %d" % proc.returncode, tail(log))
            with open(log, "rb") as f:
                if b"listening" in f.read():
                    return proc, port
            time.sleep(0.05)
        raise Failed("bench-baseline did not start within %d s" % READY_TIMEOUT_S, tail(log))

    def run_load(self, what, port):
        """Runs bench-load; returns (the load line, its figures as a dict)."""
        a = self.args
        argv = [self.load, "--url", "https://%s:%d/webhooks/mirakl" % (HOST, port),
                "--secret-file", self.secret_file, "--cacert", self.cert,
                "--connections", str(a.connections), "--seconds", str(a.seconds), "--warmup", str(WARMUP_S)]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        children.append(proc)
        try:
            out, err = proc.communicate(timeout=a.seconds + WARMUP_S + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise Failed("bench-load against %s did not finish in time" % what)
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
        for line in err.splitlines():
            say("%s: %s" % (what, line))
        line = out.strip().splitlines()[-1] if out.strip() else ""
        m = LOAD_LINE.match(line)
        if not m:
            raise Failed("bench-load against %s printed no result (status %d)" % (what, proc.returncode))
        print("%-8s %s" % (what, line), flush=True)
        acked = ACKED.search(err)
        fig = {"requests": int(m.group(1)), "ok": int(m.group(2)), "errors": int(m.group(3)),
               "rps": float(m.group(4)), "p50": float(m.group(5)), "p99": float(m.group(6)),
               "acked": int(acked.group(1)) if acked else None}
        if fig["ok"] == 0:
            raise Failed("no request to %s succeeded" % what)
        return line, fig

    def durability(self, fig):
        """Restarts kcgate on the same store; every 2xx the load got must be there."""
        proc, log = self.start_kcgate()
        try:
            status, body = self.request("GET", "/admin/stats", {"Authorization": "Bearer " + self.admin_token})
            if status != 200:
                raise Failed("GET /admin/stats answered %d after the restart" % status)
            try:
                received = int(json.loads(body)["events"]["mirakl"]["received"])
            except (ValueError, KeyError, TypeError) as e:
                raise Failed("GET /admin/stats has no events.mirakl.received (%r)" % e, body[:300].decode(errors="replace"))
        finally:
            self.stop_kcgate(proc, log)
        need = fig["acked"] if fig["acked"] is not None else fig["ok"]
        if received < need or received < fig["ok"]:
            raise Failed("durability: after a restart the store holds %d Mirakl events, but %d were acknowledged"
                         % (received, need))
        say("durability: after a restart the store holds %d Mirakl events; %d were acknowledged "
            "(%d of them in the counted window)" % (received, need, fig["ok"]))

    def run(self):
        a = self.args
        say("machine: %s; store on %s (%s)" % (machine(), self.tmp, fs_type(self.tmp)))
        say("load: %d connections, %d s after a %d s warm-up, signed 1 KiB Mirakl webhooks; %d server threads"
            % (a.connections, a.seconds, WARMUP_S, a.threads))
        self.prepare()

        proc, log = self.start_kcgate()
        try:
            _, k = self.run_load("kcgate", self.port)
        finally:
            self.stop_kcgate(proc, log)
        self.durability(k)

        proc, port = self.start_baseline()
        try:
            _, b = self.run_load("baseline", port)
        finally:
            rc = stop(proc, 10)
        if rc != 0:
            raise Failed("bench-baseline did not exit cleanly after SIGTERM (status %s)" % rc)

        ratio = k["rps"] / b["rps"]
        say("bar on 2 cores: ratio >= 0.20 %s, p99 <= 20 ms %s"
            % ("met" if ratio >= 0.20 else "NOT met", "met" if k["p99"] <= 20 else "NOT met"))
        print("ingest: kcgate=%.1f baseline=%.1f ratio=%.2f p99_ms=%.2f" % (k["rps"], b["rps"], ratio, k["p99"]),
              flush=True)

    def cleanup(self, failed):
        if self.args.keep or failed:
            say("kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="kcgate ingest benchmark (./dev bench ingest)")
    ap.add_argument("--build", default="build", help="meson build directory (default: build)")
    ap.add_argument("--seconds", type=int, default=10, help="counted seconds per run (default: 10)")
    ap.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (default: 32)")
    ap.add_argument("--threads", type=int, default=4, help="server threads, kcgate and baseline (default: 4)")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warn", "error"],
                    help="kcgate log_level (default: info, one JSON line per request)")
    ap.add_argument("--tmpdir", default=None, help="where the temporary directory and store go (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, store)")
    args = ap.parse_args()
    if args.seconds < 1 or args.connections < 1 or args.threads < 1:
        ap.error("--seconds, --connections and --threads must be at least 1")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    bench = None
    failed = True
    try:
        bench = Bench(args)
        bench.run()
        failed = False
    except Failed as e:
        if e.details:
            print(e.details, file=sys.stderr, flush=True)
        print("ingest: FAILED: %s" % e, flush=True)
    finally:
        kill_all()
        if bench:
            bench.cleanup(failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
