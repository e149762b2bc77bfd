"""Where a study cell's time goes, and the floor: one cell of each (task, model, regime) of a profile, seed 0, run as
a study runs it (one thread), timed part by part (training, each probe on the trained network, each probe at
initialization), with the FLOPs each part runs (torch's FlopCounterMode: matrix products, attention and
convolutions, forward and backward; elementwise work is not counted); then the machine's one-thread GEMM rate,
hence the fewest seconds each cell could take and the most runs per hour the design could reach on the cores.

    OMP_NUM_THREADS=1 python benchmarks/bench_cell.py [--profile standard] [--cores 2] [--only factors/mlp ...]

The floor is FLOPs / the GEMM rate: what the cell would take if every product ran at the rate of one large square
matrix product and nothing else cost anything. "achieved" is floor seconds / measured seconds of the same part.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from fracturelab.probes import PROBES, probe_settings, run_checkpoints, run_probes
from fracturelab.study.cell import TaskCell, setup_worker
from fracturelab.study.spec import profile
from fracturelab.train import load_run, train_run


def gemm_rate(n: int = 1024, repeats: int = 7) -> float:
    """FLOP/s of one thread's float32 n x n x n product, best of `repeats`."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def timed(fn) -> tuple[float, int]:
    """(CPU seconds, FLOPs) of fn(): timed on its own, then run again under the FLOP counter (whose per-operation
    bookkeeping would otherwise be timed too); fn must give the same work both times (seeded)."""
    c0 = time.process_time()
    fn()
    sec = time.process_time() - c0
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return sec, counter.get_total_flops()


def one_cell(cell, folder: Path) -> list[tuple[str, float, int]]:
    """[(part, CPU seconds, FLOPs)] of one task cell: training, then each probe, then each probe at init."""
    out = folder / "run"
    options = dict(cell.options) | ({"checkpoints": tuple(cell.checkpoints)} if cell.checkpoints else {})
    parts = [("training", *timed(lambda: train_run(
        cell.task, cell.split, cell.model, cell.regime, cell.seed, out, model_options=cell.model_options or None,
        threads=1, overwrite=True, **options)))]
    model, data, config = load_run(out)
    ckpts = run_checkpoints(out, config, init=True)
    settings = probe_settings(cell.probe_options)
    init = load_run(out)[0]
    init.load_state_dict(ckpts[0])
    for prefix, net in (("", model), ("init.", init)):
        for name in cell.probes:
            if not prefix or PROBES[name].at_init:
                parts.append((prefix + name, *timed(
                    lambda: run_probes(net, data, config, [name], cell.seed, ckpts, settings=settings))))
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--only", nargs="*", default=None, help="task/model[/regime] to run (default: every one)")
    a = ap.parse_args()
    setup_worker(1)
    rate = gemm_rate()
    print(f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average {os.getloadavg()[0]:.1f}, "
          f"torch threads {torch.get_num_threads()}, one-thread GEMM (1024^3, float32): {rate / 1e9:.1f} GFLOP/s")
    tasks = [c for c in profile(a.profile).cells(picbreeder=False) if isinstance(c, TaskCell)]
    seen = {}
    for c in tasks:
        key = f"{c.task}/{c.model}/{c.regime}"
        if key in seen or (a.only and not any(key.startswith(o) for o in a.only)):
            continue
        seen[key] = sum(1 for d in tasks if (d.task, d.model, d.regime) == (c.task, c.model, c.regime))
        with tempfile.TemporaryDirectory() as d:
            parts = one_cell(c, Path(d))
        total, flops = sum(p[1] for p in parts), sum(p[2] for p in parts)
        probes = sum(p[1] for p in parts if p[0] != "training")
        print(f"\n{key} ({seen[key]} cells in the profile): {total:.1f} CPU-s, probes {100 * probes / total:.0f} %, "
              f"{flops / 1e9:.2f} GFLOP, floor {flops / rate:.2f} s (achieved {100 * flops / rate / total:.1f} %)")
        for name, sec, fl in parts:
            print(f"  {name:<22} {sec:7.2f} s  {fl / 1e9:8.3f} GFLOP  floor {fl / rate:6.2f} s")
        seen[key] = (seen[key], total, flops)
    cells = sum(n for n, _, _ in seen.values())
    cpu = sum(n * t for n, t, _ in seen.values())
    floor = sum(n * f for n, _, f in seen.values()) / rate
    print(f"\nprofile {a.profile}: {cells} task cells, {cpu:.0f} CPU-s measured ({cells * 3600 * a.cores / cpu:.0f} "
          f"runs/hour on {a.cores} cores), floor {floor:.0f} s ({cells * 3600 * a.cores / floor:.0f} runs/hour); "
          f"achieved {100 * floor / cpu:.1f} % of the floor")


if __name__ == "__main__":
    main()
