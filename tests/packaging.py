#!/usr/bin/env python3
"""kcgate's packaging, checked without a package manager, systemd or Docker
running: the example configuration against the key tables, what `meson
install` installs (and the unit through `systemd-analyze verify` where it
exists), the sd_notify protocol of the real binary, and the Dockerfile and
its entry point script.

    packaging.py --kcgate PATH --build DIR --source DIR SCENARIO

SCENARIO is one of:
  conf-example  every key of `kcgate --list-keys` is in conf/kcgate.conf.example,
                in its section, once, as "# key = <default>" when it has a
                default; no key there that kcgate does not know; and the
                example passes --check-config as it is
  install       `meson install` into a temporary DESTDIR: the binary, the
                systemd unit (Type=notify, watchdog, StateDirectory,
                ProtectSystem=strict, NoNewPrivileges, a dedicated user,
                LimitNOFILE >= the default max_connections + health_reserve
                + 128, the installed binary's path), sysusers.d, the example
                and the docs
  sdnotify      kcgate under a NOTIFY_SOCKET the test binds, WATCHDOG_USEC
                0.4 s: READY=1 once /health/ready answers, WATCHDOG=1 every
                ~0.2 s, RELOADING=1 + READY=1 around SIGHUP, STOPPING=1 on
                SIGTERM; none of it without NOTIFY_SOCKET; and SIGHUP
                re-reads secrets (the admin token's file rotated: the new
                token works, the old is refused, the log names the key only)
  docker        the Dockerfile's syntax (instructions, JSON arrays), a slim
                Debian final stage, a non-root USER, the store on a VOLUME,
                HEALTHCHECK through the entry point on /health/ready (a route
                of routes/routes.c), the files it COPYs exist; the entry
                point's logic run for real: as root it refuses, then as an
                unprivileged user: no config, a config with errors, a
                read-only state directory (each a clear message, exit 1), a
                good one (kcgate starts, `health` answers 0, SIGTERM exits 0)

Output like run.py; exit status 1 on any failure.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "e2e"))
import run as h  # noqa: E402

Report = h.Report
short = h.short


def list_keys(kcgate):
    out = subprocess.run([kcgate, "--list-keys"], capture_output=True, text=True, check=True).stdout
    keys = []
    for line in out.splitlines():
        sec, name, typ, default, req = line.split("\t")
        keys.append({"section": sec, "name": name, "type": typ, "default": None if default == "-" else default,
                     "required": req == "required"})
    return keys


# a key; in a map section with free keys ([carriers]) it may hold spaces
KEY_LINE = re.compile(r"^(#\s)?([A-Za-z0-9_.-](?:[A-Za-z0-9_. -]*[A-Za-z0-9_.-])?)\s=\s?(.*)$")


def parse_example(path):
    """{(section, key): [(line, commented, value)]}, the sections in order."""
    found, sections, sec = {}, [], None
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("##"):
            continue
        m = re.match(r"^\[([A-Za-z0-9_.-]+)\]$", line)
        if m:
            sec = m.group(1)
            sections.append(sec)
            continue
        m = KEY_LINE.match(line)
        if not m:
            found.setdefault(("?", "?"), []).append((n, False, line))
            continue
        found.setdefault((sec, m.group(2)), []).append((n, bool(m.group(1)), m.group(3)))
    return found, sections


def scenario_conf_example(a, rep):
    keys = list_keys(a.kcgate)
    path = os.path.join(a.source, "conf", "kcgate.conf.example")
    found, sections = parse_example(path)
    missing, wrong, dup = [], [], []
    known = set()
    for k in keys:
        if k["type"] == "map":
            if k["section"] not in sections:
                missing.append("[%s] (a map section)" % k["section"])
            continue
        known.add((k["section"], k["name"]))
        lines = found.get((k["section"], k["name"]))
        if not lines:
            missing.append("[%s] %s" % (k["section"], k["name"]))
            continue
        if len(lines) > 1:
            dup.append("[%s] %s on lines %s" % (k["section"], k["name"], [ln for ln, _, _ in lines]))
        n, commented, value = lines[0]
        if k["default"] is not None and (not commented or value != k["default"]):
            wrong.append("line %d: [%s] %s should read '# %s = %s'" % (n, k["section"], k["name"], k["name"], k["default"]))
        if k["required"] and commented:
            wrong.append("line %d: [%s] %s is required: set it" % (n, k["section"], k["name"]))
    maps = {k["section"] for k in keys if k["type"] == "map"}
    unknown = ["line %d: [%s] %s" % (lines[0][0], s, name) for (s, name), lines in found.items()
               if (s, name) not in known and s not in maps]
    rep.check(not missing, "conf-example: every key kcgate knows (%d) is in conf/kcgate.conf.example" % len(keys),
              missing[:20])
    rep.check(not wrong and not dup, "conf-example: each once, with its default as '# key = default'", (wrong + dup)[:20])
    rep.check(not unknown, "conf-example: no key kcgate does not know", unknown[:20])
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, KCGATE_ADMIN_TOKEN="t" * 32, KCGATE_INRIVER_TOKEN="i" * 32,
                   KCGATE_MIRAKL_SECRET="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=")
        r = subprocess.run([a.kcgate, "--check-config", "--config", path], capture_output=True, text=True, env=env)
        errors = [ln for ln in r.stderr.splitlines() if ln and "warning" not in ln.lower() and "literal secret" not in ln]
        rep.check(r.returncode == 0, "conf-example: the example passes kcgate --check-config (exit %d)" % r.returncode,
                  errors[:10])


def unit_values(text):
    vals = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            vals.setdefault(k.strip(), []).append(v.strip())
    return vals


def scenario_install(a, rep):
    dest = tempfile.mkdtemp(prefix="kcgate-install-")
    try:
        r = subprocess.run(["meson", "install", "-C", a.build, "--no-rebuild", "--destdir", dest, "--quiet"],
                           capture_output=True, text=True)
        rep.check(r.returncode == 0, "install: meson install into a DESTDIR (exit %d)" % r.returncode,
                  (r.stdout + r.stderr).splitlines()[-10:])
        files = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs)

        def one(suffix):
            got = [f for f in files if f.endswith(suffix)]
            return os.path.join(dest, got[0]) if len(got) == 1 else None
        binary = one("bin/kcgate")
        unit = one("lib/systemd/system/kcgate.service")
        sysusers = one("lib/sysusers.d/kcgate.conf")
        example = one("share/doc/kcgate/kcgate.conf.example")
        rep.check(binary and unit and sysusers and example and one("share/doc/kcgate/operations.md"),
                  "install: the binary, the unit, sysusers.d, the example and the docs are installed", files)
        if not unit:
            return
        text = open(unit).read()
        v = unit_values(text)
        prefix_bin = "/" + os.path.relpath(binary, dest)
        keys = {(k["section"], k["name"]): k for k in list_keys(a.kcgate)}
        need_fd = int(keys[("server", "max_connections")]["default"]) + int(keys[("server", "health_reserve")]["default"]) + 128
        checks = [
            ("Type=notify", v.get("Type") == ["notify"]),
            ("WatchdogSec set", bool(v.get("WatchdogSec"))),
            ("StateDirectory=kcgate", v.get("StateDirectory") == ["kcgate"]),
            ("ProtectSystem=strict", v.get("ProtectSystem") == ["strict"]),
            ("NoNewPrivileges=yes", v.get("NoNewPrivileges") == ["yes"]),
            ("a dedicated User= (not root)", v.get("User") == ["kcgate"] and v.get("Group") == ["kcgate"]),
            ("LimitNOFILE >= %d" % need_fd, int((v.get("LimitNOFILE") or ["0"])[0]) >= need_fd),
            ("ExecStart= the installed binary --config", (v.get("ExecStart") or [""])[0].startswith(prefix_bin + " --config ")),
            ("ExecReload= SIGHUP", (v.get("ExecReload") or [""])[0] == "/bin/kill -HUP $MAINPID"),
            ("no @VAR@ left", "@" not in "".join(v.get("ExecStart", []) + v.get("Documentation", []))),
        ]
        bad = [what for what, ok in checks if not ok]
        rep.check(not bad, "install: the unit has %s" % ", ".join(w for w, _ in checks), bad + [short(text, 400)])
        rep.check(re.search(r"^u kcgate - .* /usr/sbin/nologin$", open(sysusers).read(), re.M) is not None,
                  "install: sysusers.d creates the kcgate user, no login")
        analyze = shutil.which("systemd-analyze")
        if analyze:
            tmp = os.path.join(dest, "verify")
            os.makedirs(tmp)
            with open(os.path.join(tmp, "kcgate.service"), "w") as f:
                f.write(text.replace(prefix_bin, os.path.abspath(a.kcgate)))
            r = subprocess.run([analyze, "verify", os.path.join(tmp, "kcgate.service")], capture_output=True, text=True,
                               timeout=60)
            rep.check(r.returncode == 0 and not r.stderr.strip(),
                      "install: systemd-analyze verify finds nothing to say about the unit",
                      (r.stdout + r.stderr).splitlines()[:10])
        else:
            Report.note("install: systemd-analyze not found; the unit's syntax is not verified")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


# ---------------------------------------------------------------- sd_notify

class NotifySocket:
    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []  # (monotonic time, text)

    def drain(self, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            try:
                self.msgs.append((time.monotonic(), self.sock.recv(4096).decode()))
            except socket.timeout:
                pass
        return self.msgs

    def wait_for(self, pred, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            self.drain(0.1)
            if any(pred(m) for _, m in self.msgs):
                return True
        return False


def scenario_sdnotify(a, rep):
    hs = h.Harness(a.kcgate, False)
    failed = True
    try:
        ns = NotifySocket(hs.tmp)
        inst = hs.instance("sdnotify")
        os.environ["NOTIFY_SOCKET"] = ns.path
        os.environ["WATCHDOG_USEC"] = "400000"
        os.environ.pop("WATCHDOG_PID", None)
        t0 = time.monotonic()
        if not h.start_or_fail(rep, inst, "sdnotify"):
            return
        t_ready = time.monotonic()
        ok = ns.wait_for(lambda m: m.startswith("READY=1"), 5)
        ready = [(t, m) for t, m in ns.msgs if m.startswith("READY=1")]
        rep.check(ok and len(ready) == 1 and "STATUS=listening on http" in ready[0][1] and ready[0][0] <= t_ready + 1,
                  "sdnotify: READY=1 once, with STATUS, by the time /health/ready answers (%.2f s after the start)"
                  % ((ready[0][0] - t0) if ready else -1), [repr(m) for _, m in ns.msgs[:5]])
        ns.msgs.clear()
        ns.drain(1.5)
        pings = [t for t, m in ns.msgs if m == "WATCHDOG=1"]
        gaps = [b - a_ for a_, b in zip(pings, pings[1:])]
        rep.check(len(pings) >= 5 and all(g < 0.35 for g in gaps),
                  "sdnotify: WATCHDOG=1 every half of WATCHDOG_USEC (0.4 s): %d in 1.5 s, longest gap %.2f s"
                  % (len(pings), max(gaps) if gaps else -1), [repr(m) for _, m in ns.msgs[:8]])
        ns.msgs.clear()
        inst.proc.send_signal(signal.SIGHUP)
        ns.wait_for(lambda m: m == "READY=1", 5)
        seq = [m.split("\n")[0] for _, m in ns.msgs if m != "WATCHDOG=1"]
        reloading = [m for _, m in ns.msgs if m.startswith("RELOADING=1")]
        rep.check(seq[:2] == ["RELOADING=1", "READY=1"] and re.search(r"MONOTONIC_USEC=\d+", reloading[0] if reloading else ""),
                  "sdnotify: SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1", [repr(m) for _, m in ns.msgs[:6]])
        # SIGHUP re-reads secrets: the admin token (file:) rotated
        new_token = "rotated-" + os.urandom(16).hex()
        old_token = hs.admin_token
        with open(hs.admin_file, "w") as f:
            f.write(new_token + "\n")
        inst.proc.send_signal(signal.SIGHUP)
        ok = False
        for _ in range(50):
            if '"config reloaded"' in inst.log_text() and '"secrets":"[admin] token"' in inst.log_text():
                ok = True
                break
            time.sleep(0.1)
        c = h.Client(inst, timeout=5)
        try:
            st_old = c.request("GET", "/admin/stats", None, {"Authorization": "Bearer " + old_token}).status
            st_new = c.request("GET", "/admin/stats", None, {"Authorization": "Bearer " + new_token}).status
        finally:
            c.close()
        hs.admin_token = new_token
        log = inst.log_text()
        rep.check(ok and st_old == 401 and st_new == 200 and old_token not in log and new_token not in log,
                  "sdnotify: SIGHUP re-reads secrets: the rotated admin token works, the old one is refused, the log "
                  "names the key, never the values (%s, %s)" % (st_old, st_new),
                  [ln for ln in log.splitlines() if "reload" in ln][-2:])
        ns.msgs.clear()
        ok, msg = inst.stop()
        ns.drain(0.3)
        rep.check(ok and any(m == "STOPPING=1" for _, m in ns.msgs), "sdnotify: SIGTERM: STOPPING=1, then %s" % msg,
                  [repr(m) for _, m in ns.msgs[:6]])
        # WATCHDOG_PID naming another process: no pings (the watchdog is not ours)
        os.environ["WATCHDOG_PID"] = "1"
        ns.msgs.clear()
        if not h.start_or_fail(rep, inst, "sdnotify: watchdog for another pid"):
            return
        ns.drain(1.0)
        rep.check(any(m.startswith("READY=1") for _, m in ns.msgs) and not any(m == "WATCHDOG=1" for _, m in ns.msgs),
                  "sdnotify: WATCHDOG_PID of another process: READY=1 but no WATCHDOG=1", [repr(m) for _, m in ns.msgs[:6]])
        inst.stop()
        ns.drain(0.3)  # its STOPPING=1
        # no NOTIFY_SOCKET: nothing sent, kcgate runs as before
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(k, None)
        ns.msgs.clear()
        if not h.start_or_fail(rep, inst, "sdnotify: without NOTIFY_SOCKET"):
            return
        ns.drain(0.8)
        ok, msg = inst.stop()
        rep.check(ok and not ns.msgs, "sdnotify: without NOTIFY_SOCKET nothing is sent (%s)" % msg)
        failed = rep.failed > 0
    finally:
        hs.close(failed)


# ---------------------------------------------------------------- docker

DOCKER_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                       "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def dockerfile_instructions(path):
    """[(line, INSTRUCTION, args)] with continuations joined; raises on syntax errors."""
    out, cur, start = [], "", 0
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.rstrip("\n")
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if cur and line.lstrip().startswith("#"):
            continue
        if not cur:
            start = n
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        if word.upper() not in DOCKER_INSTRUCTIONS or word != word.upper():
            raise ValueError("line %d: unknown instruction %r" % (start, word))
        out.append((start, word, rest.strip()))
        cur = ""
    if cur:
        raise ValueError("line %d: a continuation that never ends" % start)
    return out


def exec_form(args):
    """The JSON array of an exec-form instruction, or None for the shell form."""
    return json.loads(args) if args.startswith("[") else None


def check_dockerfile(a, rep):
    path = os.path.join(a.source, "Dockerfile")
    try:
        ins = dockerfile_instructions(path)
    except (OSError, ValueError) as e:
        rep.fail("docker: the Dockerfile parses", [str(e)])
        return
    problems = []
    for n, word, args in ins:
        if word in ("CMD", "ENTRYPOINT", "VOLUME") or (word == "HEALTHCHECK" and "CMD [" in args):
            j = args[args.index("["):] if word == "HEALTHCHECK" else args
            try:
                v = exec_form(j)
                if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
                    problems.append("line %d: %s: not a JSON array of strings" % (n, word))
            except ValueError as e:
                problems.append("line %d: %s: bad JSON array: %s" % (n, word, e))
    rep.check(not problems, "docker: the Dockerfile's syntax: known instructions, JSON arrays (%d instructions)" % len(ins),
              problems)
    froms = [i for i, (_, w, _) in enumerate(ins) if w == "FROM"]
    final = ins[froms[-1]:] if froms else []
    last_from = final[0][2] if final else ""
    rep.check(re.match(r"^debian:[0-9a-z.-]*slim(\s|$)", last_from) is not None,
              "docker: the image runs on Debian slim (%s)" % last_from)
    users = [args for _, w, args in final if w == "USER"]
    rep.check(users and users[-1].split(":")[0] not in ("root", "0"), "docker: a non-root USER (%s)" % (users or ["none"])[-1])
    vols = [exec_form(args) for _, w, args in final if w == "VOLUME"]
    conf = open(os.path.join(a.source, "packaging", "docker.conf")).read()
    store = re.search(r"^path\s*=\s*(\S+)", conf, re.M).group(1)
    rep.check(any(v and any(store.startswith(x.rstrip("/") + "/") for x in v) for v in vols),
              "docker: the store (%s in packaging/docker.conf) is on a VOLUME %s" % (store, vols))
    hc = [args for _, w, args in final if w == "HEALTHCHECK"]
    env = " ".join(args for _, w, args in final if w == "ENV")
    url = re.search(r"KCGATE_HEALTH_URL=(\S+)", env)
    routes = open(os.path.join(a.source, "routes", "routes.c")).read()
    path_ = re.sub(r"^https?://[^/]+", "", url.group(1)) if url else ""
    listen = re.search(r"^listen\s*=\s*\S+:(\d+)", conf, re.M)
    rep.check(hc and "kcgate-entrypoint" in hc[0] and "health" in hc[0] and path_ == "/health/ready"
              and '"/health/ready"' in routes and listen and (":%s/" % listen.group(1)) in url.group(1)
              and any(w == "EXPOSE" and args == listen.group(1) for _, w, args in final),
              "docker: HEALTHCHECK runs the entry point's health on %s (a route; the port listened on and exposed)"
              % (url.group(1) if url else "?"), hc)
    copies = [args.split() for _, w, args in ins if w == "COPY" and not args.startswith("--from")]
    missing = [c[0] for c in copies if c[0] != "." and not os.path.exists(os.path.join(a.source, c[0]))]
    ep = [exec_form(args) for _, w, args in final if w == "ENTRYPOINT"]
    rep.check(not missing and ep and ep[-1] == ["/usr/bin/kcgate-entrypoint"]
              and ["packaging/docker-entrypoint.sh", "/usr/bin/kcgate-entrypoint"] in copies,
              "docker: every COPY source exists; the entry point is packaging/docker-entrypoint.sh", missing)
    return store


def run_ep(a, args, env, user=True, timeout=10):
    cmd = [os.path.join(a.source, "packaging", "docker-entrypoint.sh")] + args
    if user:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def scenario_docker(a, rep):
    check_dockerfile(a, rep)
    if not shutil.which("setpriv") or os.geteuid() != 0:
        Report.note("docker: not root or no setpriv: the entry point's run as another user is skipped")
        return
    tmp = tempfile.mkdtemp(prefix="kcgate-docker-")
    os.chmod(tmp, 0o755)
    proc = None
    try:
        binary = os.path.join(tmp, "kcgate")
        shutil.copy(a.kcgate, binary)
        os.chmod(binary, 0o755)
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        port = h.free_port()
        conf = os.path.join(tmp, "kcgate.conf")
        with open(conf, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\n[store]\npath = %s/store\n[admin]\ntoken = env:KCGATE_ADMIN_TOKEN\n"
                    "[mirakl]\nwebhook_auth = none\n[inriver]\nwebhook_auth = none\n" % (port, state))
        os.chmod(conf, 0o644)
        env = dict(os.environ, KCGATE_BIN=binary, KCGATE_CONFIG=conf, KCGATE_STATE_DIR=state,
                   KCGATE_ADMIN_TOKEN="a" * 32, KCGATE_HEALTH_URL="http://127.0.0.1:%d/health/ready" % port)
        r = run_ep(a, [], env, user=False)
        rep.check(r.returncode == 1 and "refusing to run as root" in r.stderr,
                  "docker: the entry point refuses to run kcgate as root", [r.stderr.strip()])
        r = run_ep(a, [], dict(env, KCGATE_CONFIG=os.path.join(tmp, "none.conf")))
        rep.check(r.returncode == 1 and "no configuration at %s/none.conf: mount one" % tmp in r.stderr,
                  "docker: no configuration -> says where to mount one, exit 1", [r.stderr.strip()])
        os.chown(state, 0, 0)
        os.chmod(state, 0o755)
        r = run_ep(a, [], env)
        rep.check(r.returncode == 1 and "is not writable by uid 65534" in r.stderr,
                  "docker: a state directory it cannot write -> says so, exit 1", [r.stderr.strip()])
        os.chown(state, 65534, 65534)
        bad = os.path.join(tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write(open(conf).read().replace("webhook_auth = none\n[inriver]", "webhook_auth = nonsense\n[inriver]"))
        os.chmod(bad, 0o644)
        r = run_ep(a, [], dict(env, KCGATE_CONFIG=bad))
        rep.check(r.returncode == 1 and "[mirakl] webhook_auth: expected one of" in r.stderr
                  and "has errors (listed above); nothing started" in r.stderr,
                  "docker: a configuration with errors -> kcgate's errors, nothing started, exit 1", [r.stderr.strip()])
        r = run_ep(a, ["check"], env)
        rep.check(r.returncode == 0 and "OK" in r.stdout, "docker: `check` runs --check-config (exit 0)", [r.stdout + r.stderr])
        r = run_ep(a, ["health"], env)
        rep.check(r.returncode != 0, "docker: `health` fails while kcgate is not running (exit %d)" % r.returncode)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               os.path.join(a.source, "packaging", "docker-entrypoint.sh")]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = False
        for _ in range(100):
            try:
                with urllib.request.urlopen(env["KCGATE_HEALTH_URL"], timeout=1) as resp:
                    ok = resp.status == 200
                    break
            except OSError:
                time.sleep(0.05)
        rep.check(ok, "docker: the entry point starts kcgate as uid 65534 (/health/ready 200)")
        r = run_ep(a, ["health"], env)
        rep.check(r.returncode == 0, "docker: `health` (the HEALTHCHECK) answers 0 while it runs", [r.stderr.strip()])
        comm = open("/proc/%d/comm" % proc.pid).read().strip()
        rep.check(comm == "kcgate", "docker: kcgate replaced the shell (exec: it is the process the runtime signals)",
                  [comm])
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        err = proc.stderr.read().decode("utf-8", "replace")
        rep.check(rc == 0 and '"stopped"' in err, "docker: SIGTERM -> kcgate drains and exits 0 (%d)" % rc,
                  err.splitlines()[-3:])
        proc = None
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


SCENARIOS = {"conf-example": scenario_conf_example, "install": scenario_install, "sdnotify": scenario_sdnotify,
             "docker": scenario_docker}


def main():
    ap = argparse.ArgumentParser(description="kcgate packaging tests")
    ap.add_argument("--kcgate", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    rep = Report()
    try:
        SCENARIOS[a.scenario](a, rep)
    except Exception:
        rep.fail("%s: unexpected exception" % a.scenario, [traceback.format_exc()])
    print("%d passed, %d failed" % (rep.passed, rep.failed))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
