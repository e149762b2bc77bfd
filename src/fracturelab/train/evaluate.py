"""Scoring a trained model on a task's sets: exact-match accuracy, the model's own outputs, and per-example rows
(split, correct, prediction, target and the flattened metadata scalars) for a run's results.csv.

Correct = exact match of the whole output sequence. For the transformer this is read from one teacher-forced pass
(the same event as greedy decoding reproducing the target); greedy decoding runs only for the wrong examples, to
record what the model wrote instead.

A task whose examples carry the binding taxonomy's metadata (distractors and absent: tasks.binding) gets an `error`
column, the answer's type by tasks.binding.classify_answer: correct, binding (another entity's value of the asked
kind), absent (a value of the asked kind not in the input) or other.
"""
from __future__ import annotations

import csv
from typing import Sequence

import numpy as np
import torch

from ..tasks.base import Example
from ..tasks.binding import classify_answer
from .loop import evaluate


def outputs(model, examples: Sequence[Example], exact: np.ndarray, batch_size: int = 256) -> list[tuple[str, ...]]:
    """What the model outputs for each example: the target where exact, else its greedy decoding."""
    out = [tuple(e.tgt) for e in examples]
    wrong = np.flatnonzero(~exact)
    wrong = wrong[np.argsort([len(examples[i].src) for i in wrong], kind="stable")]
    model.eval()
    with torch.no_grad():
        for k in range(0, len(wrong), batch_size):
            idx = wrong[k : k + batch_size]
            for i, pred in zip(idx, model.predict(model.encode([examples[i] for i in idx]))):
                out[i] = tuple(pred)
    return out


def score_sets(model, sets: dict[str, Sequence[Example]], batch_size: int = 256,
               with_outputs: Sequence[str] | None = None) -> dict[str, dict]:
    """{set name: {"exact": bool array, "acc": float, "loss": float[, "outputs": token tuples]}}; outputs for the
    sets named in with_outputs (default: all)."""
    res = {}
    for name, exs in sets.items():
        exact, loss = evaluate(model, exs, batch_size)
        res[name] = {"exact": exact, "acc": float(exact.mean()) if len(exs) else float("nan"), "loss": loss}
        if with_outputs is None or name in with_outputs:
            res[name]["outputs"] = outputs(model, exs, exact, batch_size)
    return res


def flatten_meta(meta: dict, prefix: str = "") -> dict:
    """Scalar metadata as flat columns: nested dicts become a.b; short lists of scalars are joined with spaces;
    anything larger (graphs, tables) is left out."""
    out = {}
    for k, v in meta.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_meta(v, f"{key}."))
        elif isinstance(v, (list, tuple)):
            if len(v) <= 16 and all(isinstance(x, (int, float, str, bool)) for x in v):
                out[key] = " ".join(str(x) for x in v)
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = v
    return out


def result_rows(sets: dict[str, Sequence[Example]], scores: dict[str, dict]) -> list[dict]:
    """One row per example of every scored set: split, index, correct, prediction, target, src, meta columns, and
    error where the example carries the binding taxonomy's metadata (module docstring)."""
    rows = []
    for name, exs in sets.items():
        sc = scores[name]
        for i, e in enumerate(exs):
            row = {"split": name, "index": i, "correct": int(sc["exact"][i]),
                   "prediction": " ".join(sc["outputs"][i]), "target": " ".join(e.tgt),
                   "src": " ".join(e.src), **flatten_meta(e.meta)}
            if "distractors" in e.meta and "absent" in e.meta:
                row["error"] = classify_answer(sc["outputs"][i], e.tgt[0], e.meta["distractors"], e.meta["absent"])
            rows.append(row)
    return rows


def write_csv(path, rows: list[dict]) -> None:
    """Rows with possibly different keys -> one CSV with the union of columns (first-seen order)."""
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(cols), restval="")
        w.writeheader()
        w.writerows(rows)


def read_csv(path) -> list[dict]:
    """A results.csv or curve.csv back as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
