"""Figures and index.html for `fracturelab fer`: the nets side by side (images, feature maps with novel maps marked,
sweep strips, effect maps, extrapolation views, completion), and the metrics table."""
from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

TABLE = ("novel_maps", "roughness", "effective_dim_ratio_max", "effective_dim_ratio_mean", "symmetric_fraction",
         "redundancy", "in_window_mse", "extrapolation_mse", "hidden_region_mse", "adapt_steps", "reverse_steps")


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=72, bbox_inches="tight")
    plt.close(fig)
    return path.name


def _off(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def feature_grid(maps: list[np.ndarray], novel: list[np.ndarray], title: str, path: Path) -> str:
    """One row per layer (inputs first), one cell per unit; novel maps framed in orange."""
    rows, cols = len(maps), max(m.shape[0] for m in maps)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.32, rows * 0.34), squeeze=False)
    for r, (layer, mask) in enumerate(zip(maps, novel)):
        for c in range(cols):
            ax = axes[r, c]
            _off(ax)
            if c >= layer.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(layer[c], cmap="gray")
            for s in ax.spines.values():
                s.set_color("orange" if mask[c] else "none")
                s.set_linewidth(2)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return _save(fig, path)


def sweep_strips(strips, title: str, path: Path) -> str:
    """Each swept weight at Δ = -1, 0, +1 (FER's figures)."""
    fig, axes = plt.subplots(len(strips), 3, figsize=(4.2, 1.5 * len(strips)), squeeze=False)
    for row, (wid, label, images) in zip(axes, strips):
        for ax, img, d in zip(row, images, ("-1", "0", "+1")):
            ax.imshow(np.clip(img, 0, 1))
            _off(ax)
        row[0].set_ylabel(f"{wid}\n{label}"[:40], fontsize=7)
        row[1].set_title("" if row is not axes[0] else "Δw = -1 / 0 / +1", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def effect_grid(effect_maps, title: str, path: Path) -> str:
    n = len(effect_maps)
    cols = min(8, n)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(cols * 1.0, 1.1 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax in axes.flat:
        _off(ax)
        ax.axis("off")
    for ax, (wid, m) in zip(axes.flat, effect_maps):
        ax.axis("on")
        ax.imshow(m, cmap="magma")
        ax.set_title(str(wid), fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def image_row(images: dict[str, np.ndarray], title: str, path: Path, window_frac: float | None = None) -> str:
    fig, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images), 2.5), squeeze=False)
    for ax, (name, img) in zip(axes[0], images.items()):
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(name, fontsize=7)
        _off(ax)
        if window_frac:  # outline the training window [-1, 1]^2
            n = img.shape[0]
            pad = n * (1 - window_frac) / 2
            ax.add_patch(Rectangle((pad - 0.5, pad - 0.5), n * window_frac, n * window_frac, fill=False,
                                   edgecolor="cyan", lw=1))
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def _fmt(v) -> str:
    """A metric's table cell, escaped (metrics.json may hold any value)."""
    if v is None:
        return "never"
    return f"{v:.3g}" if isinstance(v, float) else html.escape(str(v))


def write_page(outdir: Path, metrics: dict, artifacts: dict, renders: dict[str, np.ndarray], wide: float) -> Path:
    names = artifacts["names"]
    figs = {"images": image_row(renders, "renders", outdir / "images.png")}
    wide_imgs = {n: artifacts["images"][f"wide/{n}"] for n in names}
    figs["extrapolation"] = image_row(wide_imgs, f"over [-{wide}, {wide}]², training window outlined",
                                      outdir / "extrapolation.png", 1 / wide)
    comp = {k.split("/")[1]: v for k, v in artifacts["images"].items() if k.startswith("completion/")}
    if comp:
        figs["completion"] = image_row(comp, "completion: replicas trained with the hidden region masked",
                                       outdir / "completion.png")
    per_net = {}
    for i, n in enumerate(names):
        a = artifacts["nets"][n]
        per_net[n] = [
            feature_grid(a["maps"], a["novel"], f"{n}: feature maps ({metrics['nets'][n]['novel_maps']} novel, framed)",
                         outdir / f"maps_{i}.png"),
            sweep_strips(a["strips"], f"{n}: sweeps", outdir / f"strips_{i}.png"),
            effect_grid(a["effect_maps"], f"{n}: effect maps of the 16 most effective weights",
                        outdir / f"effects_{i}.png")]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("net",) + TABLE)
    body = "".join("<tr><td>" + html.escape(n) + "</td>" + "".join(
        f"<td>{_fmt(metrics['nets'][n].get(c))}</td>" for c in TABLE) + "</tr>" for n in names)
    cols = "".join(f"<td>{''.join(f'<img src={f!r}><br>' for f in fs)}</td>" for fs in per_net.values())
    page = (
        "<!doctype html><meta charset='utf-8'><title>fracturelab fer</title>"
        "<style>body{font:13px sans-serif}td,th{padding:2px 6px;vertical-align:top}img{max-width:100%}</style>"
        f"<h1>FER measurements: {html.escape(metrics['reference'])} and its replicas</h1>"
        f"<table border=1 cellspacing=0><tr>{head}</tr>{body}</table>"
        f"<p>adaptation target: weight {html.escape(str(metrics['adaptation_weight']))} swept by +1; all numbers in "
        "metrics.json.</p>"
        + "".join(f"<h2>{k}</h2><img src={v!r}>" for k, v in figs.items())
        + f"<h2>inside each net</h2><table><tr>{''.join(f'<th>{html.escape(n)}</th>' for n in names)}</tr>"
        f"<tr>{cols}</tr></table>")
    (outdir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (outdir / "index.html").write_text(page)
    return outdir / "index.html"
