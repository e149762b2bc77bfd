"""The statistics behind every verdict: the training run as the unit, a bootstrap over runs, Holm's correction
across claims, and a smallest effect of interest that separates "no effect" from "inconclusive".

An estimate is a statistic of *units* (training runs, pairs of runs that share a seed, or reference networks); the
examples of one network are summarized inside its unit and never resampled on their own. Its interval:

- the units are resampled with replacement, within strata when the statistic conditions on them (a configuration:
  task x model x scale, so a contrast measured inside each configuration is not inflated by differences between
  them), `n_boot` times;
- the bootstrap standard deviation is rescaled by sqrt(n / (n - k)) (n units, k strata: a stratum of m units has
  a resampling variance (m - 1) / m of the sample variance), and the interval is effect +- t(df = n - k) x se, with
  the two-sided p-value from the same t. For a mean this is the t-interval; for any statistic it keeps small
  samples from the percentile bootstrap's known undercoverage (Hesterberg 2015, "What teachers should know about
  the bootstrap", sec. 4). tests/test_calibration.py checks the rate of false verdicts on synthetic studies.

Verdicts (`verdict`), for an effect signed so that > 0 is what the claim says:
- supported / contradicted: Holm-adjusted p <= alpha, effect > 0 / < 0;
- no effect: the interval at the corrected level lies inside (-sesoi, +sesoi) (two one-sided tests);
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
    """Bootstrap standard error, small-sample rescaled."""
    df: int = 0
    """Degrees of freedom of the t reference (units - strata)."""
    n: int = 0
    """Number of independent units."""
    unit: str = "training run"
    """What one unit is."""
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


def missing(why: str, unit: str = "training run") -> Estimate:
    return Estimate(missing=why, unit=unit)


def codes(labels) -> np.ndarray:
    """Integer codes of hashable labels, in sorted order of their text (stable across processes, unlike hash())."""
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu":
        return np.unique(labels, return_inverse=True)[1].reshape(-1)
    names = sorted({str(x) for x in labels})
    pos = {n: i for i, n in enumerate(names)}
    return np.array([pos[str(x)] for x in labels], dtype=np.int64)


def boot_indices(strata, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) indices: each row resamples the units with replacement inside each stratum, keeping positions (so
    row b's i-th entry is a unit of unit i's stratum)."""
    strata = np.asarray(strata)
    n = len(strata)
    rng = np.random.default_rng(seed)
    idx = np.empty((n_boot, n), dtype=np.int64)
    for s in np.unique(strata):
        pos = np.flatnonzero(strata == s)
        idx[:, pos] = pos[rng.integers(0, len(pos), (n_boot, len(pos)))]
    return idx


def estimate(n_units: int, stat, strata=None, n_boot: int = 1000, seed: int = 0, vectorized: bool = False,
             unit: str = "training run") -> Estimate:
    """stat(idx) -> float on units idx (an index array), or with vectorized=True stat(idx2d) -> (n_boot,) floats.
    Units resampled within strata (None: one stratum)."""
    strata = np.zeros(n_units, int) if strata is None else codes(strata)
    k = len(np.unique(strata)) if n_units else 0
    if n_units < 2:
        return missing(f"{n_units} {unit}(s): too few for an interval", unit)
    base = np.arange(n_units)
    effect = float(stat(base[None])[0]) if vectorized else float(stat(base))
    idx = boot_indices(strata, n_boot, seed)
    boots = np.asarray(stat(idx) if vectorized else [stat(row) for row in idx], float)
    boots = boots[np.isfinite(boots)]
    df = n_units - k
    if not math.isfinite(effect) or len(boots) < n_boot // 2 or df < 1:
        return Estimate(effect=effect, n=n_units, unit=unit, df=max(df, 0),
                        missing="" if math.isfinite(effect) else "the statistic is undefined on these data")
    se = float(boots.std(ddof=1) * math.sqrt(n_units / df))
    return Estimate(effect=effect, se=se, df=df, n=n_units, unit=unit)


def stratum_mean(values, strata):
    """A vectorized stat: the mean over strata of each stratum's mean (every configuration weighs the same)."""
    v = np.asarray(values, float)
    s = codes(strata)
    w = np.zeros(len(v))
    levels = np.unique(s)
    for lv in levels:
        m = s == lv
        w[m] = 1.0 / (m.sum() * len(levels))
    return lambda idx: (v[idx] * w).sum(-1)


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
    if math.isfinite(p_adj) and p_adj <= alpha:
        return ("supported" if est.effect > 0 else "contradicted"), f"Holm-adjusted p = {p_adj:.3g}"
    if -sesoi < lo and hi < sesoi:
        return "no effect", f"interval inside +-{sesoi:g} (the smallest effect of interest)"
    why = "the interval spans 0" if lo <= 0 <= hi else f"Holm-adjusted p = {p_adj:.3g} > {alpha:g}"
    return "inconclusive", f"{why} and reaches beyond +-{sesoi:g}"


def power(effect: float, sd_unit: float, n: int, alpha: float, strata: int = 1) -> float:
    """Power of the two-sided t test of a mean of n units with this per-unit sd at this effect."""
    df = n - strata
    if df < 1:
        return math.nan
    ncp = effect / (sd_unit / math.sqrt(n))
    t = st.t.ppf(1 - alpha / 2, df)
    return _upper_tail(t, df, ncp) + _upper_tail(t, df, -ncp)  # P(T > t) + P(T < -t), the second by symmetry


def _upper_tail(t: float, df: int, ncp: float) -> float:
    """P(T > t) for a noncentral t; scipy's nct returns NaN for some large noncentralities, where the normal
    approximation is exact to far below the reported precision."""
    p = float(st.nct.sf(t, df, ncp))
    return p if math.isfinite(p) else float(st.norm.sf(t - ncp))
