"""Figures of probe-model's interval summary and of its checkpoints (probe_model writes them to OUTDIR/figures)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .prompt_table import SPLITS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(mean: float, ci: list) -> list[float]:
    ok = all(isinstance(c, float) and math.isfinite(c) for c in ci) and math.isfinite(mean)
    return [mean - ci[0], ci[1] - mean] if ok else [0.0, 0.0]


def summary_figure(summary: dict, folder: Path) -> Path:
    """summary.png: per measure (l1_norm left out: another scale), the ID and OOD means with their intervals, the
    OOD - ID direction in the label."""
    plt = _plt()
    ms = [m for m in summary["measures"] if m != "l1_norm"]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(ms)), 3.8))
    x = np.arange(len(ms))
    for j, (s, colour) in enumerate(zip(SPLITS, ("#2171b5", "#d94801"))):
        means = [summary["measures"][m][s]["mean"] for m in ms]
        errs = np.array([_err(summary["measures"][m][s]["mean"], summary["measures"][m][s]["ci"]) for m in ms]).T
        ax.errorbar(x + (j - 0.5) * 0.25, means, yerr=errs, fmt="o", color=colour, capsize=3, label=s)
    ax.set_xticks(x, [f"{m}\n{summary['measures'][m]['direction']}" for m in ms], fontsize=7, rotation=60,
                  ha="right")
    ax.set_ylabel(f"mean at {summary['layer']} (95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = folder / "summary.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def exposure_figure(expo: dict, folder: Path) -> Path:
    """exposure.png: the OOD - ID gap of Hoyer and eff_rank at each checkpoint's step, with intervals."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    steps = [c["step"] for c in expo["checkpoints"]]
    for ax, m in zip(axes, ("hoyer", "eff_rank")):
        d = [c["gaps"][m]["ood_minus_id"] for c in expo["checkpoints"]]
        errs = np.array([_err(g["value"], g["ci"]) for g in d]).T
        ax.errorbar(steps, [g["value"] for g in d], yerr=errs, fmt="o-", capsize=3)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set(xlabel="training step", ylabel=f"{m}: OOD - ID (95% CI)", title=m)
    verdicts = ", ".join(f"claim {k}: {c['verdict']}" for k, c in (expo["claims"] or {}).items())
    fig.suptitle(f"{expo['layer']}; {verdicts}", fontsize=9)
    fig.tight_layout()
    path = folder / "exposure.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def binding_figure(rows: list[dict], folder: Path) -> Path:
    """binding.png: accuracy (left) and binding-error share among wrong answers (right, chance as open markers) by n
    and by queried position, over all splits, with the binding table's intervals."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(8, 6), sharey="row")
    for col, by in enumerate(("n", "position")):
        rs = [r for r in rows if r["by"] == by and r["split"] == "all"]
        x = [r["value"] for r in rs]
        for row, (key, label) in enumerate((("accuracy", "accuracy"), ("binding_share", "binding share of wrong"))):
            ax = axes[row, col]
            errs = np.array([_err(r[key], [r[f"{key}_lo"], r[f"{key}_hi"]]) for r in rs]).T.reshape(2, -1)
            ax.errorbar(x, [r[key] for r in rs], yerr=errs, fmt="o-", capsize=3, label=label)
            if key == "binding_share":
                ax.plot(x, [r["chance_share"] for r in rs], "o", mfc="none", color="grey", label="chance")
                ax.legend(fontsize=8)
            ax.set(xlabel=by, ylabel=f"{label} (95% CI)", ylim=(-0.02, 1.02), xticks=x)
    fig.suptitle("binding prompts, all splits (intervals over this prompt set)", fontsize=9)
    fig.tight_layout()
    path = folder / "binding.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
