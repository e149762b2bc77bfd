"""Figures of the study report: matplotlib Figure objects (no pyplot, no global state) as base64 PNG strings."""
from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib.figure import Figure

REGIME_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]


def b64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _empty(msg: str, size=(6, 1.2)) -> str:
    fig = Figure(figsize=size)
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, msg, ha="center", va="center", fontsize=10, wrap=True)
    return b64(fig)


def task_accuracy(rows: list[dict]) -> str:
    tasks = sorted({r["task"] for r in rows if r["kind"] == "task"})
    if not tasks:
        return _empty("no task cells finished")
    regimes = sorted({r["regime"] for r in rows if r["kind"] == "task"})
    fig = Figure(figsize=(3.4 * len(tasks), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(tasks)))
    markers = "os^Dvx"
    for ax, task in zip(axes, tasks):
        rs = [r for r in rows if r["task"] == task]
        models = sorted({r["model"] for r in rs})
        for r in rs:
            ax.scatter(r["train.id_acc"], r["train.ood_acc"], c=REGIME_COLOURS[regimes.index(r["regime"]) % 7],
                       marker=markers[models.index(r["model"]) % 6], s=30, alpha=0.8)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(title=task, xlabel="ID accuracy", ylabel="OOD accuracy", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        for i, m in enumerate(models):
            ax.scatter([], [], c="grey", marker=markers[i % 6], label=m)
    for i, g in enumerate(regimes):
        axes[0].scatter([], [], c=REGIME_COLOURS[i % 7], label=g)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return b64(fig)


def interval_bars(items: list[dict], label, title: str, xlabel: str) -> str:
    items = [i for i in items if i["effect"] is not None and math.isfinite(i["effect"])]
    if not items:
        return _empty(f"{title}: no data")
    fig = Figure(figsize=(6.5, 0.35 * len(items) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(items))
    eff = np.array([i["effect"] for i in items])
    lo = np.array([i["ci"][0] if math.isfinite(i["ci"][0]) else i["effect"] for i in items])
    hi = np.array([i["ci"][1] if math.isfinite(i["ci"][1]) else i["effect"] for i in items])
    ax.errorbar(eff, y, xerr=[eff - lo, hi - eff], fmt="o", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, [label(i) for i in items], fontsize=7)
    ax.set(title=title, xlabel=xlabel)
    ax.invert_yaxis()
    fig.tight_layout()
    return b64(fig)


def variance(shares: dict) -> str:
    items = [(m, v) for m, v in shares.items() if "residual" in v]
    if not items:
        return _empty("variance decomposition: no fracture metrics on task models")
    parts = ("regime", "model", "scale", "task", "residual")
    fig = Figure(figsize=(6.5, 0.4 * len(items) + 1.2))
    ax = fig.subplots()
    left = np.zeros(len(items))
    for i, p in enumerate(parts):
        w = np.array([v.get(p, 0.0) for _, v in items])
        ax.barh(range(len(items)), w, left=left, label=p, color=REGIME_COLOURS[i] if p != "residual" else "lightgrey")
        left += w
    ax.set_yticks(range(len(items)), [m for m, _ in items], fontsize=7)
    ax.set(xlabel="share of variance (unique R^2)", xlim=(0, max(1.0, left.max())))
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    fig.tight_layout()
    return b64(fig)


def accuracy_grid(grid: dict) -> str:
    """Accuracy against depth, familiar (solid) and novel (dashed) combinations, one colour per task."""
    if not grid:
        return _empty("per-example analysis: no task whose examples carry the split's novelty and a depth")
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    for i, (t, g) in enumerate(grid.items()):
        for nv, style in ((0, "o-"), (1, "s--")):
            pts = sorted((d, acc) for n, d, acc, _ in g if n == nv)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, c=REGIME_COLOURS[i % 7],
                        label=f"{t}, {'novel' if nv else 'familiar'}")
    ax.set(xlabel="depth", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


def sparsity(rows: list[dict]) -> str:
    """Per run: the Hoyer OOD - ID gap at initialization (x) against after training (y)."""
    rs = [r for r in rows if "sparsity.hoyer_gap_init" in r and "sparsity.hoyer_gap_final" in r]
    if not rs:
        return _empty("sparsity: no sparsity gap at initialization and after training in the store")
    fig = Figure(figsize=(4, 3.6))
    ax = fig.subplots()
    tasks = sorted({r["task"] for r in rs})
    for i, t in enumerate(tasks):
        own = [r for r in rs if r["task"] == t]
        ax.scatter([r["sparsity.hoyer_gap_init"] for r in own], [r["sparsity.hoyer_gap_final"] for r in own], s=20,
                   c=REGIME_COLOURS[i % 7], label=t)
    v = [r["sparsity.hoyer_gap_init"] for r in rs] + [r["sparsity.hoyer_gap_final"] for r in rs]
    ax.plot([min(v), max(v)], [min(v), max(v)], "k:", lw=0.8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="OOD - ID Hoyer gap, at initialization", ylabel="after training")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


def cppn_metrics(rows: list[dict], names: list[str]) -> str:
    cp = [r for r in rows if r["kind"] == "cppn"]
    if not cp:
        return _empty("no CPPN cells finished")
    names = [n.lstrip("-") for n in names if any(n.lstrip("-") in r for r in cp)]
    refs = sorted({r["reference"] for r in cp})
    fig = Figure(figsize=(2.6 * max(1, len(names)), 2.8))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(names))))
    for ax, n in zip(axes, names):
        for i, ref in enumerate(refs):
            own = [r for r in cp if r["reference"] == ref]
            reps = [r[n] for r in own if r["regime"] != "reference" and n in r]
            base = [r[n] for r in own if r["regime"] == "reference" and n in r]
            ax.scatter([i] * len(reps), reps, c="tab:orange", s=18, label="SGD replica" if i == 0 else None)
            ax.scatter([i] * len(base), base, c="tab:blue", marker="*", s=90, label="reference" if i == 0 else None)
        ax.set_xticks(range(len(refs)), refs, rotation=30, fontsize=7)
        ax.set_title(n.replace("cppn.", ""), fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


def cppn_costs(rows: list[dict]) -> str:
    reps = [r for r in rows if r["kind"] == "cppn" and r["regime"] != "reference"]
    costs = [c for c in ("cppn.extrapolation_mse", "cppn.completion_mse", "cppn.adapt_steps") if any(c in r for r in reps)]
    if not reps or not costs:
        return _empty("CPPN costs: none measured")
    fig = Figure(figsize=(3.2 * len(costs), 3))
    axes = np.atleast_1d(fig.subplots(1, len(costs)))
    refs = sorted({r["reference"] for r in reps})
    for ax, c in zip(axes, costs):
        for i, ref in enumerate(refs):
            rs = [r for r in reps if r["reference"] == ref and c in r and "cppn.effective_dim_ratio_mean" in r]
            ax.scatter([r["cppn.effective_dim_ratio_mean"] for r in rs], [r[c] for r in rs], s=20,
                       c=REGIME_COLOURS[i % 7], label=ref)
        ax.set(xlabel="effective-dim ratio (mean)", ylabel=c.replace("cppn.", ""))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


def intervention(tasks: dict, regime: str) -> str:
    """Claim 9 per task (summary.json's claim 9 breakdown["task"]): each seed pair's fracture composite (left) and OOD
    accuracy (right), scratch against the intervention, joined by a line; pairs left out for unmatched test_id
    accuracy dotted and grey; colour: model/scale."""
    tasks = {t: d for t, d in tasks.items() if d.get("pairs")}
    if not tasks:
        return _empty(f"claim 9: no seed pair that learned under both scratch and {regime}")
    fig = Figure(figsize=(7, 2.8 * len(tasks)))
    axes = np.array(fig.subplots(len(tasks), 2, squeeze=False))
    for (t, d), (left, right) in zip(tasks.items(), axes):
        cfgs = d["configurations"]
        for ax, field, what in ((left, "fracture", "fracture composite"), (right, "ood_acc", "OOD accuracy")):
            for p in d["pairs"]:
                y = p[field]
                if None in y:
                    continue
                colour = REGIME_COLOURS[cfgs.index(f"{p['model']}/{p['scale']}") % 7] if p["matched"] else "grey"
                ax.plot([0, 1], y, "o-" if p["matched"] else "o:", c=colour, ms=4, lw=1, alpha=0.8)
            ax.set_xticks([0, 1], ["scratch", regime])
            ax.set_xlim(-0.3, 1.3)
            ax.set_ylabel(what, fontsize=8)
        m, e = d["manipulation"], d["effect"]
        left.set_title(f"{t}: lowered by {_num(m['fracture_lowered_by'])} "
                       f"({'check passed' if m['passed'] else 'check failed'})", fontsize=8)
        right.set_title(f"{t}: OOD change {_num(e)} (n {d['n']}, {d['left_out']} left out)", fontsize=8)
        for i, c in enumerate(cfgs):  # colours are per row: each task has its own configurations
            right.plot([], [], "o-", c=REGIME_COLOURS[i % 7], label=c)
        if d["left_out"]:
            right.plot([], [], "o:", c="grey", label="left out (test_id)")
        right.legend(fontsize=6)
    fig.tight_layout()
    return b64(fig)


def _num(x) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.3g}"
