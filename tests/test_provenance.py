"""Reproducible studies (issue 31): what produced a study is recorded (provenance.py, summary.json's `provenance`,
each cell's source identity), and a study resumed by other code is refused unless mixing is asked for, then
flagged in summary.json, the report and `fracturelab report`."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from importlib import metadata

import pytest
from study_helpers import ENV

from fracturelab import provenance as P

SPEC = """
name = "prov"
seeds = [0]
regimes = ["scratch"]
probes = []
[cppn]
references = ["face"]
replicas = 3
regimes = ["sgd"]
res = 16
steps = 20
adapt_steps = 5
"""


@pytest.fixture
def fresh(monkeypatch):
    """No source identity from the environment, and none cached from another test."""
    monkeypatch.delenv(P.ENV_SOURCE_ID, raising=False)
    P._computed_source_id.cache_clear()
    yield
    P._computed_source_id.cache_clear()


def _slow_hash(root) -> str:
    """The obvious source hash: walk the tree, keep the source files, sort by relative path, hash path, size, bytes."""
    files = []
    for folder, dirs, names in os.walk(root):
        if "__pycache__" in folder.split(os.sep):
            continue
        for n in names:
            if os.path.splitext(n)[1] in (".py", ".toml", ".j2", ".js", ".cpp"):
                full = os.path.join(folder, n)
                files.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
    h = hashlib.sha256()
    for rel, full in sorted(files):
        data = open(full, "rb").read()
        h.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def test_source_hash_covers_source_files_only(tmp_path):
    tree = {"a.py": "x = 1", "sub/b.toml": "k = 2", "t/p.j2": "{{ x }}", "t/e.js": "f()", "k.cpp": "int",
            "data/g.xml": "<g/>", "__pycache__/a.cpython-311.pyc": "bytes", "sub/__pycache__/z.py": "no"}
    for rel, text in tree.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    before = P.source_hash(tmp_path)
    assert before == _slow_hash(tmp_path)
    (tmp_path / "data/g.xml").write_text("<h/>")  # data is not source
    (tmp_path / "sub/__pycache__/z.py").write_text("changed")
    assert P.source_hash(tmp_path) == before
    (tmp_path / "sub/b.toml").write_text("k = 3")  # a shipped profile is
    assert P.source_hash(tmp_path) != before and P.source_hash(tmp_path) == _slow_hash(tmp_path)


def test_source_id_names_the_commit_in_a_checkout(fresh, monkeypatch):
    git = ["git", "-C", str(P.PACKAGE_DIR)]
    tracked = subprocess.run([*git, "ls-files", "--", "__init__.py"], capture_output=True, text=True)
    if tracked.returncode != 0 or not tracked.stdout.strip():
        pytest.skip("fracturelab does not run from a git checkout here")
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True).stdout.strip()
    sid = P.source_id()
    assert sid.startswith(f"{P.version()}+g{head[:12]}")
    assert (".dirty." in sid) == bool(dirty)
    assert P.source_id() is sid  # once per process
    monkeypatch.setenv(P.ENV_SOURCE_ID, "test-identity")
    assert P.source_id() == "test-identity"


def test_source_id_of_an_installed_copy_is_the_hash_of_its_source(fresh, monkeypatch, tmp_path):
    """An installed copy (no checkout around the package, as after `pip install .`): the hash of its source."""
    monkeypatch.delenv(P.ENV_SOURCE_ID, raising=False)
    copy = tmp_path / "fracturelab"
    shutil.copytree(P.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    monkeypatch.setattr(P, "PACKAGE_DIR", copy)
    P._computed_source_id.cache_clear()
    assert P.git_state() is None
    assert P.source_id() == f"{P.version()}+sha256.{_slow_hash(copy)[:16]}"


def test_collect_reads_versions_without_importing_them():
    code = ("import json, sys; from fracturelab import provenance as P; print(json.dumps(P.collect(2, 'ray', 3))); "
            "print(sorted({'torch', 'numpy', 'scipy', 'sklearn', 'statsmodels'} & set(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True)
    prov, imported = r.stdout.splitlines()
    prov = json.loads(prov)
    assert imported == "[]"
    for lib in P.LIBRARIES:
        assert prov["libraries"][lib] == metadata.version(lib)
    assert prov["fracturelab"] == metadata.version("fracturelab") and prov["source"] == P.source_id()
    assert (prov["threads"], prov["executor"], prov["workers"]) == (2, "ray", 3)
    assert prov["python"] == ".".join(map(str, sys.version_info[:3]))
    if os.path.exists("/proc/cpuinfo"):
        names = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
        assert prov["cpu"] == (names[0] if names else P.cpu_model())


def test_old_store_reads_unknown(tmp_path):
    from study_helpers import synthetic_store

    from fracturelab.report.study_page import build_report

    synthetic_store(tmp_path)  # options without provenance, cells without a source: a store from before issue 31
    build_report(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["cells"]["done"] > 0
    assert summary["provenance"] == {"study": "unknown", "sources": {"unknown": summary["cells"]["done"]},
                                     "mixed": False}
    page = (tmp_path / "report.html").read_text()
    assert '<details id="provenance">' in page and "Provenance: unknown" in page and 'id="mixed-versions"' not in page


def _study(tmp_path, source: str, *extra):
    env = {**ENV, P.ENV_SOURCE_ID: source}
    return subprocess.run([sys.executable, "-m", "fracturelab", "study", str(tmp_path / "prov.toml"), "-o",
                           str(tmp_path / "out"), "--workers", "2", "-q", *extra], capture_output=True, text=True,
                          env=env, timeout=300)


def _sources(db) -> dict[str, str | None]:
    con = sqlite3.connect(db)
    try:
        return {k: json.loads(n or "{}").get("source") for k, n in con.execute("SELECT key, notes_json FROM cells")}
    finally:
        con.close()


@pytest.mark.slow
def test_resume_with_other_code_refused_unless_allowed_then_flagged(tmp_path):
    (tmp_path / "prov.toml").write_text(SPEC)
    out, db = tmp_path / "out", tmp_path / "out" / "results.sqlite"
    r = _study(tmp_path, "code-A")
    assert r.returncode == 0, r.stderr
    assert set(_sources(db).values()) == {"code-A"}  # every cell names the code that computed it
    prov = json.loads((out / "summary.json").read_text())["provenance"]
    assert prov["study"]["source"] == "code-A" and prov["sources"] == {"code-A": 4} and not prov["mixed"]

    # interrupted: two cells back to pending without rows, as a study killed mid-way leaves them
    con = sqlite3.connect(db)
    keys = [k for (k,) in con.execute("SELECT key FROM cells ORDER BY key LIMIT 2")]
    for table in ("metrics", "blobs"):
        con.executemany(f"DELETE FROM {table} WHERE cell_key=?", [(k,) for k in keys])
    con.executemany("UPDATE cells SET status='pending', notes_json=NULL WHERE key=?", [(k,) for k in keys])
    con.commit()
    con.close()
    before = (_sources(db), sqlite3.connect(db).execute("SELECT COUNT(*) FROM studies").fetchone())

    r = _study(tmp_path, "code-B")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "fracturelab: error:" in r.stderr and "2 of its 2 done cells" in r.stderr
    assert "2 by code-A" in r.stderr and "this is code-B" in r.stderr and "--allow-mixed-versions" in r.stderr
    assert (_sources(db), sqlite3.connect(db).execute("SELECT COUNT(*) FROM studies").fetchone()) == before

    r = _study(tmp_path, "code-B", "--allow-mixed-versions")
    assert r.returncode == 0, r.stderr
    assert "mixes code versions" in r.stderr
    prov = json.loads((out / "summary.json").read_text())["provenance"]
    assert prov["mixed"] and prov["sources"] == {"code-A": 2, "code-B": 2} and prov["study"]["source"] == "code-B"
    assert {k: s for k, s in _sources(db).items() if k in keys} == {k: "code-B" for k in keys}
    page = (out / "report.html").read_text()
    assert 'id="mixed-versions"' in page and "2 by code-A, 2 by code-B" in page

    (out / "report.html").unlink()
    r = subprocess.run([sys.executable, "-m", "fracturelab", "report", str(out), "-q"], capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\n") == 1 and "warning" in r.stderr and "2 by code-A, 2 by code-B" in r.stderr
    assert 'id="mixed-versions"' in (out / "report.html").read_text()
