"""Extending fracturelab from outside the package: a toy task and a toy probe, each a module plus a registering file
written under tmp_path, registered through fracturelab.plugins and run end to end by a study whose cells run in a
spawned worker process (which loads the plug-ins from FRACTURELAB_PLUGINS). Also: a task registered with only what
the tasks docstring asks for trains with defaults and the regimes it cannot serve refuse in one line (it used to be
a bare KeyError), and bad entries or plug-ins are one-line errors."""
import dataclasses
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from fracturelab import plugins
from fracturelab.errors import FracturelabError
from fracturelab.probes import PROBES, ProbeSpec, register_probe
from fracturelab.study.executors import ExecSettings
from fracturelab.study.runner import run_study
from fracturelab.study.spec import parse_spec
from fracturelab.tasks import TASKS, TaskSpec, register_task
from fracturelab.tasks.lookup import LookupSettings
from fracturelab.train import resolve, train_run

TOY_TASK = '''
"""toy_sum: two numbers in, their sum mod n out; test_ood holds the pairs (a, a), never trained on."""
from dataclasses import dataclass

import numpy as np

from fracturelab.tasks.base import Example, TaskSpec, check_split, finish

SPLITS = ("diagonal",)


@dataclass
class ToySettings:
    """Settings of the toy task."""

    split: str = "diagonal"
    """The held-out set."""
    seed: int = 0
    """Seed of the train / test_id split."""
    n: int = 12
    """Numbers 0..n-1."""


def make(s):
    check_split(s, SPLITS, "toy_sum")
    def ex(a, b):
        return Example((str(a), "+", str(b)), (str((a + b) % s.n),), {"a": a, "b": b, "depth": 1})
    off = [ex(a, b) for a in range(s.n) for b in range(s.n) if a != b]
    order = np.random.default_rng(s.seed).permutation(len(off))
    n_id = max(1, len(off) // 6)
    return finish("toy_sum", s, [off[i] for i in order[n_id:]], [off[i] for i in order[:n_id]],
                  [ex(a, a) for a in range(s.n)])


SPEC = TaskSpec("toy_sum", ToySettings, make, SPLITS, __doc__)
'''
TOY_PROBE = '''
"""weight_rms: the root mean power of a model's weights."""
from dataclasses import dataclass

import torch


@dataclass
class RmsSettings:
    """Settings of the toy probe."""

    power: float = 2.0
    """The mean's power."""


def weight_rms(model, data, config, seed=0, checkpoints=None, settings=None):
    s = settings or RmsSettings()
    w = torch.cat([p.detach().flatten() for p in model.parameters()])
    return {"rms": float(w.abs().pow(s.power).mean() ** (1 / s.power)), "n_weights": float(w.numel())}
'''
REGISTER_TASK = "import toy_task\nfrom fracturelab.tasks import register_task\n\nregister_task(toy_task.SPEC)\n"
REGISTER_PROBE = '''
import toy_probe
from fracturelab.probes import ProbeSpec, register_probe

register_probe(ProbeSpec("weight_rms", toy_probe.weight_rms, "root mean power of the weights", "every run",
                         toy_probe.RmsSettings, at_init=True))
'''
SPEC = """
name = "outside"
seeds = [0]
regimes = ["scratch"]
probes = ["weight_rms"]

[[tasks]]
name = "toy_sum"
options = { max_steps = 4, eval_every = 2, warmup = 0, d_model = 16, n_layer = 1 }
"""


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A folder with the four plug-in files; the registries, sys.path and FRACTURELAB_PLUGINS are restored
    afterwards."""
    folder = tmp_path / "outside"
    folder.mkdir()
    for name, text in {"toy_task": TOY_TASK, "toy_probe": TOY_PROBE, "register_toy_task": REGISTER_TASK,
                       "register_toy_probe": REGISTER_PROBE}.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.setattr(sys, "path", sys.path[:])
    monkeypatch.delenv(plugins.ENV, raising=False)
    for name in ("toy_task", "toy_probe"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    tasks, probes = dict(TASKS), dict(PROBES)
    yield folder
    TASKS.clear()
    TASKS.update(tasks)
    PROBES.clear()
    PROBES.update(probes)


def test_outside_task_and_probe_run_through_a_study(outside, tmp_path):
    plugins.load([outside / "register_toy_task.py", outside / "register_toy_probe.py"])
    assert "toy_sum" in TASKS and "weight_rms" in PROBES
    done = run_study(parse_spec(SPEC), tmp_path / "out", ExecSettings(workers=1), picbreeder=False, progress=False)
    assert (done["cells"], done["failed"]) == (1, 0)
    with sqlite3.connect(tmp_path / "out" / "results.sqlite") as con:
        metrics = dict(con.execute("SELECT name, value FROM metrics").fetchall())
    assert metrics["weight_rms.rms"] > 0 and metrics["init.weight_rms.rms"] > 0  # trained and initial networks
    assert metrics["weight_rms.n_weights"] == metrics["init.weight_rms.n_weights"]
    assert 0.0 <= metrics["train.id_acc"] <= 1.0


def test_study_command_loads_the_spec_plugins(outside, tmp_path):
    """`fracturelab study` on a spec that names the two registering files (relative to the spec): a fresh process
    loads them before checking the spec, its workers get them, and the report renders the toy task."""
    spec = outside / "study.toml"
    spec.write_text('plugins = ["register_toy_task.py", "register_toy_probe.py"]\n' + SPEC)
    out = tmp_path / "cli-out"
    env = {k: v for k, v in os.environ.items() if k != plugins.ENV}
    r = subprocess.run([sys.executable, "-m", "fracturelab", "study", str(spec), "-o", str(out), "--workers", "1",
                        "--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "results.sqlite") as con:
        names = {n for (n,) in con.execute("SELECT name FROM metrics")}
    assert {"weight_rms.rms", "init.weight_rms.rms"} <= names
    assert "toy_sum" in (out / "report.html").read_text()
    # the report alone, in a process that never loaded the plug-ins, renders the stored study; the page names the
    # plug-ins as the spec gave them (no local path)
    (out / "report.html").unlink()
    r = subprocess.run([sys.executable, "-m", "fracturelab", "report", str(out)], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    page = (out / "report.html").read_text()
    assert "toy_sum" in page and "register_toy_task.py" in page and str(outside) not in page
    # without its plug-ins the same spec names an unknown task: refused in one line, exit 2
    spec.write_text(SPEC)
    r = subprocess.run([sys.executable, "-m", "fracturelab", "study", str(spec), "-o", str(tmp_path / "x")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and "toy_sum" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_task_registered_as_the_docstring_says_trains_with_defaults(outside):
    sys.path.append(str(outside))
    import toy_task

    register_task(toy_task.SPEC)
    m = train_run("toy_sum", seed=0, max_steps=2, eval_every=1, warmup=0, d_model=16, n_layer=1)
    assert m["model"] == toy_task.SPEC.default_model and m["steps"] == 2
    for regime, words in (("pretrain", "no pretraining set"), ("curriculum", "no simple-to-composed order")):
        with pytest.raises(FracturelabError, match=words) as err:
            resolve("toy_sum", None, None, regime)  # refused while checking names, before any data is made
        assert "\n" not in str(err.value)


def _lookup(**changes) -> TaskSpec:
    return dataclasses.replace(TASKS["lookup"], **changes)


@dataclasses.dataclass
class NoSplit:
    seed: int = 0


@pytest.mark.parametrize("spec, words", [
    ("lookup", "expected a fracturelab.tasks.TaskSpec"),
    (_lookup(), "already registered"),
    (_lookup(name="two words"), "Python identifier"),
    (_lookup(name="t2", settings_cls=NoSplit), "`split` and `seed`"),
    (_lookup(name="t3", splits=("nope",)), "default split"),
    (_lookup(name="t4", make=None), "make must be a function"),
    (_lookup(name="t5", pretrain_set="lookup"), "pretrain_set must be a function or None"),
    (_lookup(name="t6", factor_keys=["a"]), "factor_keys"),
    (_lookup(name="t7", tiny={"bogus": 1}), "unknown option 'bogus'"),
    (_lookup(name="t8", settings_cls=LookupSettings, doc=""), "doc must be"),
])
def test_register_task_refuses_bad_entries_in_one_line(spec, words):
    before = dict(TASKS)
    with pytest.raises(FracturelabError, match=words) as err:
        register_task(spec)
    assert str(err.value).startswith("register_task: ") and "\n" not in str(err.value)
    assert TASKS == before


@pytest.mark.parametrize("changes, words", [
    ({}, "already registered"),
    ({"name": "p1", "fn": None}, "fn must be a function"),
    ({"name": "p2", "settings": dict}, "settings must be a dataclass"),
    ({"name": "p3", "layer_metrics": "eff_rank"}, "layer_metrics"),
    ({"name": "p4", "tiny": {"bogus": 1}}, "unknown option 'bogus'"),
])
def test_register_probe_refuses_bad_entries_in_one_line(changes, words):
    before = dict(PROBES)
    with pytest.raises(FracturelabError, match=words) as err:
        register_probe(dataclasses.replace(PROBES["geometry"], **changes))
    assert str(err.value).startswith("register_probe: ") and "\n" not in str(err.value)
    assert PROBES == before
    with pytest.raises(FracturelabError, match="expected a fracturelab.probes.ProbeSpec"):
        register_probe("geometry")


def test_bad_plugins_are_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv(plugins.ENV, raising=False)
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    for ref, words in ((tmp_path / "missing.py", "no such file"), (tmp_path / "broken.py", "ModuleNotFoundError"),
                       ("not a module", "neither a .py file nor a module name")):
        with pytest.raises(FracturelabError, match=words) as err:
            plugins.load([ref])
        assert "\n" not in str(err.value)
    assert plugins.ENV not in os.environ  # nothing named for workers after a failure
