"""Synthetic studies shaped like real ones, with a planted effect per claim (0 = none), for the calibration and power
checks. Rows and examples have the fields study/measures.py reads from a real store: four configurations
(leave_square_out mlp and cppn, factors mlp, knowledge_graph transformer) x scratch/pretrain/bimt x seeds, with offsets
between configurations (so a method that pools across them without care would be fooled), plus reference CPPNs with
replicas and untrained controls.

    rows, examples = synthetic(seeds=3, effect={2: 0.5}, rng=0)   # claim id -> planted effect
    rows, examples = synthetic(seeds=3, mess=Mess(icc=0.7))       # a null as messy as a real study

`Mess` makes the null as messy as real studies are: configurations of unequal size and noise, a seed effect shared by
every run of one task and seed (they share its data, and per regime its initial weights), skewed deviations, a test_id
accuracy bunched at its ceiling, an intervention that costs ID accuracy, and final fracture that ignores architecture.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fracturelab.study.measures import CPPN_COMPOSITE, TASK_COMPOSITE
from fracturelab.study.names import BINDING_NOVEL_ACC, BINDING_RATE, OOD_ACC, WIDTH
from synthetic_binding import binding_study
from synthetic_examples import DESIGNS, run_examples

CONFIGS = (("leave_square_out", "mlp"), ("leave_square_out", "cppn"), ("factors", "mlp"),
           ("knowledge_graph", "transformer"))

WIDTHS = {"w64": 64, "w128": 128, "w256": 256}
"""claim 11's scales and their widths."""


@dataclass(frozen=True)
class Mess:
    """How far a synthetic study departs from balanced, homoscedastic and independent runs."""

    seeds: tuple = ()
    """Seeds per task (leave_square_out, factors, knowledge_graph), overriding `seeds` (unbalanced strata)."""
    noise: tuple = (1.0, 1.0, 1.0, 1.0)
    """Per configuration (CONFIGS order), a factor on every run's deviation (heteroscedastic strata)."""
    icc: float = 0.0
    """Share of a run's deviation that every run of its task and seed shares (intraclass correlation)."""
    skew: bool = False
    """Deviations from a centred gamma of skewness 1 instead of a normal (at skewness 2, an exponential, t intervals
    on 3-6 clusters a task reject up to 8 % under the null: docs/study.md)."""
    ceiling: bool = False
    """test_id accuracy bunched at 1.0 (ties), OOD accuracy following the same latent skill."""
    id_cost: float = 0.0
    """The intervention lowers test_id accuracy by about this, and OOD accuracy moves with test_id."""
    flat_final: bool = False
    """Final fracture ignores architecture and initialization (init values still differ by architecture)."""


class _Noise:
    """Deviations with a part shared by a cluster (task, seed) and a part of the run's own, scaled per
    configuration: dev(cluster, scale) = scale * (sqrt(icc) * shared + sqrt(1 - icc) * own)."""

    def __init__(self, g, mess: Mess):
        self.g, self.mess, self.shared = g, mess, {}

    def _draw(self, size=None):
        if self.mess.skew:  # gamma(4, 1/2) - 2: mean 0, sd 1, skewness 1
            return self.g.gamma(4.0, 0.5, size) - 2.0
        return self.g.normal(0.0, 1.0, size)

    def __call__(self, cluster, what: str, scale: float = 1.0) -> float:
        key = (cluster, what)
        if key not in self.shared:
            self.shared[key] = self._draw()
        icc = self.mess.icc
        return scale * (np.sqrt(icc) * self.shared[key] + np.sqrt(1 - icc) * self._draw())


