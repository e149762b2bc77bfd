"""The statistics behind every verdict: the independent cluster as the unit, a stratified delete-one-cluster
jackknife with Welch–Satterthwaite degrees of freedom, Holm's correction across claims, and a smallest effect of
interest that separates "no effect" from "inconclusive".

An estimate is a statistic of *rows* (training runs, pairs of runs, reference networks), each belonging to a
*cluster*: the rows that are not independent of each other (runs that share a seed's task data or initial weights:
every run of one task and seed, whatever its regime or model). Examples of one network are summarized inside its
row and never resampled on their own. Clusters are nested in *strata* (the task), inside which a statistic may
compare configurations. The interval:

- stratum h with m_h clusters: delete each cluster in turn and recompute the statistic (theta_(j)); its variance
  v_h = (m_h - 1) / m_h * sum_j (theta_(j) - mean theta_(h))^2 (the stratified jackknife, Davison & Hinkley 1997,
  ch. 3.8; for a weighted mean of cluster totals it is exactly the stratified variance m_h / (m_h - 1) * sum of
  squared deviations, each stratum with its own small-sample factor);
- se = sqrt(sum_h v_h); degrees of freedom by Welch–Satterthwaite, df = (sum v_h)^2 / sum v_h^2 / (m_h - 1), so a
  few noisy strata with few clusters give few df (Cameron & Miller 2015 on few clusters);
- a stratum with fewer than MIN_CLUSTERS clusters is dropped (with a caveat): its variance cannot be estimated;
- interval effect +- t(df) x se, two-sided p from the same t. tests/test_calibration.py checks the rate of false
  verdicts on synthetic studies with unequal, heteroscedastic strata and shared seed effects, and
  tests/test_stats.py checks the standard error against a slow resampling of whole studies.

Verdicts (`verdict`), for an effect signed so that > 0 is what the claim says:
- no effect: the interval at the corrected level lies inside (-sesoi, +sesoi) (two one-sided tests), even when it
  excludes 0: an effect smaller than the smallest effect of interest is never "supported" or "contradicted";
- supported / contradicted: otherwise, Holm-adjusted p <= alpha, effect > 0 / < 0;
- inconclusive: anything else, and whenever a claim's data or its manipulation check is missing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

VERDICTS = ("supported", "contradicted", "no effect", "inconclusive")


@dataclass
class Estimate:
    """A claim's effect over its units."""

    effect: float = math.nan
    """The statistic on the data (signed: > 0 is what the claim says)."""
    se: float = math.nan
    """Standard error: the stratified delete-one-cluster jackknife."""
    df: float = 0.0
    """Degrees of freedom of the t reference (Welch–Satterthwaite over strata; clusters - 1 with one stratum)."""
    n: int = 0
    """Number of independent units (clusters)."""
    unit: str = "task x seed"
    """What one independent unit is."""
    runs: int = 0
    """Training runs (or networks) behind the estimate."""
    breakdown: dict = field(default_factory=dict)
    """Per task (or per architecture, per reference): {name: {"effect", "n"}}."""
    caveats: list = field(default_factory=list)
    """What the reader must know to read the effect (plain sentences)."""
    missing: str = ""
    """Why there is no estimate (empty when there is one)."""
    control: dict = field(default_factory=dict)
    """The control's value where the claim has a numeric control (e.g. untrained networks)."""

    def p(self) -> float:
        if not (self.df > 0 and math.isfinite(self.se) and self.se > 0 and math.isfinite(self.effect)):
            return math.nan
        return float(2 * st.t.sf(abs(self.effect) / self.se, self.df))

    def ci(self, level: float) -> list[float]:
        if not (self.df > 0 and math.isfinite(self.se) and math.isfinite(self.effect)):
            return [math.nan, math.nan]
        h = float(st.t.ppf(1 - (1 - level) / 2, self.df)) * self.se
        return [self.effect - h, self.effect + h]


def missing(why: str, unit: str = "task x seed") -> Estimate:
    return Estimate(missing=why, unit=unit)


def codes(labels) -> np.ndarray:
    """Integer codes of hashable labels, in sorted order of their text (stable across processes, unlike hash())."""
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
        return np.unique(labels, return_inverse=True)[1].reshape(-1)
    names = sorted({str(x) for x in labels})
    pos = {n: i for i, n in enumerate(names)}
    return np.array([pos[str(x)] for x in labels], dtype=np.int64)


MIN_CLUSTERS = 3
"""Fewest clusters a stratum needs for its variance (with 2, one deletion's value is the other's mirror image)."""


