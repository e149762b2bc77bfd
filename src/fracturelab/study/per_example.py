"""Which test examples of a trained run fail, measured inside the run's splits, never across them: the per-run logit
statistics of claims 3 and 4 (study/claims/claim3_coverage.py, claim4_novelty.py), and the store's example rows as
they read them (parse_meta).

Both statistics read one run's per-example outcomes (rows with "split", "correct" 0/1, "depth", "seen_frac", "meta")
and summarize them into one number per run, in logit units; measures._mean_over_runs then averages the runs (its
interval over the independent clusters of runs).

- Claim 3 (Faith and Fate: success where the instance's computation subgraphs were seen in training). A *cell* is one
  (split, depth) of a run's test examples (a task without a depth: its input length, e.g. binding's entities, whose
  number sets both the coverage of an input with one novel entity and its difficulty), every test split (test_id included); a cell enters when it holds >=
  MIN_EXAMPLES examples with 2+ distinct seen_frac values. In each cell, a logistic regression of correct on seen_frac
  gives the slope b_c: the change in log-odds of a correct answer per unit of seen_frac (0 = no sub-computation seen,
  1 = all seen). The run's value is the mean of b_c weighted by w_c = p_c (1 - p_c) sum_i (x_i - xbar_c)^2, the
  slope's Fisher information when coverage has no effect (x = seen_frac, p_c = the cell's accuracy with 1/2 added to
  the successes and the failures: (k + 1/2) / (n + 1)), so a precisely measured cell counts more than a cell at the
  ceiling or floor, and the weights never depend on the slope's sign. A split whose examples all share one coverage
  value makes no cell: coverage that only differs between splits restates the split label and never counts. A run
  without a cell does not enter.
- Claim 4 (failure follows the novelty the split manipulates more than complexity). Novelty of an example = its
  held-out relation pair or factor pair (meta heldout_pairs / heldout_pair > 0); depth = hops. The run's test
  examples at the depths where familiar and novel ones both occur (>= MIN_EXAMPLES each) are fitted by
  logit P(correct) = b0 + b1 (novel - 1/2) + b2 (depth - c) + b3 (novel - 1/2)(depth - c), c = the mean of those
  depths, so b1 is the novelty effect at the centre of the design and b2 the per-hop effect averaged over the two
  novelty levels. Novelty cost = -b1, hop cost = -b2 (log-odds lost), and the run's value = novelty cost - hop cost:
  > 0 when a novel pair costs more than one more hop. Only runs with 2+ such depths enter (with one depth, novelty
  and depth are never crossed and the contrast would be decided by which split holds which depth).

- Claim 10 (binding errors on novel conjunctions, tasks.binding). A run's *novel conjunctions* are its test examples
  with meta novel_conjunction = 1 (the queried entity carries an attribute pair never together on one training
  entity); each has an `error` type (correct, binding, absent, other: tasks.binding.classify_answer) and
  chance_binding = (n - 1) / (n_values - 1). `binding_metrics` gives the cell's names.BINDING_* metrics:
  novel_acc = correct / novel; wrong = novel - correct; share = binding / wrong; chance_share = the mean of
  chance_binding over the wrong answers (the share uniform wrong answers over the asked kind's other values would
  give); error_rate = binding / novel. share and chance_share are left out when no answer is wrong, all five when the
  run has no novel conjunction. `binding_cells` gives the same share and chance per level of n or position.

Separation (a cell answered all right or all wrong) makes maximum-likelihood logits infinite; every fit here uses
Firth's penalized likelihood (Firth 1993: log L + 1/2 log det I, I the Fisher information), whose estimates are
finite and have bias O(1/n^2) instead of O(1/n), so runs average without a bias toward either sign. For a saturated
model it is the empirical logit of (k + 1/2) / (n + 1) in each group. Fits are batched over cells and runs in numpy,
on examples grouped by their covariates: Newton steps on the penalized likelihood, with its exact Hessian where that
is negative definite, else Fisher scoring on Firth's modified score (Heinze & Schemper 2002; alone, that iteration
converges only linearly, and cycles on some small all-right cells).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np

NOVELTY_FLAGS = ("heldout_pairs", "heldout_pair")
"""Per-example metadata naming the factor a compositional split manipulates (held-out relation pairs in
knowledge_graph, the held-out factor pair in factors): > 0 = a novel combination."""

MIN_EXAMPLES = 5  # fewest examples in a claim-3 cell, and at each novelty level of a claim-4 depth
MAX_STEP = 5.0  # largest Newton step in any coefficient (logistf's default): keeps early steps from overshooting
MAX_ITER = 100
TOL = 1e-10


def parse_meta(examples: list[dict]) -> dict[str, list[dict]]:
    """Store example rows -> {cell key: rows with "meta" parsed from meta_json}."""
    out = defaultdict(list)
    for e in examples:
        out[e["cell_key"]].append(e | {"meta": json.loads(e.get("meta_json") or "{}")})
    return dict(out)


def novel_conjunctions(ex: list[dict]) -> list[dict]:
    """A run's test examples on novel conjunctions that carry an error type (claim 10, module docstring)."""
    return [e for e in _test_examples(ex)
            if (e.get("meta") or {}).get("novel_conjunction") == 1 and (e.get("meta") or {}).get("error")]


