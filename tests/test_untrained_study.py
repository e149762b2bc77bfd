"""A study of networks that learned nothing reports no findings: the quick profile's design with every task model and
every CPPN replica stopped after one step gives every claim "inconclusive" or "no effect"."""
from __future__ import annotations

import dataclasses
import json

import pytest

from fracturelab.study.executors import ExecSettings
from fracturelab.study.runner import run_study
from fracturelab.study.spec import profile


def untrained_quick():
    spec = profile("quick")
    tasks = tuple(dataclasses.replace(t, options=dict(t.options, max_steps=1, pretrain_steps=1, eval_every=1))
                  for t in spec.tasks)
    cppn = dataclasses.replace(spec.cppn, steps=1, adapt_steps=2, replicas=2)
    return dataclasses.replace(spec, name="untrained", seeds=(0, 1), tasks=tasks, cppn=cppn, checkpoints=())


@pytest.mark.slow
def test_untrained_networks_earn_no_verdict(tmp_path):
    res = run_study(untrained_quick(), tmp_path / "out", ExecSettings("local", 2), progress=False)
    assert res["failed"] == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    verdicts = {c["id"]: c["verdict"] for c in summary["claims"]}
    assert set(verdicts.values()) <= {"inconclusive", "no effect"}, verdicts
