"""Figures of a probe run (probe_run and probe_model alike): per-layer bar charts of the layer.<name>.<metric> values
of each probe's ProbeSpec.layer_metrics, per-layer sparsity for each familiarity level along the residual stream, the
ID-OOD sparsity gap by layer, and the sparsity gap across checkpoints. Written with matplotlib's Figure (no pyplot
state)."""
from __future__ import annotations

from pathlib import Path



def _layers(metrics: dict, key: str) -> list[str]:
    return [k[len("layer."):-len(key) - 1] for k in metrics if k.startswith("layer.") and k.endswith("." + key)
            and "@" not in k]


SPARSITY_FIGURE_METRICS = ("eff_rank", "top5", "hoyer", "l0")
"""Jin et al.'s headline metrics, drawn per layer."""


def stream_layers(metrics: dict, key: str) -> list[str]:
    """The residual stream in depth order: embed, block0, block1, ..., ln_f (no sublayers, no @all readings)."""
    return [L for L in _layers(metrics, key) if "." not in L]


def _levels(sp: dict) -> list[str]:
    return [k[len("level."):-len(".n")] for k in sp if k.startswith("level.") and k.endswith(".n")]


def _sparsity_figures(sp: dict, outdir: Path) -> list[Path]:
    from matplotlib.figure import Figure

    layers, written = stream_layers(sp, "hoyer_id") or _layers(sp, "hoyer_id"), []  # sublayers only, if so picked
    if not layers:
        return written
    ms = SPARSITY_FIGURE_METRICS
    levels = _levels(sp)
    if levels:
        fig = Figure(figsize=(3.3 * len(ms), 3.2))
        for ax, m in zip(fig.subplots(1, len(ms)), ms):
            for lv in levels:
                ax.plot(range(len(layers)), [sp.get(f"layer.{L}.{m}@{lv}", float("nan")) for L in layers], "o-",
                        ms=3, label=lv)
            ax.set_xticks(range(len(layers)), layers, rotation=60, fontsize=6)
            ax.set_title(m, fontsize=9)
        fig.axes[0].legend(fontsize=6, title="familiarity", title_fontsize=6)
        fig.suptitle("sparsity per layer at the last prompt token, by familiarity level", fontsize=9)
        fig.tight_layout()
        written.append(outdir / "sparsity_levels.png")
        fig.savefig(written[-1], dpi=100)
    fig = Figure(figsize=(3.3 * len(ms), 3.0))
    for ax, m in zip(fig.subplots(1, len(ms)), ms):
        gap = [(sp.get(f"layer.{L}.{m}_ood") or 0) - (sp.get(f"layer.{L}.{m}_id") or 0) for L in layers]
        ax.bar(range(len(layers)), gap, color="tab:purple")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xticks(range(len(layers)), layers, rotation=60, fontsize=6)
        ax.set_title(f"{m}: OOD - ID", fontsize=9)
    fig.tight_layout()
    written.append(outdir / "sparsity_gap.png")
    fig.savefig(written[-1], dpi=100)
    return written


def write_figures(results: dict, outdir: Path, layer_metrics: dict[str, tuple]) -> list[Path]:
    """One PNG per probe with per-layer metrics (layer_metrics: probe -> the metric names drawn side by side, its
    ProbeSpec.layer_metrics); returns the files written."""
    from matplotlib.figure import Figure

    written = []
    for probe, m in results.items():
        keys = layer_metrics.get(probe, ())
        if not keys or "skipped" in m or not m:
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
    if sp and "skipped" not in sp:
        written += _sparsity_figures(sp, outdir)
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