def _share(exs: list[dict]) -> tuple[int, float, float]:
    """(wrong answers, binding share among them, chance share among them); nan shares with no wrong answer."""
    wrong = [e for e in exs if not e["correct"]]
    if not wrong:
        return 0, math.nan, math.nan
    binding = sum(e["meta"]["error"] == "binding" for e in wrong)
    return len(wrong), binding / len(wrong), float(np.mean([e["meta"]["chance_binding"] for e in wrong]))


def binding_metrics(ex: list[dict]) -> dict[str, float]:
    """A run's names.BINDING_* metrics from its example rows (with "meta" parsed; module docstring)."""
    from .names import BINDING_CHANCE, BINDING_NOVEL_ACC, BINDING_RATE, BINDING_SHARE, BINDING_WRONG

    novel = novel_conjunctions(ex)
    if not novel:
        return {}
    wrong, share, chance = _share(novel)
    binding = sum(e["meta"]["error"] == "binding" for e in novel)
    out = {BINDING_NOVEL_ACC: 1 - wrong / len(novel), BINDING_WRONG: float(wrong), BINDING_RATE: binding / len(novel)}
    if wrong:
        out |= {BINDING_SHARE: share, BINDING_CHANCE: chance}
    return out


def binding_cells(ex: list[dict], by: str, min_wrong: int) -> dict[float, tuple[float, float]]:
    """{level of meta[by] (n or position): (binding share, chance share)} over a run's novel conjunctions at that
    level, for the levels with >= min_wrong wrong answers."""
    levels = defaultdict(list)
    for e in novel_conjunctions(ex):
        levels[e["meta"].get(by)].append(e)
    out = {}
    for level, exs in levels.items():
        wrong, share, chance = _share(exs)
        if level is not None and wrong >= min_wrong:
            out[level] = (share, chance)
    return out


def novelty(e: dict) -> float | None:
    """1.0 when the example holds a held-out combination, 0.0 when not, None when its task does not say."""
    meta = e.get("meta") or {}
    for k in NOVELTY_FLAGS:
        if meta.get(k) is not None:
            return float(meta[k] > 0)
    return None


def _depth(e: dict):
    d = e.get("depth")
    return None if d is None or not math.isfinite(d) else float(d)


def _level(e: dict):
    """Claim 3's difficulty stratum: the depth, or where the task gives none the input length (binding: n entities;
    there seen_frac = 1 - 1/(3n) on the conjunction split, so across n coverage restates difficulty)."""
    d = _depth(e)
    return d if d is not None else e.get("length")


def _test_examples(ex: list[dict]) -> list[dict]:
    return [e for e in ex if e.get("split") != "train" and e.get("correct") is not None]


def _newton_step(X, y, m, beta, firth: bool) -> np.ndarray:
    """Per design, the Newton step on the (penalized) log-likelihood where its Hessian is negative definite, else
    the Fisher-scoring step on the (modified) score (Firth's usual iteration, which converges only linearly)."""
    p = 1 / (1 + np.exp(-np.einsum("brk,bk->br", X, beta).clip(-30, 30)))
    w = m * p * (1 - p)
    info = np.einsum("br,brj,brk->bjk", w, X, X)
    inv = np.linalg.inv(info)
    score = y - m * p
    hess = -info
    if firth:  # d/dbeta of 1/2 log det I: each group's residual gains h (1/2 - p), h = w x' I^-1 x its hat value
        Q = np.einsum("brj,bjk,bsk->brs", X, inv, X)
        q = np.einsum("brr->br", Q)
        score = score + w * q * (0.5 - p)
        A = (w * (1 - 2 * p))[..., None] * X
        curv = w * q * ((1 - 2 * p) ** 2 - 2 * p * (1 - p))
        hess = hess + 0.5 * (np.einsum("br,brj,brk->bjk", curv, X, X) - np.einsum("brj,brs,bsk->bjk", A, Q * Q, A))
    grad = np.einsum("brk,br->bk", X, score)
    concave = np.linalg.eigvalsh(hess).max(-1) < 0
    step = np.einsum("bjk,bk->bj", inv, grad)
    if concave.any():
        step[concave] = np.linalg.solve(-hess[concave], grad[concave][..., None])[..., 0]
    return step


