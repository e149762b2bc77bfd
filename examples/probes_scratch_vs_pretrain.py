"""The fracture probes on scratch-trained versus pretrained models of one task, side by side (markdown table).

    OMP_NUM_THREADS=1 python examples/probes_scratch_vs_pretrain.py [--task factors] [--seeds 0 1 2] [-o probe_runs]

Trains (or reuses, when the folder is already there) one run per regime and seed with the task's recipe, runs every
probe on each (fracturelab.probes.probe_run, which writes RUNDIR/probes.json), and prints the summary metrics as
mean ± std over seeds. The factors task is the default: it has ground-truth factors, three answer parts (so every
probe applies) and a pretraining set (single-factor variation around one reference combination).
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from fracturelab.probes import probe_run
from fracturelab.train import train_run

ROWS = [("coverage", "acc_id"), ("coverage", "acc_ood"), ("subnetworks", "sub"), ("subnetworks", "abl"),
        ("subnetworks", "mask_frac"), ("subnetworks", "random_sub"), ("subnetworks", "random_abl"),
        ("reuse", "iou"), ("reuse", "drop"), ("sparsity", "hoyer_id"), ("sparsity", "hoyer_ood"),
        ("sparsity", "hoyer_gap"), ("sparsity", "hoyer_novelty_rho"), ("sparsity", "hoyer_gap_init"),
        ("sparsity", "hoyer_gap_final"), ("factorization", "dci_d"), ("factorization", "dci_c"),
        ("factorization", "dci_i"), ("factorization", "info_m"), ("factorization", "info_c"),
        ("factorization", "info_e"), ("factorization", "probe_acc"), ("clusterability", "ncut"),
        ("clusterability", "ncut_z"), ("crosstalk", "spread"), ("geometry", "eff_rank"),
        ("geometry", "participation_ratio"), ("coverage", "acc_seen"), ("coverage", "acc_unseen"),
        ("coverage", "acc_by_coverage_slope"), ("coverage", "novelty_auc")]


def _cell(vals: list) -> str:
    v = [x for x in vals if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return "–"
    return f"{np.mean(v):.3g}" if len(v) == 1 else f"{np.mean(v):.3g} ± {np.std(v, ddof=1):.2g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="factors")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("-o", "--out", default="probe_runs")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(a.out)
    res: dict = {}
    for regime in ("scratch", "pretrain"):
        for seed in a.seeds:
            rundir = out / f"{a.task}_{regime}_{seed}"
            if not (rundir / "model.pt").is_file():
                train_run(a.task, regime=regime, seed=seed, outdir=rundir, checkpoints=(100, 300, 1000))
            probes = rundir / "probes.json"
            r = json.loads(probes.read_text()) if probes.is_file() else probe_run(rundir, seed=seed)
            res[(regime, seed)] = r
            print(f"probed {rundir}", flush=True)
    print(f"\n{a.task}, default model, seeds {' '.join(map(str, a.seeds))} (mean ± std):\n")
    print("| probe | metric | scratch | pretrain |\n|---|---|---|---|")
    for probe, metric in ROWS:
        cells = [_cell([res[(rg, s)].get(probe, {}).get(metric) for s in a.seeds]) for rg in ("scratch", "pretrain")]
        print(f"| {probe} | {metric} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
