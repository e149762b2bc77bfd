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
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import FracturelabError
from ..settings import coerce_value, field_types

PROFILES = ("quick", "standard", "full")
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
    """Extra train_run options for every run of this task (e.g. max_steps), on top of RECIPES."""
    regimes: tuple[str, ...] = ()
    """Regimes for this task (empty: the study's regimes)."""
    seeds: tuple[int, ...] = ()
    """Seeds for this task (empty: the study's seeds): a claim read on one task can get more runs there."""


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
class AnalysisSettings:
    """Settings of the statistics and the claims' verdicts (study/stats.py, study/verdicts.py)."""

    alpha: float = 0.05
    """Family-wise error rate over the claims (Holm's correction)."""
    sesoi: dict = field(default_factory=dict)
    """Claim id (as a string) -> smallest effect of interest, overriding the claim's default (claims.CLAIMS)."""
    learned_id_acc: float = 0.9
    """A task run counts as trained only at this test_id accuracy or above; the others enter no claim."""
    match_mse: float = 5e-3
    """A CPPN replica whose render is within this MSE of its reference's counts as having the same output."""
    intervention: str = "bimt"
    """Claim 9's regime that lowers fracture on purpose (compared with scratch, seed by seed)."""
    match_id_acc: float = 0.05
    """Claim 9 compares OOD accuracy only in seed pairs whose test_id accuracies differ by at most this."""


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
    cppn: CppnPart | None = None
    """The CPPN part (None: none)."""
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    """Statistics settings."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def cells(self, picbreeder=None, available_probes=None) -> list:
        """Every cell as a typed record (cell.TaskCell, cell.CppnCell), task cells first, in a stable order.
        picbreeder: where the CPPN part's `picbreeder` entries are read: None = the shipped copy (as names such as
        "skull", so cell keys do not depend on where fracturelab is installed), a folder, or False = leave them out."""
        from .cell import CppnCell, TaskCell  # late: cell imports torch-side code only when run

        probes = tuple(p for p in self.probes if available_probes is None or p in available_probes)
        out: list = []
        for t in self.tasks:
            for model in t.models or (None,):
                for regime in t.regimes or self.regimes:
                    if not applies(t.name, model, regime):
                        continue
                    for sc in self.scales:
                        out += [TaskCell(t.name, t.split, model, regime, sc.name, seed,
                                         dict(sc.model_options.get(model or "", {})), dict(t.options), probes,
                                         tuple(self.checkpoints), self.threads,
                                         probe_options=dict(self.probe_options)) for seed in t.seeds or self.seeds]
        if self.cppn is not None:
            c = self.cppn
            refs = list(c.references)
            if picbreeder is None:
                refs += [_shipped(p) for p in c.picbreeder]
            elif picbreeder is not False:
                refs += [str(Path(picbreeder) / p) for p in c.picbreeder]
            common = dict(res=c.res, steps=c.steps, lr=c.lr, costs=c.costs, adapt_steps=c.adapt_steps, wide=c.wide,
                          threads=self.threads)
            for ref in refs:
                out.append(CppnCell(ref, "reference", 0, **common))
                for regime in c.regimes:
                    # an untrained net has nothing to pay for extrapolation or adaptation: its maps are the control
                    extra = dict(common, costs=False) if regime == "init" else common
                    alt = c.alt_arch if regime == "sgd_arch" else None
                    out += [CppnCell(ref, regime, seed, alt_arch=alt, **extra) for seed in range(c.replicas)]
        return out

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True, default=list).encode()).hexdigest()[:12]


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
    from ..train import CURRICULUM_KEYS

    if model is not None and MODELS[model].tasks is not None and task not in MODELS[model].tasks:
        return False
    return not (regime == "curriculum" and task not in CURRICULUM_KEYS)


def _build(cls, data, where: str):
    """data (a TOML table) -> cls, checking every key and the type of every value against the field's default."""
    if not isinstance(data, dict):
        raise FracturelabError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise FracturelabError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(fields)})")
    kw = {}
    for k, v in data.items():
        f = fields[k]
        here = f"{where}.{k}"
        if cls is StudySpec and k == "tasks":
            v = tuple(_build(TaskEntry, t, f"{here}[{i}]") for i, t in enumerate(_list(v, here)))
        elif cls is StudySpec and k == "scales":
            v = tuple(_build(Scale, t, f"{here}[{i}]") for i, t in enumerate(_list(v, here)))
        elif cls is StudySpec and k == "cppn":
            v = _build(CppnPart, v, here)
        elif cls is StudySpec and k == "analysis":
            v = _build(AnalysisSettings, v, here)
        else:
            v = coerce_value(v, field_types(cls)[k], here, field=f)
        kw[k] = v
    return cls(**kw)


def _list(v, where):
    if not isinstance(v, list):
        raise FracturelabError(f"{where}: expected an array of tables")
    return v


