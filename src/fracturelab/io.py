"""Output folders that appear whole or not at all."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .cppn.nets import prepare_output_dir
from .errors import FracturelabError


@contextmanager
def staged_dir(outdir):
    """Yield a temporary folder beside OUTDIR; on success it becomes OUTDIR, on any failure it is removed. OUTDIR must
    not exist yet, or be empty, so nothing a user had there is ever replaced."""
    out = prepare_output_dir(outdir)
    if out.exists() and any(out.iterdir()):
        raise FracturelabError(f"{out}: exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