def estimate(stat, clusters, strata=None, unit: str = "task x seed") -> Estimate:
    """stat(idx) -> float on the rows idx (an int array, sorted); clusters: per row, the independent unit it belongs
    to; strata: per row, the stratum its cluster is nested in (None: one). The jackknife of the module docstring."""
    if len(clusters) < 2:
        return missing(f"{len(clusters)} row(s): too few for an interval", unit)
    c = codes(clusters)
    h = np.zeros(len(c), np.int64) if strata is None else codes(strata)
    names = {int(k): str(x) for k, x in zip(h, strata)} if strata is not None else {0: "all"}
    if len(np.unique(np.stack([c, h], 1), axis=0)) != len(np.unique(c)):
        raise ValueError("a cluster spans several strata (strata must be coarser than clusters)")
    keep_h = [k for k in np.unique(h) if len(np.unique(c[h == k])) >= MIN_CLUSTERS]
    caveats = [f"stratum {names[k]} left out: {len(np.unique(c[h == k]))} cluster(s), {MIN_CLUSTERS} needed for its "
               "variance" for k in np.unique(h) if k not in keep_h]
    rows = np.flatnonzero(np.isin(h, keep_h))
    n = len(np.unique(c[rows]))
    if not keep_h:
        est = missing(f"{len(np.unique(c))} {unit}(s) in strata of fewer than {MIN_CLUSTERS}: too few for an "
                      "interval", unit)
        est.caveats, est.n, est.runs = caveats, len(np.unique(c)), len(c)  # what there was, though it decides nothing
        return est
    effect = float(stat(rows))
    v, dfs = [], []
    for k in keep_h:
        mine = np.unique(c[rows][h[rows] == k])
        theta = np.array([stat(rows[c[rows] != j]) for j in mine], float)
        if not np.isfinite(theta).all():
            return Estimate(effect=effect, n=n, unit=unit, runs=len(rows), caveats=caveats,
                            missing="the statistic is undefined when a cluster is left out")
        m = len(mine)
        v.append((m - 1) / m * ((theta - theta.mean()) ** 2).sum())
        dfs.append(m - 1)
    v, dfs = np.array(v), np.array(dfs, float)
    se = float(np.sqrt(v.sum()))
    df = float(v.sum() ** 2 / (v ** 2 / dfs).sum()) if v.sum() > 0 else float(dfs.sum())
    if not math.isfinite(effect):
        return Estimate(effect=effect, n=n, unit=unit, runs=len(rows), caveats=caveats,
                        missing="the statistic is undefined on these data")
    return Estimate(effect=effect, se=se, df=df, n=n, unit=unit, runs=len(rows), caveats=caveats)


def config_mean(values, configs):
    """A statistic: the mean over the configurations present in idx of each one's mean value (every configuration
    weighs the same, however many runs it has)."""
    v = np.asarray(values, float)
    g = codes(configs)

    def stat(idx):
        idx = np.asarray(idx)
        sums = np.bincount(g[idx], weights=v[idx], minlength=g.max() + 1)
        cnt = np.bincount(g[idx], minlength=g.max() + 1)
        return float((sums[cnt > 0] / cnt[cnt > 0]).mean()) if len(idx) else math.nan
    return stat


def ranks_within(x, strata) -> np.ndarray:
    """Ranks scaled to (0, 1) inside each stratum (ties averaged), so strata of different sizes are comparable."""
    x, c = np.asarray(x, float), codes(strata)
    # one global ranking of (stratum, x): a value's rank within its stratum is its global rank minus the size of the
    # strata before it (x mapped into (0, 1) so it never crosses into the next stratum; ties stay ties)
    span = np.ptp(x) if len(x) else 0.0
    key = c + ((x - x.min()) / (span * 2) if span > 0 else 0.0)
    sizes = np.bincount(c)
    before = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return (st.rankdata(key) - before[c]) / (sizes[c] + 1)


def partial_rank_corr(x, y, covariates, strata, categorical=None) -> float:
    """Spearman correlation of x and y inside strata, after removing from both ranks a linear fit on the covariates'
    ranks (also within strata), on stratum dummies and on a categorical covariate's dummies (e.g. the regime). nan
    when either residual is constant."""
    x, y = ranks_within(x, strata), ranks_within(y, strata)
    c = codes(strata)
    cols = [np.ones(len(x))] + [(c == lv).astype(float) for lv in np.unique(c)[1:]]
    cols += [ranks_within(v, strata) for v in covariates]
    if categorical is not None:
        k = codes(categorical)
        cols += [(k == lv).astype(float) for lv in np.unique(k)[1:]]
    A = np.column_stack(cols)
    rx = x - A @ np.linalg.lstsq(A, x, rcond=None)[0]
    ry = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    if rx.std() < 1e-12 or ry.std() < 1e-12:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def holm(pvalues: dict) -> dict:
    """{claim: p} -> {claim: Holm-adjusted p}; claims without a p-value are left out of the family."""
    keys = [k for k, p in pvalues.items() if math.isfinite(p)]
    if not keys:
        return {}
    adj = multipletests([pvalues[k] for k in keys], method="holm")[1]
    return dict(zip(keys, (float(a) for a in adj)))


def verdict(est: Estimate, p_adj: float, alpha: float, level: float, sesoi: float) -> tuple[str, str]:
    """(verdict, reason) from an estimate, its Holm-adjusted p-value and the corrected interval level."""
    if est.missing:
        return "inconclusive", est.missing
    lo, hi = est.ci(level)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive", "no interval (too little variation or too few units)"
    if -sesoi < lo and hi < sesoi:  # first: an effect too small to matter is never a finding, even if not 0
        return "no effect", f"interval inside +-{sesoi:g} (the smallest effect of interest)"
    if math.isfinite(p_adj) and p_adj <= alpha:
        return ("supported" if est.effect > 0 else "contradicted"), f"Holm-adjusted p = {p_adj:.3g}"
    why = "the interval spans 0" if lo <= 0 <= hi else f"Holm-adjusted p = {p_adj:.3g} > {alpha:g}"
    return "inconclusive", f"{why} and reaches beyond +-{sesoi:g}"


def power(effect: float, se: float, df: float, alpha: float) -> float:
    """Power of the two-sided t test (df degrees of freedom, level alpha) of an estimate with this standard error
    when the true effect is `effect`."""
    if not (df > 0 and se > 0):
        return math.nan
    ncp = effect / se
    t = st.t.ppf(1 - alpha / 2, df)
    return _upper_tail(t, df, ncp) + _upper_tail(t, df, -ncp)  # P(T > t) + P(T < -t), the second by symmetry


def _upper_tail(t: float, df: int, ncp: float) -> float:
    """P(T > t) for a noncentral t; scipy's nct returns NaN for some large noncentralities, where the normal
    approximation is exact to far below the reported precision."""
    p = float(st.nct.sf(t, df, ncp))
    return p if math.isfinite(p) else float(st.norm.sf(t - ncp))
