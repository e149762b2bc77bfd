"""Per-prompt data and the interval summary of probe-model.

The per-prompt table (OUTDIR/prompts.csv; also prompts.parquet where pyarrow is installed) has one row per prompt
read, in the prompt file's set order, with columns:
- id (the line's "id", else its line number), line, split, level (empty without levels), prompt;
- correct (1/0, the answer's exact match under teacher forcing) and loss (its mean cross-entropy), empty where not
  scored; the line's novelty numbers, depth, and every extra field (prompts.RESERVED excepted), empty where absent;
- <layer>.<metric> for every layer read and every metric of sparsity.METRICS (that prompt's vector at its last
  token); NaN where the metric is undefined for the vector (sparsity's docstring).

The summary (OUTDIR/summary.json; `summarize`) reads the summary layer (sparsity.summary_layer) and, per metric m:
- per split (test_id, test_ood): n (prompts with a finite value), mean, and a 95 % percentile bootstrap interval
  over prompts (B resamples of the split's prompts with replacement);
- ood_minus_id: mean OOD - mean ID, and its interval from the same resamples (the two splits resampled
  independently);
- direction: "sparser on OOD" or "denser on OOD" where the interval of ood_minus_id excludes 0 (sparsity.SPARSER
  says which sign is sparser), else "no difference"; for l1_norm, which has no sparser side, "larger on OOD" /
  "smaller on OOD" / "no difference";
- groups (with --group-by FIELD): the same per value of the field (an extra JSONL field, level or depth), prompts
  without the field left out.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .sparsity import METRICS, SPARSER, metric_table

SPLITS = ("test_id", "test_ood")
"""The splits compared (prompts of other splits are in the table, not in the ID-OOD comparison)."""
BOOTSTRAP = 2000
"""Bootstrap resamples per interval."""
LEVEL = 0.95
"""Interval coverage."""


def _value(meta: dict, key: str):
    return meta.get("fields", {}).get(key, meta.get(key))


def per_prompt(reading) -> dict[str, list]:
    """The per-prompt table as {column: values} (see the module docstring)."""
    exs = reading.examples
    metas = [e.meta for e in exs]
    cols: dict[str, list] = {"id": [m.get("id", m.get("line")) for m in metas],
                             "line": [m.get("line") for m in metas], "split": [m.get("split") for m in metas],
                             "level": [m.get("level_name") for m in metas],
                             "prompt": [m.get("prompt", " ".join(e.src)) for e, m in zip(exs, metas)]}
    scored = reading.correct is not None
    cols["correct"] = [int(c) for c in reading.correct] if scored else [None] * len(exs)
    cols["loss"] = [float(x) for x in reading.loss] if scored else [None] * len(exs)
    skip = {"prompt", "answer", "split", "line", "id", "level_name", "fields", "factors", "graph"}
    numeric = sorted({k for m in metas for k, v in m.items() if k not in skip and isinstance(v, (int, float))})
    extra = list(dict.fromkeys(k for m in metas for k in m.get("fields", {})))
    for k in numeric + [k for k in extra if k not in numeric and k not in cols]:
        cols[k] = [_value(m, k) for m in metas]
    for layer, a in reading.acts.items():
        table = metric_table(a)
        for m in METRICS:
            cols[f"{layer}.{m}"] = table[m].tolist()
    return cols


def write_table(cols: dict[str, list], folder: Path) -> list[str]:
    """prompts.csv (and prompts.parquet where pyarrow is installed) in folder; returns the file names."""
    names = list(cols)
    with open(folder / "prompts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(cols[n] for n in names)):
            w.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row])
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # an optional extra: the CSV holds the same data
        return ["prompts.csv"]
    pq.write_table(pa.table({n: _arrow_column(cols[n]) for n in names}), folder / "prompts.parquet")
    return ["prompts.csv", "prompts.parquet"]


def _arrow_column(values: list) -> list:
    """Numbers stay numbers; a column with any other value (a string, a boolean) is written as text throughout, so
    a metadata field mixing types does not stop the file."""
    numbers = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
    return values if numbers else [None if v is None else str(v) for v in values]


def _ci(samples: np.ndarray) -> list[float]:
    if not np.isfinite(samples).all():
        return [math.nan, math.nan]
    lo, hi = np.quantile(samples, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return [float(lo), float(hi)]


def _boot(x: np.ndarray, rng) -> np.ndarray:
    """BOOTSTRAP means of resamples of x (NaN where x is empty)."""
    if not len(x):
        return np.full(BOOTSTRAP, math.nan)
    return x[rng.integers(0, len(x), (BOOTSTRAP, len(x)))].mean(1)


def direction(metric: str, diff_ci: list[float]) -> str:
    """The plain word for an OOD - ID interval (see the module docstring)."""
    lo, hi = diff_ci
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 <= hi:
        return "no difference"
    up = lo > 0
    if SPARSER[metric] == 0:
        return "larger on OOD" if up else "smaller on OOD"
    return "sparser on OOD" if up == (SPARSER[metric] > 0) else "denser on OOD"


def compare(values: dict[str, np.ndarray], seed: int) -> dict:
    """{metric: per split n/mean/ci, ood_minus_id {value, ci}, direction} of per-prompt values by split."""
    out = {}
    for i, m in enumerate(METRICS):
        rng = np.random.default_rng([seed, 41, i])
        entry, boots = {}, {}
        for s in SPLITS:
            x = values[s][m]
            x = x[np.isfinite(x)]
            boots[s] = _boot(x, rng)
            entry[s] = {"n": len(x), "mean": float(x.mean()) if len(x) else math.nan, "ci": _ci(boots[s])}
        diff_ci = _ci(boots["test_ood"] - boots["test_id"])
        entry["ood_minus_id"] = {"value": entry["test_ood"]["mean"] - entry["test_id"]["mean"], "ci": diff_ci}
        entry["direction"] = direction(m, diff_ci)
        entry["sparser_when"] = {1: "higher", -1: "lower", 0: "neither (a magnitude)"}[SPARSER[m]]
        out[m] = entry
    return out


def summarize(cols: dict[str, list], layer: str, group_by=(), seed: int = 0) -> dict:
    """The summary of the module docstring, from the per-prompt table."""
    split = np.array(cols["split"], dtype=object)

    def by_split(keep: np.ndarray) -> dict:
        return {s: {m: np.array(cols[f"{layer}.{m}"], dtype=np.float64)[keep & (split == s)] for m in METRICS}
                for s in SPLITS}

    everyone = np.ones(len(split), dtype=bool)
    out = {"layer": layer, "unit": "prompt", "interval": f"{LEVEL:.0%} percentile bootstrap over prompts, "
           f"{BOOTSTRAP} resamples", "measures": compare(by_split(everyone), seed), "groups": {}}
    for field in group_by:
        vals = np.array([None if v is None else str(v) for v in cols[field]], dtype=object)
        out["groups"][field] = {v: {"n": int((vals == v).sum()), "measures": compare(by_split(vals == v), seed)}
                                for v in sorted({v for v in vals if v is not None})}
    return out


def group_fields(cols: dict[str, list]) -> list[str]:
    """Columns --group-by may name: metadata, not measures or bookkeeping."""
    return [c for c in cols if "." not in c and c not in ("id", "line", "prompt", "split", "correct", "loss")]
