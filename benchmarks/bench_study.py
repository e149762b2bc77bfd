"""Time a study profile end to end (`fracturelab run --profile quick`, CPPN part and report included) in a fresh
output folder, and print the wall time, the worker and thread counts, the per-cell seconds, the learned training
runs per hour (and claim 2's `runs` in summary.json), and where a task cell's CPU time goes, per configuration
(training, each probe; the cells' notes `cpu_parts`).

    OMP_NUM_THREADS=1 python benchmarks/bench_study.py [--profile standard] [--workers 2] [--out DIR]

The budgets on a 2-core machine: quick 10 minutes, standard 60 minutes of wall time; the exit code is 1 when the
profile's budget is exceeded.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = {"quick": 600, "standard": 3600}
"""Wall-time budget per profile (seconds); the full profile is meant for a cluster and has none here."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=None, help="output folder (default: a fresh temporary one)")
    ap.add_argument("--picbreeder", default=None)
    ap.add_argument("--profile", default="quick")
    a = ap.parse_args()
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench_study_")) / "out"
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out}: not empty; the benchmark needs a fresh folder (a resumed study would skip its cells)")
    cmd = [sys.executable, "-m", "fracturelab", "run", "--profile", a.profile, "-o", str(out),
           "--workers", str(a.workers)] + (["--picbreeder", a.picbreeder] if a.picbreeder else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average at the start "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, env=env)
    wall = time.perf_counter() - t0
    con = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    cells = con.execute("SELECT kind, status, seconds, params_json FROM cells").fetchall()
    cpu = [json.loads(n or "{}").get("cpu_seconds", 0.0) for (n,) in con.execute("SELECT notes_json FROM cells")]
    study = json.loads(con.execute("SELECT options_json FROM studies ORDER BY id DESC").fetchone()[0])
    con.close()
    print(f"\nprofile {a.profile}: {len(cells)} cells ({sum(s == 'done' for _, s, _, _ in cells)} done), "
          f"exit code {rc}")
    print(f"workers {study['workers']} x threads {study['threads']} (os.cpu_count() = {os.cpu_count()}, "
          f"load average before the end {os.getloadavg()[0]:.1f})")
    for kind in ("task", "cppn"):
        secs = sorted(s for k, _, s, _ in cells if k == kind and s is not None)
        if secs:
            print(f"{kind} cells: {len(secs)}, seconds per cell min {secs[0]:.1f} / median "
                  f"{secs[len(secs) // 2]:.1f} / max {secs[-1]:.1f}, total {sum(secs):.0f}")
    idle = max(sum(cpu) / study["workers"], max(cpu, default=0.0))
    print(f"cell CPU seconds: total {sum(cpu):.0f}; on {study['workers']} idle cores the cells alone would take "
          f"~{idle:.0f} s of wall (total / workers), plus start-up and the report")
    _runs_per_hour(out, wall)
    _split(cells, [json.loads(n or "{}") for (n,) in _notes(out)])
    budget = BUDGET_S.get(a.profile, float("inf"))
    print(f"WALL {wall:.1f} s (budget {budget:g} s) -> {out}")
    return 0 if rc == 0 and wall <= budget else 1


def _notes(out: Path) -> list:
    con = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT notes_json FROM cells").fetchall()
    finally:
        con.close()


def _runs_per_hour(out: Path, wall: float) -> None:
    """Training runs, those that learned (test_id at the analysis's threshold: the runs the claims read), and claim
    2's runs, per hour of this study's wall time."""
    summary = json.loads((out / "summary.json").read_text())
    claim2 = next((c for c in summary["claims"] if c["id"] == 2), {})
    con = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    try:
        ids = [v for (v,) in con.execute("SELECT value FROM metrics WHERE name = 'train.id_acc'")]
        spec = json.loads(con.execute("SELECT spec_json FROM studies ORDER BY id DESC").fetchone()[0])
    finally:
        con.close()
    threshold = spec["analysis"]["learned_id_acc"]
    learned = sum(v >= threshold for v in ids)
    print(f"training runs {len(ids)}, learned (test_id >= {threshold:g}) {learned}; claim 2 runs "
          f"{claim2.get('runs')}; learned runs per hour of wall {learned * 3600 / wall:.0f}")


def _split(cells: list, notes: list) -> None:
    """Per task configuration (task / model / scale / regime): cells, median CPU-s per cell, training's share and
    the probes' share of the cells' CPU, and the largest probe."""
    by: dict = {}
    for (kind, status, _, params), n in zip(cells, notes):
        if kind != "task" or status != "done" or "cpu_parts" not in n:
            continue
        p = json.loads(params)
        by.setdefault(f"{p['task']} / {p['model']} / {p['scale']} / {p['regime']}", []).append(n)
    print("| configuration | cells | CPU-s per cell (median) | training | probes | largest probe (CPU-s per cell) |")
    print("|---|---|---|---|---|---|")
    for name, ns in sorted(by.items()):
        total = sum(x["cpu_seconds"] for x in ns)
        train = sum(x["cpu_parts"]["training"] for x in ns)
        probes: dict = {}
        for x in ns:
            for k, v in x["cpu_parts"].items():
                if k.startswith("probe."):
                    probes[k[6:]] = probes.get(k[6:], 0.0) + v
        big = max(probes, key=probes.get, default=None)
        cpu = sorted(x["cpu_seconds"] for x in ns)
        print(f"| {name} | {len(ns)} | {cpu[len(cpu) // 2]:.1f} | {100 * train / total:.0f} % | "
              f"{100 * sum(probes.values()) / total:.0f} % | "
              f"{f'{big} {probes[big] / len(ns):.1f}' if big else '-'} |")


if __name__ == "__main__":
    sys.exit(main())
