"""Claim 10 (Greff, van Steenkiste, Schmidhuber 2020, the binding problem): on novel conjunctions, a network's wrong
answers are binding errors (another entity's attribute) more often than chance, and its binding-error rate tracks
the fracture composite beyond in-distribution accuracy: the inside view meets the outside one. Two parts, on learned
binding runs (per_example.binding_metrics defines the names.BINDING_* metrics):

- (a) binding share above chance: per run with >= MIN_WRONG wrong answers on novel conjunctions, BINDING_SHARE -
  BINDING_CHANCE; the mean over configurations, its interval over task x seed clusters (measures._mean_over_runs).
  SESOI_A = 0.05: five wrong answers in a hundred landing on in-context attributes beyond chance is the smallest
  excess a reader would call a binding failure rather than noise in how wrong answers spread.
- (b) binding rate tracks fracture: Fisher's z of the partial Spearman correlation, within configurations, of the
  fracture composite (measures.composite, whatever components it holds) with BINDING_RATE given test_id accuracy,
  the composite at initialization (where every run has it) and regime: claim 2's measure with the binding-error
  rate in place of OOD error. SESOI_B = 0.1, claim 2's: a small correlation (Cohen).

One verdict (an intersection-union test, Berger 1982): the claim holds only if both parts do. The claim's estimate is
the part weaker in the claim's direction (the larger one-sided p for effect > 0), its effect, standard error and
interval in units of that part's SESOI (so the claim's SESOI is 1): "supported" needs both parts significantly
positive (each at the claim's Holm level, which bounds the false rate by that level without a further correction);
"contradicted" means the weaker part is significantly negative (a union over the two parts in that direction: its
false rate is at most twice the one-sided level); "no effect" means the weaker part lies inside its SESOI. The claim
counts as one test in Holm's family across claims. Both parts are in the breakdown ("part") with their own
intervals at 1 - alpha, and the binding share with its cluster interval per n and per queried position.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy import stats as st

from ..measures import _mean_over_runs, _missing, cluster, composite, config, learned
from ..names import BINDING_CHANCE, BINDING_RATE, BINDING_SHARE, BINDING_WRONG, ID_ACC
from ..per_example import binding_cells
from ..stats import Estimate, codes, estimate, partial_rank_corr
from .base import Claim, Row, Table
from .drawing import COLOURS, b64, empty, fmt, new_figure

MIN_WRONG = 5
"""Fewest wrong answers on novel conjunctions a run needs to enter part (a) (a share of fewer is mostly noise)."""
MIN_WRONG_CELL = 2
"""Fewest wrong answers at one n or position for a run to enter that level of the breakdown."""
MIN_RUNS = 6
"""Fewest learned binding runs with fracture probes that part (b)'s correlation is computed on (claim 2's)."""
SESOI_A, SESOI_B = 0.05, 0.1
"""Smallest effects of interest of part (a) (a share difference) and part (b) (Fisher z); module docstring."""
LEVELS = ("n", "position")
"""The breakdowns of the binding share: entities in the input, the queried entity's slot."""


def binding_runs(rows, s) -> tuple[list[dict], list[str]]:
    """Learned runs that carry the binding metrics (binding task cells), and the caveats of `learned`."""
    rs, caveats = learned(rows, s)
    return [r for r in rs if r.get(BINDING_RATE) is not None], caveats


def share_excess(rows, examples, s) -> Estimate:
    """Part (a): mean over configurations of BINDING_SHARE - BINDING_CHANCE per run with >= MIN_WRONG wrong."""
    rs, caveats = binding_runs(rows, s)
    few = [r for r in rs if r.get(BINDING_SHARE) is None or r.get(BINDING_WRONG, 0) < MIN_WRONG]
    rs = [r for r in rs if r not in few]
    if few:
        caveats.append(f"{len(few)} learned binding runs left out: fewer than {MIN_WRONG} wrong answers on novel "
                       "conjunctions")
    return _mean_over_runs(rs, [r[BINDING_SHARE] - r[BINDING_CHANCE] for r in rs], s, caveats)


