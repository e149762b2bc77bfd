"""Placebo for claim 1: a net that draws the reference's exact render through the reference's exact maps must score
0 on claim 1's composite, whatever its layerization padding holds.

A layerized Picbreeder reference leaves most hidden units as padding (no incoming weights, or cache units nothing
reads); replicas and untrained nets use every unit. The placebo ("woken") net is the reference with every unread
hidden unit given random incoming weights: nothing reads those units, so its render and the maps of every unit the
render depends on are the reference's. Before fer.maps counted only the units the render depends on, claim 1 scored
it above its SESOI, as much as the real replicas; it must be within SESOI / 2 of 0.
"""
import numpy as np
import pytest
import torch

from fracturelab.cppn.nets import Net, load_cppn
from fracturelab.cppn.picbreeder import ROOT
from fracturelab.cppn.replicate import INITS, ReplicateSettings, fit
from fracturelab.fer.maps import feature_maps, map_metrics
from fracturelab.study.claims import CLAIMS
from fracturelab.study.claims.claim1_cppn_replicas import claim1
from fracturelab.study.spec import AnalysisSettings, profile


def slow_unread(net: Net) -> list[list[int]]:
    """Per hidden layer 1..L, the units with no path of nonzero weights to an output, by walking the weights one at
    a time from the output layer down (independent of fer.maps.read_units, which the placebo is meant to test)."""
    a, n_hidden = net.arch, net.arch.n_hidden
    w = lambda layer, row, col: float(net.params[a.weight_id(layer, row, col)])  # noqa: E731
    read = [[w(n_hidden, u, o) != 0 for o in range(3)] for u in range(a.width)]
    read = {n_hidden: [any(r) for r in read]}
    for layer in range(n_hidden - 1, 0, -1):
        read[layer] = [any(w(layer, u, v) != 0 and read[layer + 1][v] for v in range(a.width)) for u in range(a.width)]
    return [[u for u in range(a.width) if not read[layer][u]] for layer in range(1, n_hidden + 1)]


def woken(net: Net, seed: int) -> tuple[Net, int]:
    """The net with each unread hidden unit given LeCun-normal incoming weights (seeded); and how many it woke."""
    rng = np.random.default_rng(seed)
    params, a = np.array(net.params, dtype=np.float32), net.arch
    unread = slow_unread(net)
    for layer, units in enumerate(unread, start=1):
        n_in = a.shape(layer - 1)[0]
        for u in units:
            for row in range(n_in):
                params[a.weight_id(layer - 1, row, u)] = rng.normal() / np.sqrt(n_in)
    return Net(f"{net.name}_woken", a, params), sum(map(len, unread))


def quick_references() -> list[str]:
    """The quick profile's CPPN references as load_cppn reads them: built-in names, then the shipped Picbreeder
    files."""
    part = profile("quick").cppn
    return list(part.references) + [str(ROOT / rel) for rel in part.picbreeder]


def row(ref: str, regime: str, net: Net, fit_mse: float, res: int) -> dict:
    """A study row as cppn_part stores it (non-finite metrics left out)."""
    metrics = {f"cppn.{k}": v for k, v in map_metrics(net, res).items() if np.isfinite(v)}
    return {"kind": "cppn", "reference": ref, "regime": regime, "cppn.fit_mse": fit_mse} | metrics


@pytest.fixture(scope="module")
def placebo_rows():
    """Per quick-profile reference: the reference, its woken net (standing in as the "sgd" replica), two untrained
    nets ("init", claim 1's control) and one real SGD replica. The replica's regime, "pool", is one claim 1 does not
    read: it only joins the sd pool, so each metric's sd is that of a real study's CPPNs."""
    part = profile("quick").cppn
    res, rows, renders, woke = part.res, [], {}, {}
    for ref_name in quick_references():
        ref = load_cppn(ref_name)
        net, woke[ref_name] = woken(ref, seed=0)
        img = ref.render(res)
        renders[ref_name] = (img, net.render(res), ref, net)
        rows.append(row(ref_name, "reference", ref, 0.0, res))
        rows.append(row(ref_name, "sgd", net, float(((net.render(res) - img) ** 2).mean()), res))
        for seed in (0, 1):
            w = INITS[ReplicateSettings().init](ref.arch, torch.Generator().manual_seed(seed)).numpy()
            rows.append(row(ref_name, "init", Net("init", ref.arch, w), 1.0, res))
        rep = fit(ref.arch, img, ReplicateSettings(res=res, steps=part.steps, lr=part.lr, seed=0), progress=False)
        rows.append(row(ref_name, "pool", Net("sgd", rep.arch, rep.params), rep.fit_mse, res))
    return rows, renders, woke


def test_woken_nets_draw_the_reference_through_changed_padding(placebo_rows):
    _, renders, woke = placebo_rows
    assert len(renders) == len(quick_references()) >= 2
    for name, (img, woken_img, ref, net) in renders.items():
        np.testing.assert_allclose(woken_img, img, atol=1e-6, err_msg=name)  # the render is the reference's
        assert woke[name] > 0, name
        # the placebo is not vacuous: the woken units draw maps the reference's padding did not
        changed = [int((np.abs(a - b).reshape(len(a), -1).max(axis=1) > 1e-3).sum())
                   for a, b in zip(feature_maps(ref, 16)[1:], feature_maps(net, 16)[1:])]
        assert sum(changed) > 0, name


def test_claim1_gives_the_render_identical_placebo_no_effect(placebo_rows):
    rows, _, _ = placebo_rows
    est = claim1(rows, {}, AnalysisSettings())
    assert len(est.breakdown["reference"]) == len(quick_references())  # every reference entered, as a unit
    half_sesoi = CLAIMS[1].sesoi / 2
    assert abs(est.effect) <= half_sesoi, (est.effect, est.breakdown)
