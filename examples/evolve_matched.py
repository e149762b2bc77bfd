"""A matched pair: a CPPN evolved by NEAT and an SGD replica (FER's recipe, the target's own arch) of the same
built-in target, each stopped at the same render MSE, saved as net folders and compared with FER's measurements.

    OMP_NUM_THREADS=1 python examples/evolve_matched.py [--target face] [--res 32] [--mse 0.012] [--out evolve_out]

Writes OUT/evolved and OUT/sgd (net folders, the format of `fracturelab replicate`), OUT/fer (the `fracturelab fer`
page with the evolved net as the reference and the SGD net as its replica), and prints the numbers.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from fracturelab.cppn.builtins import builtin_net
from fracturelab.cppn.nets import save_netdir
from fracturelab.fer.analyze import FerSettings, analyze
from fracturelab.fer.costs import CostSettings
from fracturelab.io import staged_dir
from fracturelab.report.fer_page import write_page
from fracturelab.train.evolve.matched import matched_pair
from fracturelab.train.evolve.settings import NEATSettings

KEYS = ("novel_maps", "roughness", "effective_dim_ratio_max", "effective_dim_ratio_mean", "symmetric_fraction",
        "redundancy", "in_window_mse", "extrapolation_mse")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="face")
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--mse", type=float, default=0.012)
    ap.add_argument("--generations", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="evolve_out")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out)
    t0 = time.time()
    ref = builtin_net(a.target)
    # the SGD net gets the target's own arch, as `replicate` and FER's replicas do
    pair = matched_pair(ref.render(a.res), a.mse, a.seed, NEATSettings(generations=a.generations), sgd_arch=ref.arch)
    t1 = time.time()
    ev = pair.evolved
    save_netdir(out / "evolved", ev.net, [-h["best_fitness"] for h in ev.history],
                {"target": a.target, "res": a.res, "threshold": a.mse, "final_mse": ev.mse, **ev.settings})
    save_netdir(out / "sgd", pair.sgd, pair.sgd_losses, {"target": a.target, "res": a.res, "threshold": a.mse,
                                                         "final_mse": pair.sgd_mse, "steps": pair.sgd_steps})
    print(f"target {a.target} at {a.res}x{a.res}, threshold MSE {a.mse}: evolved {ev.mse:.3e} after "
          f"{ev.generations} generations, SGD {pair.sgd_mse:.3e} after {pair.sgd_steps} steps, arch {ev.net.arch} "
          f"({time.time() - t0:.0f} s)")
    # the FER measurements at the training resolution; costs trained with a short budget (a comparison, not a study)
    costs = CostSettings(seeds=(0,), steps=1500, adapt_steps=300, stop_mse=a.mse)
    settings = FerSettings(res=64, replicas=0, costs=costs, n_perm=200)
    with staged_dir(out / "fer", replace=True) as tmp:
        metrics, arts = analyze(ev.net, [pair.sgd], settings)
        write_page(tmp, metrics, arts, {n.name: n.render(256) for n in (ev.net, pair.sgd)}, costs.wide)
    rows = metrics["nets"]
    print("| net | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 1) + "|")
    for name in ("evolved", "sgd"):
        print(f"| {name} | " + " | ".join(f"{rows[name].get(k, float('nan')):.4g}" for k in KEYS) + " |")
    (out / "summary.json").write_text(json.dumps({"evolved_mse": ev.mse, "sgd_mse": pair.sgd_mse,
                                                  "generations": ev.generations, "sgd_steps": pair.sgd_steps,
                                                  "arch": str(ev.net.arch), "metrics": rows,
                                                  "seconds": {"pair": t1 - t0, "total": time.time() - t0}}, indent=1))


if __name__ == "__main__":
    main()
