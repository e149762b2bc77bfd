"""CLI commands for a user's own model: probe-model MODEL --prompts FILE.jsonl -o OUTDIR, and prompts export."""
from __future__ import annotations

from pathlib import Path

from ..errors import FracturelabError
from .args import seed
from .probe import add_probe_model


def _task_data(source: str, split, seed: int, options: list[str]):
    """A run folder's task data (regenerated from its config) or a task made from its name: a text task or one that
    writes its own prompt set (prompts.own_exports)."""
    from ..io import read_json
    from ..probes.adapters import is_run_folder
    from ..probes.prompts import own_exports
    from ..tasks import make_task, text_tasks
    from .tasks import _task_options

    text = text_tasks() + tuple(own_exports())

    path = Path(source)
    if path.is_dir():
        if not is_run_folder(path):
            raise FracturelabError(f"{source}: not a run folder (no config.json with a task, or no model.pt)")
        if split or options:
            raise FracturelabError("--split and --set apply to a task name; a run folder has its own")
        where = path / "config.json"
        cfg = read_json(where, "run config")  # is_run_folder checked its keys; their values may still be anything
        if cfg["task"] not in text:
            raise FracturelabError(f"{source}: task {cfg['task']!r} is not a text task ({', '.join(text)})")
        try:
            return make_task(cfg["task"], split=cfg["split"], seed=cfg["seed"], **cfg["task_options"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:  # edited, or from elsewhere: as load_run says
            raise FracturelabError(f"{where}: not a fracturelab run config ({e!r})") from None
        except FracturelabError as e:
            raise FracturelabError(f"{where}: {e}") from None
    if source not in text:
        raise FracturelabError(f"unknown text task or run folder {source!r} (text tasks: {', '.join(text)})")
    return make_task(source, split=split, seed=seed, **_task_options(options))


def _cmd_export(a):
    from ..io import output_file
    from ..probes.prompts import export_rows, own_exports, write_jsonl

    run = (a.source,) if Path(a.source).is_dir() else ()  # a run folder (a task name is no input path)
    output_file(a.out, inputs=run)  # before the work: a FIFO, a device node or the run's files are never replaced
    data = _task_data(a.source, a.split, a.seed, a.set)
    sets = [s.strip() for s in a.sets.split(",") if s.strip()] if a.sets is not None else None
    if sets is not None and not sets:
        raise FracturelabError(f"no set named (sets of task {data.name!r}: {', '.join(data.sets())})")
    rows = own_exports().get(data.name, export_rows)(data, sets)
    write_jsonl(rows, a.out)
    counts: dict = {}
    for r in rows:
        counts[r["split"]] = counts.get(r["split"], 0) + 1
    print(f"wrote {a.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def register(sub) -> None:
    add_probe_model(sub)

    pr = sub.add_parser("prompts", help="make prompt sets for probe-model (prompts export)")
    psub = pr.add_subparsers(dest="prompts_command", required=True, parser_class=type(pr), title="commands")
    e = psub.add_parser("export", help="export a text task or binding (English sentences; an unknown name lists "
                        "them) or a run folder's task data as a JSONL prompt set")
    e.add_argument("source", help="a text task name, binding, or a run folder")
    e.add_argument("-o", "--out", required=True, help="the .jsonl file to write")
    e.add_argument("--split", default=None, help="the task's systematic split (default: its default)")
    e.add_argument("--seed", type=seed, default=0)
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a task option")
    e.add_argument("--sets", default=None, help="comma-separated sets to export (default: all, train included)")
    e.set_defaults(fn=_cmd_export)