def synthetic(seeds: int = 3, effect: dict | None = None, rng: int = 0, refs: int = 6, learned: bool = True,
              lower: dict | None = None, mess: Mess | None = None, binding: bool = True):
    """`lower`: task -> how far bimt lowers the latent fracture on it (default 3, which the manipulation check finds;
    0 or below makes it fail on that task); binding: add the binding runs of claims 10 and 11 (their messy nulls are
    in test_placebo_binding.py and test_placebo_scale.py)."""
    eff = {k: 0.0 for k in range(1, 12)} | (effect or {})
    mess = mess or Mess()
    g = np.random.default_rng(rng)
    noise = _Noise(g, mess)
    n_seeds = dict(zip(("leave_square_out", "factors", "knowledge_graph"), mess.seeds)) if mess.seeds else {}
    rows, examples = [], {}
    task_off = {t: {n: g.normal(0, 2) for n, _, _ in TASK_COMPOSITE} for t, _ in CONFIGS}
    inits = {}  # (task, model, seed, own start?, metric) -> value at initialization
    for (t, m), k in zip(CONFIGS, mess.noise):
        off = {n: g.normal(0, 2) for n, _, _ in TASK_COMPOSITE}      # configurations differ in every metric
        base_ood, base_iou, base_gap = g.uniform(0.2, 0.8), g.uniform(0.2, 0.6), g.normal(0, 0.05)
        hop = g.uniform(0.2, 1.0)  # what one more hop costs this configuration's runs (logit)
        for regime in ("scratch", "pretrain", "bimt"):
            for seed in range(n_seeds.get(t, seeds)):
                cl = (t, seed)
                key = f"{t}-{m}-{regime}-{seed}"
                skill = noise(cl, "skill")                            # how well this seed's runs learned
                if not learned:
                    id_acc = g.uniform(0.0, 0.2)
                elif mess.ceiling:
                    id_acc = float(np.clip(0.995 + 0.01 * skill, 0.95, 1.0))
                else:
                    id_acc = g.uniform(0.97, 1.0)
                if regime == "bimt" and mess.id_cost:
                    id_acc -= mess.id_cost * g.uniform(0.2, 1.8)
                r = {"key": key, "kind": "task", "task": t, "model": m, "scale": "base", "regime": regime,
                     "seed": seed, "train.id_acc": id_acc, "train.n_params": 1000.0}
                latent = noise(cl, "latent", k)
                for n, sign, _ in TASK_COMPOSITE:
                    # scratch and pretrain of one seed start from the same weights (bimt from its own)
                    start_key = (t, m, seed, regime == "bimt", n)
                    if start_key not in inits:
                        inits[start_key] = off[n] + noise(cl, "init." + n)
                    init = inits[start_key]
                    # claim 8: the learned part moves with regime by eff[8] more than with architecture
                    learned_part = eff[8] * (regime == "pretrain") + noise(cl, "learn." + n, k)
                    r["init." + n] = init
                    start = task_off[t][n] if mess.flat_final else init  # flat: no architecture, no init
                    # claim 9's intervention lowers fracture clearly by default (its manipulation check passes)
                    r[n] = start + learned_part + sign * (latent - (lower or {}).get(t, 3.0) * (regime == "bimt"))
                ood_err = eff[2] * latent + np.sqrt(max(0.0, 1 - eff[2] ** 2)) * noise(cl, "ood", k)
                ood = base_ood - 0.15 * ood_err + eff[9] * (regime == "bimt")
                if mess.ceiling:
                    ood += 0.1 * skill
                if mess.id_cost:
                    ood += 2.0 * (id_acc - 0.985)                      # OOD follows ID: an ID cost moves it
                r["train.id_acc"] = id_acc
                r["train.ood_acc"] = float(np.clip(ood, 0, 1))
                r["reuse.iou"] = base_iou + 0.05 * noise(cl, "iou", k) - eff[5] * (regime == "pretrain")
                gap_key = (t, m, seed, regime == "bimt", "gap")
                if gap_key not in inits:
                    inits[gap_key] = base_gap + 0.02 * noise(cl, "gap0")
                init_gap = inits[gap_key]
                r["sparsity.hoyer_gap_init"] = init_gap
                r["sparsity.hoyer_gap_final"] = init_gap + eff[6] + 0.02 * noise(cl, "gap", k)
                r["sparsity.ckpt.50.hoyer_gap"] = r["sparsity.hoyer_gap_final"] - eff[7] + 0.02 * noise(cl, "ck", k)
                rows.append(r)
                # claims 3 and 4 (logit): coverage inside a split, and novelty's cost beyond a hop's
                examples[key] = run_examples(g, t, coverage_effect=eff[3], novelty_cost=hop + eff[4], depth_cost=hop,
                                             skill=0.5 * skill if mess.icc else 0.0) if t in DESIGNS else []
    for i in range(refs):
        mu = {n: g.normal(0, 1) for n, _, _ in CPPN_COMPOSITE}
        for regime, reps in (("reference", 1), ("sgd", 3), ("init", 3)):
            for seed in range(reps):
                r = {"key": f"ref{i}-{regime}-{seed}", "kind": "cppn", "task": "cppn", "model": f"ref{i}",
                     "scale": "-", "reference": f"ref{i}", "regime": regime, "seed": seed,
                     "cppn.fit_mse": 0.0 if regime == "reference" else (1e-3 if regime == "sgd" else 0.2)}
                shift = {"reference": 0.0, "sgd": eff[1], "init": 3.0}[regime]
                for n, sign, _ in CPPN_COMPOSITE:
                    r[n] = mu[n] + sign * shift + g.normal(0, 1)
                rows.append(r)
    if not binding:
        return rows, examples
    # claim 10: binding runs (scratch and pretrain, one scale), from their own generator so the rows above stay as
    # they were; eff[10] plants both parts (binding errors above chance, fracture raising the binding-error rate)
    b_rows, b_ex = binding_study(n_seeds.get("binding", seeds), rng=rng + 7919, bias=eff[10], link=2 * eff[10],
                                 scales={"base": (0.0, 0.0)}, regimes=("scratch", "pretrain"),
                                 models=("mlp",), learned=learned)  # one model: claim 8 reads only crossed designs
    # claim 11: binding mlp runs at three widths (scratch); eff[11] x 0.1 planted as OOD accuracy up and the
    # binding-error rate down by that much per doubling of width
    w_rows, w_ex = binding_study(n_seeds.get("binding", seeds), rng=rng + 15485863, learned=learned,
                                 scales={s: (0.0, 0.0) for s in WIDTHS})
    for r in w_rows:
        x = np.log2(WIDTHS[r["scale"]] / 64)
        r[WIDTH] = float(WIDTHS[r["scale"]])
        r[OOD_ACC] = r[BINDING_NOVEL_ACC] = r[OOD_ACC] + eff[11] * 0.1 * x
        r[BINDING_RATE] -= eff[11] * 0.1 * x
    return rows + b_rows + w_rows, examples | b_ex | w_ex