def rate_fracture(rows, examples, s) -> Estimate:
    """Part (b): Fisher z of the partial Spearman correlation of the fracture composite with BINDING_RATE, within
    configurations, given test_id accuracy, the composite at initialization and regime (claim 2's recipe)."""
    rs, caveats = binding_runs(rows, s)
    f, f0 = composite(rs), composite(rs, at_init=True)
    keep = [i for i in range(len(rs)) if f[i] is not None]
    rs, f, f0 = [rs[i] for i in keep], np.array([f[i] for i in keep]), [f0[i] for i in keep]
    if len(rs) < MIN_RUNS:
        return _missing(caveats, f"{len(rs)} learned binding runs with fracture probes (part (b) needs "
                        f"{MIN_RUNS} at least)")
    cfg, regimes = codes([config(r) for r in rs]), codes([r["regime"] for r in rs])
    rate = np.array([r[BINDING_RATE] for r in rs])
    covs = [np.array([r[ID_ACC] for r in rs])]
    if all(v is not None for v in f0):
        covs.append(np.array(f0))
    else:
        caveats.append("fracture at initialization not measured on every binding run: not partialled out")

    def stat(idx):
        r = partial_rank_corr(f[idx], rate[idx], [c[idx] for c in covs], cfg[idx], regimes[idx])
        return float(np.arctanh(np.clip(r, -0.999999, 0.999999)))
    est = estimate(stat, [cluster(r) for r in rs], [r["task"] for r in rs])
    est.caveats = caveats + est.caveats
    return est


def _one_sided_p(e: Estimate) -> float:
    """P(T >= effect / se) under no effect: how weakly e speaks for effect > 0 (1 when it cannot be computed)."""
    if e.missing or not (e.df > 0 and math.isfinite(e.se) and e.se > 0 and math.isfinite(e.effect)):
        return 1.0
    return float(st.t.sf(e.effect / e.se, e.df))


def _entry(e: Estimate, level: float, sesoi: float) -> dict:
    return {"effect": e.effect, "ci": e.ci(level), "p": e.p(), "n": e.n, "runs": e.runs, "sesoi": sesoi,
            "missing": e.missing}


def share_by(rows, examples, s, by: str, scale: str | None = None) -> dict:
    """{level of `by` (n or position): {"effect": mean binding share, "ci" (1 - alpha), "chance": mean chance
    share, "n": clusters, "runs"}} over learned binding runs (of one scale, if given) with >= MIN_WRONG_CELL wrong
    answers at that level; the mean over configurations, its interval over task x seed clusters."""
    rs, _ = binding_runs(rows, s)
    per: dict = defaultdict(list)
    for r in rs:
        if scale is None or r["scale"] == scale:
            for level, v in binding_cells(examples.get(r["key"], []), by, MIN_WRONG_CELL).items():
                per[level].append((r, *v))
    out = {}
    for level in sorted(per):
        got = per[level]
        e = _mean_over_runs([g[0] for g in got], [g[1] for g in got], s, [])
        out[int(level)] = {"effect": float(np.mean([g[1] for g in got])) if e.missing else e.effect,
                           "ci": e.ci(1 - s.alpha), "chance": float(np.mean([g[2] for g in got])), "n": e.n,
                           "runs": len(got)}
    return out


def claim10(rows, examples, s) -> Estimate:
    a, b = share_excess(rows, examples, s), rate_fracture(rows, examples, s)
    level = 1 - s.alpha
    breakdown = {"part": {"a share - chance": _entry(a, level, SESOI_A), "b fracture ~ rate": _entry(b, level, SESOI_B)},
                 **{by: share_by(rows, examples, s, by) for by in LEVELS}}
    if a.missing or b.missing:
        est = _missing(list(dict.fromkeys(a.caveats + b.caveats)), "; ".join(f"part ({k}): {e.missing}" for k, e in (("a", a), ("b", b))
                                                       if e.missing))
        est.breakdown = breakdown
        return est
    name, weak, sesoi = max((("a", a, SESOI_A), ("b", b, SESOI_B)), key=lambda t: _one_sided_p(t[1]))
    est = Estimate(effect=weak.effect / sesoi, se=weak.se / sesoi, df=weak.df, n=weak.n, runs=weak.runs,
                   breakdown=breakdown | ({"task": weak.breakdown["task"]} if "task" in weak.breakdown else {}),
                   caveats=list(dict.fromkeys(a.caveats + b.caveats)) + [
                       f"effect: part ({name}), the weaker in the claim's direction, in units of its SESOI "
                       f"({sesoi:g}); both parts in the breakdown"])
    return est


