"""The CPPN part of a study: reference networks (built-in, or Picbreeder's) and SGD replicas of them, measured with
fracturelab.fer.

A "reference" cell measures the reference's feature maps (fer.maps) and how fast it adapts to a one-weight change
of itself. A "sgd" cell fits one replica (FER's recipe, replicate.fit, seeded) to the reference's render and measures
the same maps plus the costs of fracture (fer.costs): extrapolation beyond the training window, completion of a
hidden half (a second fit, same seed, with the right half hidden), and adaptation toward the reference's most
effective one-weight sweep. Claim 1's controls: an "init" cell measures the maps of an untrained net of the
reference's arch (the replica's own initialization, seeded), a "sgd_arch" cell a replica of another arch (the cell's
alt_arch). Metric names are "cppn.<name>" (names.py). Each cell also returns a small PNG of its render, and its net's
arch and weights (records.ARCH_TXT, PARAMS_NPY) for the report's explorer.
"""
from __future__ import annotations

import math

from .names import (ADAPT_FINAL_MSE, ADAPT_STEPS, ADAPT_WID, COMPLETION_MSE, CPPN, CPPN_N_PARAMS, EXTRAPOLATION_MSE,
                    FIT_MSE, IN_WINDOW_MSE)
from .records import ARCH_TXT, PARAMS_NPY, RENDER_PNG, CellResult

PICK_RES = 16  # the adaptation target's weight is chosen on a coarse grid: cheap, and deterministic


def _net(p, ref, ref_img):
    """The cell's net and its fit error to the reference's render."""
    import torch

    from ..cppn.arch import Arch
    from ..cppn.nets import Net
    from ..cppn.replicate import INITS, ReplicateSettings, fit

    if p.regime == "reference":
        return ref, 0.0
    if p.regime == "init":  # where a replica of this seed starts: the replicas' own init (FER's truncated normal)
        w = INITS[ReplicateSettings().init](ref.arch, torch.Generator().manual_seed(p.seed)).numpy()
        net = Net(f"init_{ref.name}_s{p.seed}", ref.arch, w, source="init")
        return net, float(((net.render(p.res) - ref_img) ** 2).mean())
    arch = Arch.parse(p.alt_arch) if p.regime == "sgd_arch" else ref.arch
    rep = fit(arch, ref_img, ReplicateSettings(res=p.res, steps=p.steps, lr=p.lr, seed=p.seed), progress=False)
    return Net(f"{p.regime}_{ref.name}_s{p.seed}", rep.arch, rep.params, source="sgd"), rep.fit_mse


def cppn_cell(p) -> CellResult:
    """p: a cell.CppnCell."""
    from ..cppn.nets import encoded, load_cppn
    from ..fer.costs import CostSettings, adaptation, completion, extrapolation, reverse_target
    from ..fer.maps import map_metrics

    ref = load_cppn(p.reference)
    res = p.res
    ref_img = ref.render(res)
    net, mse = _net(p, ref, ref_img)
    metrics = {FIT_MSE: mse, CPPN_N_PARAMS: float(net.arch.n_params)}
    metrics |= {CPPN + k: float(v) for k, v in map_metrics(net, res).items()}
    if p.costs:
        costs = CostSettings(res=res, steps=p.steps, lr=p.lr, stop_mse=None, adapt_steps=p.adapt_steps)
        ex, _ = extrapolation(ref, net, res, p.wide)
        metrics[IN_WINDOW_MSE] = ex["in_window_mse"]
        metrics[EXTRAPOLATION_MSE] = ex["extrapolation_mse"]
        if p.regime != "reference":  # the reference completes itself perfectly by definition: no fit needed
            c, _ = completion(ref, None, costs, seed=p.seed)
            metrics[COMPLETION_MSE] = c["completion_mse"]
        wid, target = reverse_target(ref, 1.0, res, PICK_RES)
        base = float(((net.render(res) - ref_img) ** 2).mean())  # a replica starts this far off: the bar moves by it
        a = adaptation(net, target, costs, thresh=base + costs.adapt_thresh)
        steps = a["steps_to_thresh"]
        metrics[ADAPT_STEPS] = float(p.adapt_steps if math.isnan(steps) else steps)
        metrics[ADAPT_FINAL_MSE] = a["final_mse"]
        metrics[ADAPT_WID] = float(wid)
    metrics = {k: v for k, v in metrics.items() if v is not None and math.isfinite(v)}
    png, arch, params = encoded(net, net.render(max(64, res)))  # report/explorer.py rebuilds the study's nets from arch, params
    return CellResult(metrics, notes={"reference": ref.name, "arch": str(ref.arch)},
                      blobs={RENDER_PNG: png, ARCH_TXT: arch, PARAMS_NPY: params})
