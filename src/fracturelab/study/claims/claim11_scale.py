"""Claim 11 (Greff, van Steenkiste, Schmidhuber 2020: "scaling can partly overcome the binding problem"): wider
networks answer more novel conjunctions and make fewer binding errors, at matched in-distribution accuracy.

Runs: learned runs (measures.learned) of every configuration, here task x model x regime (the intervention regimes
left out: they are made to change fracture), trained at MIN_WIDTHS or more distinct widths (names.WIDTH; the spec's
scales set them). Three measures per run, each a trend over x = log2(width):
- "ood": accuracy on novel conjunctions (names.BINDING_NOVEL_ACC; on a task without binding metrics, train.ood_acc);
- "binding_rate": binding errors over novel-conjunction examples (names.BINDING_RATE; binding tasks only);
- "fracture": the fracture composite (measures.composite, whatever components it holds; z units within task).

A measure's trend (`slope_at_matched_id`) is the slope on log2 width of one ANCOVA pooled over configurations,
y ~ log2 width + test_id accuracy + a dummy per configuration: the change per doubling of width at an unchanged
test_id accuracy, so a wider network that only fits its training distribution better (and OOD with it) cannot pass
for one that binds better. Its interval is stats.estimate's jackknife over task x seed clusters nested in tasks
(every width of one seed shares that seed's task data).

The verdict (Joint): the claim holds only if OOD accuracy rises AND the binding-error rate falls. The two slopes are
signed so that > 0 is what the claim says (ood, minus binding_rate) and tested together, each at half the level
(Bonferroni over the two tests; Holm's correction across claims then applies to the pair as one claim):
- supported: both > 0, each excluding 0 (p = 2 x the larger p);
- contradicted: OOD falls or binding errors rise, excluding 0 (p = 2 x the smallest p among slopes < 0);
- no effect: both intervals inside +-SESOI (0.02 accuracy per doubling: below a seed's run-to-run spread of OOD
  accuracy, so a smaller trend could not be told from which seeds happened to land at which width);
- inconclusive: anything else.
The estimate's effect, interval and standard error are those of the slope that decides (`Joint.decides`); all three
slopes, with intervals at 1 - alpha/2, are in breakdown "measure", and per configuration in breakdown "configuration".
The fracture slope is described, never decides.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as st

from ..measures import _missing, cluster, composite, learned
from ..names import BINDING_NOVEL_ACC, BINDING_RATE, ID_ACC, OOD_ACC, WIDTH
from ..stats import Estimate, codes, estimate
from .base import Claim, Row, Table
from .drawing import COLOURS, b64, empty, fmt, new_figure

MIN_WIDTHS = 3
"""Fewest distinct widths a configuration needs to enter (two widths give a line through two means, no trend)."""
SESOI = 0.02
"""Accuracy per doubling of width below which a trend is of no interest (the module docstring says why)."""
MEASURES = (("ood", 1.0, "OOD accuracy on novel conjunctions"), ("binding_rate", -1.0, "binding-error rate"),
            ("fracture", 0.0, "fracture composite (z)"))
"""(key, sign in the verdict: + = the claim's direction, 0 = described only, label)."""
DECIDING = ("ood", "binding_rate")
"""The measures whose slopes decide the verdict."""


def group(r: dict) -> tuple:
    """A row's configuration for this claim: task, model and regime (the scale is the x, not a stratum)."""
    return (r["task"], r["model"], r["regime"])


def scale_rows(rows: list[dict], s) -> tuple[list[dict], list[str]]:
    """Learned non-intervention runs with a width, of the configurations trained at MIN_WIDTHS+ widths; caveats."""
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if r["regime"] not in s.interventions and (r.get(WIDTH) or 0) > 0]
    widths = {}
    for r in rs:
        widths.setdefault(group(r), set()).add(r[WIDTH])
    few = sorted("/".join(g) for g, w in widths.items() if len(w) < MIN_WIDTHS)
    if few:
        caveats.append(f"left out, trained at fewer than {MIN_WIDTHS} widths: {', '.join(few)}")
    return [r for r in rs if len(widths[group(r)]) >= MIN_WIDTHS], caveats