def draw(res, entry: dict) -> str:
    """Binding share of wrong answers on novel conjunctions by n and by queried position, one line per scale, with
    cluster intervals; chance dashed."""
    s = res.spec.analysis
    scales = sorted({r["scale"] for r in binding_runs(res.rows, s)[0]})
    if not scales:
        return empty("claim 10: no learned binding run")
    fig = new_figure((7.0, 3.0))
    for ax, by in zip(fig.subplots(1, 2), LEVELS):
        for k, scale in enumerate(scales):
            pts = share_by(res.rows, res.examples, s, by, scale)
            x = np.array(list(pts), float)
            if not len(x):
                continue
            y = np.array([p["effect"] for p in pts.values()])
            lo = np.array([p["ci"][0] if math.isfinite(p["ci"][0]) else p["effect"] for p in pts.values()])
            hi = np.array([p["ci"][1] if math.isfinite(p["ci"][1]) else p["effect"] for p in pts.values()])
            c = COLOURS[k % len(COLOURS)]
            ax.errorbar(x + 0.05 * k, y, yerr=[y - lo, hi - y], fmt="o-", c=c, capsize=3, label=scale)
            ax.plot(x, [p["chance"] for p in pts.values()], "--", c=c, lw=0.8)
        ax.set(xlabel=by, ylabel="binding share of wrong answers", ylim=(-0.02, 1.02))
        ax.legend(fontsize=7, title="scale (dashed: chance)", title_fontsize=7)
    fig.tight_layout()
    return b64(fig)


def table(res, entry: dict) -> Table:
    """The figure's numbers pooled over scales (the claim's breakdowns "n" and "position") and both parts."""
    b = entry.get("breakdown", {})
    rows = [Row([("", f"part {k}"), ("", fmt(v["effect"])), ("", "–"),
                 ("", f"[{fmt(v['ci'][0])}, {fmt(v['ci'][1])}]"), ("", fmt(v["n"]))])
            for k, v in b.get("part", {}).items()]
    rows += [Row([("", f"{by} = {lv}"), ("", fmt(v["effect"])), ("", fmt(v["chance"])),
                  ("", f"[{fmt(v['ci'][0])}, {fmt(v['ci'][1])}]"), ("", fmt(v["n"]))])
             for by in LEVELS for lv, v in b.get(by, {}).items()]
    return Table("binding-table", "Binding errors on novel conjunctions",
                 "Parts (a) (binding share - chance) and (b) (Fisher z, fracture with the binding-error rate), then "
                 "the binding share of wrong answers per n and queried position with its chance share; intervals "
                 "at 1 - alpha over task x seed clusters (learned binding runs).",
                 ["what", "effect / share", "chance", "interval", "clusters"], rows,
                 "no learned binding run with wrong answers on novel conjunctions")


CLAIM = Claim(
    10, "on novel conjunctions, wrong answers are binding errors more often than chance, and the binding-error rate "
    "tracks fracture beyond in-distribution accuracy",
    "the binding problem (Greff, van Steenkiste, Schmidhuber 2020)",
    "both of: (a) per run, binding share of wrong answers on novel conjunctions minus its chance share (mean over "
    "configurations); (b) Fisher z of the partial Spearman correlation, within configurations, of the fracture "
    "composite with the binding-error rate given test_id accuracy, fracture at initialization and regime; the "
    "effect is the weaker part in units of its SESOI (0.05, 0.1)",
    "task x seed (every run of one task and seed shares its data)",
    "(a) chance: wrong answers uniform over the asked attribute's other values (placebo: no verdict); (b) the "
    "same networks at initialization and ID accuracy partialled out (placebo: fracture permuted across runs within "
    "configurations gives no verdict)",
    "a network whose wrong answers ignore the other entities lands on them at the chance share (a = 0), and one "
    "whose binding errors are unrelated to its learned fracture gives b = 0",
    1.0, claim10, "fig-binding", draw,
    "binding-error share of wrong answers on novel conjunctions by number of entities and by queried position, one "
    "line per scale (dashed: chance share), learned binding runs, intervals over task x seed clusters",
    "Are wrong answers on novel conjunctions binding errors, and do they track fracture?",
    reworded="the source names binding as the explanation of compositional failure; measured as the share of wrong "
    "answers that land on another entity's attribute, and its rate's partial correlation with fracture",
    table=table)
