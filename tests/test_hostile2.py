"""Hostile input, round two (issue 28): kinds 1 (HTML/JS injection into the pages we write), 5 (tracebacks that
reached a user) and 6 (outputs that are not regular files; a study that cannot start leaves nothing behind). Each
case failed on the code before the fix, but test_explorer_json_cannot_close_its_script (a guard on what held). The
CLI runs in this process, through test_hostile.refused: one line, exit 2, no traceback, nothing under `watch` changed.
"""
from __future__ import annotations

import dataclasses
import html
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from study_helpers import TINY, write_spec
from test_hostile import refused

from fracturelab.cli import main

SCRIPT, SVG = "<script>alert(1)</script>", "<svg onload=x>"
"""Hostile text put in every field: a script, and a tag with an event handler."""


def _no_raw(page: str, scripts: int, *escaped) -> None:
    """No hostile tag raw in PAGE, no script closed but the page's own `scripts`, and the escaped text there."""
    for raw in (SCRIPT, SVG, "<svg"):
        assert raw not in page
    assert page.count("</script>") == page.count("<script") == scripts
    for e in escaped:
        assert e in page


# -- kind 1: every page escapes what a user, a file or a store put in it --------------------------------------------

@pytest.fixture
def hostile_study(tmp_path):
    """A study store whose spec name and note, a task option string, a reference file's name, its nets' names and a
    failed cell's error are all HTML; no cell trained (outcomes written directly, as study_helpers does)."""
    from fracturelab.cppn.builtins import builtin_net
    from fracturelab.cppn.nets import encoded
    from fracturelab.study.records import CellResult, Outcome
    from fracturelab.study.spec import parse_spec
    from fracturelab.study.store import STORE, Store

    ref = str(tmp_path / f"{SVG}.zip")
    spec = parse_spec(TINY)
    spec = dataclasses.replace(
        spec, name=SCRIPT, note=f"note {SVG}",
        tasks=[dataclasses.replace(t, options=t.options | {"label": SCRIPT}) for t in spec.tasks],
        cppn=dataclasses.replace(spec.cppn, references=(ref,)))
    cells = spec.cells(picbreeder=False, available_probes=())
    out = tmp_path / "study"
    out.mkdir()
    net = builtin_net("face")
    png, arch, npy = encoded(net, np.zeros((4, 4, 3)))
    with Store(out / STORE) as st:
        sid = st.add_study(spec.name, spec.digest(), spec.to_dict(), {"keys": [c.key for c in cells],
                                                                      "picbreeder": None})
        st.register_cells(sid, [c.params() for c in cells])
        for c in cells:
            if c.kind == "task":
                st.finish(Outcome(c.key, False, 0.1, error=f"failed on {SCRIPT} and {SVG}"))
            else:
                st.finish(Outcome(c.key, True, 0.1, CellResult({"cppn.fit_mse": 0.1}, notes={"reference": ref},
                                                               blobs={"render.png": png, "arch.txt": arch,
                                                                      "params.npy": npy})))
    return out


def test_study_report_and_explorer_escape_every_field(hostile_study, capsys):
    from fracturelab.report.explorer import SCRIPTS

    assert main(["report", str(hostile_study), "-q"]) == 0, capsys.readouterr().err
    report = (hostile_study / "report.html").read_text()
    script, svg = html.escape(SCRIPT), html.escape(SVG)
    _no_raw(report, 0, f"<title>fracturelab study: {script}</title>", f"<b>{script}</b>",  # the spec's name
            f"note {svg}", f"{svg}.zip</b>",  # its note, the reference file's name
            f"failed on {script} and {svg}</td>", f"&#34;label&#34;: &#34;{script}&#34;")  # an error, an option
    explorer = (hostile_study / "explorer.html").read_text()
    _no_raw(explorer, 1 + len(SCRIPTS), "\\u003csvg onload=x>")  # the nets' names, in the page's JSON


