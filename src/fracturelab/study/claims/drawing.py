"""What every claim's figure draws with: base64 PNGs of matplotlib Figures (no pyplot, no global state), a message
figure for missing data, interval bars, and the report's number format."""
from __future__ import annotations

import base64
import io
import math

import numpy as np

COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]
"""The report's colour cycle (regimes, tasks, configurations)."""


def new_figure(size):
    """A matplotlib Figure of `size` inches."""
    from matplotlib.figure import Figure  # only when a report draws: deciding claims never needs matplotlib

    return Figure(figsize=size)


def b64(fig) -> str:
    """The figure as a base64 PNG (the report embeds it; nothing is fetched)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def empty(msg: str, size=(6, 1.2)) -> str:
    """A figure that only says `msg` (why there is nothing to draw)."""
    fig = new_figure(size)
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, msg, ha="center", va="center", fontsize=10, wrap=True)
    return b64(fig)


def fmt(x) -> str:
    """A value as the report prints it: "–" for none or not finite, floats to 3 significant digits."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def interval_bars(items: list[dict], label, title: str, xlabel: str) -> str:
    """One point per item ({"effect", "ci": [lo, hi]}; nan bounds draw no bar) with its interval, labelled
    label(item); items without a finite effect are left out."""
    items = [i for i in items if i["effect"] is not None and math.isfinite(i["effect"])]
    if not items:
        return empty(f"{title}: no data")
    fig = new_figure((6.5, 0.35 * len(items) + 1.2))
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
