#!/usr/bin/env python3
"""check_docs.py --runbook build/kcgate-runbook --source . [--write]

The runbook per team has one source, src/runbook.c. This script
  - renders its rows (through build/kcgate-runbook, the table as JSON) as
    the markdown block of docs/operations.md between the runbook:begin and
    runbook:end markers, and fails when the file's block differs (--write
    puts the rendered block in place instead);
  - fails when a kind the sources define (`#define KCG_EXC_NAME "kind"` in
    include/ or src/, the flows' headers included) has no row, or a row is
    for no kind any source defines (a stale row), naming each.
"""
import argparse
import json
import os
import re
import subprocess
import sys

BEGIN = "<!-- runbook:begin: generated from src/runbook.c by tests/runbook/check_docs.py --write; edit it there -->"
END = "<!-- runbook:end -->"
KIND_RE = re.compile(r'#define\s+KCG_EXC_[A-Z0-9_]+\s+"([a-z0-9_]+)"')
# kinds the flows of other branches raise (issues 10, 11): rows kept ahead of their merge
PENDING = set()  # kinds with a row whose flow is not merged yet (none now)


def source_kinds(src):
    kinds = {}
    for top in ("include", "src"):
        for d, _, files in os.walk(os.path.join(src, top)):
            for f in files:
                if f.endswith((".h", ".c")):
                    path = os.path.join(d, f)
                    for m in KIND_RE.finditer(open(path, encoding="utf-8").read()):
                        kinds.setdefault(m.group(1), os.path.relpath(path, src))
    return kinds


def render(rb):
    out = [BEGIN, "", "## The runbook per team", "",
           "What each team checks every day and every week, where (the console page) and by which figure, then "
           "every exception kind the team owns: what it means, the system usually at fault, what to do step by "
           "step, and when it resolves by itself. The console's \"what to do\" and every alert's text come from "
           "the same table (`GET /admin/runbook`). An exception names its own system and team; a few kinds "
           "change owner with the case (`acceptance_deadline` and `auto_refused` go to ecommerce when the "
           "order is held on a SKU).", ""]
    for team in rb["teams"]:
        out += ["### %s" % team.capitalize(), ""]
        for cadence in ("daily", "weekly"):
            rows = [c for c in rb["checks"] if c["team"] == team and c["cadence"] == cadence]
            if not rows:
                continue
            out += ["**%s**" % cadence.capitalize(), "", "| check | console page | metric |", "|---|---|---|"]
            out += ["| %s | %s | `%s` |" % (c["what"], c["page"], c["metric"].replace("|", "\\|")) for c in rows]
            out.append("")
        kinds = [k for k in rb["kinds"] if k["owner"] == team]
        if not kinds:
            out += ["No exception kind is owned by %s: the checks above are its part." % team, ""]
        for k in kinds:
            out += ["#### `%s`" % k["kind"], "",
                    "System at fault: **%s**. Severity: %s. Flow: %s." % (k["system"], k["severity"], k["flow"]), "",
                    k["meaning"], ""]
            out += ["%d. %s" % (i + 1, s) for i, s in enumerate(k["steps"])]
            out += ["", "Resolves by itself when: %s" % k["resolves"], ""]
    out.append(END)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runbook", required=True, help="the kcgate-runbook binary")
    ap.add_argument("--source", required=True, help="the source tree")
    ap.add_argument("--write", action="store_true", help="write the block into docs/operations.md")
    a = ap.parse_args()
    rb = json.loads(subprocess.run([a.runbook], check=True, capture_output=True, text=True).stdout)
    bad = []
    rows = [k["kind"] for k in rb["kinds"]]
    for k in sorted({k for k in rows if rows.count(k) > 1}):
        bad.append("src/runbook.c: kind %s has more than one row" % k)
    for k in rb["kinds"]:
        if not k["steps"]:
            bad.append("src/runbook.c: kind %s has no step" % k["kind"])
        if k["owner"] not in rb["teams"]:
            bad.append("src/runbook.c: kind %s: owner %s is no team of the runbook" % (k["kind"], k["owner"]))
    defined = source_kinds(a.source)
    for kind, where in sorted(defined.items()):
        if kind not in rows:
            bad.append("%s defines exception kind %s, which src/runbook.c has no row for" % (where, kind))
    for kind in rows:
        if kind not in defined and kind not in PENDING:
            bad.append("src/runbook.c has a row for %s, which no source defines" % kind)

    path = os.path.join(a.source, "docs", "operations.md")
    text = open(path, encoding="utf-8").read()
    want = render(rb)
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < i:
        bad.append("docs/operations.md: no block between the markers %r and %r" % (BEGIN, END))
    elif a.write:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text[:i] + want + text[j + len(END):])
        print("docs/operations.md: the runbook block written")
    elif text[i:j + len(END)] != want:
        have = text[i:j + len(END)].splitlines()
        lines = want.splitlines()
        n = next((k for k in range(min(len(have), len(lines))) if have[k] != lines[k]), min(len(have), len(lines)))
        bad.append("docs/operations.md disagrees with src/runbook.c from line %d of the block:\n  docs:    %s\n"
                   "  runbook: %s\n(run: python3 tests/runbook/check_docs.py --runbook build/kcgate-runbook "
                   "--source . --write)" % (n + 1, have[n] if n < len(have) else "(end)",
                                            lines[n] if n < len(lines) else "(end)"))
    for b in bad:
        print("FAIL: " + b)
    print("%d kinds in the runbook, %d defined in the sources; %s" % (len(rows), len(defined),
                                                                    "ok" if not bad else "%d problem(s)" % len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
