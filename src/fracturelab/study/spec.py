"""The study spec: what to train and measure, read from TOML into frozen dataclasses.

    spec = load_spec("my_study.toml")          # or profile("quick") / profile("full"), shipped in study/profiles/
    cells = spec.cells()                       # every cell's params dict, in a stable order

A spec is tasks x models x regimes x scales x seeds (each task names its models), with `probes` run on every trained
model, plus an optional CPPN part (reference networks, each with SGD replicas per regime). Every key is checked: an
unknown key, a wrong type or an unknown task/model/regime raises FracturelabError with one line naming it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import FracturelabError
from ..settings import from_options
from .analysis_settings import AnalysisSettings

PROFILES = ("quick", "standard", "full")
MAX_THREADS = 1024  # torch threads of one worker: more than any machine's cores (the runner caps it to them anyway)
CPPN_REGIMES = ("sgd", "init", "sgd_arch")


@dataclass(frozen=True)
class TaskEntry:
    """One task of the study and the models trained on it."""

    name: str
    """Task name (fracturelab.tasks.TASKS)."""
    split: str | None = None
    """The task's split (None: the task's default, its systematic one)."""
    models: tuple[str, ...] = ()
    """Models to train on it (empty: the task's default model)."""
    options: dict = field(default_factory=dict)
    """Extra train_run options for every run of this task (e.g. max_steps), on top of its recipe (TaskSpec.recipe)."""
    regimes: tuple[str, ...] = ()
    """Regimes for this task (empty: the study's regimes)."""
    seeds: tuple[int, ...] = ()
    """Seeds for this task (empty: the study's seeds): a claim read on one task can get more runs there."""
    scales: tuple[str, ...] = ()
    """Names of the study's scales this task is trained at (empty: every scale)."""


@dataclass(frozen=True)
class Scale:
    """A named model size: per-model settings overrides (e.g. mlp hidden, transformer d_model)."""

    name: str = "base"
    """Label used in cell params and the analysis (the `scale` factor)."""
    model_options: dict = field(default_factory=dict)
    """Model name -> settings overrides; a model not named keeps its recipe size."""


@dataclass(frozen=True)
class CppnPart:
    """CPPN reference networks and their SGD replicas, measured with fracturelab.fer."""

    references: tuple[str, ...] = ("face",)
    """Built-in CPPN names, genome files or net folders."""
    picbreeder: tuple[str, ...] = ()
    """Picbreeder genomes or net folders, as paths relative to a Picbreeder data folder (e.g.
    "fer/genomes/skull.zip"): the copy shipped with fracturelab (cppn.picbreeder) unless the run names another
    folder (--picbreeder DIR) or turns them off (--no-picbreeder)."""
    replicas: int = 3
    """Replicas per reference and regime (seeds 0..replicas-1)."""
    regimes: tuple[str, ...] = ("sgd", "init")
    """Nets made per reference: "sgd" (FER's recipe, replicate.fit, on the reference's arch), "init" (the same arch
    untrained: claim 1's control), "sgd_arch" (SGD replicas of `alt_arch`: claim 1's other-architecture control)."""
    alt_arch: str = "4;sin:8,tanh:8,gaussian:8"
    """Architecture of the "sgd_arch" replicas (FER's arch string)."""
    res: int = 32
    """Training and measuring resolution (pixels per side)."""
    steps: int = 1500
    """SGD steps per replica (and per completion fit)."""
    lr: float = 3e-3
    """Adam learning rate of replicas."""
    costs: bool = True
    """Also measure extrapolation, completion and adaptation of each replica (costs time)."""
    adapt_steps: int = 300
    """Fine-tuning budget of the adaptation test."""
    wide: float = 1.5
    """Extrapolation window half-width (training window is 1)."""


@dataclass(frozen=True)
class StudySpec:
    """A whole study."""

    name: str = "study"
    """Name stored with the results and shown in the report."""
    note: str = ""
    """One line the report and summary.json show at the top (e.g. what the profile is for)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds of every task cell (a task entry may name its own)."""
    regimes: tuple[str, ...] = ("scratch", "pretrain")
    """Training regimes (fracturelab.train.REGIMES; evolution adds es, cmaes, neat, ...)."""
    tasks: tuple[TaskEntry, ...] = ()
    """Tasks and their models."""
    scales: tuple[Scale, ...] = (Scale(),)
    """Model sizes."""
    probes: tuple[str, ...] = ()
    """Probes run on every trained model (fracturelab.probes.PROBES); an unknown name is refused at load."""
    probe_options: dict = field(default_factory=dict)
    """{probe: {setting: value}}: a probe's settings where not its defaults (each checked against the probe's
    settings dataclass at load), e.g. fewer shuffled controls in a smoke run."""
    checkpoints: tuple[int, ...] = ()
    """Training steps to checkpoint and hand to the probes (e.g. for sparsity before and after training)."""
    threads: int = 1
    """torch threads per worker process."""
    population: int = 1
    """Task cells of an SGD regime that differ only in seed train together, this many seeds at a time, as one
    population (train.population: one vectorised run where the model allows it, study.jobs); each seed stays its own
    cell with its own rows. 1: every cell trains alone."""
    cppn: CppnPart | None = None
    """The CPPN part (None: none)."""
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    """Statistics settings."""
    plugins: tuple[str, ...] = ()
    """Plug-ins that register tasks and probes (fracturelab.plugins): .py files (relative to the spec file) or
    module names, imported before the spec is checked, and in every worker (through FRACTURELAB_PLUGINS). Kept as
    given; a stored spec does not load them (the report reads rows, not the plug-ins' code)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def cells(self, picbreeder=None, available_probes=None) -> list:
        """Every cell as a typed record (cell.TaskCell, cell.CppnCell), task cells first, in a stable order.
        picbreeder: where the CPPN part's `picbreeder` entries are read: None = the shipped copy (as names such as
        "skull", so cell keys do not depend on where fracturelab is installed), a folder, or False = leave them out."""
        from .cell import TaskCell  # late: cell imports torch-side code only when run

        probes = tuple(p for p in self.probes if available_probes is None or p in available_probes)
        out: list = []
        for _, t, model, regime, sc in _task_combinations(self):
            out += [TaskCell(t.name, t.split, model, regime, sc.name, seed, dict(sc.model_options.get(model or "", {})),
                             dict(t.options), probes, tuple(self.checkpoints), self.threads,
                             probe_options=dict(self.probe_options)) for seed in t.seeds or self.seeds]
        return out + (_cppn_cells(self.cppn, picbreeder, self.threads) if self.cppn is not None else [])

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True, default=list).encode()).hexdigest()[:12]


def _cppn_cells(c: CppnPart, picbreeder, threads: int) -> list:
    """The CPPN part's cells: each reference, then its replicas per regime (picbreeder as in StudySpec.cells)."""
    from .cell import CppnCell

    refs = list(c.references)
    if picbreeder is None:
        refs += [_shipped(p) for p in c.picbreeder]
    elif picbreeder is not False:
        refs += [str(Path(picbreeder) / p) for p in c.picbreeder]
    common = dict(res=c.res, steps=c.steps, lr=c.lr, costs=c.costs, adapt_steps=c.adapt_steps, wide=c.wide,
                  threads=threads)
    out = []
    for ref in refs:
        out.append(CppnCell(ref, "reference", 0, **common))
        for regime in c.regimes:
            # an untrained net has nothing to pay for extrapolation or adaptation: its maps are the control
            extra = dict(common, costs=False) if regime == "init" else common
            alt = c.alt_arch if regime == "sgd_arch" else None
            out += [CppnCell(ref, regime, seed, alt_arch=alt, **extra) for seed in range(c.replicas)]
    return out


