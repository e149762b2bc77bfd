"""Probe a user's model on a prompt set: `fracturelab probe-model MODEL --prompts FILE.jsonl -o OUTDIR`.

The model is loaded by adapters.load_model (a run folder, a Hugging Face folder or hub name, lens:NAME, or
FILE.py:FUNCTION), the prompts by prompts.read_prompts, and the probes that read activations and answers run through
the same run_probes as the testbed's own `probe` — one code path, two entry points. Everything is checked before any
long work (the probe names, the output folder, every line of the prompt file, that the model loads, that every prompt
encodes, that the named layers exist), and OUTDIR appears whole or not at all:
- probes.json: {probe: {metric: value}} as `fracturelab probe` writes it (NaN as null);
- model.json: the model spec, device, layers read, the summary layer, prompts per split and level, seconds per probe;
- figures/*.png: per-layer sparsity for each familiarity level, the ID-OOD gap by layer, per-layer bars;
- index.html: the summary table and the figures.
"""
from __future__ import annotations

import html
import json
import math
import time

import torch

from ..errors import FracturelabError
from . import PROBES, _json_safe, check_names, run_probes
from .adapters import Probed, load_model
from .common import SKIP_LAYERS
from .prompts import read_prompts
from .sparsity import METRICS, SparsitySettings, summary_layer


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FracturelabError(f"device {device!r}: no GPU here (torch.cuda.is_available() is false)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise FracturelabError("device 'mps': not available here (torch.backends.mps.is_available() is false)")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise FracturelabError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)")
    return device


def _check_probes(names) -> list[str]:
    """The named probes (default: every ProbeSpec.on_prompts one), or a one-line error for one that is not."""
    prompt_probes = [n for n, spec in PROBES.items() if spec.on_prompts]
    names = check_names(names) if names is not None else prompt_probes
    bad = [n for n in names if n not in prompt_probes]
    if bad:
        raise FracturelabError(f"probe {bad[0]!r} needs the testbed's own training run, not a prompt set "
                               f"(probe-model runs: {', '.join(prompt_probes)})")
    return names


def _check_encodes(model, data) -> None:
    """Encode every prompt once, alone, so a bad one is named by its line before any long work."""
    for exs in data.sets().values():
        for e in exs:
            try:
                model.encode([e])
            except FracturelabError as err:
                raise FracturelabError(f"prompt line {e.meta['line']}: {err}") from None
            except (KeyError, IndexError, ValueError) as err:  # the testbed's vocabulary, a tokenizer's limits
                raise FracturelabError(f"prompt line {e.meta['line']}: the model cannot read it "
                                       f"({err.__class__.__name__}: {str(err)[:80]})") from None


def _layer_names(model, data) -> list[str]:
    with torch.no_grad():
        acts = model.model.named_activations(model.encode(data.test_id[:1]))
    return [n for n in acts if n not in SKIP_LAYERS]


def _page(info: dict, results: dict, figures: list[str]) -> str:
    sp = results.get("sparsity", {})
    rows = "".join(f"<tr><td>{m}</td>" + "".join(
        f"<td>{sp[k]:.4g}</td>" if isinstance(sp.get(k), float) and math.isfinite(sp[k]) else "<td></td>"
        for k in (f"{m}_id", f"{m}_ood", f"{m}_gap")) + "</tr>" for m in METRICS if f"{m}_id" in sp)
    other = "".join(f"<li><b>{html.escape(p)}</b>: " + (html.escape(r["skipped"]) if "skipped" in r else ", ".join(
        f"{html.escape(k)} {v:.4g}" for k, v in r.items() if "." not in k and isinstance(v, float)
        and math.isfinite(v))) + "</li>" for p, r in results.items() if p != "sparsity")
    imgs = "".join(f'<figure><img src="figures/{html.escape(f)}" alt="{html.escape(f)}"><figcaption>'
                   f"{html.escape(f)}</figcaption></figure>" for f in figures)
    sizes = ", ".join(f"{k} {v}" for k, v in info["prompts"].items() if v)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>probe-model: {html.escape(info['model'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{padding:2px 10px;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>{html.escape(info['model'])}</h1>
<p>Prompts: {html.escape(sizes)} ({html.escape(info['prompt_file'])}). Device {html.escape(info['device'])}.
Sparsity summary read at layer <b>{html.escape(str(info['summary_layer']))}</b>, last prompt token
(Jin et al. 2026).</p>
<table><tr><th>metric</th><th>ID</th><th>OOD</th><th>OOD - ID</th></tr>{rows}</table>
<ul>{other}</ul>{imgs}</body></html>
"""


def probe_model(model_spec: str, prompt_file, outdir, layers=None, probes=None, batch_size: int | None = None,
                device: str = "auto", seed: int = 0, progress: bool = True, dtype: str | None = None) -> dict:
    """Run the prompt probes on a model and write OUTDIR (see the module docstring); returns the results."""
    from ..io import prepare_output_dir, staged_dir
    from .figures import write_figures

    names = _check_probes(probes)
    out = prepare_output_dir(outdir)
    if out.exists() and any(out.iterdir()):
        raise FracturelabError(f"{out}: exists and is not empty; choose a new folder")
    if layers is not None and not list(layers):
        raise FracturelabError("no layer named (give names or patterns such as 'block*,ln_f', or none for all)")
    if batch_size is not None and batch_size < 1:
        raise FracturelabError(f"batch size must be at least 1 (got {batch_size})")
    data = read_prompts(prompt_file)
    dev = resolve_device(device)
    model = Probed(load_model(model_spec, dev, batch_size, dtype), layers, batch_size, progress)
    _check_encodes(model, data)
    all_layers = _layer_names(model, data)
    model.check_layers(all_layers)
    read = [n for n in all_layers if model.keep(n)]
    timings: dict = {}
    t0 = time.perf_counter()
    results = run_probes(model, data, {"task": data.name}, names, seed, timings=timings,
                         settings={"sparsity": SparsitySettings(all_positions=False)})
    info = {"model": model_spec, "prompt_file": str(prompt_file), "device": dev, "dtype": dtype, "layers": read,
            "summary_layer": summary_layer(read) if read else None, "prompts": data.sizes(),
            "levels": {lv: len(v) for lv, v in (data.levels()).items()}, "seed": seed,
            "batch_size": model.batch_size or 512, "seconds": round(time.perf_counter() - t0, 2),
            "probe_seconds": {k: round(v, 2) for k, v in timings.items()}}
    with staged_dir(out) as tmp:
        (tmp / "figures").mkdir()
        per_layer = {n: PROBES[n].layer_metrics for n in results}
        figs = [p.name for p in write_figures(results, tmp / "figures", per_layer)]
        (tmp / "probes.json").write_text(json.dumps(_json_safe(results), indent=1))
        (tmp / "model.json").write_text(json.dumps(info, indent=1))
        (tmp / "index.html").write_text(_page(info, results, figs), encoding="utf-8")
    return results
