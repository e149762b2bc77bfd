"""Claims 6 and 7 (Jin et al. 2026) on a user's own model: several checkpoints of one model, read on one prompt set.

Each checkpoint (`--checkpoint STEP=MODEL`, MODEL any spec adapters.load_model takes; a hub name may carry a
revision, NAME@REVISION) is read in one forward pass over the test_id and test_ood prompts, at the summary layer
(sparsity.summary_layer: the final normed state where the model has one). Per checkpoint, for every metric of
sparsity.METRICS: the OOD - ID gap of the per-prompt means with its bootstrap interval (prompt_table.compare).

The verdicts of claims 6 and 7 on these readings are the study's (study/exposure_claims.py), handed in by the caller
as `decide` (probes/ never imports study/).
"""
from __future__ import annotations

import numpy as np

from ..errors import FracturelabError
from .prompt_table import SPLITS, compare
from .sparsity import METRICS, hoyer, metric_table, summary_layer


def parse_checkpoints(items) -> list[tuple[int, str]]:
    """["STEP=MODEL", ...] -> [(step, model spec)] by step; a one-line error for a malformed or repeated step."""
    out = {}
    for it in items:
        step, sep, spec = it.partition("=")
        if not sep or not step.strip().isdigit() or not spec.strip():
            raise FracturelabError(f"checkpoint {it!r}: expected STEP=MODEL (e.g. 1000=runs/ckpt-1000)")
        if int(step) in out:
            raise FracturelabError(f"checkpoint step {int(step)} given twice")
        out[int(step)] = spec.strip()
    if len(out) < 2:
        raise FracturelabError(f"{len(out)} checkpoint(s): claims 6 and 7 compare at least two (first and last)")
    return sorted(out.items())


def hoyer_by_split(acts: dict, split: np.ndarray) -> dict:
    """The per-prompt values of every metric at the summary layer, by split."""
    layer = summary_layer(acts)
    table = metric_table(acts[layer])
    return layer, {s: {m: table[m][split == s] for m in METRICS} for s in SPLITS}


def exposure(specs: list[tuple[int, str]], sets: dict, load, read, seed: int = 0, decide=None) -> dict:
    """Read every checkpoint on sets ({"test_id": examples, "test_ood": examples}; load(spec) -> a Probed model;
    read(model, sets) -> reading.Reading) and return {"layer", "checkpoints": [{step, model, gaps:
    prompt_table.compare}], "claims": decide(steps, H (checkpoints x prompts: Hoyer at the summary layer), is_ood)
    (None without decide)}."""
    sets = {s: sets[s] for s in SPLITS}
    split = np.array([s for s in SPLITS for _ in sets[s]], dtype=object)
    rows, H, layer = [], [], None
    for step, spec in specs:
        reading = read(load(spec), sets)
        lay, values = hoyer_by_split(reading.acts, split)
        if layer is not None and lay != layer:
            raise FracturelabError(f"checkpoint {step} ({spec}): its summary layer is {lay}, the others' {layer}")
        layer = lay
        rows.append({"step": step, "model": spec, "gaps": compare(values, seed)})
        H.append(hoyer(reading.acts[lay]))
    steps = [s for s, _ in specs]
    return {"layer": layer, "checkpoints": rows,
            "claims": decide(steps, np.stack(H), split == "test_ood") if decide is not None else None}
