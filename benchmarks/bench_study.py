"""Time a study profile end to end (`fracturelab run --profile quick`, CPPN part and report included) in a fresh
output folder, and print the wall time, the worker and thread counts, and the per-cell seconds.

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
    budget = BUDGET_S.get(a.profile, float("inf"))
    print(f"WALL {wall:.1f} s (budget {budget:g} s) -> {out}")
    return 0 if rc == 0 and wall <= budget else 1


if __name__ == "__main__":
    sys.exit(main())