def _shipped(relpath: str) -> str:
    """A spec's Picbreeder path as the name of the shipped network (what cells store and load_cppn reads)."""
    from ..cppn.picbreeder import name_of

    name = name_of(relpath)
    if name is None:
        raise FracturelabError(f"spec.cppn.picbreeder: {relpath!r} is not in the shipped Picbreeder data "
                               "(give --picbreeder DIR for your own folder)")
    return name


def applies(task: str, model: str | None, regime: str) -> bool:
    """Whether the combination can be trained at all (e.g. the cppn model reads coordinates, which only some tasks
    have; curriculum needs a simple-to-composed order): combinations that cannot are left out of the study, not
    failed."""
    from ..models import MODELS
    from ..tasks import TASKS

    if model is not None and MODELS[model].tasks is not None and task not in MODELS[model].tasks:
        return False
    entry = TASKS.get(task)  # an unknown task is check_spec's to refuse
    return entry is None or not ((regime == "curriculum" and entry.curriculum_key is None)
                                 or (regime == "pretrain" and entry.pretrain_set is None))


def check_spec(spec: StudySpec) -> None:
    """Names that must exist (tasks, models, regimes, splits, probes), every task option's name and type, and the
    CPPN part's references and sizes: all checked at load, so a bad spec fails before any cell runs."""
    if not spec.name.strip():
        raise FracturelabError("spec.name is empty: a study is named (the report's title, the store's study)")
    if not spec.seeds:
        raise FracturelabError("spec: seeds is empty")
    if not spec.tasks and spec.cppn is None:
        raise FracturelabError("spec: no tasks and no cppn part: nothing to run")
    if not 1 <= spec.threads <= MAX_THREADS:
        raise FracturelabError(f"spec.threads must be 1..{MAX_THREADS}, got {spec.threads}")
    if spec.population < 1:
        raise FracturelabError(f"spec.population must be 1 or more, got {spec.population}")
    from ..limits import check_size

    check_size(spec.population, "max_runs", "spec.population")
    _check_seeds_and_steps(spec)
    _check_names(spec)
    _check_repeats(spec)
    names = [s.name for s in spec.scales]
    if len(set(names)) != len(names) or not names:
        raise FracturelabError(f"spec.scales: names must be unique and there must be one at least, got {names}")
    if spec.cppn is not None:
        _check_cppn(spec.cppn)
    _check_analysis(spec.analysis)
    _check_probes(spec)
    _check_task_options(spec)
    if spec.cppn is not None:
        _check_cppn_files(spec.cppn)


