"""Probe a user's model on a prompt set: `fracturelab probe-model MODEL --prompts FILE.jsonl -o OUTDIR`.

The model is loaded by adapters.load_model (a run folder, a Hugging Face folder or hub name, lens:NAME, or
FILE.py:FUNCTION), the prompts by prompts.read_prompts, and the probes that read activations and answers run through
the same run_probes as the testbed's own `probe` — one code path, two entry points. The model runs once over the
prompts (reading.read_all: one forward call per batch) and every probe reads from that pass (reading.Cached); no
probe caps the prompts on its own: max_prompts (--max-prompts) is the one cap, a seeded subset per set, and
model.json says what was read. Everything is checked before any long work (the probe names, the output folder,
every line of the prompt file, the --group-by fields, the checkpoint specs, that the model loads, that every prompt
encodes; the named layers on the first batch), and OUTDIR appears whole or not at all:
- probes.json: {probe: {metric: value}} as `fracturelab probe` writes it (NaN as null);
- prompts.csv (and prompts.parquet with pyarrow): every prompt's measures at every layer (prompt_table);
- summary.json: per measure n, mean and bootstrap interval per split, OOD - ID with its interval and a direction
  word, by --group-by field too (prompt_table.summarize); with a binding prompt set (`fracturelab prompts export
  binding`), "binding": accuracy and binding-error share per n and queried position (prompt_table.binding_table),
  with the answer words the model's tokenizer splits into several tokens (read from their first token only);
- binding.csv (with a binding prompt set): the same table;
- exposure.json (with checkpoints): the gap per checkpoint and claims 6 and 7's verdicts (exposure);
- model.json: the model spec, device, dtype, layers read, the summary layer, prompts in the file and read per set,
  the cap, forward calls, seconds per stage;
- figures/*.png: per-layer sparsity for each familiarity level, the ID-OOD gap by layer, per-layer bars, the
  summary's intervals (summary.png), the gap over checkpoints (exposure.png), and accuracy and binding share by n
  and position (binding.png);
- index.html: the summary table, the verdicts and the figures.
"""
from __future__ import annotations

import dataclasses
import html
import json
import math
import sys
import time

import torch

from ..errors import FracturelabError
from . import PROBES, _json_safe, check_names, run_probes
from .adapters import Probed, load_model
from .common import cap
from .exposure import exposure, parse_checkpoints
from .prompt_table import (
    BOOTSTRAP,
    LEVEL,
    SPLITS,
    binding_table,
    per_prompt,
    summarize,
    write_binding,
    write_table,
)
from .prompts import read_prompts
from .reading import Cached, read_all
from .sparsity import summary_layer


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


def _uncapped(name: str):
    """The probe's settings with every max_*examples cap lifted (probe-model caps once, before reading), and the
    sparsity probe reading the last prompt token only (what the one pass keeps)."""
    cls = PROBES[name].settings
    kw = {f.name: sys.maxsize for f in dataclasses.fields(cls) if f.name.startswith("max_")
          and f.name.endswith("examples")}
    if name == "sparsity":
        kw["all_positions"] = False
    return cls(**kw)


def _check_group_by(data, group_by) -> list[str]:
    """The --group-by fields, each a metadata field some prompt has (an extra field, level or depth)."""
    have = {k for s in data.sets().values() for e in s for k in e.meta.get("fields", {})}
    have |= {"level"} if data.level_values else set()
    have |= {"depth"} if any("depth" in e.meta for s in data.sets().values() for e in s) else set()
    for f in group_by:
        if f not in have:
            raise FracturelabError(f"--group-by {f!r}: no prompt has that field (fields: "
                                   f"{', '.join(sorted(have)) or 'none'})")
    return list(group_by)


BINDING_NOTE = ("the prompts one model answers are not independent replications: an interval describes this prompt "
                "set, not a population of models")


def _multi_token(model, cols: dict[str, list]) -> list[str]:
    """The answer words of a binding prompt set (targets, distractors, absent values) that the model's tokenizer
    splits into several tokens after a space, sorted ([] where the model has no tokenize_answer)."""
    inner = getattr(model, "model", model)
    if not hasattr(inner, "tokenize_answer"):
        return []
    words = {w for c in ("target", "distractors", "absent") for v in cols.get(c, []) if isinstance(v, str)
             for w in v.split()}
    return sorted(w for w in words if len(inner.tokenize_answer(" " + w)) > 1)


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else ""


