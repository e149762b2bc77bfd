"""Claim 11's pieces against obvious ones: the slope at matched test_id (demeaning within configurations) against a
least-squares fit with a dummy column per configuration; the joint verdict rule on hand-made slopes through
stats.verdict; which runs enter; and why the claim has no estimate when it has none."""
from __future__ import annotations

import math

import numpy as np
import pytest
from test_placebo_scale import scale_study

from fracturelab.study.claims.claim11_scale import Joint, claim11, scale_rows, slope_at_matched_id
from fracturelab.study.names import BINDING_RATE, WIDTH
from fracturelab.study.spec import AnalysisSettings
from fracturelab.study.stats import Estimate, verdict

S = AnalysisSettings()


def _slow_slope(y, width, id_acc, groups) -> float:
    """The ANCOVA written out: y on log2 width, test_id and one dummy column per configuration (no intercept)."""
    levels = sorted(set(groups))
    X = np.column_stack([np.log2(width), id_acc] + [[float(g == lv) for g in groups] for lv in levels])
    return float(np.linalg.lstsq(X, y, rcond=None)[0][0])


def test_slope_at_matched_id_is_the_ancova_slope():
    g = np.random.default_rng(3)
    n = 60
    groups = [("t", m, "scratch") for m in g.choice(["a", "b", "c"], n)]
    width = g.choice([16, 32, 64, 128], n).astype(float)
    id_acc = g.uniform(0.9, 1.0, n) + 0.01 * np.log2(width)
    y = g.normal(size=n) + 0.2 * np.log2(width) + 3 * id_acc + np.array([ord(m[1]) for m in groups]) * 0.1
    stat = slope_at_matched_id(y, width, id_acc, groups)
    for idx in (np.arange(n), np.arange(0, n, 2), np.flatnonzero(np.array([m[1] for m in groups]) != "b")):
        sub = [groups[i] for i in idx]
        assert stat(idx) == pytest.approx(_slow_slope(y[idx], width[idx], id_acc[idx], sub), rel=1e-9, abs=1e-12)


def test_a_constant_test_id_drops_out_and_no_width_variation_gives_nan():
    width = np.array([32.0, 64, 128, 32, 64, 128])
    y = np.array([0.1, 0.3, 0.5, 0.2, 0.4, 0.6])
    groups = ["a"] * 3 + ["b"] * 3
    stat = slope_at_matched_id(y, width, np.ones(6), groups)
    assert stat(np.arange(6)) == pytest.approx(0.2)
    for id_acc in (np.ones(6), np.linspace(0.9, 1, 6)):  # 48: its log2 leaves rounding dust when demeaned
        assert math.isnan(slope_at_matched_id(y, np.full(6, 48.0), id_acc, groups)(np.arange(6)))


def _part(effect: float, se: float) -> Estimate:
    return Estimate(effect=effect, se=se, df=20.0, n=21)


def _joint(ood: tuple, rate: tuple) -> Joint:
    """A claim-11 estimate from hand-made slopes, both signed so that > 0 is what the claim says."""
    parts = {"ood": _part(*ood), "binding_rate": _part(*rate)}
    falls = [k for k in parts if parts[k].effect < 0]
    decides = min(falls, key=lambda k: parts[k].p()) if falls else max(parts, key=lambda k: parts[k].p())
    d = parts[decides]
    return Joint(effect=d.effect, se=d.se, df=d.df, parts=parts, decides=decides)


@pytest.mark.parametrize("ood, rate, expected", [
    ((0.1, 0.01), (0.1, 0.01), "supported"),
    ((0.1, 0.01), (0.02, 0.02), "inconclusive"),      # binding errors do not clearly fall
    ((0.1, 0.01), (-0.1, 0.01), "contradicted"),      # OOD rises, binding errors rise
    ((-0.1, 0.01), (0.1, 0.01), "contradicted"),
    ((0.0, 0.002), (0.001, 0.002), "no effect"),
    ((0.0, 0.002), (0.1, 0.01), "inconclusive"),      # OOD flat, binding errors fall: not both inside +-SESOI
])
def test_the_joint_rule(ood, rate, expected):
    est = _joint(ood, rate)
    assert verdict(est, est.p(), S.alpha, 1 - S.alpha, 0.02)[0] == expected


def test_each_deciding_test_gets_half_the_level():
    """Bonferroni: a pair of slopes each at p ~ 0.04 is not supported at alpha 0.05 (each needs p <= 0.025)."""
    se = 0.1 / 2.086  # t(20) two-sided 5% quantile: each slope sits at p ~ 0.05
    est = _joint((0.1 * 1.05, se), (0.1 * 1.05, se))
    assert 0.025 < est.parts["ood"].p() < 0.05 and est.p() > 0.05
    assert verdict(est, est.p(), S.alpha, 1 - S.alpha, 0.02)[0] == "inconclusive"


def test_configurations_at_fewer_than_three_widths_stay_out_and_interventions_too():
    rows = scale_study(0, ood=0.1, binding=0.1)
    two = [dict(r, model="cppn") for r in rows if r["model"] == "mlp" and r[WIDTH] in (32, 64)]
    bimt = [dict(r, regime=S.interventions[0]) for r in rows]
    rs, caveats = scale_rows(rows + two + bimt, S)
    assert {(r["model"], r["regime"]) for r in rs} == {("mlp", "scratch"), ("transformer", "scratch")}
    assert any("binding/cppn/scratch" in c for c in caveats)
    assert claim11(rows + two + bimt, {}, S).effect == pytest.approx(claim11(rows, {}, S).effect)


def test_the_claim_says_why_it_has_no_estimate():
    rows = scale_study(0, ood=0.1, binding=0.1)
    assert "3+ widths" in claim11([r for r in rows if r[WIDTH] < 128], {}, S).missing
    est = claim11([{k: v for k, v in r.items() if k != BINDING_RATE} for r in rows], {}, S)
    assert est.missing.startswith("binding_rate") and math.isnan(est.p())
