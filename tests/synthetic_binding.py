"""Synthetic binding studies for claim 10 (study/claims/claim10_binding.py), built without training: learned binding
runs (one per scale and seed) with the names.BINDING_* metrics, fracture components at initialization and after
training, and their novel-conjunction example rows shaped as the store gives them (per_example.parse_meta).

    rows, examples = binding_study(seeds=10, rng=0, bias=0.3, link=1.0)

bias plants part (a) (wrong answers that land on another entity beyond chance), link plants part (b) (fracture that
raises the log-odds of a wrong answer); permute shuffles whole fracture records across the runs of each
configuration. The configurations differ in both the rate of wrong answers and learned fracture, so a measure that
pooled them would find a link that is not there inside any configuration.
"""
from __future__ import annotations

import math

import numpy as np

from fracturelab.study import names as N
from fracturelab.study.measures import TASK_COMPOSITE
from fracturelab.study.per_example import binding_metrics

K = 5
"""Values per attribute kind."""
SCALES = {"small": (0.0, 0.0), "large": (1.0, 2.0)}
"""scale -> (offset of the log-odds of a wrong answer, offset of every fracture component): configurations differ in
both, so fracture and binding rate are linked between configurations in every study."""


def _examples(g, p_wrong: float, bias: float, count: int = 200) -> list[dict]:
    """One run's novel-conjunction rows: n in {2, 3}, wrong with probability p_wrong; a wrong answer is a binding
    error with probability bias + (1 - bias) (n - 1) / (K - 1) (bias 0: uniform over the other K - 1 values)."""
    out = []
    for i in range(count):
        n = int(g.integers(2, 4))
        chance = (n - 1) / (K - 1)
        wrong = g.random() < p_wrong
        error = "correct" if not wrong else ("binding" if g.random() < bias + (1 - bias) * chance else "absent")
        out.append({"split": "test_ood", "idx": i, "correct": int(not wrong), "seen_frac": None, "depth": None,
                    "nn_dist": None, "meta": {"novel_conjunction": 1, "error": error, "chance_binding": chance, "n": n,
                             "position": int(g.integers(n))}})
    return out


def binding_study(seeds: int = 10, rng: int = 0, bias: float = 0.0, link: float = 0.0, permute: bool = False,
                  scales: dict = SCALES, regimes: tuple = ("scratch",), models: tuple = ("mlp",), learned: bool = True):
    """(rows, examples) of binding runs, one per model, scale, regime and seed (scales: like SCALES). link: how far one unit
    of a run's latent fracture raises its log-odds of a wrong answer; permute: shuffle whole fracture records (final
    and init) across the runs of each configuration and regime; learned False: test_id accuracy below 0.2."""
    g = np.random.default_rng(rng)
    rows, examples = [], {}
    for model, (scale, (wrong_off, frac_off)), regime in ((m, s, r) for m in models for s in scales.items()
                                                          for r in regimes):
        runs = []
        for seed in range(seeds):
            key = f"binding-{model}-{scale}-{regime}-{seed}"
            latent = g.normal()
            p_wrong = 1 / (1 + math.exp(-(-0.5 + wrong_off + link * latent + 0.3 * g.normal())))
            examples[key] = ex = _examples(g, p_wrong, bias)
            r = {"key": key, "kind": "task", "task": "binding", "model": model, "scale": scale, "regime": regime,
                 "seed": seed, N.ID_ACC: g.uniform(0.95, 1.0) if learned else g.uniform(0.0, 0.2),
                 **binding_metrics(ex)}
            r[N.OOD_ACC] = r[N.BINDING_NOVEL_ACC]  # the conjunction split's test_ood is the novel conjunctions
            frac = {}
            for name, sign, _ in TASK_COMPOSITE:
                frac[N.init_name(name)] = g.normal()  # the configurations differ in learned fracture only
                frac[name] = sign * (frac_off + latent) + 0.5 * g.normal()
            runs.append((r, frac))
        fracs = [f for _, f in runs]
        if permute:
            fracs = [fracs[i] for i in g.permutation(len(fracs))]
        rows += [r | f for (r, _), f in zip(runs, fracs)]
    return rows, examples