def check_spec(spec: StudySpec) -> None:
    """Names that must exist (tasks, models, regimes, splits, probes), every task option's name and type, and the
    CPPN part's references and sizes: all checked at load, so a bad spec fails before any cell runs."""
    from ..models import MODELS
    from ..tasks import TASKS
    from ..train import REGIMES

    if not spec.seeds:
        raise FracturelabError("spec: seeds is empty")
    if not spec.tasks and spec.cppn is None:
        raise FracturelabError("spec: no tasks and no cppn part: nothing to run")
    if spec.threads < 1:
        raise FracturelabError(f"spec.threads must be at least 1, got {spec.threads}")
    for r in spec.regimes:
        if r not in REGIMES:
            raise FracturelabError(f"spec.regimes: unknown regime {r!r} (regimes: {', '.join(REGIMES)})")
    for t in spec.tasks:
        if t.name not in TASKS:
            raise FracturelabError(f"spec.tasks: unknown task {t.name!r} (tasks: {', '.join(TASKS)})")
        for r in t.regimes:
            if r not in REGIMES:
                raise FracturelabError(f"spec.tasks[{t.name}].regimes: unknown regime {r!r} "
                                       f"(regimes: {', '.join(REGIMES)})")
        for m in t.models:
            if m not in MODELS:
                raise FracturelabError(f"spec.tasks[{t.name}].models: unknown model {m!r} (models: {', '.join(MODELS)})")
    names = [s.name for s in spec.scales]
    if len(set(names)) != len(names) or not names:
        raise FracturelabError(f"spec.scales: names must be unique and there must be one at least, got {names}")
    if spec.cppn is not None:
        c = spec.cppn
        bad = [r for r in c.regimes if r not in CPPN_REGIMES]
        if bad:
            raise FracturelabError(f"spec.cppn.regimes: unknown CPPN regime {bad[0]!r} "
                                   f"(regimes: {', '.join(CPPN_REGIMES)})")
        from ..cppn.arch import Arch

        Arch.parse(c.alt_arch)
        if c.replicas < 0 or c.res < 8 or c.steps < 1 or c.adapt_steps < 1:
            raise FracturelabError("spec.cppn: replicas >= 0, res >= 8, steps >= 1, adapt_steps >= 1")
    a = spec.analysis
    if not 0 < a.alpha < 0.5 or not 0 <= a.learned_id_acc <= 1 or not a.match_mse > 0:
        raise FracturelabError("spec.analysis: 0 < alpha < 0.5, 0 <= learned_id_acc <= 1, match_mse > 0")
    from .claims import CLAIMS

    for k, v in a.sesoi.items():
        if not (k.isdigit() and int(k) in CLAIMS) or isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise FracturelabError(f"spec.analysis.sesoi: {k!r} = {v!r} (keys: claim ids {sorted(CLAIMS)}, values > 0)")
    _check_values(spec)


def _check_values(spec: StudySpec) -> None:
    """What would otherwise fail in every cell at run time, found at load: each task's split and options (names and
    types, through train.resolve, the check train_run makes) under every model, regime and scale; probe names; the
    CPPN part's references and sizes."""
    from ..cppn.builtins import BUILTINS
    from ..limits import check_size
    from ..probes import PROBES, probe_settings
    from ..train.run import resolve

    for p in spec.probes:
        if p not in PROBES:
            raise FracturelabError(f"spec.probes: unknown probe {p!r} (probes: {', '.join(PROBES)})")
    try:
        probe_settings(spec.probe_options)
    except FracturelabError as e:
        raise FracturelabError(f"spec.{e}") from None
    for i, t in enumerate(spec.tasks):
        for model in t.models or (None,):
            for regime in t.regimes or spec.regimes:
                if not applies(t.name, model, regime):
                    continue
                for sc in spec.scales:
                    try:
                        resolve(t.name, t.split, model, regime, None, sc.model_options.get(model or "") or None,
                                **t.options)
                    except FracturelabError as e:
                        raise FracturelabError(f"spec.tasks[{i}] ({t.name}, model {model or 'default'}, "
                                               f"scale {sc.name}): {e}") from None
    if spec.cppn is not None:
        c = spec.cppn
        for ref in c.references:
            if ref not in BUILTINS and not Path(ref).exists():
                raise FracturelabError(f"spec.cppn.references: {ref!r} is no built-in CPPN ({', '.join(BUILTINS)}) "
                                       "and no such file or folder")
        if not c.lr > 0 or not c.wide > 0:
            raise FracturelabError("spec.cppn: lr > 0 and wide > 0")
        check_size(c.res * c.res, "max_pixels", "spec.cppn.res: pixels")


def parse_spec(text: str, where: str = "spec") -> StudySpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FracturelabError(f"{where}: not valid TOML ({e})") from None
    spec = _build(StudySpec, data, where)
    try:
        check_spec(spec)
    except FracturelabError as e:  # name the file, as the errors found while parsing do
        raise FracturelabError(f"{where}: {e}" if not str(e).startswith(where) else str(e)) from None
    return spec


def load_spec(path) -> StudySpec:
    from ..io import read_text

    p = Path(path)
    return parse_spec(read_text(p, "spec file"), str(p))


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
    if d.get("cppn") is None:
        d.pop("cppn", None)
    return _build(StudySpec, d, "stored spec")
