"""Output files and folders that appear whole or not at all."""
from __future__ import annotations

import errno
import json
import math
import os
import shutil
import stat
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from .errors import FracturelabError


def prepare_output_dir(outdir) -> Path:
    """Fail early, before any long work, if OUTDIR cannot be written."""
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise FracturelabError(f"{out}: exists and is not a folder")
    if out.is_symlink() and not out.exists():  # a loop of links or a link to nothing: found only at the last write
        raise FracturelabError(f"{out}: is a symbolic link to nothing (dangling, or a loop); refused")
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise FracturelabError(f"{out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FracturelabError(f"{out}: not writable (read-only for this user)")
    return out


def _not_regular(path: Path) -> str | None:
    """What an existing PATH is when it is neither a regular file nor a folder (a FIFO, a device node, a socket),
    following links; None otherwise (also when PATH does not exist). A loop of links is named: the rename would
    replace the link with a regular file, as it would a FIFO."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return "a loop of symbolic links" if e.errno == errno.ELOOP else None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device node"


def output_file(path, inputs=()) -> Path:
    """Fail early, before any work, if the output file PATH cannot be written: an existing PATH must be a regular
    file (replaced whole at the end, atomic_file), never a folder, a FIFO or a device node such as /dev/full, which
    the rename would replace with a regular file; its folder must be writable (prepare_output_dir). inputs: the
    command's input paths; a PATH that is one of them or lies inside one is refused (it would replace part of the
    input, e.g. a run folder's model.pt)."""
    p = Path(path)
    for src in map(Path, inputs):
        if src.exists() and src.resolve() in (p.resolve(), *p.resolve().parents):
            raise FracturelabError(f"{path}: is the input {src} or lies inside it; give another output file")
    if p.is_dir():
        raise FracturelabError(f"{p}: is a folder; give the output file's name")
    if str(path).endswith(os.sep):  # Path drops a trailing "/": "a.png/" would write the file a.png
        raise FracturelabError(f"{path}: names a folder; give the output file's name")
    if (what := _not_regular(p)) is not None:
        raise FracturelabError(f"{p}: exists and is {what}, not a regular file; refused")
    prepare_output_dir(p.parent if str(p.parent) else ".")
    return p


def check_new_dir(outdir, force: bool = False, inputs=()) -> Path:
    """prepare_output_dir, and refuse an existing non-empty OUTDIR unless force (--force): call it before the work,
    so nothing is computed that could not be written, and nothing a user had there is replaced by accident. inputs:
    the command's input paths; an OUTDIR that is one of them or holds one is refused (--force would replace the
    input with the output)."""
    out = prepare_output_dir(outdir)
    if out.name in ("", ".", ".."):  # the current folder, its parent or a root: --force would replace it whole
        raise FracturelabError(f"{outdir}: names no folder of its own; give the output folder's name")
    for src in map(Path, inputs):
        if src.exists() and out.resolve() in (src.resolve(), *src.resolve().parents):
            raise FracturelabError(f"{outdir}: is the input {src} or holds it; give another output folder")
    if not force and out.exists():
        try:
            full = any(out.iterdir())
        except OSError as e:
            raise FracturelabError(f"{out}: cannot list ({e.strerror})") from None
        if full:
            raise FracturelabError(f"{out}: exists and is not empty; choose a new folder or pass --force to replace it")
    return out


def _write_error(out: Path, e: OSError) -> FracturelabError:
    where = f" ({e.filename})" if e.filename and Path(str(e.filename)).name != out.name else ""
    return FracturelabError(f"{out}: cannot write ({e.strerror or e}){where}; nothing was written")


def json_finite(v):
    """v with every NaN and infinity (a float anywhere in its dicts, lists and tuples) replaced by None: JSON has no
    such numbers (Python would write `NaN`, which strict parsers refuse), and None reads as "undefined"."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: json_finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_finite(x) for x in v]
    return v


@contextmanager
def staged_dir(outdir, replace: bool = False):
    """Yield a temporary folder beside OUTDIR; on success it becomes OUTDIR, on any failure it is removed.
    replace=False: OUTDIR must not exist yet, or be empty, so nothing a user had there is ever touched.
    replace=True: an existing OUTDIR is replaced at the end (the caller has decided it may be: --force).
    An OSError on the way (a full disk, a permission) becomes one FracturelabError naming OUTDIR."""
    out = check_new_dir(outdir, force=replace)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise _write_error(out, e) from None
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old.{os.getpid()}")
            out.rename(old)  # moved aside, not deleted, until the new folder is in place
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(out, e) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(path):
    """Yield a temporary path beside PATH (same suffix, so writers that go by it still work); on success it replaces
    PATH, with the permissions a new file gets under the umask; on any failure it is removed. PATH is never
    half-written; an OSError (a full disk) becomes one FracturelabError naming PATH. An existing PATH that is not a
    regular file or folder (a FIFO, a device node) is refused before anything is created."""
    path = Path(path)
    if (what := _not_regular(path)) is not None:  # checked again here: every writer is held to it, not just the CLI
        raise FracturelabError(f"{path}: exists and is {what}, not a regular file; refused")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise _write_error(path, e) from None
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes files private; outputs are meant to be shared like any file
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- reading: every input file goes through these, so OS and parse errors become one line naming the file --------
def input_file(path, what: str = "file") -> Path:
    """PATH checked before it is opened: it exists, is a regular file (a device, pipe or socket is refused: reading
    one may never end) and is within the max_file_bytes limit."""
    from .limits import check_size

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise FracturelabError(f"{p}: no such {what}") from None
    except OSError as e:
        raise FracturelabError(f"{p}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise FracturelabError(f"{p}: is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise FracturelabError(f"{p}: not a regular file (a device, pipe or socket); refused")
    check_size(st.st_size, "max_file_bytes", f"{p}: size in bytes")
    return p


def _first_line(e: Exception) -> str:
    """An exception's first line, or its class name when it has no message (torch raises an empty IndexError on an
    empty file)."""
    return (str(e).splitlines() or [e.__class__.__name__])[0]


def read_bytes(path, what: str = "file") -> bytes:
    p = input_file(path, what)
    try:
        return p.read_bytes()
    except OSError as e:
        raise FracturelabError(f"{p}: cannot read ({e.strerror})") from None


def read_text(path, what: str = "file") -> str:
    try:
        return read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise FracturelabError(f"{path}: not UTF-8 text") from None


def read_json(path, what: str = "JSON file"):
    try:
        return json.loads(read_text(path, what))
    except (json.JSONDecodeError, RecursionError) as e:
        raise FracturelabError(f"{path}: not valid JSON ({_first_line(e)})") from None


def read_npy(path, max_items: int | None = None):
    """A numeric .npy array; its header (dtype, shape) is checked before the data is read."""
    import numpy as np

    p = input_file(path, ".npy file")
    try:
        with open(p, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
            if dtype.kind not in "biuf" or dtype.hasobject:
                raise FracturelabError(f"{p}: holds {dtype} values, expected numbers")
            if max_items is not None and int(np.prod(shape)) > max_items:
                raise FracturelabError(f"{p}: {int(np.prod(shape)):,} values, expected at most {max_items:,}")
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except OSError as e:
        raise FracturelabError(f"{p}: cannot read ({e.strerror})") from None
    except (ValueError, EOFError, TypeError) as e:
        raise FracturelabError(f"{p}: not a readable .npy file ({_first_line(e)})") from None


def read_torch(path):
    """A torch state dict saved with torch.save, loaded with weights_only=True (no code runs); refused when a
    floating-point tensor in it holds a NaN or an infinity (a diverged run: every probe of it would be meaningless,
    and some, an SVD, fail outright)."""
    import pickle

    import torch

    p = input_file(path, "weights file")
    try:
        with warnings.catch_warnings():  # torch warns on stderr about a pickle it then refuses: a line beside ours
            warnings.simplefilter("ignore")
            state = torch.load(p, weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False: for a file that may run code
        raise FracturelabError(f"{p}: not a readable torch weights file (junk, or a pickle of objects other than "
                               f"tensors, which could run code if loaded in full); nothing was run") from None
    except OSError as e:
        raise FracturelabError(f"{p}: cannot read ({e.strerror or e})") from None
    except (RuntimeError, EOFError, ValueError, KeyError, AttributeError, IndexError) as e:
        raise FracturelabError(f"{p}: not a readable torch weights file ({_first_line(e)[:200]})") from None
    items = state.items() if isinstance(state, dict) else ()
    bad = next((k for k, v in items if isinstance(v, torch.Tensor) and v.is_floating_point()
                and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise FracturelabError(f"{p}: the weights are not finite (NaN or infinity in {str(bad)[:80]!r}); refused")
    return state


def write_torch(obj, path) -> None:
    """torch.save, serialized in memory first: torch's own file writer reports a full disk as a RuntimeError from
    C++, this way it is the OSError every other write gives."""
    import io as _io

    import torch

    buf = _io.BytesIO()
    torch.save(obj, buf)
    with open(path, "wb") as f:
        f.write(buf.getbuffer())