def values(rs: list[dict], key: str) -> list:
    """Per row, the measure `key` of MEASURES (None where the run lacks it)."""
    if key == "ood":
        return [r.get(BINDING_NOVEL_ACC, r.get(OOD_ACC)) for r in rs]
    if key == "binding_rate":
        return [r.get(BINDING_RATE) for r in rs]
    return composite(rs)


def slope_at_matched_id(y, width, id_acc, groups):
    """A statistic of the rows idx: the slope of y on log2(width) in one regression with test_id accuracy and a dummy
    per configuration (computed by demeaning within configuration, Frisch-Waugh-Lovell). test_id drops out where it
    does not vary within any configuration (the dummies hold it); nan where width does not vary within a
    configuration or is collinear with test_id."""
    y, x, a = (np.asarray(v, float) for v in (y, np.log2(np.asarray(width, float)), id_acc))
    g = codes(groups)

    def stat(idx):
        idx = np.asarray(idx)
        inv = np.unique(g[idx], return_inverse=True)[1].reshape(-1)
        cnt = np.bincount(inv)
        def within(v):
            return v - (np.bincount(inv, v) / cnt)[inv]
        cols = [within(x[idx])]
        da = within(a[idx])
        if np.abs(da).max(initial=0.0) > 1e-12:
            cols.append(da)
        X = np.column_stack(cols)
        # an absolute bound too: demeaning a constant leaves rounding dust, which a relative rank test keeps
        if np.abs(cols[0]).max(initial=0.0) < 1e-9 or np.linalg.matrix_rank(X) < X.shape[1]:
            return math.nan
        return float(np.linalg.lstsq(X, within(y[idx]), rcond=None)[0][0])
    return stat


def trend(rs: list[dict], key: str, strata: bool = True) -> tuple[Estimate, list[dict]]:
    """The measure's slope per doubling at matched test_id over the rows that have it (stats.estimate; strata: the
    task, or None for one configuration's rows), and those rows."""
    keep = [(r, v) for r, v in zip(rs, values(rs, key)) if v is not None and math.isfinite(v)]
    if len(keep) < 2:
        return _missing([], f"no learned runs with the {dict((k, l) for k, _, l in MEASURES)[key]} at "
                            f"{MIN_WIDTHS}+ widths"), []
    mine = [r for r, _ in keep]
    stat = slope_at_matched_id([v for _, v in keep], [r[WIDTH] for r in mine], [r[ID_ACC] for r in mine],
                               [group(r) for r in mine])
    return estimate(stat, [cluster(r) for r in mine], [r["task"] for r in mine] if strata else None), mine


def _bonferroni(e: Estimate, level: float) -> list[float]:
    """e's interval at the level each of the two deciding tests gets: 1 - (1 - level) / 2."""
    return e.ci(1 - (1 - level) / 2)


@dataclass
class Joint(Estimate):
    """The claim's estimate: the deciding slopes tested together (module docstring). effect, se and df are those of
    the slope that decides; p and the interval follow the joint rule, so stats.verdict decides as the claim says."""

    parts: dict = field(default_factory=dict)
    """{"ood": Estimate, "binding_rate": Estimate}, each signed so that > 0 is what the claim says."""
    decides: str = ""
    """Which part's effect, se and df this estimate carries: the one slope < 0 with the smallest p if any is < 0
    (it could contradict), else the one with the larger p (both must hold)."""
    sesoi: float = SESOI
    """The smallest effect of interest the no-effect rule reads (the spec's analysis.sesoi for claim 11 overrides)."""

    def p(self) -> float:
        ps = {k: e.p() for k, e in self.parts.items()}
        if not all(math.isfinite(v) for v in ps.values()):
            return math.nan
        falls = [ps[k] for k, e in self.parts.items() if e.effect < 0]
        return min(1.0, 2 * (min(falls) if falls else max(ps.values())))

    def ci(self, level: float) -> list[float]:
        """The deciding slope's interval at the Bonferroni level, but where it lies inside +-sesoi while another
        slope's does not, the hull of all of them: "no effect" needs every slope inside."""
        cis = {k: _bonferroni(e, level) for k, e in self.parts.items()}
        if not self.parts or not all(math.isfinite(v) for c in cis.values() for v in c):
            return [math.nan, math.nan]
        inside = {k: -self.sesoi < lo and hi < self.sesoi for k, (lo, hi) in cis.items()}
        if inside[self.decides] and not all(inside.values()):
            return [min(c[0] for c in cis.values()), max(c[1] for c in cis.values())]
        return cis[self.decides]


