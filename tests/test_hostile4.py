"""Hostile input, round four (issue 28, a fresh sweep: /tmp/hostile4/sweep.py): the third round's leftovers and
the cases of the fresh sweep that broke, each with the guard that now holds it. Every test failed on the code
before its fix. The CLI runs in this process through test_hostile.refused: one line, exit 2, no traceback,
nothing under `watch` changed.
"""
from __future__ import annotations

import logging

import pytest
from study_helpers import TINY, write_spec
from test_hostile import netdir, refused  # noqa: F401 (fixture)

from fracturelab.cli import main


def test_ray_that_cannot_start_prints_only_our_line(tmp_path, capfd, monkeypatch):
    """A local Ray that cannot start (under `ulimit -v 4000000` its node times out) logged its own warning and info
    lines to stderr before ours. Here ray.init logs as Ray does (to its "ray" loggers, which Ray's handler writes to
    stderr), then fails."""
    ray = pytest.importorskip("ray")

    def init(*a, **k):
        logging.getLogger("ray._private.node").warning("Token authentication is enabled for this Ray cluster")
        logging.getLogger("ray._private.node").info("Failed to get node info b'RPC error: Deadline Exceeded'")
        raise RuntimeError("The current node timed out during startup.")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(logging.getLogger("ray"), "level", logging.INFO)  # as a fresh process has it
    out = tmp_path / "out"
    rc = main(["study", str(write_spec(tmp_path)), "-o", str(out), "--executor", "ray", "-q"])
    err = capfd.readouterr().err
    assert rc == 2 and err.splitlines() == [err.strip()] and "ray: cannot start" in err, err
    assert not out.exists()


@pytest.mark.parametrize("old, new, words", [
    ("p = 11", 'p = "11"', ("spec.tasks[0]", ".p='11'", "expected int")),
    ("hidden = 32", 'hidden = "32"', ("hidden='32'", "expected int")),
    ("batch_size = 64", 'batch_size = "6.4e1"', ("batch_size='6.4e1'", "expected int")),
])
def test_spec_option_given_as_a_string_refused_at_load(tmp_path, capsys, old, new, words):
    """A spec's task options are TOML, typed: "11" where an int goes used to be read as the literal 11 (the rule for
    command-line text)."""
    assert old in TINY
    spec = write_spec(tmp_path, TINY.replace(old, new))
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q"], "tiny.toml", *words, watch=[tmp_path])
    assert not (tmp_path / "out").exists()


def test_command_line_option_text_is_still_read_as_a_literal(capsys):
    """The other side of the rule above: `--set p=11` on a command line is text, read as 11."""
    assert main(["tasks", "show", "leave_square_out", "--set", "p=11", "--set", "side=3"]) == 0
    assert "test_id 11" in capsys.readouterr().out


def test_typed_strings_stay_strings_through_settings():
    """from_options on a file's values (strings=False) marks the strings of its free-form tables, so a later
    strings=True check of them does not read them as literals; equal to the plain strings everywhere else."""
    import json
    import pickle
    from dataclasses import dataclass, field

    from fracturelab.errors import FracturelabError
    from fracturelab.settings import Typed, check_options, from_options

    @dataclass
    class Spec:
        options: dict = field(default_factory=dict)

    @dataclass
    class Task:
        p: int = 1
        name: str = "a"

    options = from_options(Spec, {"options": {"p": "8", "name": "x"}}, "spec").options
    assert options == {"p": "8", "name": "x"} and isinstance(options["p"], Typed)
    assert json.dumps(options) == '{"p": "8", "name": "x"}' and pickle.loads(pickle.dumps(options)) == options
    with pytest.raises(FracturelabError, match=r"p='8': expected int"):
        check_options(Task, options, "task", strings=True)
    assert check_options(Task, {"p": "8", "name": options["name"]}, "task", strings=True) == {"p": 8, "name": "x"}


@pytest.mark.parametrize("probe, key", [("clusterability", "n_shuffles"), ("clusterability", "n_clusters"),
                                        ("factorization", "max_examples"), ("factorization", "bins"),
                                        ("crosstalk", "chunk"), ("sparsity", "max_ckpt_examples"),
                                        ("geometry", "max_examples"), ("coverage", "max_examples"),
                                        ("subnetworks", "max_test"), ("reuse", "max_train")])