def test_fer_page_escapes_names_and_values(tmp_path):
    from fracturelab.report.fer_page import TABLE, write_page

    img = np.zeros((4, 4, 3))
    names = [SCRIPT, SVG]
    arts = {"names": names, "images": {f"wide/{n}": img for n in names},
            "nets": {n: {"maps": [np.zeros((2, 4, 4))], "novel": [np.array([True, False])],
                         "strips": [(0, SVG, [img, img, img])], "effect_maps": [(0, np.zeros((4, 4)))]}
                     for n in names}}
    metrics = {"reference": SCRIPT, "adaptation_weight": SVG,
               "nets": {n: {k: 0.5 for k in TABLE} | {"novel_maps": 1, "adapt_steps": SCRIPT} for n in names}}
    page = write_page(tmp_path, metrics, arts, {n: img for n in names}, 2.0).read_text()
    _no_raw(page, 0, "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;svg onload=x&gt;")


def test_explorer_json_cannot_close_its_script():
    from fracturelab.report.explorer import SCRIPTS, explorer_html

    page = explorer_html([{"name": f"{SCRIPT}</script><script>x()", "labels": {"1": SVG}}], title=SCRIPT)
    _no_raw(page, 1 + len(SCRIPTS), "\\u003c/script>", "&lt;script&gt;")
    data = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["nets"][0]["labels"]["1"] == SVG  # escaped for the page, the same text for the script


# -- kind 5: no traceback reaches a user ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rundir(tmp_path_factory):
    from fracturelab.train import train_run

    out = tmp_path_factory.mktemp("run") / "run"
    train_run("leave_square_out", seed=0, outdir=out, max_steps=2, eval_every=2, p=11, side=3, hidden=8, progress=False)
    return out


def test_unexpected_error_is_one_line_naming_the_command(capsys, monkeypatch):
    import fracturelab.probes

    def bug(*a, **k):
        raise np.linalg.LinAlgError("SVD did not converge")
    monkeypatch.setattr(fracturelab.probes, "probe_run", bug)
    monkeypatch.delenv("FRACTURELAB_DEBUG", raising=False)
    refused(capsys, ["probe", "somewhere"], "fracturelab probe: internal error (LinAlgError: SVD did not converge)",
            "--debug")
    for argv, env in (["--debug", "probe", "somewhere"], None), (["probe", "somewhere"], "1"):
        if env:
            monkeypatch.setenv("FRACTURELAB_DEBUG", env)
        with pytest.raises(np.linalg.LinAlgError):  # asked for: the traceback
            main(argv)


def test_probe_refuses_non_finite_weights(tmp_path, capsys, rundir):
    import shutil

    import torch

    run = Path(shutil.copytree(rundir, tmp_path / "run"))
    state = torch.load(run / "model.pt", weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name][0] = float("nan")
    torch.save(state, run / "model.pt")
    refused(capsys, ["probe", run], "model.pt", "not finite", name, watch=[run])
    assert not (run / "probes.json").exists()


@pytest.mark.parametrize("config, words", [
    ("[1, 2]", "not a run folder"),
    ('["task", "model", "data_spec"]', "not a run folder"),
    ("7", "not a run folder"),
    ('{"task": "scan", "model": "transformer", "data_spec": {}}', "config.json: not a fracturelab run config"),
    ('{"task": ["scan"], "model": "transformer", "data_spec": {}}', "not a text task"),
])
def test_prompts_export_of_a_bad_run_config(tmp_path, capsys, rundir, config, words):
    import shutil

    run = Path(shutil.copytree(rundir, tmp_path / "run"))
    (run / "config.json").write_text(config)
    refused(capsys, ["prompts", "export", run, "-o", tmp_path / "p.jsonl"], words, watch=[tmp_path])
    assert not (tmp_path / "p.jsonl").exists()


@pytest.mark.parametrize("line, words", [
    ("[" * 100_000 + "]" * 100_000, "line 1"),
    ('{"prompt": "a b", "split": "id", "level": 1' + "0" * 400 + "}", "line 1"),
    ('{"prompt": "a b", "split": "id", "novelty": {"nn_dist": 1' + "0" * 400 + "}}", "line 1"),
])
def test_probe_model_prompt_lines_nested_or_huge(tmp_path, capsys, rundir, line, words):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(line + "\n")
    err = refused(capsys, ["probe-model", rundir, "--prompts", prompts, "-o", tmp_path / "out"], words,
                  watch=[tmp_path])
    assert "internal error" not in err  # named where it enters (probes/prompts.py), not caught as a bug
    assert not (tmp_path / "out").exists()