def claim11(rows, examples, s) -> Estimate:
    rs, caveats = scale_rows(rows, s)
    if not rs:
        return _missing(caveats, f"no configuration with learned runs at {MIN_WIDTHS}+ widths")
    trends = {k: trend(rs, k) for k, _, _ in MEASURES}
    for k in DECIDING:
        if trends[k][0].missing:
            return _missing(caveats, f"{k}: {trends[k][0].missing}")
    parts = {k: _signed(trends[k][0], sign) for k, sign, _ in MEASURES if k in DECIDING}
    falls = [k for k in DECIDING if parts[k].effect < 0]
    decides = (min(falls, key=lambda k: parts[k].p()) if falls else max(DECIDING, key=lambda k: parts[k].p()))
    d = parts[decides]
    est = Joint(effect=d.effect, se=d.se, df=d.df, unit=d.unit, parts=parts, decides=decides,
                sesoi=float(s.sesoi.get("11", SESOI)))
    used = {id(r): r for k in trends for r in trends[k][1]}.values()
    est.n, est.runs = len({cluster(r) for r in used}), len(used)
    level = 1 - s.alpha / 2
    est.breakdown = {"measure": {k: _described(trends[k][0], level) for k, _, _ in MEASURES},
                     "task": _per_task(rs), "configuration": _per_configuration(rs, s)}
    est.caveats = caveats + [c for k in trends for c in trends[k][0].caveats] + [
        f"the effect is the {decides} slope per doubling of width, signed so that > 0 is what the claim says (OOD "
        "accuracy up, binding-error rate down): the slope that decides the joint test",
        "each slope at matched test_id accuracy (an ANCOVA with a dummy per task/model/regime); the two deciding "
        "tests at alpha/2 each (Bonferroni), the pair then Holm-corrected across claims as one claim"]
    return est


def _signed(e: Estimate, sign: float) -> Estimate:
    return Estimate(effect=sign * e.effect, se=e.se, df=e.df, n=e.n, unit=e.unit, runs=e.runs)


def _described(e: Estimate, level: float) -> dict:
    """A slope as the summary lists it: {"effect", "ci" (at level), "p", "n"}, unsigned (per doubling)."""
    return {"effect": e.effect, "ci": e.ci(level), "p": e.p(), "n": e.n}


def _per_task(rs: list[dict]) -> dict:
    """{task: {"effect": its OOD slope (task rows alone), "n": its clusters}} (the verdict table's task column)."""
    out = {}
    for t in sorted({r["task"] for r in rs}):
        e, mine = trend([r for r in rs if r["task"] == t], "ood", strata=False)
        out[t] = {"effect": e.effect, "n": len({cluster(r) for r in mine})}
    return out


def _per_configuration(rs: list[dict], s) -> dict:
    """{"task/model/regime": {measure: {"effect", "ci" (1 - alpha), "p", "n", "widths"}}}: descriptions, not
    verdicts."""
    out = {}
    for g in sorted({group(r) for r in rs}):
        mine = [r for r in rs if group(r) == g]
        out["/".join(g)] = {}
        for k, _, _ in MEASURES:
            e, used = trend(mine, k, strata=False)
            if used:
                out["/".join(g)][k] = _described(e, 1 - s.alpha) | {"widths": sorted({r[WIDTH] for r in used})}
    return out


