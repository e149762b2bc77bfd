"""Time every fracture probe on default task models (the budget: at most 60 s per probe on 2 cores).

    OMP_NUM_THREADS=1 python benchmarks/bench_probes.py [RUNDIR ...] [--threads 1] [--tasks factors leave_square_out]

With no RUNDIR, trains each task's default run (scratch, seed 0, the task's recipe) into a temporary folder first
(factors about 40 s, leave_square_out under a minute, lookup about 2 minutes of one thread). Prints one line per
probe: CPU seconds, and whether it ran or was skipped (with the reason).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from fracturelab.probes import run_probes
from fracturelab.train import load_run, train_run


def bench(model, data, config) -> list[tuple[str, float, str]]:
    timings: dict = {}
    results = run_probes(model, data, config, seed=0, timings=timings)
    return [(name, timings[name], f"skipped: {r['skipped']}" if "skipped" in r else "ok")
            for name, r in results.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rundirs", nargs="*", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tasks", nargs="+", default=["factors", "leave_square_out"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rundirs = list(a.rundirs)
    tmp = None
    if not rundirs:
        tmp = tempfile.TemporaryDirectory()
        for task in a.tasks:
            rundirs.append(Path(tmp.name) / task)
            train_run(task, seed=0, outdir=rundirs[-1])
    worst = 0.0
    for rd in rundirs:
        model, data, config = load_run(rd)
        print(f"{rd}: {config['task']} / {config['model']} / {config['regime']}, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters, {torch.get_num_threads()} thread(s)")
        for name, sec, status in bench(model, data, config):
            worst = max(worst, sec)
            print(f"  {name:<15} {sec:6.1f} s  {status}")
    print(f"slowest probe: {worst:.1f} s ({'within' if worst <= 60 else 'OVER'} the 60 s budget)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
