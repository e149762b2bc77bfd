"""One training run, start to finish, and its run folder.

    metrics = train_run("lookup", split=None, model=None, regime="scratch", seed=0, outdir="runs/lookup_s0")
    model, data, config = load_run("runs/lookup_s0")

A run folder holds config.json (everything needed to rebuild the data and the model), model.pt (state_dict of the
kept weights), metrics.json, results.csv (one row per test example: split, correct, prediction, target, src and the
flattened metadata), curve.csv and curve.png (the training curve), and ckpt_<step>.pt where checkpoints were asked
for. It is written in a temporary folder beside outdir and renamed into place at the end, so a crash leaves nothing
half-written.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import FracturelabError
from ..io import read_json, read_torch, staged_dir, write_torch
from ..settings import check_options, from_options
from ..models import MODELS, DataSpec, check_model_size, make_model
from ..tasks import TASKS, check_task_size, make_task
from ..tasks.base import TaskData
from .evaluate import result_rows, score_sets, write_csv
from .intervene import DecaySettings, parse_settings
from .loop import Context, TrainSettings
from .regimes import REGIMES, pretrain_set

RUN_FILES = ("config.json", "model.pt", "metrics.json", "results.csv", "curve.csv", "curve.png")


def resolve(task: str, split: str | None, model: str | None, regime: str, task_options=None, model_options=None,
            **options) -> dict:
    """Check the names and sort the options into task, model and train settings (recipe defaults first, then the
    caller's). Flat options go to whichever settings has a field of that name (train, then model, then task)."""
    if task not in TASKS:
        raise FracturelabError(f"unknown task {task!r} (tasks: {', '.join(TASKS)})")
    entry = TASKS[task]
    model = model or entry.default_model
    if model not in MODELS:
        raise FracturelabError(f"unknown model {model!r} (models: {', '.join(MODELS)})")
    if MODELS[model].tasks is not None and task not in MODELS[model].tasks:
        raise FracturelabError(f"model {model!r} does not apply to task {task!r} (tasks: "
                               f"{', '.join(MODELS[model].tasks)})")
    if regime not in REGIMES:
        raise FracturelabError(f"unknown regime {regime!r} (regimes: {', '.join(REGIMES)})")
    if regime == "curriculum" and entry.curriculum_key is None:
        raise FracturelabError(f"regime 'curriculum' has no simple-to-composed order for task {task!r} "
                               f"(tasks: {', '.join(n for n, t in TASKS.items() if t.curriculum_key)})")
    if regime == "pretrain" and entry.pretrain_set is None:
        raise FracturelabError(f"regime 'pretrain' has no pretraining set for task {task!r} "
                               f"(tasks: {', '.join(n for n, t in TASKS.items() if t.pretrain_set)})")
    if regime == "modular" and model != "mlp":  # its blocks are the mlp's (models/mlp.py); refused before any work
        raise FracturelabError(f"regime 'modular' trains the mlp, not model {model!r}")
    if split is not None and split not in TASKS[task].splits:
        raise FracturelabError(f"unknown split {split!r} for task {task!r} (splits: {', '.join(TASKS[task].splits)})")
    recipe = entry.recipe
    names = {"train": {f.name for f in dataclasses.fields(TrainSettings)},
             "model": {f.name for f in dataclasses.fields(MODELS[model].settings_cls)},
             "task": {f.name for f in dataclasses.fields(TASKS[task].settings_cls)} - {"split", "seed"}}
    routed = {"train": dict(recipe.train), "model": dict(recipe.model_options.get(model, {})),
              "task": dict(recipe.task_options)}
    routed["task"].update(task_options or {})
    routed["model"].update(model_options or {})
    for k, v in options.items():
        where = next((w for w in ("train", "model", "task") if k in names[w]), None)
        if where is None:
            raise FracturelabError(f"unknown option {k!r} for task {task!r}, model {model!r} "
                                   f"(see TrainSettings, the model's and the task's settings)")
        routed[where][k] = v
    task_kw = check_options(TASKS[task].settings_cls, routed["task"], f"task {task!r}", strings=True,
                            skip=("split", "seed"))
    if split is not None:
        task_kw["split"] = split
    check_task_size(task, TASKS[task].settings_cls(**task_kw))  # sizes, before anything is generated or built
    check_model_size(model, from_options(MODELS[model].settings_cls, routed["model"], f"model {model!r}",
                                         strings=True))
    train = from_options(TrainSettings, routed["train"], "training", strings=True)
    check_evolve(regime, train.evolve)  # fail before any work (TrainSettings.check read intervention)
    if regime == "decay":  # TrainSettings.check read intervention as bimt's: a bimt-only key passed there
        check_decay(parse_settings(train.intervention, DecaySettings), train.lr)
    return {"task": task, "split": split or next(f.default for f in dataclasses.fields(TASKS[task].settings_cls)
                                                 if f.name == "split"),
            "model": model, "regime": regime, "task_options": routed["task"], "model_options": routed["model"],
            "train": train}


def check_decay(d: DecaySettings, lr: float) -> None:
    """AdamW's decoupled decay multiplies each weight by 1 - lr * strength every step: at lr * strength >= 1 that
    factor is <= 0 (the weights are zeroed or flip sign and grow, and the run diverges), known before any work."""
    if lr * d.strength >= 1:
        raise FracturelabError(f"decay strength {d.strength:g} at lr {lr:g}: each step would multiply the weights by "
                               f"1 - lr * strength = {1 - lr * d.strength:.3g} <= 0 (lower the strength below "
                               f"{1 / lr:.3g})")


def check_evolve(regime: str, text: str) -> None:
    """An evolution regime's settings text read in full as its own class (what the regime will read after the data
    is generated): ESSettings for es (method openai or pgpe) and cmaes (cma or sepcma), NEATSettings for neat and
    neat-novelty."""
    from .evolve.settings import ESSettings, NEATSettings
    from .evolve.task_regimes import parse_evolve

    if regime in ("neat", "neat-novelty"):
        parse_evolve(text, NEATSettings)
    elif regime in ("es", "cmaes"):
        methods = ("openai", "pgpe") if regime == "es" else ("sepcma", "cma")
        es = parse_evolve(text, ESSettings, method=methods[0])
        if es.method not in methods:
            raise FracturelabError(f"regime {regime!r} runs method {' or '.join(methods)}, not {es.method!r}")


def carve_val(n: int, settings: TrainSettings, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (fit indices, validation indices) of a train set of n examples."""
    n_val = min(settings.max_val, max(1, round(settings.val_frac * n)))
    if n_val >= n:
        raise FracturelabError(f"train set of {n} examples is too small to carve a validation split")
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _plot_curve(path, curve: list[dict]) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    fig = Figure(figsize=(9, 3.2))
    a1, a2 = fig.subplots(1, 2)
    for phase in dict.fromkeys(r["phase"] for r in curve):
        rows = [r for r in curve if r["phase"] == phase]
        st = [r["step"] for r in rows]
        a1.plot(st, [r["train_loss"] for r in rows], label=f"{phase} train")
        a1.plot(st, [r["val_loss"] for r in rows], "--", label=f"{phase} val")
        a2.plot(st, [r["train_acc"] for r in rows], label=f"{phase} train")
        a2.plot(st, [r["val_acc"] for r in rows], "--", label=f"{phase} val")
    a1.set(xlabel="step", ylabel="loss", yscale="log")
    a2.set(xlabel="step", ylabel="exact match", ylim=(-0.02, 1.02))
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


@dataclass
class Prepared:
    """One run before training: its data, fresh model and context (what `train_run` and train.population share)."""

    cfg: dict
    """resolve()'s output."""
    seed: int
    data: TaskData
    pre: list
    """The pretraining set (empty unless regime is pretrain)."""
    spec: DataSpec
    net: torch.nn.Module
    train: list
    """The examples trained on (the fit part of train, cut to train_frac)."""
    val: list
    """The validation split carved from train."""
    ctx: Context
    t0: float
    """perf_counter() when preparation began."""


def sized_on(task: str, data: TaskData, pre: list) -> DataSpec:
    """The DataSpec a run's model is sized on (config.json's data_spec): every set of its data and its pretraining
    set, with the task's settings as info."""
    return DataSpec.of(task, [*data.sets().values(), pre], data.info["settings"])


def prepare(cfg: dict, seed: int, tmp: Path | None = None) -> Prepared:
    """Generate the task, build the model (seeded; init_scale applied), carve validation and the train_frac subset,
    and make the context (checkpoints written into tmp when given)."""
    s: TrainSettings = cfg["train"]
    t0 = time.perf_counter()
    data = make_task(cfg["task"], split=cfg["split"], seed=seed, **cfg["task_options"])
    pre = pretrain_set(data) if cfg["regime"] == "pretrain" else []
    spec = sized_on(cfg["task"], data, pre)
    net = make_model(cfg["model"], spec, seed, **cfg["model_options"])
    if s.init_scale != 1.0:
        with torch.no_grad():
            for p in net.parameters():
                if p.dim() >= 2:
                    p.mul_(s.init_scale)
    fit_idx, val_idx = carve_val(len(data.train), s, seed)
    if s.train_frac < 1.0:
        n = max(1, round(s.train_frac * len(fit_idx)))
        fit_idx = np.sort(np.random.default_rng([seed, 9]).choice(fit_idx, n, replace=False))
    train, val = [data.train[i] for i in fit_idx], [data.train[i] for i in val_idx]
    ctx = Context(s, seed)
    if tmp is not None:
        ctx.save_checkpoint = lambda step: write_torch(net.state_dict(), tmp / f"ckpt_{step}.pt")
    return Prepared(cfg, seed, data, pre, spec, net, train, val, ctx, t0)


def finish(run: Prepared, phases: list, tmp: Path | None) -> dict:
    """Score every set with the trained model, write the run folder's files into tmp (if given) and return the
    metrics plus "curve" (train_run's return value)."""
    cfg, s, seed, data, net, train, val, ctx = (run.cfg, run.cfg["train"], run.seed, run.data, run.net, run.train,
                                                run.val, run.ctx)
    tests = {k: v for k, v in data.sets().items() if k != "train"}
    # the model's outputs (greedy decoding of the wrong examples) are only needed for results.csv
    scored = train
    if 0 < s.score_train < len(train):
        pick = np.random.default_rng([seed, 8]).choice(len(train), s.score_train, replace=False)
        scored = [train[i] for i in np.sort(pick)]
    scores = score_sets(net, {"train": scored, "val": val, **tests}, s.eval_batch,
                        with_outputs=list(tests) if tmp is not None else ())
    main = phases[-1]
    task, regime = cfg["task"], cfg["regime"]
    metrics = {"task": task, "split": cfg["split"], "model": cfg["model"], "regime": regime, "seed": seed,
               "train_acc": scores["train"]["acc"], "val_acc": scores["val"]["acc"],
               "id_acc": scores["test_id"]["acc"], "ood_acc": scores["test_ood"]["acc"],
               **{f"{k}_acc": scores[k]["acc"] for k in data.extra},
               "steps": ctx.step, "best_step": main.best_step, "stopped": main.stopped,
               "pretrain_steps": phases[0].steps if regime == "pretrain" else 0,
               "seconds": round(sum(p.seconds for p in phases), 2),  # training, validation included
               "total_seconds": round(time.perf_counter() - run.t0, 2),  # plus data generation and scoring
               "train_examples_per_second": round(sum(p.examples for p in phases)
                                                  / max(1e-9, sum(p.seconds for p in phases)), 1),
               "n_params": sum(p.numel() for p in net.parameters()), "threads": s.threads,
               "sizes": {"train": len(train), "val": len(val), **{k: len(v) for k, v in tests.items()},
                         "pretrain": len(run.pre)},
               "phases": [dataclasses.asdict(p) for p in phases]}
    config = {"task": task, "split": cfg["split"], "model": cfg["model"], "regime": regime, "seed": seed,
              "task_options": cfg["task_options"],
              "model_settings": dataclasses.asdict(net.settings), "train_settings": dataclasses.asdict(s),
              "data_spec": run.spec.to_dict(), "fracturelab_version": __version__,
              "torch_version": torch.__version__}
    if tmp is not None:
        write_torch(net.state_dict(), tmp / "model.pt")
        (tmp / "config.json").write_text(json.dumps(config, indent=1, default=list))
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
        write_csv(tmp / "results.csv", result_rows(tests, scores))
        write_csv(tmp / "curve.csv", ctx.curve)
        if s.plot:
            _plot_curve(tmp / "curve.png", ctx.curve)
    return {**metrics, "curve": ctx.curve}


def check_outdir(outdir, overwrite: bool, checkpoints) -> Path | None:
    """outdir as a Path (None stays None), refused before any work if it exists (unless overwrite) or if checkpoints
    are asked for without one."""
    out = Path(outdir) if outdir is not None else None
    if out is None and checkpoints:
        raise FracturelabError("checkpoints need an outdir to be written to")
    if out is not None and out.exists() and not overwrite:
        raise FracturelabError(f"{out}: exists; choose a new folder or pass overwrite=True")
    return out


def train_run(task: str, split: str | None = None, model: str | None = None, regime: str = "scratch",
              seed: int = 0, outdir=None, *, task_options: dict | None = None, model_options: dict | None = None,
              overwrite: bool = False, **options) -> dict:
    """Generate the task, train the model under the regime, score every set, write the run folder (if outdir) and
    return the metrics (train_acc, val_acc, id_acc, ood_acc (exact-match sequence accuracy), <extra>_acc, steps,
    seconds, sizes, phases: what metrics.json holds) plus "curve" (the curve.csv rows). Unknown names or options
    raise FracturelabError."""
    check_seed(seed)
    cfg = resolve(task, split, model, regime, task_options, model_options, **options)
    s: TrainSettings = cfg["train"]
    out = check_outdir(outdir, overwrite, s.checkpoints)
    # the run folder is staged beside outdir and renamed into place at the end (io.staged_dir)
    stage = staged_dir(out, replace=True) if out is not None else contextlib.nullcontext()
    threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        with stage as tmp:
            run = prepare(cfg, seed, tmp)
            phases = REGIMES[regime](run.net, run.ctx, run.data, run.train, run.val)
            return finish(run, phases, tmp)
    finally:
        torch.set_num_threads(threads)


def check_seed(seed) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 32:
        raise FracturelabError(f"seed must be an integer in [0, 2^32), got {seed!r}")


def check_data_spec(given: DataSpec, written: DataSpec) -> None:
    """Refuse a config.json data_spec that is not the one train_run wrote for the config's task, split, seed,
    task_options and regime (`written`, rebuilt from them): the model would be sized on tokens or lengths its data
    does not have (an edited field, or an edited task option the data_spec no longer matches). The message names
    the first field that differs."""
    if given.task != written.task:
        raise FracturelabError(f"data_spec.task is {given.task!r}, not the config's task {written.task!r}")
    if given.info != written.info:
        info = given.info if isinstance(given.info, dict) else {}
        key = next((k for k in written.info if k not in info or info[k] != written.info[k]), None)
        if key is None:
            raise FracturelabError(f"data_spec.info holds keys the task's settings lack: "
                                   f"{sorted(set(info) - set(written.info))}")
        raise FracturelabError(f"data_spec.info {key} is {info.get(key)!r}, but the config's split, seed and "
                               f"task_options make {written.info[key]!r}")
    for name in ("src_vocab", "tgt_vocab"):
        have, want = getattr(given, name), getattr(written, name)
        if have == want:
            continue
        if not isinstance(have, list):
            raise FracturelabError(f"data_spec.{name} must be a list of tokens, got {type(have).__name__}")
        lacks = [t for t in want if t not in have]
        if lacks:
            raise FracturelabError(f"data_spec.{name} lacks {lacks[0]!r}, a token of the config's task data")
        extra = [t for t in have if t not in want]
        if extra:
            raise FracturelabError(f"data_spec.{name} holds {extra[0]!r}, not a token of the config's task data")
        raise FracturelabError(f"data_spec.{name} holds the task data's tokens, but not once each in the order "
                               f"train_run writes")
    for name in ("max_src", "max_tgt"):
        if getattr(given, name) != getattr(written, name):
            raise FracturelabError(f"data_spec.{name} is {getattr(given, name)!r}, not the "
                                   f"{getattr(written, name)} tokens the config's task data makes")


def load_run(rundir, checkpoint: int | None = None):
    """(model in eval mode with the run's kept weights, or those of ckpt_<checkpoint>.pt; the task data
    regenerated from the config; the config dict)."""
    rundir = Path(rundir)
    if not (rundir / "config.json").exists():
        raise FracturelabError(f"{rundir}: not a run folder (no config.json)")
    config = read_json(rundir / "config.json")
    try:
        data = make_task(config["task"], split=config["split"], seed=config["seed"], **config["task_options"])
        spec = DataSpec(**config["data_spec"])
        pre = pretrain_set(data) if config["regime"] == "pretrain" else []
        check_data_spec(spec, sized_on(config["task"], data, pre))
        net = make_model(config["model"], spec, config["seed"], **config["model_settings"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a config.json edited or from elsewhere
        raise FracturelabError(f"{rundir / 'config.json'}: not a fracturelab run config ({e!r})") from None
    except FracturelabError as e:
        raise FracturelabError(f"{rundir / 'config.json'}: {e}") from None
    weights = rundir / ("model.pt" if checkpoint is None else f"ckpt_{checkpoint}.pt")
    if not weights.exists():
        raise FracturelabError(f"{rundir}: no {weights.name}")
    state = read_torch(weights)
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise FracturelabError(f"{weights}: weights do not fit the model of config.json "
                               f"({str(e).splitlines()[0][:200]})") from None
    net.eval()
    return net, data, config
