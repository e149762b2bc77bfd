"""Fracture probes for any PyTorch model: each turns one explanation from the literature into numbers.

    from fracturelab.probes import PROBES, run_probes, probe_run
    results = run_probes(model, data, config, names=["sparsity", "geometry"], seed=0)  # {probe: {metric: float}}
    probe_run("runs/factors_s0")        # loads the run, writes runs/factors_s0/probes.json and probes/*.png

Probes (PROBES: name -> ProbeSpec; each module's docstring defines its metrics and cites its paper):
- subnetworks: structural compositionality, SUB and ABL of mask-found subnetworks (Lepori et al. 2023);
- reuse: per-part masks, their overlap and the drop when a part's exclusive weights go (Csordás et al. 2021);
- sparsity: Jin et al. 2026's metrics exactly (Hoyer, top-k energy, Gini, l0, effective rank, kurtosis,
  participation ratio) per layer, by split and familiarity level, against novelty and across checkpoints;
- factorization: DCI, InfoMEC, linear probes against the known factors (Eastwood & Williams 2018; Hsu et al. 2023);
- clusterability: spectral n-cut of the |W| graph against shuffled controls (Filan et al. 2021);
- crosstalk: how a weight perturbation's output change spreads over answer parts (after FER, Kumar et al. 2025);
- geometry: effective rank and participation ratio per layer;
- coverage: subgraph coverage and novelty joined to per-example correctness (Dziri et al. 2023).
A probe that does not apply (no factors, no answer parts) returns {"skipped": "<reason>"}; every other value is a
float (NaN where a quantity is undefined for the run; probes.json writes NaN as null). Each entry also says where
else it runs (ProbeSpec.on_prompts, .at_init) and which per-layer metrics it draws (.layer_metrics); a probe from
outside the package is added with register_probe(spec) (a plug-in: fracturelab.plugins loads it in worker processes).
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable

import torch

from .. import plugins
from ..errors import FracturelabError

plugins.pause()  # the probe modules import fracturelab.tasks, which would load plug-ins before register_probe exists
from .clusterability import ClusterSettings, clusterability_probe
from .common import Skip
from .coverage import CoverageSettings, coverage_probe
from .crosstalk import CrosstalkSettings, crosstalk_probe
from .factorization import FactorizationSettings, factorization_probe
from .geometry import GeometrySettings, geometry_probe
from .reuse import ReuseSettings, reuse_probe
from .sparsity import SparsitySettings, sparsity_probe
from .subnetworks import SubnetworkSettings, subnetworks_probe


@dataclass(frozen=True)
class ProbeSpec:
    """One registry entry."""

    name: str
    """Registry name."""
    fn: Callable[..., dict]
    """fn(model, data, config, seed=0, checkpoints=None) -> {metric: float}; raises common.Skip if it does not
    apply."""
    doc: str
    """One line: what it measures."""
    applies: str
    """Which runs it applies to, in words."""
    settings: type
    """Its settings dataclass (the `settings=` argument of fn; probe_settings checks options against it)."""
    on_prompts: bool = False
    """It needs only activations and answers (not the testbed's training data or weight structure), so
    `fracturelab probe-model` runs it on outside models over a prompt set."""
    at_init: bool = False
    """Study cells also run it on the network at initialization (metrics prefixed "init.", the controls of the
    fracture composite)."""
    layer_metrics: tuple[str, ...] = ()
    """Metrics it reports per layer as "layer.<layer>.<metric>", drawn side by side in <probe>_layers.png (the
    first one's keys name the layers)."""
    tiny: dict = field(default_factory=dict)
    """Settings overrides (a spec's probe_options form) that make it run in seconds on a tiny model (contract
    tests and smoke runs)."""


# at_init: not clusterability: its n-cut relative to shuffled copies of the same weights has expected value 1 for the
# iid weights of an initialization (shuffling iid entries leaves their distribution as it was: measures.AT_INIT), and
# it is the slowest probe
PROBES: dict[str, ProbeSpec] = {s.name: s for s in (
    ProbeSpec("subnetworks", subnetworks_probe, "Break It Down: SUB/ABL of subroutine subnetworks vs a random model",
              "tasks with fixed answers of 2+ parts (factors)", SubnetworkSettings,
              tiny={"mask": {"steps": 20, "epochs": 1}, "max_train": 200, "max_test": 100}),
    ProbeSpec("reuse", reuse_probe, "Csordás et al.: mask IoU between answer parts and exclusive-weight drop",
              "tasks with fixed answers of 2+ parts (factors)", ReuseSettings,
              tiny={"mask": {"steps": 20, "epochs": 1}, "max_train": 200, "max_test": 100}),
    ProbeSpec("sparsity", sparsity_probe, "Jin et al.: activation sparsity by split and familiarity, vs novelty, "
              "over checkpoints",
              "every run", SparsitySettings, on_prompts=True, layer_metrics=("hoyer_id", "hoyer_ood"),
              tiny={"max_examples": 200, "max_ckpt_examples": 50}),
    ProbeSpec("factorization", factorization_probe, "DCI, InfoMEC and linear probes against known factors",
              "tasks with ground-truth factors (factors, leave_square_out)", FactorizationSettings, on_prompts=True,
              at_init=True, layer_metrics=("dci_d", "dci_c", "info_m", "info_c", "probe_acc"),
              tiny={"max_examples": 300, "max_iter": 50}),
    ProbeSpec("clusterability", clusterability_probe, "Filan et al.: spectral n-cut of |W| vs shuffled controls",
              "models with a chain of 2+ dense layers (mlp, cppn, transformer MLP blocks)", ClusterSettings,
              tiny={"n_clusters": 4, "n_shuffles": 2, "max_chains": 1}),
    ProbeSpec("crosstalk", crosstalk_probe, "spread of weight-perturbation effects over answer parts",
              "tasks with fixed answers of 2+ parts (factors)", CrosstalkSettings, at_init=True,
              tiny={"n_weights": 16, "n_directions": 16, "max_examples": 64}),
    ProbeSpec("geometry", geometry_probe, "effective rank and participation ratio per layer", "every run",
              GeometrySettings, on_prompts=True, at_init=True, layer_metrics=("eff_rank", "participation_ratio"),
              tiny={"max_examples": 200}),
    ProbeSpec("coverage", coverage_probe, "Faith and Fate: coverage and novelty vs per-example correctness",
              "every run", CoverageSettings, on_prompts=True, tiny={"max_examples": 300}),
)}


def register_probe(spec: ProbeSpec) -> ProbeSpec:
    """Add a probe to PROBES (and so to `fracturelab probe`, study specs, and, as its flags say, probe-model, the
    study's initialization runs and the per-layer figures); a bad or duplicate entry raises FracturelabError with a
    one-line message. Returns the entry."""
    problem = None
    if not isinstance(spec, ProbeSpec):
        problem = f"expected a fracturelab.probes.ProbeSpec, got {type(spec).__name__}"
    elif not isinstance(spec.name, str) or not spec.name.isidentifier():
        problem = f"probe name must be a Python identifier, got {spec.name!r}"
    elif spec.name in PROBES:
        problem = f"probe {spec.name!r} is already registered"
    elif not callable(spec.fn):
        problem = f"probe {spec.name!r}: fn must be a function"
    elif not isinstance(spec.settings, type) or not is_dataclass(spec.settings):
        problem = f"probe {spec.name!r}: settings must be a dataclass (with defaults for every field)"
    elif not all(isinstance(x, str) and x.strip() for x in (spec.doc, spec.applies)):
        problem = f"probe {spec.name!r}: doc and applies must be non-empty strings"
    elif not isinstance(spec.layer_metrics, tuple) or not all(isinstance(k, str) for k in spec.layer_metrics):
        problem = f"probe {spec.name!r}: layer_metrics must be a tuple of metric names"
    elif not isinstance(spec.tiny, dict):
        problem = f"probe {spec.name!r}: tiny must be a dict of settings"
    if problem is not None:
        raise FracturelabError(f"register_probe: {problem}")
    from ..settings import from_options

    from_options(spec.settings, spec.tiny, f"register_probe: probe {spec.name!r}, tiny")
    PROBES[spec.name] = spec
    return spec


def check_names(names) -> list[str]:
    """The probe names to run (all when None), or FracturelabError for an unknown one."""
    if names is None:
        return list(PROBES)
    names = [n.strip() for n in ([names] if isinstance(names, str) else names) if n.strip()]
    bad = [n for n in names if n not in PROBES]
    if not names:
        raise FracturelabError(f"no probe named (probes: {', '.join(PROBES)})")
    if bad:
        raise FracturelabError(f"unknown probe {bad[0]!r} (probes: {', '.join(PROBES)})")
    return names


def probe_settings(options: dict | None) -> dict:
    """{probe: {setting: value}} (a spec's probe_options) -> {probe: its settings dataclass}, for run_probes'
    settings; an unknown probe or setting is a FracturelabError naming it."""
    from ..settings import from_options

    out = {}
    for name, opts in (options or {}).items():
        if name not in PROBES:
            raise FracturelabError(f"probe_options: unknown probe {name!r} (probes: {', '.join(PROBES)})")
        if not isinstance(opts, dict):
            raise FracturelabError(f"probe_options.{name}: expected a table of settings, got {type(opts).__name__}")
        out[name] = from_options(PROBES[name].settings, opts, f"probe_options.{name}")
        _check_not_negative(out[name], f"probe_options.{name}")
    return out


def _check_not_negative(settings, where: str) -> None:
    """No probe setting is a negative number (counts, sizes, penalties, steps); refused at load, not in every cell
    (max_examples = -1 failed in numpy's sampler). Nested settings (a mask's) likewise."""
    import dataclasses
    import math

    for f in dataclasses.fields(settings):
        v = getattr(settings, f.name)
        if dataclasses.is_dataclass(v):
            _check_not_negative(v, f"{where}.{f.name}")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and not (0 <= v < math.inf):
            raise FracturelabError(f"{where}.{f.name}: {v!r} must be a finite number >= 0")


def run_probes(model, data, config: dict | None = None, names=None, seed: int = 0, checkpoints=None,
               timings: dict | None = None, settings: dict | None = None) -> dict[str, dict[str, float]]:
    """Run the named probes (all by default): {probe: {metric: float}} or {probe: {"skipped": reason}}. checkpoints:
    {step: state_dict} for sparsity across training. timings (optional dict) receives each probe's CPU seconds (this
    process's: what it costs on an idle core, however busy the machine). settings: {probe: its settings dataclass}
    where not the defaults."""
    out = {}
    model.eval()
    for name in check_names(names):
        t0 = time.process_time()
        try:
            with torch.random.fork_rng(devices=[]):  # a probe's sampling never shifts another's
                torch.manual_seed(seed)
                extra = {"settings": settings[name]} if settings and name in settings else {}
                out[name] = PROBES[name].fn(model, data, config or {}, seed=seed, checkpoints=checkpoints, **extra)
        except Skip as e:
            out[name] = {"skipped": str(e)}
        if timings is not None:
            timings[name] = time.process_time() - t0
    return out


def _json_safe(results: dict) -> dict:
    return {p: {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in m.items()}
            for p, m in results.items()}


def run_checkpoints(rundir: Path, config: dict, init: bool = False) -> dict[int, dict]:
    """{step: state_dict} of a run's ckpt_<step>.pt files plus step 0, the initialization rebuilt from the config
    (the same seed gives the same initial weights); {} when the run saved none, unless init is asked for."""
    from ..models import DataSpec, make_model

    found = {int(m.group(1)): p for p in rundir.glob("ckpt_*.pt") if (m := re.fullmatch(r"ckpt_(\d+)\.pt", p.name))}
    if not found and not init:
        return {}
    init = make_model(config["model"], DataSpec(**config["data_spec"]), config["seed"], **config["model_settings"])
    from ..io import read_torch

    return {0: init.state_dict(), **{k: read_torch(found[k]) for k in sorted(found)}}


def probe_trained_and_init(rundir, names, seed: int = 0, options: dict | None = None,
                           timings: dict | None = None) -> tuple[dict, dict]:
    """A study cell's probes on a run folder: the named probes on the trained network (with its checkpoints), and
    those whose entry says at_init on the same network at its initialization (the control every fracture measure is
    read against). options: {probe: {setting: value}} (probe_settings); timings (optional dict) receives each
    probe's CPU seconds, trained and at initialization together. Returns (trained, at_init), each as run_probes
    gives it."""
    import copy

    from ..train import load_run

    names = check_names(names)
    settings = probe_settings(options)
    model, data, config = load_run(Path(rundir))
    ckpts = run_checkpoints(Path(rundir), config, init=True)  # step 0 (the initialization) and every checkpoint
    spent: dict = {}
    trained = run_probes(model, data, config, names, seed, ckpts, spent, settings=settings)
    at_init = [n for n in names if PROBES[n].at_init]
    found: dict = {}
    if at_init:
        init = copy.deepcopy(model)
        init.load_state_dict(ckpts[0])
        spent_init: dict = {}
        found = run_probes(init, data, config, at_init, seed, spent_init, settings=settings)
        spent = {n: spent[n] + spent_init.get(n, 0.0) for n in spent}
    if timings is not None:
        timings.update(spent)
    return trained, found


def probe_run(rundir, names=None, seed: int = 0) -> dict:
    """Load a run folder, run the probes, write RUNDIR/probes.json (probe -> metric -> value) and RUNDIR/probes/*.png
    (each replaced atomically), and return the results."""
    from ..io import atomic_file, output_file, staged_dir
    from ..train import load_run
    from .figures import write_figures

    names = check_names(names)
    rundir = Path(rundir)
    if rundir.is_dir():  # before the work, and before probes/ is replaced: a probes.json that cannot be written
        output_file(rundir / "probes.json")
    model, data, config = load_run(rundir)
    ckpts = run_checkpoints(rundir, config) if "sparsity" in names else {}
    timings: dict = {}
    results = run_probes(model, data, config, names, seed, ckpts or None, timings)
    with staged_dir(rundir / "probes", replace=True) as tmp:
        write_figures(results, tmp, {n: PROBES[n].layer_metrics for n in results})
        (tmp / "timings.json").write_text(json.dumps({k: round(v, 2) for k, v in timings.items()}))
    with atomic_file(rundir / "probes.json") as tmp_json:
        tmp_json.write_text(json.dumps(_json_safe(results), indent=1))
    return results


__all__ = ["PROBES", "ProbeSpec", "Skip", "check_names", "probe_run", "probe_trained_and_init", "register_probe",
           "run_probes"]

plugins.resume()  # last: loads the plug-ins, which may import this module to register probes
