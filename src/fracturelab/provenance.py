"""What produced a result: the code (fracturelab's version and source identity), the libraries that produce numbers,
and the machine. Light on purpose (no numerical library is imported: versions are read with importlib.metadata), so
the CLI and the store can call it freely.

    source_id()                 # "0.1.0+g1a2b3c4d5e6f" in a clean git checkout, "0.1.0+g1a2b3c4d5e6f.dirty.0f1e2d3c"
                                # with local edits, "0.1.0+sha256.9a8b7c6d5e4f3a2b" installed from a wheel or sdist
    collect(threads=2, executor="local", workers=1)   # the study's provenance (a JSON-able dict, no local paths)

The source identity is what a study compares before mixing cells: two processes with the same identity run the same
fracturelab code. It is computed once per process (cached; a cell's worker stamps its cells with it).
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The folder of the fracturelab package that is running."""
ENV_SOURCE_ID = "FRACTURELAB_SOURCE_ID"
"""An environment variable that, when set and not empty, replaces the computed source identity (for tests that
simulate a study resumed by other code; never set it otherwise)."""
LIBRARIES = ("torch", "numpy", "scipy", "scikit-learn", "statsmodels")
"""The distributions whose versions are recorded: those that produce a study's numbers."""
SOURCE_SUFFIXES = (".py", ".toml", ".j2", ".js", ".cpp")
"""The package files whose contents make up the source hash (code, shipped profiles, templates, kernels)."""
NOTE = "source"
"""The key of a study cell's notes that holds the source identity of the process that computed it."""
UNKNOWN = "unknown"
"""What a store written before provenance was recorded reads as (its study's provenance, its cells' source)."""
GIT_TIMEOUT_S = 5
"""Seconds each git command may take before the source hash is used instead."""


def version() -> str:
    """fracturelab's installed version (the package's own __version__ where no distribution metadata is found)."""
    try:
        return metadata.version("fracturelab")
    except metadata.PackageNotFoundError:
        from . import __version__

        return __version__


def source_hash(root: Path | None = None) -> str:
    """sha256 (hex) over the source files (SOURCE_SUFFIXES, outside __pycache__) under `root` (default PACKAGE_DIR),
    sorted by their path relative to root: each contributes its relative POSIX path, a NUL byte, its size in decimal,
    a NUL byte and its bytes."""
    root = Path(root) if root is not None else PACKAGE_DIR
    h = hashlib.sha256()
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                   if p.suffix in SOURCE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts)
    for rel, p in files:
        data = p.read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _git(*args: str) -> str | None:
    """git's stdout in the package's folder, or None (no git, not a checkout, an error or a timeout)."""
    try:
        r = subprocess.run(["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state() -> tuple[str, bool] | None:
    """(commit, dirty) when the running package is tracked in a git checkout, else None. Dirty: git reports a
    change, tracked or untracked, under the package's folder (edits elsewhere in the checkout change no result)."""
    if not _git("ls-files", "--", "__init__.py"):  # not a checkout, or an installed copy inside an untracked venv
        return None
    commit, status = _git("rev-parse", "HEAD"), _git("status", "--porcelain", "--", ".")
    if not commit or status is None:
        return None
    return commit, bool(status)


@functools.lru_cache(maxsize=1)
def _computed_source_id() -> str:
    state = git_state()
    if state is None:
        return f"{version()}+sha256.{source_hash()[:16]}"
    commit, dirty = state
    # a dirty flag alone would not tell two different local edits apart: add the edited source's hash
    return f"{version()}+g{commit[:12]}" + (f".dirty.{source_hash()[:8]}" if dirty else "")


def source_id() -> str:
    """This process's source identity: version plus "+g" and the commit's first 12 hex digits in a git checkout
    (".dirty." and the first 8 hex digits of source_hash() when the package's folder has local changes), else
    version plus "+sha256." and source_hash()'s first 16 hex digits. ENV_SOURCE_ID, when set, replaces it."""
    return os.environ.get(ENV_SOURCE_ID) or _computed_source_id()


def library_versions() -> dict[str, str | None]:
    """{distribution: installed version, or None where it is not installed} for LIBRARIES."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo's first "model name" line; platform.processor() elsewhere; "unknown")."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or UNKNOWN


def collect(threads: int, executor: str, workers: int) -> dict:
    """A study's provenance: fracturelab's version and source identity, LIBRARIES' versions, Python, platform, CPU
    model, and the study's threads per worker, executor and workers. Holds no local path."""
    return {"fracturelab": version(), "source": source_id(), "libraries": library_versions(),
            "python": platform.python_version(), "implementation": sys.implementation.name,
            "platform": platform.platform(), "cpu": cpu_model(), "threads": threads, "executor": executor,
            "workers": workers}
