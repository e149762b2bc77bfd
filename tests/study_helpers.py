"""Helpers of the study tests: a tiny real spec, the CLI in a subprocess, and a synthetic results store whose
effects are planted, so the statistics and the report can be checked fast without training anything."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TINY = """
name = "tiny"
seeds = [0, 1]
regimes = ["scratch"]
probes = []

[[tasks]]
name = "leave_square_out"
models = ["mlp"]
options = { max_steps = 30, eval_every = 15, p = 11, side = 3, hidden = 32, batch_size = 64 }

[cppn]
references = ["face"]
replicas = 2
res = 16
steps = 40
adapt_steps = 10
"""

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def write_spec(tmp_path: Path, text: str = TINY, name: str = "tiny.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fracturelab", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=kw.pop("timeout", 300), **kw)


SYNTHETIC_SPEC = """
name = "synthetic"
seeds = {seeds}
regimes = ["scratch", "pretrain", "bimt"]
[[tasks]]
name = "leave_square_out"
models = ["mlp", "cppn"]
scales = ["base"]
[[tasks]]
name = "factors"
models = ["mlp"]
scales = ["base"]
[[tasks]]
name = "knowledge_graph"
models = ["transformer"]
scales = ["base"]
[[tasks]]
name = "binding"
models = ["mlp"]
regimes = ["scratch", "pretrain"]
scales = ["base"]
[[tasks]]
name = "binding"
models = ["mlp"]
regimes = ["scratch"]
scales = ["w64", "w128", "w256"]
[[scales]]
name = "base"
[[scales]]
name = "w64"
[[scales]]
name = "w128"
[[scales]]
name = "w256"
[cppn]
references = ["face", "target", "sunset"]
replicas = 3
[analysis]
"""


def synthetic_store(outdir: Path, effect: dict | None = None, seeds: int = 6, rng: int = 0, learned: bool = True,
                    lower: dict | None = None):
    """A finished study without training, through the real SQLite store: every cell's metrics and examples come from
    synthetic_study.synthetic (the planted `effect` per claim id; `lower`: how far bimt lowers fracture per task),
    matched to the spec's cells by their fields."""
    from fracturelab.study.cell import cell_from_params
    from fracturelab.study.spec import parse_spec
    from fracturelab.study.records import CellResult, Outcome
    from fracturelab.study.store import STORE, Store
    from synthetic_study import synthetic

    spec = parse_spec(SYNTHETIC_SPEC.format(seeds=list(range(seeds))))
    cells = spec.cells(available_probes=())
    rows, examples = synthetic(seeds=seeds, effect=effect, rng=rng, refs=3, learned=learned, lower=lower)
    refs = {f"ref{i}": n for i, n in enumerate(("face", "target", "sunset"))}
    by = {(r["task"], r["model"], r["regime"], r["seed"], r["scale"]) if r["kind"] == "task" else
          (refs[r["reference"]], r["regime"], r["seed"]): r for r in rows}
    outdir.mkdir(parents=True, exist_ok=True)
    with Store(outdir / STORE) as st:
        sid = st.add_study(spec.name, spec.digest(), spec.to_dict(), {"keys": [c.key for c in cells],
                                                                      "picbreeder": None})
        st.register_cells(sid, [c.params() for c in cells])
        for c in cells:
            c = cell_from_params(c.params())
            key = (c.task, c.model, c.regime, c.seed, c.scale) if c.kind == "task" else (c.reference, c.regime, c.seed)
            r = by[key]
            m = {k: float(v) for k, v in r.items() if "." in k and isinstance(v, float)}
            ex = [{"split": e["split"], "idx": i, "correct": e["correct"], "nn_dist": None,
                   "seen_frac": e["seen_frac"], "depth": e["depth"], "width": None, "length": None,
                   "meta_json": json.dumps(e["meta"])} for i, e in enumerate(examples.get(r["key"], []))]
            notes = {"model": c.model} if c.kind == "task" else {"reference": c.reference}
            st.finish(Outcome(c.key, True, 0.1, CellResult(m, ex, notes)))
    return spec


def store_rows(outdir: Path) -> dict:
    """{cell key: {metric: value}} of done cells, plus the raw counts, from a results store."""
    from fracturelab.study.store import Store

    with Store(Path(outdir) / "results.sqlite", create=False) as st:
        return {"metrics": st.metrics(), "status": st.status(), "counts": st.counts(),
                "examples": {(e["cell_key"], e["split"], e["idx"]): e["correct"]
                             for e in st.examples(list(st.status()))}}


def tampered_store(tmp_path: Path, sql: str) -> Path:
    """A synthetic study store (synthetic_store) in TMP_PATH/s with one SQL statement run on it (hostile tests)."""
    import sqlite3

    d = tmp_path / "s"
    synthetic_store(d)
    with sqlite3.connect(d / "results.sqlite") as c:
        c.execute(sql)
    c.close()
    return d
