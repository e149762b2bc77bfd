"""CLI commands of the testbed: tasks list, tasks show, train."""
from __future__ import annotations

import json

from ..errors import FracturelabError
from .args import add_force, int_at_least, seed


def _options(pairs: list[str]) -> dict:
    """KEY=VALUE strings -> a dict; values stay strings (the library reads them as literals where typed)."""
    out = {}
    for p in pairs:
        key, eq, value = p.partition("=")
        if not eq or not key:
            raise FracturelabError(f"--set takes KEY=VALUE, got {p!r}")
        out[key] = value
    return out


def _literal(value: str):
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _cmd_tasks_list(a):
    from ..tasks import list_tasks

    rows = list_tasks()
    if a.json:
        print(json.dumps(rows, indent=1, default=list))
        return
    for r in rows:
        splits = ", ".join(f"{s}*" if s == r["default_split"] else s for s in r["splits"])
        print(f"{r['name']:<17} {r['doc']}\n{'':<17} splits: {splits}  (* default)")


TASK_FLAGS = {"name": "the task's name", "split": "--split", "seed": "--seed"}
"""make_task's own arguments, which tasks show and prompts export set from their arguments and flags."""


def _task_options(pairs: list[str]) -> dict:
    """_options for make_task: a key that is one of its own arguments is refused (it would get it twice)."""
    options = _options(pairs)
    clash = next((k for k in options if k in TASK_FLAGS), None)
    if clash is not None:
        raise FracturelabError(f"--set {clash}=...: give it as {TASK_FLAGS[clash]}")
    return options


def _cmd_tasks_show(a):
    from ..tasks import describe, make_task

    d = describe(make_task(a.name, split=a.split, seed=a.seed, **_task_options(a.set)), a.examples)
    if a.json:
        print(json.dumps(d, indent=1, default=list))
        return
    print(f"{d['task']} (split {d['split']}): " + ", ".join(f"{k} {v:,}" for k, v in d["sizes"].items()))
    print(f"vocabulary: {d['src_vocab']} input tokens, {d['tgt_vocab']} output tokens")
    for name, exs in d["examples"].items():
        print(f"\n{name}:")
        for e in exs:
            print(f"  {e['src']}  ->  {e['tgt']}\n    {json.dumps(e['meta'], default=list)}")


FLAGS = {"task": "--task", "split": "--split", "model": "--model", "regime": "--regime", "seed": "--seed",
         "members": "--seeds", "outdir": "-o", "overwrite": "--force"}
"""train_run's and train_population's own arguments, which the train command sets from its flags (a --set of one
would reach them twice)."""


def _cmd_train(a):
    from ..train import train_run

    options = {k: _literal(v) for k, v in _options(a.set).items()}
    clash = next((k for k in options if k in FLAGS), None)
    if clash is not None:
        raise FracturelabError(f"--set {clash}=...: give it as {FLAGS[clash]}")
    if a.seeds is not None and a.seed is not None:
        raise FracturelabError("--seed and --seeds: give one of them (--seeds 3 trains seed 3 alone)")
    options.setdefault("verbose", a.verbose)
    options.setdefault("progress", not a.quiet)
    from ..io import check_new_dir

    check_new_dir(a.out, a.force)
    if a.seeds is None:
        ms = [train_run(a.task, split=a.split, model=a.model, regime=a.regime, seed=a.seed or 0, outdir=a.out,
                        overwrite=a.force, **options)]
        outs = [a.out]
    else:
        from pathlib import Path

        from ..train.population import parse_seeds, train_population

        seeds = parse_seeds(a.seeds)
        outs = [str(Path(a.out) / f"seed{s}") for s in seeds]
        ms = train_population(a.task, split=a.split, model=a.model, regime=a.regime, overwrite=a.force,
                              members=[{"seed": s, "outdir": o} for s, o in zip(seeds, outs)], **options)
    for out, m in zip(outs, ms):
        extra = "".join(f", {k[:-4]} {m[k]:.3f}" for k in m if k.endswith("_acc") and k not in
                        ("train_acc", "val_acc", "id_acc", "ood_acc"))
        print(f"{out}: {m['task']}/{m['split']} {m['model']} {m['regime']} seed {m['seed']}: train "
              f"{m['train_acc']:.3f}, test_id {m['id_acc']:.3f}, test_ood {m['ood_acc']:.3f}{extra} ({m['steps']} "
              f"steps, {m['seconds']:.0f} s)")


def register(sub) -> None:
    s = sub.add_parser("tasks", help="list the compositional tasks, or show one task's splits and examples")
    tsub = s.add_subparsers(dest="tasks_command", required=True, parser_class=type(s), title="commands")
    t = tsub.add_parser("list", help="list every task with its splits")
    t.add_argument("--json", action="store_true")
    t.set_defaults(fn=_cmd_tasks_list)
    t = tsub.add_parser("show", help="show a task's split sizes (train, test_id, test_ood) and examples")
    t.add_argument("name")
    t.add_argument("--split", default=None, help="default: the task's main systematic split")
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("--examples", type=int_at_least(0), default=3, help="examples shown per set")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a task option (repeat)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(fn=_cmd_tasks_show)

    s = sub.add_parser("train", help="train a model on a task under a regime and write a run folder")
    s.add_argument("--task", required=True)
    s.add_argument("--split", default=None, help="default: the task's main systematic split")
    s.add_argument("--model", default=None, help="default: the task's default model")
    s.add_argument("--regime", default="scratch")
    s.add_argument("--seed", type=seed, default=None, help="default: 0")
    s.add_argument("--seeds", default=None, metavar="LIST",
                   help="train one network per seed (e.g. 0-7 or 0,2,5-6) in one vectorised population; each writes "
                        "the run folder OUT/seed<N>")
    s.add_argument("-o", "--out", required=True, help="run folder to write (must not exist)")
    add_force(s)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a training, model or task option, e.g. max_steps=500 (repeat)")
    s.add_argument("-v", "--verbose", action="store_true", help="print each evaluation as training goes")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=_cmd_train)