def _summary_rows(summary: dict) -> str:
    rows = []
    for m, e in summary["measures"].items():
        ci = lambda c: f"[{_cell(c[0])}, {_cell(c[1])}]"
        rows.append(f"<tr><td>{m}</td><td>{e['test_id']['n']}</td><td>{_cell(e['test_id']['mean'])} "
                    f"{ci(e['test_id']['ci'])}</td><td>{e['test_ood']['n']}</td><td>{_cell(e['test_ood']['mean'])} "
                    f"{ci(e['test_ood']['ci'])}</td><td>{_cell(e['ood_minus_id']['value'])} "
                    f"{ci(e['ood_minus_id']['ci'])}</td><td>{html.escape(e['direction'])}</td>"
                    f"<td>{html.escape(e['sparser_when'])}</td></tr>")
    return "".join(rows)


def _binding_section(binding: dict | None) -> str:
    """The binding table's rows over all splits, as HTML ("" without a binding prompt set)."""
    if binding is None:
        return ""
    ci = lambda r, k: f"{_cell(r[k])} [{_cell(r[k + '_lo'])}, {_cell(r[k + '_hi'])}]"
    rows = "".join(f"<tr><td>{r['by']}</td><td>{html.escape(str(r['value']))}</td><td>{r['prompts']}</td>"
                   f"<td>{ci(r, 'accuracy')}</td><td>{r['wrong']}</td><td>{ci(r, 'binding_share')}</td>"
                   f"<td>{_cell(r['chance_share'])}</td></tr>" for r in binding["rows"] if r["split"] == "all")
    split = ", ".join(html.escape(w) for w in binding["multi_token_words"])
    return (f"<h2>Binding errors</h2><p>All splits (binding.csv has each split). Binding share = binding errors / "
            f"wrong answers; chance = the share uniform wrong answers would give. Intervals: "
            f"{html.escape(binding['interval'])}; {html.escape(binding['note'])}."
            + (f" Answer words of several tokens (a wrong one is read from its first token): {split}." if split
               else "") + "</p><table><tr><th>by</th><th>value</th><th>prompts</th><th>accuracy</th><th>wrong</th>"
            f"<th>binding share</th><th>chance</th></tr>{rows}</table>")


