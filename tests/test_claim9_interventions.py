"""Claim 9 per intervention: each intervention's manipulation check at alpha / k (Bonferroni over the k checked), the
verdict pooled over those whose check passed, and a placebo where intervention labels are random. Rows are built
here with every fracture component equal to the run's signed fracture, so the composite (z-scored within task) is that
fracture up to one positive factor per task, whatever components the composite holds."""
from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from fracturelab.study.analysis_settings import AnalysisSettings
from fracturelab.study.claims.claim9_intervention import claim9
from fracturelab.study.measures import TASK_COMPOSITE
from fracturelab.study.names import ID_ACC, OOD_ACC
from fracturelab.study.spec import StudySpec, spec_from_dict
from fracturelab.study.verdicts import decide

THREE = ("bimt", "modular", "es")
TASKS = (("factors", "mlp"), ("leave_square_out", "mlp"))


def run(task, model, regime, seed, fracture, ood, id_acc) -> dict:
    r = {"key": f"{task}-{model}-{regime}-{seed}", "kind": "task", "task": task, "model": model, "scale": "base",
         "regime": regime, "seed": seed, ID_ACC: id_acc, OOD_ACC: ood}
    return r | {name: sign * fracture for name, sign, _ in TASK_COMPOSITE}


def study(effects: dict, seeds: int = 12, rng: int = 0) -> list[dict]:
    """{intervention: (how far it lowers fracture, how far it raises OOD accuracy)}; each seed's runs share its
    fracture and OOD level (its data), every run adds its own noise."""
    g = np.random.default_rng(rng)
    rows = []
    for t, m in TASKS:
        for seed in range(seeds):
            f0, ood0 = g.normal(0, 1), g.uniform(0.3, 0.6)
            for regime, (low, up) in [("scratch", (0.0, 0.0)), *effects.items()]:
                rows.append(run(t, m, regime, seed, f0 - low + 0.3 * g.normal(), ood0 + up + 0.03 * g.normal(),
                                g.uniform(0.96, 1.0)))
    return rows


def oracle_effect(rows, names) -> float:
    """The pooled OOD change at zero ID change, straight from the rows: OLS of (OOD change) on a dummy per
    intervention x task x model and the ID change; the mean of the dummies' coefficients."""
    runs = {(r["task"], r["model"], r["seed"], r["regime"]): r for r in rows}
    X, y, arms = [], [], sorted({(n, t, m) for n in names for t, m in TASKS})
    for (t, m, seed, regime), b in runs.items():
        if regime in names:
            a = runs[(t, m, seed, "scratch")]
            X.append([float(arm == (regime, t, m)) for arm in arms] + [b[ID_ACC] - a[ID_ACC]])
            y.append(b[OOD_ACC] - a[OOD_ACC])
    return float(sm.OLS(np.array(y), np.array(X)).fit().params[:-1].mean())


def test_pooled_over_the_interventions_whose_check_passed():
    # bimt lowers fracture and raises OOD; modular lowers nothing but raises OOD more (pooled, it would lift the
    # effect); es lowers fracture and leaves OOD alone
    rows = study({"bimt": (1.0, 0.1), "modular": (0.0, 0.15), "es": (1.0, 0.0)})
    s = AnalysisSettings(interventions=THREE)
    est = claim9(rows, {}, s)
    b = est.breakdown
    assert list(b["intervention"]) == list(THREE) and b["checked"] == list(THREE)
    assert {n: d["manipulation"]["passed"] for n, d in b["intervention"].items()} == {
        "bimt": True, "modular": False, "es": True}
    assert all(d["manipulation"]["alpha"] == pytest.approx(0.05 / 3) for d in b["intervention"].values())
    assert b["pooled"] == ["bimt", "es"] and not est.missing
    assert est.effect == pytest.approx(oracle_effect(rows, ("bimt", "es")), abs=1e-9)
    assert est.n == len(TASKS) * 12                      # clusters: task x seed, shared by every intervention's pairs
    assert est.runs == len(TASKS) * 12 * 3               # scratch counted once beside bimt and es
    for n, d in b["intervention"].items():               # each intervention's own effect, from its own pairs
        assert d["effect"] == pytest.approx(oracle_effect(rows, (n,)), abs=1e-9), n
        assert set(d["task"]) == {"factors", "leave_square_out"} and d["left_out"] == 0


