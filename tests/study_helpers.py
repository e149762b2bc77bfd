"""Helpers of the study tests: a tiny real spec, the CLI in a subprocess, and a synthetic results store whose
effects are planted, so the statistics and the report can be checked fast without training anything."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

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


def synthetic_store(outdir: Path, planted: float = 1.0, seeds=range(6)):
    """A finished study without training: task cells whose OOD accuracy falls with a planted fracture metric
    ("crosstalk.spread") by `planted` (0 = no link), per-example rows whose correctness falls with novelty only,
    and CPPN cells whose replicas have more novel maps than their reference."""
    from fracturelab.study.runner import STORE
    from fracturelab.study.spec import parse_spec
    from fracturelab.study.store import Store

    spec = parse_spec(f"""
name = "synthetic"
seeds = {list(seeds)}
regimes = ["scratch", "pretrain"]
[[tasks]]
name = "leave_square_out"
models = ["mlp", "cppn"]
[cppn]
references = ["face", "target"]
replicas = 4
[analysis]
fracture_metrics = ["crosstalk.spread", "-factorization.dci_c"]
n_boot = 200
""")
    cells = spec.cells(available_probes=())
    rng = np.random.default_rng(0)
    outdir.mkdir(parents=True, exist_ok=True)
    with Store(outdir / STORE) as st:
        sid = st.add_study(spec.name, spec.digest(), spec.to_dict(), {"keys": [c["key"] for c in cells],
                                                                      "picbreeder": None})
        st.register_cells(sid, cells)
        for c in cells:
            if c["kind"] == "task":
                spread = rng.normal() + (2.0 if c["regime"] == "scratch" else 0.0)
                idacc = float(np.clip(0.95 + 0.02 * rng.normal(), 0, 1))
                ood = float(np.clip(0.5 - 0.15 * planted * spread + 0.05 * rng.normal(), 0, 1))
                m = {"train.id_acc": idacc, "train.ood_acc": ood, "train.gap": idacc - ood, "train.train_acc": 1.0,
                     "crosstalk.spread": spread, "factorization.dci_c": -0.5 * spread + 0.3 * rng.normal()}
                nov = rng.uniform(0, 1, 300)
                depth = rng.integers(1, 5, 300).astype(float)
                correct = (rng.uniform(0, 1, 300) < 1 / (1 + np.exp(-(3 - 6 * nov)))).astype(int)
                ex = [{"split": "test_ood", "idx": i, "correct": int(correct[i]), "nn_dist": float(nov[i]),
                       "seen_frac": float(nov[i] < 0.5), "depth": float(depth[i]), "width": 1.0, "length": None,
                       "meta_json": "{}"} for i in range(300)]
                res = {"metrics": m, "examples": ex, "notes": {"model": c["model"]}}
            else:
                ref = c["regime"] == "reference"
                res = {"metrics": {"cppn.fit_mse": 0.0 if ref else 1e-3, "cppn.novel_maps": 14.0 if ref else
                                   40.0 + rng.integers(0, 20), "cppn.roughness": 0.1 + 0.01 * rng.normal(),
                                   "cppn.effective_dim_ratio_mean": 0.2 if ref else 0.6 + 0.05 * rng.normal(),
                                   "cppn.symmetric_fraction": 1.0 if ref else 0.0,
                                   "cppn.extrapolation_mse": 0.0 if ref else 0.01 * rng.uniform(),
                                   "cppn.in_window_mse": 0.0 if ref else 1e-3},
                       "examples": [], "notes": {"reference": c["reference"]}}
            st.finish(c["key"], {"ok": True, "result": res, "seconds": 0.1})
    return spec


def store_rows(outdir: Path) -> dict:
    """{cell key: {metric: value}} of done cells, plus the raw counts, from a results store."""
    from fracturelab.study.store import Store

    with Store(Path(outdir) / "results.sqlite", create=False) as st:
        return {"metrics": st.metrics(), "status": st.status(), "counts": st.counts(),
                "examples": {(e["cell_key"], e["split"], e["idx"]): e["correct"]
                             for e in st.examples(list(st.status()))}}
