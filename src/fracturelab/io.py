"""Output files and folders that appear whole or not at all."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import FracturelabError


def prepare_output_dir(outdir) -> Path:
    """Fail early, before any long work, if OUTDIR cannot be written."""
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise FracturelabError(f"{out}: exists and is not a folder")
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise FracturelabError(f"{out}: not writable")
    return out


@contextmanager
def staged_dir(outdir, replace: bool = False):
    """Yield a temporary folder beside OUTDIR; on success it becomes OUTDIR, on any failure it is removed.
    replace=False: OUTDIR must not exist yet, or be empty, so nothing a user had there is ever touched.
    replace=True: an existing OUTDIR is replaced at the end (the caller has decided it may be)."""
    out = prepare_output_dir(outdir)
    if not replace and out.exists() and any(out.iterdir()):
        raise FracturelabError(f"{out}: exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(path):
    """Yield a temporary path beside PATH (same suffix, so writers that go by it still work); on success it replaces
    PATH, with the permissions a new file gets under the umask; on any failure it is removed. PATH is never
    half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; outputs are meant to be shared like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
