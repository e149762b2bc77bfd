"""CLI command of the probes: fracturelab probe RUNDIR [--probes NAME,...] [--seed S]."""
from __future__ import annotations

import math

from ..errors import FracturelabError
from .args import seed


def _cmd_probe(a):
    from ..probes import probe_run

    results = probe_run(a.rundir, a.probes.split(",") if a.probes is not None else None, a.seed)
    for probe, metrics in results.items():
        if "skipped" in metrics:
            print(f"{probe}: skipped ({metrics['skipped']})")
            continue
        main = {k: v for k, v in metrics.items() if "." not in k}
        print(f"{probe}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k} {v}"
                                       for k, v in main.items()))
    print(f"wrote {a.rundir}/probes.json and {a.rundir}/probes/")


def register(sub) -> None:
    p = sub.add_parser("probe", help="measure fracture with the probes on a trained run folder: writes "
                       "RUNDIR/probes.json and figures")
    p.add_argument("rundir", help="a run folder written by `fracturelab train`")
    p.add_argument("--probes", default=None, help="comma-separated probe names (default: all)")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(fn=_cmd_probe)


PROBE_MODEL_EPILOG = """prompt file: one JSON object per line, e.g.

  {"prompt": "Q: Alice's mother's brother is", "answer": " Bob", "split": "test_ood", "id": "q17",
   "level": 2, "novelty": {"nn_dist": 0.4}, "depth": 3, "difficulty": "hard"}

  prompt (required) the text read; activations are read at its last token
  answer            the text that follows (scored under teacher forcing; the model's own answer, the
                    first word of its greedy continuation, is compared with its first word)
  split / level     at least one: split test_id (id), test_ood (ood), train or any name; level a number,
                    lowest = most familiar
  id                the prompt's name in prompts.csv (default: its line number)
  novelty, depth, factors   numbers (and known factors) the probes read
  any other field   a string, number, boolean or null kept as metadata: a column of prompts.csv and a
                    --group-by field (e.g. difficulty, category)

  distractors, absent  words joined by spaces (`fracturelab prompts export binding` writes them, with n,
                    position and chance_binding): each answer is then correct, a binding error (another
                    entity's value), absent or other, tabled per n and position in binding.csv

writes OUTDIR/probes.json, prompts.csv (+ prompts.parquet with pyarrow), summary.json, model.json,
figures/ and index.html; with --checkpoint, exposure.json (claims 6 and 7). Example:

  fracturelab probe-model gpt2 --prompts qa.jsonl -o out --group-by difficulty \\
      --checkpoint 0=ckpts/step0 --checkpoint 1000=ckpts/step1000 --checkpoint 5000=ckpts/step5000
"""