def test_probe_counts_of_zero_refused(tmp_path, capsys, probe, key):
    """Negative probe settings were refused, zero counts were not (n_shuffles = 0 divided by zero in a cell)."""
    spec = write_spec(tmp_path, TINY.replace("probes = []", f'probes = ["{probe}"]') +
                      f"\n[probe_options.{probe}]\n{key} = 0\n")
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q"], f"probe_options.{probe}.{key}=0",
            "at least 1", watch=[tmp_path])


def test_mask_counts_of_zero_refused():
    from fracturelab.errors import FracturelabError
    from fracturelab.probes import probe_settings

    for key in ("steps", "epochs", "batch_size"):
        with pytest.raises(FracturelabError, match=rf"reuse\.mask\.{key}=0: must be at least 1"):
            probe_settings({"reuse": {"mask": {key: 0}}})


@pytest.mark.parametrize("argv", [["render", "face", "--res", "8", "-o", "{}.png"],
                                  ["explore", "face", "--sweep-res", "8", "-o", "{}.html"],
                                  ["replicate", "face", "--res", "8", "--steps", "2", "-o", "{}"]])
def test_output_that_is_a_loop_of_links_refused(tmp_path, capsys, argv):
    """`-o` naming a loop of symbolic links: a file output replaced the link with a regular file (exit 0), a folder
    output did the work and then failed at its last write."""
    name = argv[-1].format(tmp_path / "loop")
    other = argv[-1].format(tmp_path / "loop2")
    import os
    os.symlink(other, name)
    os.symlink(name, other)
    refused(capsys, [*argv[:-1], name], "symbolic link", watch=[tmp_path])


def test_spec_option_that_is_a_date_refused_at_load(tmp_path, capsys):
    """TOML has dates; an option given one reached json.dumps in the spec check (the catch-all's TypeError)."""
    spec = write_spec(tmp_path, TINY.replace("hidden = 32", "hidden = 1979-05-27"))
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q"], "options.hidden", "date or time",
            watch=[tmp_path])


@pytest.mark.parametrize("argv", [["replicate", "face", "--res", "8", "-o", "out", "--steps"],
                                  ["evolve", "face", "--res", "8", "-o", "out", "--population", "4",
                                   "--generations"]])
def test_counts_past_64_bits_refused(tmp_path, capsys, argv):
    """--steps 10**100 passed int_at_least(1) and failed inside torch (ValueError: the catch-all)."""
    refused(capsys, [*argv[:4], tmp_path / "out", *argv[5:], "1" + "0" * 100], "at most 2**63 - 1",
            watch=[tmp_path])


@pytest.mark.parametrize("cmd", [["replicate", "{n}", "--res", "8", "--steps", "2"],
                                 ["fer", "{n}", "--res", "8", "--replicas", "0"],
                                 ["evolve", "{n}", "--res", "8", "--generations", "1", "--population", "4"]])
@pytest.mark.parametrize("out", ["{n}", "{p}"])
def test_output_that_is_the_input_refused_even_with_force(tmp_path, capsys, netdir, cmd, out):
    """`replicate NET -o NET --force` replaced the net folder it read with its replica (exit 0)."""
    import shutil
    n = tmp_path / "in" / "net"
    shutil.copytree(netdir, n)
    refused(capsys, [a.format(n=n) for a in cmd] + ["-o", out.format(n=n, p=n.parent), "--force"], "is the input",
            watch=[tmp_path / "in"])


@pytest.mark.parametrize("old, new, words", [
    ('name = "tiny"', 'name = "  "', ("spec.name is empty",)),
    ('models = ["mlp"]', 'models = ["mlp", "mlp"]', ("spec.tasks[leave_square_out].models", "repeats")),
    ('regimes = ["scratch"]', 'regimes = ["scratch", "scratch"]', ("spec.regimes", "repeats")),
])
def test_spec_lists_without_repeats_and_a_name(tmp_path, capsys, old, new, words):
    """The fourth round: a blank name was accepted, and a model or regime listed twice trained the same cells twice."""
    assert old in TINY
    spec = write_spec(tmp_path, TINY.replace(old, new))
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q"], "tiny.toml", *words, watch=[tmp_path])
    assert not (tmp_path / "out").exists()