def test_probe_model_builder_that_raises(tmp_path, capsys):
    builder = tmp_path / "build.py"
    builder.write_text("def build():\n    raise ValueError('no weights here')\n")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "a", "split": "id"}\n{"prompt": "b", "split": "ood"}\n')
    err = refused(capsys, ["probe-model", f"{builder}:build", "--prompts", prompts, "-o", tmp_path / "out"],
                  "the builder raised", "ValueError: no weights here", watch=[tmp_path])
    assert "internal error" not in err
    assert not (tmp_path / "out").exists()


def test_study_spec_nested_too_deeply(tmp_path, capsys):
    spec = write_spec(tmp_path, "seeds = " + "[" * 100_000 + "]" * 100_000 + "\n")
    err = refused(capsys, ["study", spec, "-o", tmp_path / "out"], str(spec), "TOML", watch=[tmp_path])
    assert "internal error" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, words", [
    (["explore", "face", "-o", "{t}/x.html", "--seed", "-1"], "at least 0"),
    (["explore", "face", "-o", "{t}/x.html", "--sweep-max", "-1"], "at least 0"),
    (["probe-model", "m", "--prompts", "p", "-o", "{t}/o", "--seed", "-1"], "at least 0"),
    (["probe-model", "m", "--prompts", "p", "-o", "{t}/o", "--batch-size", "0"], "at least 1"),
    (["prompts", "export", "scan", "-o", "{t}/p.jsonl", "--seed", "99999999999"], "2^32"),
])
def test_out_of_range_arguments(tmp_path, capsys, argv, words):
    refused(capsys, [a.format(t=tmp_path) for a in argv], words, watch=[tmp_path])
    assert list(tmp_path.iterdir()) == []


# -- kind 6: outputs ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", ["fifo", "device"])
@pytest.mark.parametrize("argv", [["render", "face", "--res", "8", "-o"], ["explore", "face", "--sweep-res", "0", "-o"],
                                  ["prompts", "export", "scan", "--set", "prim_repeats=1", "-o"]])
def test_output_that_is_not_a_regular_file_is_refused(tmp_path, capsys, argv, make):
    """-o naming a FIFO, or (through a link, so a regression replaces the link, never a real node) a device node."""
    out = tmp_path / {"render": "x.png", "explore": "x.html"}.get(argv[0], "x.jsonl")
    if make == "fifo":
        os.mkfifo(out)
    else:
        out.symlink_to("/dev/null")
    refused(capsys, [*argv, out], str(out), "not a regular file", watch=[tmp_path])
    assert sorted(os.listdir(tmp_path)) == [out.name]  # nothing created beside it, not even a temporary
    assert (out.is_fifo() if make == "fifo" else out.is_symlink())


def test_output_helpers_refuse_a_fifo(tmp_path):
    """Both layers: output_file (the CLI's check before any work) and atomic_file (every writer's, at the end)."""
    from fracturelab.errors import FracturelabError
    from fracturelab.io import atomic_file, output_file

    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    with pytest.raises(FracturelabError, match="FIFO"):
        output_file(fifo)
    with pytest.raises(FracturelabError, match="FIFO"), atomic_file(fifo) as tmp:
        tmp.write_text("{}")
    assert os.listdir(tmp_path) == ["x.json"] and fifo.is_fifo()
    assert output_file(tmp_path / "new.json") == tmp_path / "new.json"  # a new file, or a regular one, is fine


def test_study_without_ray_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    refused(capsys, ["study", spec, "-o", out, "--executor", "ray", "-q"], "needs ray", watch=[tmp_path])
    assert not out.exists()


def test_study_that_cannot_start_leaves_no_folder(tmp_path, capsys, monkeypatch):
    from fracturelab.study import store

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(store.os, "link", full)  # the store cannot be created: a full disk
    spec = write_spec(tmp_path)
    refused(capsys, ["study", spec, "-o", tmp_path / "a" / "b", "-q"], "No space left", watch=[tmp_path])
    assert not (tmp_path / "a").exists()
    (tmp_path / "mine").mkdir()  # a folder the user had stays, and stays empty
    refused(capsys, ["study", spec, "-o", tmp_path / "mine", "-q"], "No space left", watch=[tmp_path])
    assert list((tmp_path / "mine").iterdir()) == []