def _cmd_probe_model(a):
    import json
    from pathlib import Path

    from ..probes.probe_model import probe_model
    from ..study.exposure_claims import claims

    split = (lambda s: [x for x in s.split(",") if x.strip()] if s is not None else None)  # given empty: refused
    if a.group_by is not None and not split(a.group_by):  # `or ()` below would take it for no --group-by at all
        raise FracturelabError("--group-by names no field: give FIELD,... or leave it out")
    results = probe_model(a.model, a.prompts, a.out, layers=split(a.layers), probes=split(a.probes),
                          batch_size=a.batch_size, device=a.device, seed=a.seed, progress=not a.quiet,
                          dtype=a.dtype, max_prompts=a.max_prompts, group_by=split(a.group_by) or (),
                          checkpoints=a.checkpoint, decide=claims)
    out = Path(a.out)
    for probe, metrics in results.items():
        if probe == "sparsity":
            continue  # the summary below, with intervals
        if "skipped" in metrics:
            print(f"{probe}: skipped ({metrics['skipped']})")
            continue
        keys = [k for k in metrics if "." not in k]
        print(f"{probe}: " + ", ".join(f"{probe}.{k} {metrics[k]:.4g}" if math.isfinite(metrics[k])
                                       else f"{probe}.{k} nan" for k in keys))
    summary = json.loads((out / "summary.json").read_text())
    fmt = (lambda v: f"{v:.4g}" if v is not None else "nan")
    print(f"sparsity at {summary['layer']}, last prompt token; mean [95% CI over prompts]:")
    for m, e in summary["measures"].items():
        i, o, d = e["test_id"], e["test_ood"], e["ood_minus_id"]
        print(f"  sparsity.{m}: ID {fmt(i['mean'])} [{fmt(i['ci'][0])}, {fmt(i['ci'][1])}] n={i['n']}, "
              f"OOD {fmt(o['mean'])} [{fmt(o['ci'][0])}, {fmt(o['ci'][1])}] n={o['n']}, OOD - ID "
              f"{fmt(d['value'])} [{fmt(d['ci'][0])}, {fmt(d['ci'][1])}]: {e['direction']}")
    if "binding" in summary:
        print("binding prompts, all splits: accuracy and binding share of wrong answers [95% CI over prompts]:")
        for r in (r for r in summary["binding"]["rows"] if r["split"] == "all"):
            print(f"  {r['by']} {r['value']}: accuracy {fmt(r['accuracy'])} [{fmt(r['accuracy_lo'])}, "
                  f"{fmt(r['accuracy_hi'])}] n={r['prompts']}, binding share {fmt(r['binding_share'])} "
                  f"[{fmt(r['binding_share_lo'])}, {fmt(r['binding_share_hi'])}] of {r['wrong']} wrong "
                  f"(chance {fmt(r['chance_share'])})")
    if a.checkpoint:
        expo = json.loads((out / "exposure.json").read_text())
        for k, c in (expo["claims"] or {}).items():
            print(f"claim {k} ({c['claim']}): {c['verdict']} ({c['reason']}), effect {fmt(c['effect'])}")
    extra = ", binding.csv" if "binding" in summary else ""
    print(f"wrote {out}/: probes.json, prompts.csv, summary.json{extra}, model.json, figures/, index.html")


def add_probe_model(sub) -> None:
    """The probe-model command (cli/model.py registers it: see the lead's note)."""
    import argparse

    from .args import int_at_least

    p = sub.add_parser("probe-model", help="probe your own model (Hugging Face, TransformerLens, a run folder or "
                       "FILE.py:FUNCTION) on a JSONL prompt set: per-prompt measures, an interval summary, figures")
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # the JSONL example keeps its lines
    p.epilog = PROBE_MODEL_EPILOG
    p.add_argument("model", help="a Hugging Face model folder (or hub name, NAME@REVISION), lens:NAME, "
                   "FILE.py:FUNCTION, or a run folder")
    p.add_argument("--prompts", required=True, help="a JSONL prompt set (format below; `fracturelab prompts "
                   "export` writes one from a text task)")
    p.add_argument("-o", "--out", required=True, help="output folder (new or empty)")
    p.add_argument("--layers", default=None, help="comma-separated layer names or patterns, e.g. 'block*,ln_f' "
                   "(default: all)")
    p.add_argument("--probes", default=None, help="comma-separated: sparsity, geometry, factorization, coverage "
                   "(default: all four)")
    p.add_argument("--batch-size", type=int_at_least(1), default=None,
                   help="prompts per forward pass (default 16; 512 for a run folder)")
    p.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default=None, help="load a Hugging Face or lens: model in float16, bfloat16, ... "
                   "(default: as saved)")
    p.add_argument("--max-prompts", type=int_at_least(1), default=None,
                   help="read at most N prompts per split (a seeded subset; default: all)")
    p.add_argument("--group-by", default=None, help="comma-separated metadata fields to split the summary by, "
                   "e.g. difficulty")
    p.add_argument("--checkpoint", action="append", default=[], metavar="STEP=MODEL",
                   help="a checkpoint of the model and its training step (repeat, 2 or more): the OOD - ID gap "
                   "over training and claims 6 and 7's verdicts")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=_cmd_probe_model)
