"""What `fracturelab run` does until the full study lands: renders the built-in and (when given) Picbreeder CPPNs,
trains one SGD replica of the built-in face, and writes an HTML page, then says plainly what is still missing.
The CPPN measurements themselves run with `fracturelab fer` and `fracturelab labels`."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..cppn.builtins import BUILTINS, builtin_net
from ..cppn.nets import Net, load_cppn, save_netdir, save_png
from ..cppn.replicate import ReplicateSettings, fit, mse
from ..errors import FracturelabError
from ..io import prepare_output_dir

MISSING = [
    "models and training regimes on the compositional tasks - issue 4 (the tasks exist: fracturelab.tasks)",
    "evolved networks (NEAT, CMA-ES, ES) - issue 5",
    "fracture probes for any model - issue 6",
    "the study itself: store, executors, statistics, claims and report - issue 7",
]


def _img_tag(rgb: np.ndarray, title: str) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    src = base64.b64encode(buf.getvalue()).decode()
    return (f'<figure><img src="data:image/png;base64,{src}" width="192"><figcaption>{html.escape(title)}'
            f"</figcaption></figure>")


def run_preview(outdir, picbreeder_dir=None, steps: int = 2000, progress: bool = True) -> Path:
    out = prepare_output_dir(outdir)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    nets = [builtin_net(n) for n in BUILTINS]
    if picbreeder_dir:
        genomes = sorted(Path(picbreeder_dir).glob("cppnx/*.xml"))
        if not genomes:
            raise FracturelabError(f"{picbreeder_dir}: no Picbreeder genomes (expected cppnx/*.xml)")
        nets += [load_cppn(p) for p in genomes]
    for net in nets:
        rgb = net.render(256)
        save_png(out / f"{net.name}.png", rgb)
        figures.append(_img_tag(rgb, f"{net.name}: {net.arch} ({net.arch.n_params:,} weights)"))
    face = builtin_net("face")
    settings = ReplicateSettings(res=64, steps=steps, seed=0)
    target = face.render(64)
    rep = fit(face.arch, target, settings, progress=progress)
    replica = Net("sgd_face", rep.arch, rep.params, source="sgd")
    save_netdir(out / "sgd_face", replica, rep.losses, {"target": "builtin:face", **vars(settings)})
    figures.append(_img_tag(replica.render(256), f"SGD replica of face, MSE {mse(rep.arch, rep.params, target):.2e}"))
    missing = "".join(f"<li>{html.escape(m)}</li>" for m in MISSING)
    (out / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>fracturelab preview</title>"
        "<style>figure{display:inline-block;margin:8px;font:12px sans-serif;max-width:200px}</style>"
        "<h1>fracturelab: what exists so far</h1>" + "".join(figures) +
        f"<h2>Not built yet</h2><ul>{missing}</ul>")
    return out