def test_no_check_passes_inconclusive_with_each_intervention_named():
    rows = study({"bimt": (0.0, 0.1), "modular": (-1.0, 0.1), "es": (0.0, 0.0)})
    est = claim9(rows, {}, AnalysisSettings(interventions=THREE))
    assert est.missing.startswith("manipulation check failed for every intervention")
    assert all(f"{n} lowered fracture by" in est.missing for n in THREE) and "alpha / 3" in est.missing
    assert est.breakdown["pooled"] == [] and est.n == len(TASKS) * 12 and math.isnan(est.p())


def test_the_check_level_is_alpha_over_the_interventions_checked():
    """bimt's pairs lower fracture by values whose one-sample t test gives p = 0.03 (one task, one model: the
    jackknife of a mean of one value per cluster is the t test): it fails at 0.05 / 3 with three interventions checked
    and passes at 0.05 alone; its intervals widen to 1 - alpha / k."""
    n, g = 10, np.random.default_rng(3)
    e = np.linspace(-1, 1, n)
    mu = sps.t.ppf(1 - 0.03 / 2, n - 1) * e.std(ddof=1) / math.sqrt(n)
    rows = []
    for seed in range(n):
        ood0 = g.uniform(0.3, 0.6)
        rows.append(run("factors", "mlp", "scratch", seed, 0.0, ood0, g.uniform(0.96, 1.0)))
        rows.append(run("factors", "mlp", "bimt", seed, -(mu + e[seed]), ood0 + 0.02 * g.normal(),
                        g.uniform(0.96, 1.0)))
        for other in ("modular", "es"):  # clearly lowered: their own checks pass whatever k is
            rows.append(run("factors", "mlp", other, seed, -3.0 + 0.1 * g.normal(), ood0, g.uniform(0.96, 1.0)))
    p = sps.ttest_1samp(mu + e, 0).pvalue
    assert 0.05 / 3 < p < 0.05
    for names, passed in ((THREE, False), (("bimt",), True)):
        k = len(names)
        m = claim9(rows, {}, AnalysisSettings(interventions=names)).breakdown["intervention"]["bimt"]["manipulation"]
        assert m["p"] == pytest.approx(p, rel=1e-6) and m["passed"] is passed and m["alpha"] == pytest.approx(0.05 / k)
        se = (mu + e).std(ddof=1) / math.sqrt(n) * m["lowered_by"] / (mu + e).mean()  # the composite's units
        assert (m["ci"][1] - m["ci"][0]) / 2 == pytest.approx(sps.t.ppf(1 - 0.05 / k / 2, n - 1) * se, rel=1e-6)


def test_random_intervention_labels_give_no_verdict():
    """Placebo: every run of a seed is drawn alike whatever its regime (the labels are random), while across runs
    lower fracture goes with higher OOD accuracy; a measure that let the pairs' own fracture change pick what it
    pools would find an effect here."""
    decided = 0
    for rep in range(40):
        g = np.random.default_rng(9_000 + rep)
        rows = []
        for t, m in TASKS:
            for seed in range(10):
                f0, ood0 = g.normal(0, 1), g.uniform(0.3, 0.6)
                for regime in ("scratch", *THREE):
                    u = g.normal()
                    rows.append(run(t, m, regime, seed, f0 - u, ood0 + 0.05 * u + 0.01 * g.normal(),
                                    g.uniform(0.96, 1.0)))
        c = decide(rows, {}, AnalysisSettings(interventions=THREE), ids=[9])[0]
        decided += c["verdict"] in ("supported", "contradicted")
    assert decided <= 6, f"claim 9 decided {decided} of 40 placebo studies"


def test_a_stored_spec_with_one_intervention_reads_as_a_one_entry_list():
    d = StudySpec(tasks=()).to_dict()
    d["analysis"] = {k: v for k, v in d["analysis"].items() if k != "interventions"} | {"intervention": "bimt"}
    assert spec_from_dict(d).analysis.interventions == ("bimt",)