def _check_seeds_and_steps(spec: StudySpec) -> None:
    """Every seed (the study's and each task's) in [0, 2^32), every checkpoint a step >= 1."""
    for where, seeds in [("spec.seeds", spec.seeds), *((f"spec.tasks[{t.name}].seeds", t.seeds) for t in spec.tasks)]:
        bad = [x for x in seeds if not 0 <= x < 2 ** 32]
        if bad:
            raise FracturelabError(f"{where}: seeds are integers in [0, 2^32), got {bad[0]}")
    if any(c < 1 for c in spec.checkpoints):
        raise FracturelabError(f"spec.checkpoints: training steps >= 1, got {list(spec.checkpoints)}")


def _check_names(spec: StudySpec) -> None:
    """Every regime, task and model the spec names exists."""
    from ..models import MODELS
    from ..tasks import TASKS
    from ..train import REGIMES

    _known(spec.regimes, REGIMES, "spec.regimes", "regime")
    for t in spec.tasks:
        if t.name not in TASKS:
            raise FracturelabError(f"spec.tasks: unknown task {t.name!r} (tasks: {', '.join(TASKS)})")
        _known(t.regimes, REGIMES, f"spec.tasks[{t.name}].regimes", "regime")
        _known(t.models, MODELS, f"spec.tasks[{t.name}].models", "model")
        _known(t.scales, {sc.name: sc for sc in spec.scales}, f"spec.tasks[{t.name}].scales", "scale")


def _check_repeats(spec: StudySpec) -> None:
    """Nothing the spec lists twice (a seed, probe, checkpoint, task entry, CPPN reference: each would be the same
    cells again, or the same thing counted twice), every task trained in some regime, the scales' models known and
    their settings valid, each of claim 9's interventions a regime, and the task cells within limits.max_runs."""
    from ..limits import check_size
    from ..models import MODELS, check_model_size
    from ..train import REGIMES

    tasks = [json.dumps(dataclasses.asdict(t), sort_keys=True, default=list) for t in spec.tasks]
    for where, values in [("spec.seeds", spec.seeds), ("spec.probes", spec.probes), ("spec.tasks", tasks),
                          ("spec.checkpoints", spec.checkpoints), ("spec.regimes", spec.regimes),
                          *((f"spec.tasks[{t.name}].{k}", getattr(t, k)) for t in spec.tasks
                            for k in ("seeds", "models", "regimes", "scales")),
                          *((f"spec.cppn.{k}", getattr(spec.cppn, k)) for k in ("references", "picbreeder")
                            if spec.cppn is not None)]:
        seen: set = set()
        for i, v in enumerate(values):
            if v in seen:
                raise FracturelabError(f"{where}: entry {i} repeats an earlier one" + (f" ({v!r})" if where !=
                                                                                       "spec.tasks" else ""))
            seen.add(v)
    if any(not (t.regimes or spec.regimes) for t in spec.tasks):
        raise FracturelabError("spec.regimes is empty: a task without regimes of its own has none to train in")
    _known(spec.analysis.interventions, REGIMES, "spec.analysis.interventions", "regime")
    for sc in spec.scales:
        _known(sc.model_options, MODELS, f"spec.scales[{sc.name}].model_options", "model")
        for m, opts in sc.model_options.items():
            where = f"spec.scales[{sc.name}].model_options.{m}"
            if not isinstance(opts, dict):
                raise FracturelabError(f"{where}: expected a table of the model's settings, got {opts!r}")
            try:
                check_model_size(m, from_options(MODELS[m].settings_cls, opts, where, strings=True))
            except FracturelabError as e:
                raise FracturelabError(f"{where}: {e}" if not str(e).startswith(where) else str(e)) from None
    if spec.cppn is not None and not (spec.cppn.references or spec.cppn.picbreeder):
        raise FracturelabError("spec.cppn: references and picbreeder are both empty: no CPPN to measure")
    check_size(sum(len(t.seeds or spec.seeds) for _, t, *_ in _task_combinations(spec)), "max_runs",
               "spec: task cells")


