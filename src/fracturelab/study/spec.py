"""The study spec: what to train and measure, read from TOML into frozen dataclasses.

    spec = load_spec("my_study.toml")          # or profile("quick") / profile("full"), shipped in study/profiles/
    cells = spec.cells(picbreeder=None)        # every cell's params dict, in a stable order

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

PROFILES = ("quick", "full")


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
    """Genomes relative to the --picbreeder folder, added only when that folder is given."""
    replicas: int = 3
    """Replicas per reference and regime (seeds 0..replicas-1)."""
    regimes: tuple[str, ...] = ("sgd",)
    """How replicas are made: "sgd" (FER's recipe, replicate.fit)."""
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
    """Settings of the statistics and the claims' verdicts."""

    fracture_metrics: tuple[str, ...] = ("factorization.dci_c", "factorization.info_c", "crosstalk.spread",
                                         "clusterability.ncut_z", "geometry.eff_rank", "reuse.iou")
    """Store metric names ("probe.metric") treated as fracture metrics on the task models."""
    cppn_fracture_metrics: tuple[str, ...] = ("cppn.novel_maps", "cppn.roughness", "cppn.effective_dim_ratio_mean",
                                              "cppn.symmetric_fraction")
    """Store metric names treated as fracture metrics on CPPNs."""
    n_boot: int = 1000
    """Bootstrap resamples (over seeds / cells) for confidence intervals."""
    ci: float = 0.95
    """Confidence level of the intervals."""
    min_n: int = 6
    """Fewest observations a claim needs before it can get a verdict other than inconclusive."""
    seed: int = 0
    """Seed of the bootstrap."""


@dataclass(frozen=True)
class StudySpec:
    """A whole study."""

    name: str = "study"
    """Name stored with the results and shown in the report."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds of every task cell."""
    regimes: tuple[str, ...] = ("scratch", "pretrain")
    """Training regimes (fracturelab.train.REGIMES; evolution adds es, cmaes, neat, ...)."""
    tasks: tuple[TaskEntry, ...] = ()
    """Tasks and their models."""
    scales: tuple[Scale, ...] = (Scale(),)
    """Model sizes."""
    probes: tuple[str, ...] = ()
    """Probes run on every trained model (fracturelab.probes.PROBES); unavailable ones are dropped with a warning."""
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

    def cells(self, picbreeder=None, available_probes=None) -> list[dict]:
        """Every cell's params (JSON-able dicts with a "key"), task cells first, in a stable order."""
        from .cell import cell_key  # late: cell imports torch-side code only when run

        probes = [p for p in self.probes if available_probes is None or p in available_probes]
        out = []
        for t in self.tasks:
            models = t.models or (None,)
            for model in models:
                for regime in self.regimes:
                    if not applies(t.name, model, regime):
                        continue
                    for sc in self.scales:
                        for seed in self.seeds:
                            out.append({"kind": "task", "task": t.name, "split": t.split, "model": model,
                                        "regime": regime, "scale": sc.name,
                                        "model_options": dict(sc.model_options.get(model or "", {})),
                                        "options": dict(t.options), "seed": seed, "probes": probes,
                                        "checkpoints": list(self.checkpoints), "threads": self.threads})
        if self.cppn is not None:
            c = self.cppn
            refs = list(c.references)
            if picbreeder:
                refs += [str(Path(picbreeder) / p) for p in c.picbreeder]
            common = {"res": c.res, "steps": c.steps, "lr": c.lr, "costs": c.costs, "adapt_steps": c.adapt_steps,
                      "wide": c.wide, "threads": self.threads}
            for ref in refs:
                out.append({"kind": "cppn", "reference": ref, "regime": "reference", "seed": 0, **common})
                for regime in c.regimes:
                    for seed in range(c.replicas):
                        out.append({"kind": "cppn", "reference": ref, "regime": regime, "seed": seed, **common})
        for p in out:
            p["key"] = cell_key(p)
        return out

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True, default=list).encode()).hexdigest()[:12]


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
            v = _typed(f, v, here)
        kw[k] = v
    return cls(**kw)


def _list(v, where):
    if not isinstance(v, list):
        raise FracturelabError(f"{where}: expected an array of tables")
    return v


def _typed(f: dataclasses.Field, v, where: str):
    ann = str(f.type)
    if v is None and f.default is None:
        return None
    if ann.startswith("tuple"):
        if not isinstance(v, list):
            raise FracturelabError(f"{where}: expected an array, got {v!r}")
        inner = int if "int" in ann else str
        if not all(isinstance(x, inner) and not isinstance(x, bool) for x in v):
            raise FracturelabError(f"{where}: expected an array of {inner.__name__}, got {v!r}")
        return tuple(v)
    if ann == "dict":
        if not isinstance(v, dict):
            raise FracturelabError(f"{where}: expected a table, got {v!r}")
        return v
    if ann == "bool":
        ok = isinstance(v, bool)
    elif ann == "int":
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif ann == "float":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        v = float(v) if ok else v
    else:  # str or str | None
        ok = isinstance(v, str)
    if not ok:
        raise FracturelabError(f"{where}: expected {ann}, got {v!r}")
    return v


def check_spec(spec: StudySpec) -> None:
    """Names that must exist: tasks, models, regimes, probes are checked where they can be (probes at run time)."""
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
        for m in t.models:
            if m not in MODELS:
                raise FracturelabError(f"spec.tasks[{t.name}].models: unknown model {m!r} (models: {', '.join(MODELS)})")
    names = [s.name for s in spec.scales]
    if len(set(names)) != len(names) or not names:
        raise FracturelabError(f"spec.scales: names must be unique and there must be one at least, got {names}")
    if spec.cppn is not None:
        c = spec.cppn
        bad = [r for r in c.regimes if r != "sgd"]
        if bad:
            raise FracturelabError(f"spec.cppn.regimes: unknown CPPN regime {bad[0]!r} (regimes: sgd)")
        if c.replicas < 0 or c.res < 8 or c.steps < 1 or c.adapt_steps < 1:
            raise FracturelabError("spec.cppn: replicas >= 0, res >= 8, steps >= 1, adapt_steps >= 1")
    a = spec.analysis
    if a.n_boot < 10 or not 0 < a.ci < 1 or a.min_n < 3:
        raise FracturelabError("spec.analysis: n_boot >= 10, 0 < ci < 1, min_n >= 3")


def parse_spec(text: str, where: str = "spec") -> StudySpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise FracturelabError(f"{where}: not valid TOML ({e})") from None
    spec = _build(StudySpec, data, where)
    check_spec(spec)
    return spec


def load_spec(path) -> StudySpec:
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise FracturelabError(f"{p}: cannot read spec ({e.__class__.__name__})") from None
    return parse_spec(text, str(p))


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
    if d.get("cppn") is None:
        d.pop("cppn", None)
    return _build(StudySpec, d, "stored spec")
