"""Fault injection: every kind of bad input and fault a hostile but realistic user can produce, against the CLI. Each
must give one line on stderr, exit code 2, no traceback, and leave nothing written or changed (docs/reliability.md).

Most cases run the CLI in this process (fracturelab.cli.main: an uncaught exception would fail the test, so "no
traceback" is checked as well as in a subprocess, and faster). Cases that need another process run one: permissions
really dropped (CAP_DAC_OVERRIDE removed with setpriv when run as root), a full disk (a 64 KB tmpfs, root only; a
patched writer otherwise), and two studies at once on one folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from study_helpers import ENV, TINY, cli, synthetic_store, write_spec

from fracturelab.cli import main

# -- helpers ------------------------------------------------------------------------------------------------------


def snapshot(*roots) -> dict:
    """{path: (mode, sha1 of content)} under each root, so a test can assert nothing was written, created or changed."""
    out = {}
    for root in map(Path, roots):
        if not root.exists():
            continue
        for p in [root, *root.rglob("*")]:
            st = p.lstat()
            digest = ""
            if p.is_file() and not p.is_symlink() and os.access(p, os.R_OK) and p.stat().st_size < 50_000_000:
                digest = hashlib.sha1(p.read_bytes()).hexdigest()
            out[str(p)] = (st.st_mode, digest)
    return out


def _messages(err: str) -> list[str]:
    """stderr's lines, less progress bars (tqdm's, drawn with carriage returns before the fault): not messages."""
    return [ln.rsplit("\r", 1)[-1] for ln in err.strip().splitlines() if "it/s" not in ln.rsplit("\r", 1)[-1]]


def refused(capsys, argv, *words, watch=()) -> str:
    """Run the CLI in-process: exit 2, one line naming `words`, nothing under `watch` changed."""
    before = snapshot(*watch)
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = _messages(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    assert snapshot(*watch) == before
    return err


def refused_proc(r: subprocess.CompletedProcess, *words) -> None:
    """As refused, for a subprocess; progress-bar lines (tqdm's, written before the fault) are not messages."""
    assert r.returncode == 2, r.stderr
    lines = _messages(r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.fixture
def netdir(tmp_path):
    from fracturelab.cppn.builtins import builtin_net
    from fracturelab.cppn.nets import save_netdir

    return save_netdir(tmp_path / "face_net", builtin_net("face"))


@pytest.fixture(scope="module")
def rundir(tmp_path_factory):
    from fracturelab.train import train_run

    out = tmp_path_factory.mktemp("run") / "run"
    train_run("leave_square_out", seed=0, outdir=out, max_steps=2, eval_every=2, p=11, side=3, hidden=8, progress=False)
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- file contents ------------------------------------------------------------------------------------------------

NETDIR_FAULTS = {  # net folder file -> (bad content, words of the message)
    "string_params": ("params.npy", lambda p: np.save(p, np.array(["a", "b"])), "expected numbers"),
    "object_params": ("params.npy", lambda p: np.save(p, np.array([1, None], dtype=object)), "expected numbers"),
    "huge_params": ("params.npy", lambda p: np.save(p, np.zeros(10 ** 6, np.float32)), "at most"),
    "nan_params": ("params.npy", lambda p: np.save(p, np.full(np.load(p).shape, np.nan, np.float32)), "NaN"),
    "random_params": ("params.npy", lambda p: p.write_bytes(os.urandom(500)), "not a readable .npy"),
    "binary_arch": ("arch.txt", lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "UTF-8"),
    "huge_arch": ("arch.txt", lambda p: p.write_text("100;sin:100000"), "max_params"),
    "labels_not_json": ("labels.json", lambda p: p.write_text("{not json"), "not valid JSON"),
    "labels_wrong_shape": ("labels.json", lambda p: p.write_text("[1, 2]"), "weight ID"),
    "labels_bad_id": ("labels.json", lambda p: p.write_text('{"99999999": "x"}'), "weight ID"),
    "params_is_folder": ("params.npy", lambda p: (p.unlink(), p.mkdir()), "folder"),
}


@pytest.mark.parametrize("kind", NETDIR_FAULTS)
def test_bad_net_folder(tmp_path, capsys, netdir, kind):
    name, make, words = NETDIR_FAULTS[kind]
    make(netdir / name)
    refused(capsys, ["render", netdir, "-o", tmp_path / "x.png"], str(netdir), words, watch=[tmp_path])
    refused(capsys, ["genome", netdir], words)


RUN_FAULTS = {
    "model_random": ("model.pt", lambda p: p.write_bytes(os.urandom(2000)), "not a readable torch"),
    "model_truncated": ("model.pt", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
                        "not a readable torch"),
    "model_other_net": ("model.pt", lambda p: __import__("torch").save({"w": __import__("torch").zeros(2)}, p),
                        "do not fit"),
    "config_corrupt": ("config.json", lambda p: p.write_text(p.read_text()[:40]), "not valid JSON"),
    "config_foreign": ("config.json", lambda p: p.write_text('{"task": "lookup"}'), "not a fracturelab run config"),
    "config_bad_option": ("config.json", lambda p: p.write_text(p.read_text().replace('"p": 11', '"p": "x"')),
                          "config.json"),
}


@pytest.mark.parametrize("kind", RUN_FAULTS)
def test_bad_run_folder(tmp_path, capsys, rundir, kind):
    run = _copy(rundir, tmp_path / "run")
    name, make, words = RUN_FAULTS[kind]
    make(run / name)
    refused(capsys, ["probe", run, "--probes", "geometry"], words, watch=[run])


def test_missing_inputs(tmp_path, capsys):
    refused(capsys, ["labels", tmp_path / "nope", "-o", tmp_path / "l"], "not a folder", watch=[tmp_path])
    refused(capsys, ["probe", tmp_path], "not a run folder", watch=[tmp_path])
    refused(capsys, ["render", tmp_path / "nope.xml", "-o", tmp_path / "x.png"], "nope.xml", watch=[tmp_path])
    refused(capsys, ["study", tmp_path / "nope.toml", "-o", tmp_path / "o"], "nope.toml", watch=[tmp_path])
    refused(capsys, ["report", tmp_path], "no results.sqlite", watch=[tmp_path])


# -- sizes and devices --------------------------------------------------------------------------------------------

def test_sizes_refused_before_allocating(tmp_path, capsys):
    refused(capsys, ["render", "face", "-o", tmp_path / "x.png", "--res", "200000"], "max_pixels", watch=[tmp_path])
    refused(capsys, ["replicate", "face", "-o", tmp_path / "r", "--arch", "100;sin:100000"], "max_params",
            watch=[tmp_path])
    refused(capsys, ["replicate", "face", "-o", tmp_path / "r", "--arch", "4;sin:2000", "--res", "256"],
            "max_fit_cells", watch=[tmp_path])
    refused(capsys, ["evolve", "face", "-o", tmp_path / "e", "--method", "cmaes", "--arch", "100;sin:100000"],
            "max_params", watch=[tmp_path])


def test_limits_are_settable(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRACTURELAB_MAX_PIXELS", "100")
    refused(capsys, ["render", "face", "-o", tmp_path / "x.png", "--res", "11"], "= 100", watch=[tmp_path])
    assert main(["render", "face", "-o", str(tmp_path / "x.png"), "--res", "10"]) == 0
    monkeypatch.setenv("FRACTURELAB_MAX_PIXELS", "lots")
    refused(capsys, ["render", "face", "-o", tmp_path / "y.png", "--res", "10"], "FRACTURELAB_", watch=[tmp_path])


def test_zip_entry_size_capped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRACTURELAB_MAX_ZIP_ENTRY_BYTES", str(2 ** 20))
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("genome.xml", b"<a>" + b" " * (4 * 2 ** 20) + b"</a>")
    assert bomb.stat().st_size < 50_000  # small on disk, 4 MB inside
    refused(capsys, ["render", bomb, "-o", tmp_path / "x.png"], "max_zip_entry_bytes", watch=[tmp_path])


def test_xml_entity_bomb_refused(tmp_path, capsys):
    ents = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = tmp_path / "lol.xml"
    bomb.write_text(f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">{ents}]><data>&l9;</data>')
    refused(capsys, ["genome", bomb], "not XML", watch=[tmp_path])  # a billion "lol"s are never expanded


def test_device_and_fifo_refused(tmp_path, capsys):
    refused(capsys, ["render", "/dev/zero", "-o", tmp_path / "x.png"], "not a regular file", watch=[tmp_path])
    refused(capsys, ["study", "/dev/zero", "-o", tmp_path / "o"], "not a regular file", watch=[tmp_path])
    fifo = tmp_path / "genome.xml"
    os.mkfifo(fifo)  # opening it would wait forever for a writer
    refused(capsys, ["genome", fifo], "not a regular file", watch=[tmp_path])


# -- numbers ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["render", "face", "-o", "{t}/x.png", "--window", "nan", "1", "-1", "1"], "finite"),
    (["render", "face", "-o", "{t}/x.png", "--window", "1", "-1", "-1", "1"], "X0 < X1"),
    (["render", "face", "-o", "{t}/x.png", "--res", "0"], "at least 1"),
    (["replicate", "face", "-o", "{t}/r", "--lr", "inf"], "finite"),
    (["replicate", "face", "-o", "{t}/r", "--lr", "-1"], "> 0"),
    (["replicate", "face", "-o", "{t}/r", "--seed", "-1"], "at least 0"),
    (["train", "--task", "lookup", "--seed", "-1", "-o", "{t}/run"], "at least 0"),
    (["train", "--task", "lookup", "--set", "lr=1e999", "-o", "{t}/run"], "finite"),
    (["train", "--task", "lookup", "--set", "max_steps=fifty", "-o", "{t}/run"], "max_steps"),
    (["tasks", "show", "lookup", "--seed", "99999999999"], "2^32"),
    (["evolve", "face", "-o", "{t}/e", "--match-mse", "nan"], "finite"),
    (["study", "{t}/s.toml", "-o", "{t}/o", "--workers", "0"], "at least 1"),
])
def test_non_finite_or_out_of_range_numbers(tmp_path, capsys, argv, words):
    write_spec(tmp_path, name="s.toml")
    refused(capsys, [a.format(t=tmp_path) for a in argv], words, watch=[tmp_path])


# -- specs --------------------------------------------------------------------------------------------------------

SPEC_FAULTS = {
    "unknown_option": (TINY.replace("batch_size = 64", "batch_size = 64, colour = 1"), "unknown option 'colour'"),
    "wrong_type": (TINY.replace("max_steps = 30", 'max_steps = "fifty"'), "max_steps"),
    "unknown_split": (TINY.replace('models = ["mlp"]', 'models = ["mlp"]\nsplit = "nope"'), "unknown split 'nope'"),
    "unknown_probe": (TINY.replace("probes = []", 'probes = ["nope"]'), "unknown probe 'nope'"),
    "unknown_probe_option": (TINY.replace("probes = []", "probes = []\nprobe_options = { geometry = { nope = 1 } }"),
                             "probe_options.geometry: unknown option 'nope'"),
    "probe_option_type": (TINY.replace("probes = []", 'probes = []\nprobe_options = { geometry = { max_examples '
                                       '= "many" } }'), "probe_options.geometry.max_examples"),
    "unknown_model": (TINY.replace('models = ["mlp"]', 'models = ["nope"]'), "unknown model 'nope'"),
    "nan_lr": (TINY.replace("steps = 40", "steps = 40\nlr = nan"), "finite"),
    "missing_reference": (TINY.replace('references = ["face"]', 'references = ["no/such.xml"]'), "no/such.xml"),
    "huge_res": (TINY.replace("res = 16", "res = 100000"), "max_pixels"),
    "binary": ("\x00\x01\x02", "TOML"),
}


@pytest.mark.parametrize("kind", SPEC_FAULTS)
def test_bad_spec_named_at_load(tmp_path, capsys, kind):
    text, words = SPEC_FAULTS[kind]
    spec = write_spec(tmp_path, text)
    err = refused(capsys, ["study", spec, "-o", tmp_path / "out"], words, watch=[tmp_path])
    assert str(spec) in err  # the file is named, also for errors found after parsing


# -- output folders -----------------------------------------------------------------------------------------------

def test_existing_outputs_never_replaced_without_force(tmp_path, capsys, netdir):
    data = tmp_path / "data"
    data.mkdir()
    (data / "precious.csv").write_text("a,b\n")
    refused(capsys, ["replicate", "face", "-o", netdir, "--steps", "2", "--res", "8"], "--force", watch=[tmp_path])
    refused(capsys, ["replicate", "face", "-o", data, "--steps", "2", "--res", "8"], "--force", watch=[tmp_path])
    refused(capsys, ["train", "--task", "lookup", "-o", data], "--force", watch=[tmp_path])
    refused(capsys, ["labels", "/nonexistent", "-o", data], "--force", watch=[tmp_path])
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "report.html").write_text("<p>someone's report</p>")
    (theirs / "summary.json").write_text("{}")
    refused(capsys, ["study", write_spec(tmp_path), "-o", theirs], "--force", watch=[theirs])
    assert main(["replicate", "face", "-o", str(netdir), "--steps", "2", "--res", "8", "--force"]) == 0
    assert json.loads((netdir / "settings.json").read_text())["steps"] == 2


# -- the store ----------------------------------------------------------------------------------------------------

def test_empty_store_is_new(tmp_path):
    from fracturelab.study.store import Store

    for i, content in enumerate([b"", None]):
        db = tmp_path / f"s{i}.sqlite"
        if content is None:  # SQLite with no tables: a creation killed before its schema was committed
            sqlite3.connect(db).execute("PRAGMA user_version=1").connection.close()
        else:
            db.write_bytes(content)  # 0 bytes: what a SIGKILL at creation or a full disk leaves
        with Store(db) as st:
            assert st.counts()["cells"] == 0
        with Store(db, create=False) as st:
            assert st.latest_study() is None


def test_store_creation_is_atomic_on_a_full_disk(tmp_path, monkeypatch):
    from fracturelab.errors import FracturelabError
    from fracturelab.study import store

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(store.os, "link", full)
    with pytest.raises(FracturelabError, match="No space left"):
        store.Store(tmp_path / "results.sqlite")
    assert list(tmp_path.iterdir()) == []  # neither the store nor its temporary


@pytest.fixture
def study_dir(tmp_path, monkeypatch):
    """A finished study's folder (synthetic, through the real store), with only the SGD regimes: these tests are
    about the file, not about any one regime being registered."""
    import study_helpers

    monkeypatch.setattr(study_helpers, "SYNTHETIC_SPEC", study_helpers.SYNTHETIC_SPEC.replace(', "bimt"', ""))
    out = tmp_path / "study"
    synthetic_store(out, seeds=3)
    return out


def test_corrupt_pages_one_line(tmp_path, capsys, study_dir):
    db = study_dir / "results.sqlite"
    data = bytearray(db.read_bytes())
    page = 4096
    for i in range(2 * page, len(data) - page, 3 * page):  # keep the header and the schema page, break the rest
        data[i:i + page] = os.urandom(page)
    db.write_bytes(bytes(data))
    refused(capsys, ["report", study_dir], "results.sqlite", watch=[study_dir])
    refused(capsys, ["study", write_spec(tmp_path), "-o", study_dir], "results.sqlite", watch=[study_dir])


def test_foreign_wal_store_gets_nothing_beside_it(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    con = sqlite3.connect(out / "results.sqlite")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE things(x)")
    con.commit()
    con.close()
    assert sorted(p.name for p in out.iterdir()) == ["results.sqlite"]
    refused(capsys, ["study", write_spec(tmp_path), "-o", out], "not a fracturelab results store", watch=[out])
    refused(capsys, ["report", out], "not a fracturelab results store", watch=[out])


# -- permissions really dropped -----------------------------------------------------------------------------------

def _unprivileged() -> list[str]:
    """A command prefix that runs without the power to ignore file permissions: as root, setpriv drops
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; as another user, nothing is needed."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): cannot drop CAP_DAC_OVERRIDE")
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("setpriv cannot drop capabilities here (a container without CAP_SETPCAP)")
    return prefix


def _cli_unprivileged(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*_unprivileged(), sys.executable, "-m", "fracturelab", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=300)


def test_unreadable_inputs(tmp_path, netdir, rundir):
    genome = tmp_path / "g.xml"
    genome.write_text("<data/>")
    spec = write_spec(tmp_path)
    run = _copy(rundir, tmp_path / "run")
    locked = [genome, spec, netdir / "params.npy", run / "model.pt"]
    for p in [*locked, netdir]:
        p.chmod(0o755 if p == netdir else 0o644)
    before = snapshot(tmp_path)
    for p in locked:
        p.chmod(0)
    try:
        refused_proc(_cli_unprivileged("genome", genome), "g.xml", "Permission denied")
        refused_proc(_cli_unprivileged("study", spec, "-o", tmp_path / "o"), "tiny.toml", "Permission denied")
        refused_proc(_cli_unprivileged("render", netdir, "-o", tmp_path / "x.png"), "params.npy", "Permission denied")
        refused_proc(_cli_unprivileged("probe", run), "model.pt", "Permission denied")
        netdir.chmod(0)  # a folder that cannot be listed
        refused_proc(_cli_unprivileged("render", netdir, "-o", tmp_path / "x.png"), "face_net")
    finally:
        netdir.chmod(0o755)
        for p in locked:
            p.chmod(0o644)
    assert snapshot(tmp_path) == before


def test_read_only_study_reports_elsewhere(tmp_path, study_dir):
    files = sorted(p.name for p in study_dir.iterdir())
    (study_dir / "results.sqlite").chmod(0o444)
    study_dir.chmod(0o555)  # an archived study
    try:
        r = _cli_unprivileged("study", write_spec(tmp_path), "-o", study_dir)
        refused_proc(r, "read-only")
        assert "corrupt" not in r.stderr and "move it away" not in r.stderr  # good results are never called bad
        r = _cli_unprivileged("report", study_dir, "-o", tmp_path / "elsewhere", "-q")
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "elsewhere" / "report.html").is_file()
    finally:
        study_dir.chmod(0o755)
    assert sorted(p.name for p in study_dir.iterdir()) == files  # no -wal, no -shm, nothing written


# -- a full disk --------------------------------------------------------------------------------------------------

@pytest.fixture
def full_disk():
    """A 64 KB tmpfs (root only): a real ENOSPC from the kernel."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root; test_disk_full_patched_writer covers the same paths")
    d = Path(tempfile.mkdtemp(prefix="fracturelab-full-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True).returncode:
        d.rmdir()
        pytest.skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN)")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True)
        d.rmdir()


def test_disk_full_tmpfs(tmp_path, full_disk):
    (full_disk / "filler").write_bytes(b"\0" * 60 * 1024)  # leave less room than any output needs
    spec = write_spec(tmp_path)
    for args, words in [(("render", "face", "-o", full_disk / "x.png", "--res", "512"), "x.png"),
                        (("replicate", "face", "-o", full_disk / "net", "--steps", "2", "--res", "8"), "net"),
                        (("train", "--task", "leave_square_out", "--set", "max_steps=2", "--set", "p=11",
                          "--set", "side=3", "-q", "-o", full_disk / "run"), "run"),
                        (("study", spec, "-o", full_disk / "study", "-q"), "study")]:
        before = snapshot(full_disk)
        r = cli(*args)
        refused_proc(r, words)
        assert "No space left" in r.stderr or "disk is full" in r.stderr, r.stderr
        assert snapshot(full_disk) == before or args[0] == "study"
    # the study's folder may stay (it was created empty before the store failed), but holds no partial store
    assert [p.name for p in (full_disk / "study").iterdir()] == [] if (full_disk / "study").exists() else True


def test_disk_full_patched_writer(tmp_path, capsys, monkeypatch):
    """The same promise where no tmpfs can be mounted: every write of a net folder fails as a full disk would."""
    import PIL.Image

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "save", full)
    monkeypatch.setattr(PIL.Image.Image, "save", full)
    refused(capsys, ["replicate", "face", "-o", tmp_path / "net", "--steps", "2", "--res", "8"], "No space left",
            watch=[tmp_path])
    refused(capsys, ["render", "face", "-o", tmp_path / "x.png", "--res", "8"], "No space left", watch=[tmp_path])


# -- two studies on one folder ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_concurrent_studies_compute_each_cell_once(tmp_path):
    spec, out = write_spec(tmp_path), tmp_path / "out"
    cmd = [sys.executable, "-m", "fracturelab", "study", str(spec), "-o", str(out), "--workers", "1"]
    procs = [subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
    ran = [int(stdout.split(" run now")[0].rsplit("(", 1)[1]) for stdout, _ in results]
    con = sqlite3.connect(out / "results.sqlite")
    status = dict(con.execute("SELECT key, status FROM cells").fetchall())
    con.close()
    assert set(status.values()) == {"done"}
    assert sum(ran) == len(status), (ran, len(status))  # every cell computed exactly once, by one of the two
    assert (out / "report.html").is_file()