def _known(names, registry, where: str, kind: str) -> None:
    """Each of names is in registry, or one line naming the first that is not and those there are."""
    for n in names:
        if n not in registry:
            raise FracturelabError(f"{where}: unknown {kind} {n!r} ({kind}s: {', '.join(registry)})")


def _check_cppn(c: CppnPart) -> None:
    """The CPPN part's regimes, alternative arch and sizes."""
    from ..cppn.arch import Arch

    _known(c.regimes, CPPN_REGIMES, "spec.cppn.regimes", "CPPN regime")
    Arch.parse(c.alt_arch)
    if c.replicas < 0 or c.res < 8 or c.steps < 1 or c.adapt_steps < 1:
        raise FracturelabError("spec.cppn: replicas >= 0, res >= 8, steps >= 1, adapt_steps >= 1")


def _check_analysis(a: AnalysisSettings) -> None:
    """The statistics settings' ranges, and sesoi's keys (claim ids) and values (> 0)."""
    from .claims import CLAIMS

    if (not 0 < a.alpha < 0.5 or not 0 <= a.learned_id_acc <= 1 or not a.match_mse > 0
            or not 0 <= a.match_id_acc <= 1):  # below 0 no seed pair could ever match: claim 9 would have none
        raise FracturelabError("spec.analysis: 0 < alpha < 0.5, 0 <= learned_id_acc <= 1, match_mse > 0, "
                               f"0 <= match_id_acc <= 1 (got {a.match_id_acc!r})")
    for k, v in a.sesoi.items():
        if not (k.isdigit() and int(k) in CLAIMS) or isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise FracturelabError(f"spec.analysis.sesoi: {k!r} = {v!r} (keys: claim ids {sorted(CLAIMS)}, values > 0)")


def _check_probes(spec: StudySpec) -> None:
    """Probe names, and each probe's options against its settings."""
    from ..probes import PROBES, probe_settings

    _known(spec.probes, PROBES, "spec.probes", "probe")
    try:
        probe_settings(spec.probe_options)
    except FracturelabError as e:
        raise FracturelabError(f"spec.{e}") from None


def _check_task_options(spec: StudySpec) -> None:
    """What would otherwise fail in every cell at run time, found at load: each task's split and options (names and
    types, through train.resolve, the check train_run makes; values, through the task's TaskSpec.check_settings)
    under every model, regime and scale; and a checkpoint past every run's max_steps (never reached)."""
    from ..settings import check_options
    from ..tasks import TASKS
    from ..train.run import resolve

    own = set(inspect.signature(resolve).parameters) - {"options"}  # resolve's own arguments: a TypeError as options
    for i, t in enumerate(spec.tasks):
        if clash := sorted(own & set(t.options)):
            raise FracturelabError(f"spec.tasks[{i}].options: {clash[0]!r} is not an option (set the task's own "
                                   f"keys outside options: split, models, regimes)")
    longest = 0
    for i, t, model, regime, sc in _task_combinations(spec):
        try:
            r = resolve(t.name, t.split, model, regime, None, sc.model_options.get(model or "") or None, **t.options)
            entry = TASKS[t.name]
            if entry.check_settings is not None:
                kw = check_options(entry.settings_cls, r["task_options"], f"task {t.name!r}", strings=True,
                                   skip=("split", "seed"))
                entry.check_settings(entry.settings_cls(**kw, split=r["split"]))
        except FracturelabError as e:
            raise FracturelabError(f"spec.tasks[{i}] ({t.name}, model {model or 'default'}, "
                                   f"scale {sc.name}): {e}") from None
        longest = max(longest, r["train"].max_steps)
    late = [c for c in spec.checkpoints if c > longest]
    if spec.tasks and late:
        raise FracturelabError(f"spec.checkpoints: step {late[0]} is past every run's max_steps ({longest}): never "
                               "reached")


