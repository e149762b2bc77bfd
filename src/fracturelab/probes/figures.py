"""Figures of a probe_run: per-layer bar charts of the layer.<name>.<metric> values and the sparsity gap across
checkpoints. Written with matplotlib's Figure (no pyplot state)."""
from __future__ import annotations

from pathlib import Path

LAYER_METRICS = {"sparsity": ("hoyer_id", "hoyer_ood"), "geometry": ("eff_rank", "participation_ratio"),
                 "factorization": ("dci_d", "dci_c", "info_m", "info_c", "probe_acc")}
"""Probe -> per-layer metrics drawn side by side."""


def _layers(metrics: dict, key: str) -> list[str]:
    return [k[len("layer."):-len(key) - 1] for k in metrics if k.startswith("layer.") and k.endswith("." + key)
            and "@" not in k]


def write_figures(results: dict, outdir: Path) -> list[Path]:
    from matplotlib.figure import Figure

    written = []
    for probe, keys in LAYER_METRICS.items():
        m = results.get(probe, {})
        if "skipped" in m or not m:
            continue
        layers = _layers(m, keys[0])
        if not layers:
            continue
        fig = Figure(figsize=(max(4, 1.2 * len(layers) * len(keys) / 2), 3.2))
        ax = fig.subplots()
        w = 0.8 / len(keys)
        for i, k in enumerate(keys):
            ax.bar([x + i * w for x in range(len(layers))], [m.get(f"layer.{L}.{k}", 0) or 0 for L in layers],
                   w, label=k)
        ax.set_xticks([x + 0.4 - w / 2 for x in range(len(layers))], layers, rotation=30, fontsize=7)
        ax.set_title(probe)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = outdir / f"{probe}_layers.png"
        fig.savefig(path, dpi=100)
        written.append(path)
    sp = results.get("sparsity", {})
    steps = sorted(int(k.split(".")[1]) for k in sp if k.startswith("ckpt."))
    if steps:
        fig = Figure(figsize=(4.5, 3.2))
        ax = fig.subplots()
        ax.plot(steps, [sp[f"ckpt.{s}.hoyer_gap"] for s in steps], "o-")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set(xlabel="step", ylabel="Hoyer OOD - ID", title="sparsity gap over training")
        fig.tight_layout()
        path = outdir / "sparsity_checkpoints.png"
        fig.savefig(path, dpi=100)
        written.append(path)
    return written
