"""Claim 11 (study/claims/claim11_scale.py) on synthetic scale studies: width labels permuted across runs within each
configuration give neither "supported" nor "contradicted" in most of 40 studies; a planted effect (OOD accuracy up
0.1 and binding errors down 0.1 per doubling) is "supported"; and nulls as messy as real sweeps (unequal seeds per
width, noise that grows with width and differs by configuration, a seed effect shared by every width of one seed)
stay quiet too.

    rows = scale_study(rng=0, ood=0.1, binding=0.1)   # what claim11 reads: learned runs at 4 widths each
"""
from __future__ import annotations

import numpy as np
import pytest

from fracturelab.study.claims.claim11_scale import claim11
from fracturelab.study.measures import TASK_COMPOSITE
from fracturelab.study.names import BINDING_NOVEL_ACC, BINDING_RATE, ID_ACC, OOD_ACC, WIDTH
from fracturelab.study.spec import AnalysisSettings
from fracturelab.study.stats import verdict

S = AnalysisSettings()
CONFIGS = (("binding", "mlp", (32, 64, 128, 256), 0.5), ("binding", "transformer", (128, 256, 512, 1024), 0.2),
           ("factors", "mlp", (32, 64, 128, 256), 0.5))
"""(task, model, widths, OOD accuracy at the first width): two binding configurations (one task: their seeds share
clusters), the wider one worse at every width, so that pooling widths across configurations would find OOD accuracy
falling with width; and a task with OOD accuracy only."""
STUDIES = 40


def scale_study(rng: int, ood: float = 0.0, binding: float = 0.0, seeds: int = 8, icc: float = 0.0,
                hetero: bool = False, drop: float = 0.0, permute: bool = False) -> list[dict]:
    """Learned runs of CONFIGS at their widths x seeds. Per doubling of width, OOD accuracy rises by `ood` and the
    binding-error rate falls by `binding`; test_id accuracy also rises with width (and OOD follows it, so only a
    method that holds test_id avoids crediting width for it). icc: share of a run's noise that every run of its task
    and seed shares, growing with width (a seed's data makes its whole sweep steeper or flatter); hetero: noise sd grows with width and differs by configuration; drop: chance that a (seed,
    width) run is missing; permute: width labels shuffled across the runs of each configuration."""
    g = np.random.default_rng(rng)
    shared = {}
    rows = []
    for k, (task, model, widths, base_ood) in enumerate(CONFIGS):
        base_rate = g.uniform(0.2, 0.4)
        mine = []
        for seed in range(seeds):
            for w in widths:
                if g.random() < drop:
                    continue
                x = np.log2(w / widths[0])
                sd = 0.03 * ((1 + 0.5 * x) * (1 + k) if hetero else 1.0)
                def noise(what):
                    key = (task, seed, what)
                    shared.setdefault(key, g.normal())
                    return sd * (np.sqrt(icc) * shared[key] * (x - 1.5) + np.sqrt(1 - icc) * g.normal())
                id_acc = min(1.0, 0.92 + 0.015 * x + 0.01 * g.normal())
                r = {"kind": "task", "task": task, "model": model, "regime": "scratch", "scale": f"w{w}",
                     "seed": seed, WIDTH: float(w), ID_ACC: id_acc,
                     OOD_ACC: base_ood + ood * x + 2.0 * (id_acc - 0.95) + noise("ood")}
                if task == "binding":
                    r[BINDING_NOVEL_ACC] = r[OOD_ACC]
                    r[BINDING_RATE] = base_rate - binding * x - 1.0 * (id_acc - 0.95) + noise("rate")
                for name, _, _ in TASK_COMPOSITE:
                    r[name] = g.normal() + 0.3 * x
                mine.append(r)
        if permute:
            for r, w in zip(mine, g.permutation([r[WIDTH] for r in mine])):
                r[WIDTH] = float(w)
        rows += mine
    return rows


def decided(rows) -> str:
    """The claim's verdict as study/verdicts.decide gives it when claim 11 is the only claim with an estimate."""
    est = claim11(rows, {}, S)
    return verdict(est, est.p(), S.alpha, 1 - S.alpha, float(S.sesoi.get("11", 0.02)))[0]


def findings(**kw) -> int:
    return sum(decided(scale_study(rng, **kw)) in ("supported", "contradicted") for rng in range(STUDIES))


def test_permuted_widths_give_no_verdict_in_most_studies():
    """The placebo: a real effect, its width labels permuted within configurations."""
    assert findings(ood=0.1, binding=0.1, permute=True) <= STUDIES // 8


@pytest.mark.parametrize("mess", [dict(drop=0.25), dict(hetero=True), dict(icc=0.7),
                                  dict(drop=0.25, hetero=True, icc=0.7)], ids=["unequal", "hetero", "seed", "all"])
def test_messy_nulls_stay_quiet(mess):
    assert findings(**mess) <= STUDIES // 8


def test_a_planted_effect_is_supported():
    assert [decided(scale_study(rng, ood=0.1, binding=0.1)) for rng in range(5)] == ["supported"] * 5


def test_binding_errors_that_rise_contradict_even_as_ood_rises():
    assert decided(scale_study(0, ood=0.1, binding=-0.1)) == "contradicted"
