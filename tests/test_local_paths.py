"""No local paths in a study's pages or summary (issue 31): shipped networks are named by their package name, user
files by the path the user gave, and the provenance block carries none either."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from study_helpers import TINY, cli

import fracturelab

pytestmark = pytest.mark.slow

MARKER = "zz_local_path_marker_91"
CPPN = """
[cppn]
references = ["face", "my_genome.xml"]
picbreeder = ["cppnx/576_Skull.xml"]
replicas = 1
regimes = ["sgd"]
res = 16
steps = 20
adapt_steps = 5
"""
BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{200,}")
"""Embedded PNGs and weight vectors: long runs of base64 characters, in which a short path-like string such as
"/root" turns up by chance; a path breaks such a run (its '.', '_', '-' or quotes are not base64)."""


def _local_paths() -> set[str]:
    """Absolute paths of this machine that no page may carry: the installed package's parent folder (site-packages,
    or src/ of an editable install), the Python environment, the home folder."""
    paths = {str(Path(fracturelab.__file__).resolve().parents[1]), sys.prefix, sys.base_prefix,
             str(Path(sys.prefix).resolve())}
    home = os.environ.get("HOME", "")
    if len(home) > 1:
        paths.add(home.rstrip("/"))
    return {p for p in paths if len(p) > 1}


def test_pages_and_summary_hold_no_local_path(tmp_path):
    from fracturelab.cppn.picbreeder import ROOT

    work = tmp_path / MARKER
    work.mkdir()
    shutil.copy(ROOT / "cppnx" / "542_GhostFaceSpooky.xml", work / "my_genome.xml")  # the user's own genome
    spec = TINY[:TINY.index("[cppn]")] + CPPN
    (work / "tiny.toml").write_text(spec)
    r = cli("study", "tiny.toml", "-o", "out", "--workers", "2", "-q", cwd=work)
    assert r.returncode == 0, r.stderr
    out = work / "out"
    pages = {name: (out / name).read_text() for name in ("report.html", "explorer.html", "summary.json")}
    forbidden = _local_paths() | {MARKER, str(tmp_path)}
    for name, text in pages.items():
        text = BASE64_RUN.sub("", text)
        leaks = sorted(p for p in forbidden if p in text)
        assert not leaks, f"{name} holds {leaks}"
    # the shipped network by its package name, the user's genome by the path the user gave
    nets = json.loads(pages["explorer.html"][pages["explorer.html"].index('type="application/json">') + 24:]
                      .split("</script>")[0])["nets"]
    assert {"576_Skull", "my_genome.xml"} <= {n["source"] for n in nets}
    assert json.loads(pages["summary.json"])["provenance"]["study"]["cpu"]