def logit_fit(X, successes, trials, firth: bool = True) -> np.ndarray:
    """Logistic regressions of a batch of grouped binomial designs: X (B, R, k) covariates of R groups, successes
    and trials (B, R) (trials 0 pads a design to R rows) -> coefficients (B, k). firth=True maximizes Firth's
    penalized likelihood, else the likelihood (NaN rows where it has no finite maximum, i.e. under separation).
    Newton steps (_newton_step), none longer than MAX_STEP in any coefficient."""
    X, y, m = (np.asarray(a, float) for a in (X, successes, trials))
    beta = np.zeros(X.shape[::2])
    done = np.zeros(len(X), bool)
    for _ in range(MAX_ITER):
        step = _newton_step(X, y, m, beta, firth)
        big = np.abs(step).max(1)
        done = big < TOL
        if done.all():
            break
        beta += step * np.minimum(1.0, MAX_STEP / np.maximum(big, TOL))[:, None]
    beta[~done] = np.nan
    return beta


def _stack(designs: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[(X (R_i, k), successes (R_i,), trials (R_i,))] -> padded batch arrays."""
    r = max(len(d[1]) for d in designs)
    k = designs[0][0].shape[1]
    X, y, m = np.zeros((len(designs), r, k)), np.zeros((len(designs), r)), np.zeros((len(designs), r))
    for i, (x, s, t) in enumerate(designs):
        X[i, : len(s)], y[i, : len(s)], m[i, : len(s)] = x, s, t
    return X, y, m


# -- claim 3: coverage inside a split ------------------------------------------------------------------------------

def coverage_cells(ex: list[dict]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A run's claim-3 cells: per (split, depth or length: _level) with >= MIN_EXAMPLES examples and 2+ seen_frac
    values, its distinct seen_frac values with their successes and trials."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for e in _test_examples(ex):
        if e.get("seen_frac") is not None:
            c = cells[(e["split"], _level(e))][round(float(e["seen_frac"]), 6)]
            c[0] += int(e["correct"])
            c[1] += 1
    out = []
    for key in sorted(cells, key=str):
        levels = sorted(cells[key].items())
        x, k, n = (np.array([v[0] for v in levels]), np.array([v[1][0] for v in levels], float),
                   np.array([v[1][1] for v in levels], float))
        if len(x) >= 2 and n.sum() >= MIN_EXAMPLES:
            out.append((x, k, n))
    return out


def coverage_slopes(runs: list[list[dict]]) -> list[float | None]:
    """Per run (its example rows): the information-weighted mean over its cells of the within-cell logit slope per
    unit seen_frac (module docstring); None for a run without a cell."""
    cells = [coverage_cells(ex) for ex in runs]
    flat = [c for cs in cells for c in cs]
    if not flat:
        return [None] * len(runs)
    designs, weights = [], []
    for x, k, n in flat:
        xc = x - (n * x).sum() / n.sum()  # centred: the intercept is the cell's log-odds at its mean coverage
        designs.append((np.column_stack([np.ones_like(x), xc]), k, n))
        p = (k.sum() + 0.5) / (n.sum() + 1)
        weights.append(p * (1 - p) * (n * xc ** 2).sum())
    slopes = logit_fit(*_stack(designs))[:, 1]
    out, i = [], 0
    for cs in cells:
        b, w = slopes[i : i + len(cs)], np.array(weights[i : i + len(cs)])
        i += len(cs)
        out.append(float((w * b).sum() / w.sum()) if cs and np.isfinite(b).all() else None)
    return out


# -- claim 4: novelty against depth --------------------------------------------------------------------------------

def crossed_design(ex: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A run's claim-4 design grouped by (novelty, depth) over the depths where both novelty levels have
    >= MIN_EXAMPLES test examples: X rows [1, novel - 1/2, depth - c, (novel - 1/2)(depth - c)] (c = the mean of
    those depths), successes, trials; None with fewer than 2 such depths."""
    cnt: dict = defaultdict(lambda: [0, 0])
    for e in _test_examples(ex):
        nv, d = novelty(e), _depth(e)
        if nv is not None and d is not None:
            cnt[(nv, d)][0] += int(e["correct"])
            cnt[(nv, d)][1] += 1
    depths = sorted({d for _, d in cnt})
    common = [d for d in depths if min(cnt.get((nv, d), (0, 0))[1] for nv in (0.0, 1.0)) >= MIN_EXAMPLES]
    if len(common) < 2:
        return None
    c = float(np.mean(common))
    keys = [(nv, d) for d in common for nv in (0.0, 1.0)]
    X = np.array([[1.0, nv - 0.5, d - c, (nv - 0.5) * (d - c)] for nv, d in keys])
    return X, np.array([cnt[k][0] for k in keys], float), np.array([cnt[k][1] for k in keys], float)


def novelty_hop_costs(runs: list[list[dict]]) -> list[tuple[float, float] | None]:
    """Per run: (novelty cost, per-hop cost) in log-odds of a correct answer, from its Firth fit (module
    docstring); None for a run whose familiar and novel examples do not share 2+ depths."""
    designs = [crossed_design(ex) for ex in runs]
    have = [d for d in designs if d is not None]
    if not have:
        return [None] * len(runs)
    beta = iter(logit_fit(*_stack(have)))
    out = []
    for d in designs:
        b = next(beta) if d is not None else None
        out.append((float(-b[1]), float(-b[2])) if b is not None and np.isfinite(b).all() else None)
    return out
