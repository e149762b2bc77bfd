"""Accuracy broken down by per-example metadata, and multiplication's per-node analysis, from a run folder.

    rows = read_results(rundir)                              # results.csv as typed dicts
    accuracy_by(rows, "nn_dist", split="test_ood")           # [(value, n, accuracy), ...]
    nodes = multiplication_nodes(rundir)                     # one record per operation node of every test example
    error_type_table(nodes)                                  # {split: {error type: fraction}}
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Sequence

from ..errors import FracturelabError
from ..io import read_json
from ..tasks import make_task
from ..tasks.multiplication import ERROR_TYPES, error_types
from .evaluate import read_csv


def _typed(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(v, v)


def read_results(rundir) -> list[dict]:
    """A run's results.csv with numbers and booleans parsed (empty cells stay "")."""
    path = Path(rundir) / "results.csv"
    if not path.is_file():
        raise FracturelabError(f"{rundir}: no results.csv (not a finished run folder)")
    return [{k: _typed(v) for k, v in r.items()} for r in read_csv(path)]


def accuracy_by(rows: Sequence[dict], key: str | Callable[[dict], object], split: str | None = None,
                correct: str = "correct") -> list[tuple[object, int, float]]:
    """(group value, count, mean of `correct`) per value of key (a column name or a function of the row), sorted."""
    groups: dict = defaultdict(list)
    for r in rows:
        if split is None or r["split"] == split:
            groups[key(r) if callable(key) else r[key]].append(float(r[correct]))
    return [(g, len(v), sum(v) / len(v)) for g, v in sorted(groups.items(), key=lambda kv: str(kv[0]).zfill(12))]


def log_bin(x: float) -> str:
    """Coverage bins: 0, 1-9, 10-99, 100-999, ..."""
    if x <= 0:
        return "0"
    k = int(math.floor(math.log10(x)))
    return f"{10**k}-{10**(k + 1) - 1}"


def multiplication_nodes(rundir, data=None) -> list[dict]:
    """Per operation node of every test example of a multiplication run: split, example index, op, node depth,
    subgraph coverage, the example's depth and size, and the error type of the model's scratchpad at that node
    (tasks.multiplication.error_types: correct, local, propagation, restoration, missing)."""
    rundir = Path(rundir)
    config = read_json(rundir / "config.json")
    if config["task"] != "multiplication":
        raise FracturelabError(f"{rundir}: a {config['task']} run, not multiplication")
    if not config["task_options"].get("scratchpad", True):
        raise FracturelabError(f"{rundir}: trained without a scratchpad, so there are no per-node steps")
    if data is None:
        data = make_task("multiplication", split=config["split"], seed=config["seed"], **config["task_options"])
    sets = data.sets()
    out = []
    for r in read_results(rundir):
        e = sets[r["split"]][int(r["index"])]
        nodes = e.meta["graph"]["nodes"]
        types = error_types(e, str(r["prediction"]).split())
        for n, t in zip(nodes, types):
            if n["op"] == "in":
                continue
            out.append({"split": r["split"], "index": int(r["index"]), "op": n["op"], "depth": n["depth"],
                        "coverage": n["coverage"], "example_depth": e.meta["depth"],
                        "size": "x".join(map(str, e.meta["size"])), "type": t, "correct": t == "correct"})
    return out


def error_type_table(nodes: Sequence[dict], by: str = "split") -> dict[str, dict[str, float]]:
    """{group: {error type: fraction of nodes}} plus "n" (the node count) per group."""
    groups: dict = defaultdict(Counter)
    for n in nodes:
        groups[n[by]][n["type"]] += 1
    return {g: {**{t: c[t] / sum(c.values()) for t in ERROR_TYPES}, "n": sum(c.values())}
            for g, c in groups.items()}