def _page(info: dict, results: dict, summary: dict, expo: dict | None, figures: list[str]) -> str:
    other = "".join(f"<li><b>{html.escape(p)}</b>: " + (html.escape(r["skipped"]) if "skipped" in r else ", ".join(
        f"{html.escape(k)} {v:.4g}" for k, v in r.items() if "." not in k and isinstance(v, float)
        and math.isfinite(v))) + "</li>" for p, r in results.items() if p != "sparsity")
    claims = "" if expo is None else "<h2>Claims 6 and 7 over checkpoints</h2><ul>" + "".join(
        f"<li>claim {k} ({html.escape(c['claim'])}): <b>{c['verdict']}</b>, effect {_cell(c['effect'])} "
        f"[{_cell(c['ci'][0])}, {_cell(c['ci'][1])}], {html.escape(c['reason'])}</li>"
        for k, c in (expo["claims"] or {}).items()) + "</ul>"
    imgs = "".join(f'<figure><img src="figures/{html.escape(f)}" alt="{html.escape(f)}"><figcaption>'
                   f"{html.escape(f)}</figcaption></figure>" for f in figures)
    sizes = ", ".join(f"{k} {v}" for k, v in info["prompts_read"].items() if v)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>probe-model: {html.escape(info['model'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{padding:2px 10px;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>{html.escape(info['model'])}</h1>
<p>Prompts read: {html.escape(sizes)} ({html.escape(info['prompt_file'])}). Device {html.escape(info['device'])}.
Read at layer <b>{html.escape(str(info['summary_layer']))}</b>, last prompt token (Jin et al. 2026).
Intervals: {html.escape(summary['interval'])}.</p>
<table><tr><th>measure</th><th>n ID</th><th>ID</th><th>n OOD</th><th>OOD</th><th>OOD - ID</th><th>reads</th>
<th>sparser when</th></tr>{_summary_rows(summary)}</table>{_binding_section(summary.get("binding"))}{claims}
<ul>{other}</ul>{imgs}</body></html>
"""


def probe_model(model_spec: str, prompt_file, outdir, layers=None, probes=None, batch_size: int | None = None,
                device: str = "auto", seed: int = 0, progress: bool = True, dtype: str | None = None,
                max_prompts: int | None = None, group_by=(), checkpoints=(), decide=None) -> dict:
    """Run the prompt probes on a model and write OUTDIR (see the module docstring); returns the probes' results
    (summary.json and exposure.json hold the rest).
    max_prompts: at most this many prompts per set (a seeded subset; None = all). group_by: metadata fields the
    summary is also split by. checkpoints: ["STEP=MODEL", ...] for claims 6 and 7 (exposure), whose verdicts
    decide(steps, hoyer, is_ood) gives (study.exposure_claims.claims; None: the gaps without verdicts)."""
    from ..io import prepare_output_dir, staged_dir
    from .byom_figures import binding_figure, exposure_figure, summary_figure
    from .figures import write_figures

    names = _check_probes(probes)
    out = prepare_output_dir(outdir)
    if out.exists() and any(out.iterdir()):
        raise FracturelabError(f"{out}: exists and is not empty; choose a new folder")
    if layers is not None and not list(layers):
        raise FracturelabError("no layer named (give names or patterns such as 'block*,ln_f', or none for all)")
    if batch_size is not None and batch_size < 1:
        raise FracturelabError(f"batch size must be at least 1 (got {batch_size})")
    if max_prompts is not None and max_prompts < 1:
        raise FracturelabError(f"--max-prompts must be at least 1 (got {max_prompts})")
    specs = parse_checkpoints(checkpoints) if checkpoints else []
    data = read_prompts(prompt_file)
    group_by = _check_group_by(data, group_by)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    model = Probed(load_model(model_spec, dev, batch_size, dtype), layers, batch_size, progress)
    _check_encodes(model, data)
    sets = {k: cap(v, max_prompts, seed, 60 + i) if max_prompts else list(v)
            for i, (k, v) in enumerate(data.sets().items()) if v}
    read_data = dataclasses.replace(data, train=sets.get("train", []), test_id=sets["test_id"],
                                    test_ood=sets["test_ood"], extra={k: sets[k] for k in data.extra if k in sets})
    reading = read_all(model, sets, progress)
    timings: dict = {"forward pass": time.perf_counter() - t0}
    read = list(reading.acts)
    cached = Cached(reading, model.batch_size or 512)
    stages = names
    if progress:
        from tqdm import tqdm
        stages = tqdm(names, desc="probes", leave=False)
    results = {}
    for name in stages:
        if progress:
            stages.set_description(f"probe: {name}")
        results.update(run_probes(cached, read_data, {"task": data.name}, [name], seed, timings=timings,
                                  settings={name: _uncapped(name)}))
    t1 = time.perf_counter()
    cols = per_prompt(reading)
    layer = summary_layer(read)
    summary = summarize(cols, layer, group_by, seed)
    binding = binding_table(cols, seed)
    if binding is not None:
        summary["binding"] = {"interval": f"{LEVEL:.0%} percentile bootstrap over prompts, {BOOTSTRAP} resamples",
                              "note": BINDING_NOTE, "multi_token_words": _multi_token(model, cols),
                              "rows": binding}
    timings["per-prompt table and summary"] = time.perf_counter() - t1
    expo = None
    if specs:
        t2 = time.perf_counter()
        expo = exposure(specs, {s: sets[s] for s in SPLITS},
                        lambda spec: Probed(load_model(spec, dev, batch_size, dtype), layers, batch_size, progress),
                        lambda m, ss: read_all(m, ss, progress), seed, decide)
        timings["checkpoints"] = time.perf_counter() - t2
    info = {"model": model_spec, "prompt_file": str(prompt_file), "device": dev, "dtype": dtype, "layers": read,
            "summary_layer": layer, "prompts": data.sizes(), "prompts_read": {k: len(v) for k, v in sets.items()},
            "max_prompts": max_prompts, "levels": {lv: len(v) for lv, v in read_data.levels().items()}, "seed": seed,
            "batch_size": model.batch_size or 512, "forward_calls": reading.forward_calls,
            "group_by": group_by, "checkpoints": [{"step": st, "model": sp} for st, sp in specs],
            "seconds": round(time.perf_counter() - t0, 2),
            "stage_seconds": {k: round(v, 2) for k, v in timings.items()}}
    with staged_dir(out) as tmp:
        (tmp / "figures").mkdir()
        per_layer = {n: PROBES[n].layer_metrics for n in results}
        figs = [p.name for p in write_figures(results, tmp / "figures", per_layer)]
        figs.append(summary_figure(summary, tmp / "figures").name)
        if binding is not None:
            figs.append(binding_figure(binding, tmp / "figures").name)
            write_binding(binding, tmp)
        if expo is not None:
            figs.append(exposure_figure(expo, tmp / "figures").name)
        write_table(cols, tmp)
        (tmp / "probes.json").write_text(json.dumps(_json_safe(results), indent=1))
        (tmp / "summary.json").write_text(json.dumps(_nan_null(summary), indent=1))
        if expo is not None:
            (tmp / "exposure.json").write_text(json.dumps(_nan_null(expo), indent=1))
        (tmp / "model.json").write_text(json.dumps(info, indent=1))
        (tmp / "index.html").write_text(_page(info, results, summary, expo, figs), encoding="utf-8")
    return results


def _nan_null(obj):
    """obj with every non-finite float as None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _nan_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_null(v) for v in obj]
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj
