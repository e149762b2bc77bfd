"""Per-prompt data and the interval summary of probe-model.

The per-prompt table (OUTDIR/prompts.csv; also prompts.parquet where pyarrow is installed) has one row per prompt
read, in the prompt file's set order, with columns:
- id (the line's "id", else its line number), line, split, level (empty without levels), prompt;
- target (the line's answer, stripped), answer (the model's answer: the first word of its greedy continuation,
  reading.Reading.answers; empty for a model without a tokenizer), correct (1/0: where the model's answers are
  decoded, answer = the target's first word (tasks.binding.first_word); else the target's exact match under teacher
  forcing, which the coverage probe reads in both cases) and loss (the target's mean cross-entropy under teacher
  forcing), empty where not scored; error (where the line carries distractors and absent, as a binding export
  does: tasks.binding.classify_answer's correct / binding / absent / other of the answer); the line's novelty
  numbers, depth, and every extra field (prompts.RESERVED excepted), empty where absent;
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

The binding table (OUTDIR/binding.csv and summary.json's "binding"; `binding_table`), where prompts have an error
type and the fields n and position (a binding export): one row per grouping field (n, position), value of it and
split (each split, and "all" of them): prompts, correct, accuracy = correct / prompts, wrong = prompts - correct, the
wrong answers' binding, absent and other counts, binding_share = binding / wrong, and chance_share = the mean
chance_binding of the wrong answers (the share wrong answers uniform over the asked kind's other values would give);
accuracy and binding_share with a 95 % percentile bootstrap interval over the row's prompts (B resamples; a
resample without a wrong answer has no share and is left out). The prompts answered by one model are not
independent replications of anything: the interval says how much the numbers rest on this prompt set, not how
models in general would do.
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
    from ..tasks.binding import classify_answer, first_word

    targets = [m.get("answer", "").strip() for m in metas]
    cols["target"] = targets
    cols["answer"] = reading.answers if reading.answers is not None else [None] * len(exs)
    scored = reading.correct is not None
    if reading.answers is not None:
        cols["correct"] = [int(a == first_word(t)) if t else None for a, t in zip(reading.answers, targets)]
    else:
        cols["correct"] = [int(c) for c in reading.correct] if scored else [None] * len(exs)
    cols["loss"] = [float(x) for x in reading.loss] if scored else [None] * len(exs)
    fields = [m.get("fields", {}) for m in metas]
    cols["error"] = [classify_answer(a, first_word(t), f["distractors"], f["absent"])
                     if a is not None and t and isinstance(f.get("distractors"), str)
                     and isinstance(f.get("absent"), str) else None
                     for a, t, f in zip(cols["answer"], targets, fields)]
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
    return [c for c in cols if "." not in c and c not in ("id", "line", "prompt", "split", "correct", "loss",
                                                          "target", "answer", "error")]


BINDING_BY = ("n", "position")
"""The fields the binding table groups by."""
BINDING_COLUMNS = ("by", "value", "split", "prompts", "correct", "accuracy", "accuracy_lo", "accuracy_hi", "wrong",
                   "binding", "absent", "other", "binding_share", "binding_share_lo", "binding_share_hi",
                   "chance_share")


def _binding_row(err: np.ndarray, chance: np.ndarray, rng) -> dict:
    """The counts, shares and intervals of one row of the binding table (module docstring) from its prompts' error
    types and chance_binding values."""
    ok, bind = err == "correct", err == "binding"
    wrong = ~ok
    idx = rng.integers(0, len(err), (BOOTSTRAP, len(err)))
    n_wrong = wrong[idx].sum(1)
    shares = bind[idx].sum(1)[n_wrong > 0] / n_wrong[n_wrong > 0]
    acc_ci = _ci(ok[idx].mean(1))
    share_ci = _ci(shares) if len(shares) else [math.nan, math.nan]
    n_bad = int(wrong.sum())
    return {"prompts": len(err), "correct": int(ok.sum()), "accuracy": float(ok.mean()), "accuracy_lo": acc_ci[0],
            "accuracy_hi": acc_ci[1], "wrong": n_bad, "binding": int(bind.sum()),
            "absent": int((err == "absent").sum()), "other": int((err == "other").sum()),
            "binding_share": float(bind.sum() / n_bad) if n_bad else math.nan, "binding_share_lo": share_ci[0],
            "binding_share_hi": share_ci[1], "chance_share": float(chance[wrong].mean()) if n_bad else math.nan}


def binding_table(cols: dict[str, list], seed: int = 0) -> list[dict] | None:
    """The binding table of the module docstring (rows of BINDING_COLUMNS); None where no prompt has an error type
    and the n and position fields."""
    have = [i for i, e in enumerate(cols["error"]) if e is not None and all(
        cols.get(f, [None] * len(cols["error"]))[i] is not None for f in BINDING_BY)]
    if not have:
        return None
    err = np.array([cols["error"][i] for i in have], dtype=object)
    split = np.array([cols["split"][i] for i in have], dtype=object)
    chance = np.array([_number(cols.get("chance_binding", [None] * len(cols["error"]))[i]) for i in have])
    rows = []
    for b, by in enumerate(BINDING_BY):
        vals = [cols[by][i] for i in have]
        for v in sorted(set(vals), key=lambda x: (str(type(x)), x)):
            at = np.array([x == v for x in vals])
            for s in [*dict.fromkeys(split), "all"]:
                keep = at & ((split == s) if s != "all" else True)
                if keep.any():
                    rng = np.random.default_rng([seed, 43, b, len(rows)])
                    rows.append({"by": by, "value": v, "split": s, **_binding_row(err[keep], chance[keep], rng)})
    return rows


def _number(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def write_binding(rows: list[dict], folder: Path) -> None:
    """binding.csv in folder (NaN as empty)."""
    with open(folder / "binding.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(BINDING_COLUMNS)
        for r in rows:
            w.writerow(["" if isinstance(r[c], float) and math.isnan(r[c]) else r[c] for c in BINDING_COLUMNS])