def draw(res, entry: dict) -> str:
    """Per configuration (a row of panels), each measure against width on a log axis: every run a point, per width
    the mean with its t interval over seeds."""
    rs, _ = scale_rows(res.rows, res.spec.analysis)
    if not rs:
        return empty(f"claim 11: no configuration with learned runs at {MIN_WIDTHS}+ widths")
    groups = sorted({group(r) for r in rs})
    fig = new_figure((8, 2.4 * len(groups)))
    axes = np.array(fig.subplots(len(groups), len(MEASURES), squeeze=False))
    for g, row in zip(groups, axes):
        mine = [r for r in rs if group(r) == g]
        for (k, _, label), ax, colour in zip(MEASURES, row, COLOURS):
            pts = [(r[WIDTH], v) for r, v in zip(mine, values(mine, k)) if v is not None and math.isfinite(v)]
            if not pts:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center", fontsize=8, transform=ax.transAxes)
            else:
                w, v = np.array(pts, float).T
                ax.plot(w * np.exp(np.random.default_rng(0).uniform(-0.05, 0.05, len(w))), v, "o", c=colour,
                        ms=3, alpha=0.5)
                ws = np.unique(w)
                mean = np.array([v[w == x].mean() for x in ws])
                half = np.array([_half_width(v[w == x]) for x in ws])
                ax.errorbar(ws, mean, yerr=half, fmt="s-", c="k", ms=4, capsize=3, lw=1)
                ax.set_xscale("log", base=2)
                ax.set_xticks(ws, [f"{x:g}" for x in ws], fontsize=7)
            ax.set_title(f"{'/'.join(g)}: {label}", fontsize=7)
            ax.set_xlabel("width", fontsize=7)
    fig.tight_layout()
    return b64(fig)


def _half_width(v: np.ndarray) -> float:
    """Half the 95% t interval of a mean over seeds (0 for a single seed)."""
    return float(st.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def table(res, entry: dict) -> Table:
    """Per configuration and measure: the slope per doubling at matched test_id (breakdown "configuration")."""
    a = res.spec.analysis
    rows = []
    for g, per in entry["breakdown"].get("configuration", {}).items():
        for k, d in per.items():
            ci = d["ci"] or [None, None]
            rows.append(Row([("", g), ("", k), ("", fmt(d["effect"])), ("", f"[{fmt(ci[0])}, {fmt(ci[1])}]"),
                             ("", fmt(d["p"])), ("", fmt(d["n"])), ("", ", ".join(f"{w:g}" for w in d["widths"]))],
                            id=f"claim11-{g.replace('/', '-')}-{k}"))
    note = ("Slope per doubling of width of each measure, from a regression within the configuration (task/model/"
            "regime) on log2 width and test_id accuracy (at matched ID accuracy). ood: accuracy on novel "
            "conjunctions (+ = better); binding_rate: binding errors over novel-conjunction examples (- = better); "
            "fracture: the fracture composite in z units within task (- = less fractured). n counts task x seed "
            f"clusters; intervals at {round((1 - a.alpha) * 100, 2)}% per configuration, not corrected: they "
            "describe, the verdict decides.")
    return Table("claim11-table", "Per configuration: what does each doubling of width change?", note,
                 ["configuration", "measure", "slope per doubling", "interval", "p", "n", "widths"], rows,
                 f"no configuration with learned runs at {MIN_WIDTHS}+ widths")


CLAIM = Claim(
    11, "wider networks answer more novel conjunctions and make fewer binding errors at matched in-distribution "
    "accuracy (scale partly overcomes the binding problem)",
    "Greff, van Steenkiste, Schmidhuber 2020 (On the binding problem in artificial neural networks)",
    "slopes per doubling of width, at matched test_id accuracy (ANCOVA within task/model/regime), of OOD accuracy "
    "on novel conjunctions and of the binding-error rate, tested together: supported only if OOD rises and binding "
    "errors fall, each excluding 0 at alpha/2 (Bonferroni); contradicted if either goes the other way; the effect "
    "is the deciding slope, OOD up or binding errors down = +",
    "task x seed (all widths of one seed share its data)",
    "test_id accuracy is a covariate (a wider net that fits better in distribution gains OOD with it); the "
    "binding-error rate must fall too (placebo: width labels permuted within configurations give no verdict)",
    "a network whose binding does not improve with width keeps its binding-error rate and its accuracy on novel "
    "conjunctions at every width once ID accuracy is held: slopes 0",
    SESOI, claim11, "fig-scale", draw,
    "per configuration, OOD accuracy on novel conjunctions, binding-error rate and fracture composite against width "
    "(log axis): runs as points, the mean per width with its 95% interval over seeds",
    "Does width partly overcome binding?",
    reworded="'scaling' is width only (the study's scales); 'partly overcome' is read as OOD accuracy rising and "
    "binding errors falling per doubling, each beyond chance, not as the problem vanishing", table=table)
