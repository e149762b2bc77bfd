"""Weight-sweep throughput: fracturelab's batched sweeps against one net at a time, and against the same work in JAX
with jit and vmap (FER's framework), on Picbreeder's skull and apple.

    python benchmarks/bench_sweeps.py [--quick] [--threads N]

A sweep evaluation is one perturbed net rendered (and, for fracturelab, measured). Work per net and resolution: K
genome-link weights, each at 20 non-zero deltas in [-1, 1]. Figures are sweep evaluations per second, median of
repeats after a warm-up (JAX's warm-up includes compilation). JAX is optional: pip install 'jax[cpu]'.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from fracturelab.cppn.module import render
from fracturelab.cppn.nets import load_cppn
from fracturelab.fer.sweeps import SweepSettings, sweep_weights, sweepable_weights

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cppn import median_time  # noqa: E402

try:
    import jax.numpy as jnp

    import _jax_cppn as jc
except ImportError:
    jc = None

DATA = Path(os.environ.get("FRACTURELAB_PICBREEDER", Path(__file__).resolve().parents[2] / "shared/data/picbreeder"))


def perturbed(net, wids, deltas) -> np.ndarray:
    """(K * D, P): the net's weights with one weight moved by each delta."""
    p = np.repeat(net.params[None], len(wids) * len(deltas), 0)
    for i, w in enumerate(wids):
        p[i * len(deltas):(i + 1) * len(deltas), w] += deltas
    return p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}, jax {'yes' if jc else 'not installed'}")
    print(f"{'net':8s} {'res':>4s} {'sweeps':>6s} {'batched/s':>10s} {'loop/s':>8s} {'speed-up':>8s} "
          f"{'jax/s':>8s} {'torch/jax':>9s}")
    for name in ("skull", "apple"):
        net = load_cppn(DATA / "fer/genomes" / f"{name}.zip")
        for res, k in ((64, 4 if a.quick else 32), (256, 2 if a.quick else 8)):
            settings = SweepSettings(res=res, threads=a.threads)
            wids = sweepable_weights(net, settings)[:k]
            deltas = settings.deltas[settings.deltas != 0]
            n = len(wids) * len(deltas)
            reps = 1 if a.quick else 3
            t_batch = median_time(lambda: sweep_weights(net, wids, settings), reps)
            params = perturbed(net, wids, deltas)
            loop_n = min(n, 40)
            t_loop = median_time(lambda: [render(net.arch, p, res) for p in params[:loop_n]], 1) * n / loop_n
            jax_rate = float("nan")
            if jc is not None:
                batched = jc.make_batched(net.arch)
                x = jc.coord_grid(res)
                chunk = max(1, 2 ** 24 // (res * res * net.arch.width))

                def run_jax():
                    for s in range(0, n, chunk):
                        jc.to_rgb(batched(jnp.asarray(params[s:s + chunk]), x)).block_until_ready()

                jax_rate = n / median_time(run_jax, reps)
            print(f"{name:8s} {res:4d} {n:6d} {n / t_batch:10.1f} {n / t_loop:8.1f} {t_loop / t_batch:7.1f}x "
                  f"{jax_rate:8.1f} {n / t_batch / jax_rate:8.2f}x")


if __name__ == "__main__":
    main()