def _task_combinations(spec: StudySpec):
    """(task index, task entry, model or None, regime, scale) for every combination the study trains, in the
    cells' order (those applies() refuses left out)."""
    for i, t in enumerate(spec.tasks):
        for model in t.models or (None,):
            for regime in t.regimes or spec.regimes:
                if applies(t.name, model, regime):
                    yield from ((i, t, model, regime, sc) for sc in spec.scales if not t.scales or sc.name in t.scales)


def _check_cppn_files(c: CppnPart) -> None:
    """The CPPN part's references are CPPNs (each loaded: a file that is no genome or net folder is refused here),
    its rates are positive, and its sizes within the limits: resolution, replicas, and the fit of every reference's
    arch (the shipped Picbreeder ones too) and of alt_arch at that resolution."""
    from ..cppn.arch import Arch
    from ..cppn.builtins import BUILTINS
    from ..cppn.nets import load_cppn
    from ..cppn.picbreeder import name_of
    from ..cppn.replicate import check_fit_size
    from ..limits import check_pixels, check_size

    if not c.lr > 0 or not c.wide > 0:
        raise FracturelabError("spec.cppn: lr > 0 and wide > 0")
    check_pixels(c.res, "spec.cppn.res")
    check_size(c.replicas, "max_runs", "spec.cppn.replicas")
    for ref in c.references:
        if ref not in BUILTINS and not Path(ref).exists():
            raise FracturelabError(f"spec.cppn.references: {ref!r} is no built-in CPPN ({', '.join(BUILTINS)}) "
                                   "and no such file or folder")
    if "sgd_arch" in c.regimes:
        check_fit_size(Arch.parse(c.alt_arch), c.res)
    for ref in [*c.references, *filter(None, map(name_of, c.picbreeder))]:
        try:
            check_fit_size(load_cppn(ref).arch, c.res)
        except FracturelabError as e:
            raise FracturelabError(f"spec.cppn: reference {ref!r}: {e}") from None


def parse_spec(text: str, where: str = "spec", base: Path | None = None) -> StudySpec:
    """A spec from TOML text; its plug-ins (.py paths relative to `base`, the spec file's folder) are loaded first,
    so the tasks and probes they register are known when the spec is checked."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FracturelabError(f"{where}: not valid TOML ({e})") from None
    except RecursionError:
        raise FracturelabError(f"{where}: not valid TOML (nested too deeply)") from None
    if "plugins" in data:  # kept as given (pages show the spec, and must not carry local paths)
        _load_plugins(data["plugins"], where, base)
    spec = from_options(StudySpec, data, where, noun="key")
    try:
        check_spec(spec)
    except FracturelabError as e:  # name the file, as the errors found while parsing do
        raise FracturelabError(f"{where}: {e}" if not str(e).startswith(where) else str(e)) from None
    return spec


def _load_plugins(entries, where: str, base: Path | None) -> list[str]:
    """Load a spec's plug-ins (fracturelab.plugins.load, .py paths relative to base); returns their references."""
    from .. import plugins

    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise FracturelabError(f"{where}: plugins: expected a list of .py paths or module names")
    paths = [str((base or Path.cwd()) / e) if e.endswith(".py") and not Path(e).is_absolute() else e
             for e in entries]
    return plugins.load(paths)


def load_spec(path) -> StudySpec:
    from ..io import read_text

    p = Path(path)
    return parse_spec(read_text(p, "spec file"), str(p), base=p.parent)


def profile(name: str) -> StudySpec:
    """A shipped profile: quick (2 cores, <= 10 minutes) or full (a cluster)."""
    if name not in PROFILES:
        raise FracturelabError(f"unknown profile {name!r} (profiles: {', '.join(PROFILES)})")
    text = resources.files("fracturelab.study").joinpath("profiles", f"{name}.toml").read_text()
    return parse_spec(text, f"profile {name}")


def spec_from_dict(d: dict) -> StudySpec:
    """Rebuild a spec from to_dict() (as stored in results.sqlite)."""
    d = dict(d)
    d["tasks"] = [dict(t) for t in d.get("tasks", [])]
    d["scales"] = [dict(s) for s in d.get("scales", [])]
    # the bootstrap's settings, kept by stores written before the cluster jackknife replaced it: nothing reads them
    d["analysis"] = {k: v for k, v in dict(d.get("analysis") or {}).items() if k not in ("n_boot", "seed")}
    if "intervention" in d["analysis"]:  # stored before claim 9 took several: the one it analysed
        d["analysis"]["interventions"] = [d["analysis"].pop("intervention")]
    if d.get("cppn") is None:
        d.pop("cppn", None)
    return from_options(StudySpec, d, "stored spec", noun="key")
