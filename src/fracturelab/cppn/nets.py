"""Nets as FER stores them (a folder with arch.txt and params.npy), and one loader for every way to name a CPPN:
a genome file, a net folder, the name of a built-in CPPN, or the name of a shipped Picbreeder network."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import FracturelabError
from ..io import (atomic_file, check_new_dir, input_file, json_finite, prepare_output_dir, read_json, read_npy, read_text,
                  staged_dir)
from ..limits import check_size
from .arch import Arch
from .builtins import BUILTINS, builtin_net
from .genome import load_genome
from .layerize import Net, net_from_genome

__all__ = ["Net", "net_from_genome", "load_cppn", "load_netdir", "save_netdir", "load_png", "save_png", "write_png"]


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""Nets render in float32: a larger weight (1e300 in a float64 file or genome) would become infinite."""


def check_float32(params: np.ndarray, where) -> None:
    """Refuse weights that are NaN, infinite, or too large for float32 (they would render as NaN)."""
    if not np.isfinite(params).all():
        raise FracturelabError(f"{where}: holds NaN or infinite weights")
    if params.size and float(np.abs(params).max()) > FLOAT32_MAX:
        raise FracturelabError(f"{where}: a weight of {float(np.abs(params).max()):.3g} overflows float32 "
                               f"(at most {FLOAT32_MAX:.3g})")


def load_netdir(path) -> Net:
    path = Path(path)
    for f in ("arch.txt", "params.npy"):
        if not (path / f).exists():
            raise FracturelabError(f"{path}: not a net folder (no {f})")
    try:
        arch = Arch.parse(read_text(path / "arch.txt"))
    except FracturelabError as e:
        raise FracturelabError(f"{path / 'arch.txt'}: {e}") from None
    params = read_npy(path / "params.npy", max_items=arch.n_params)
    if params.dtype.kind != "f":  # bool or integer values are not weights a net was trained or evolved to
        raise FracturelabError(f"{path / 'params.npy'}: holds {params.dtype} values, expected floating-point weights")
    if params.ndim != 1 or params.size != arch.n_params:
        raise FracturelabError(f"{path / 'params.npy'}: {params.size} values, arch {arch} needs {arch.n_params}")
    check_float32(params, path / "params.npy")
    labels = {}
    if (path / "labels.json").exists():
        raw = read_json(path / "labels.json")
        try:
            labels = {int(k): str(v) for k, v in raw.items()}
        except (AttributeError, TypeError, ValueError):
            raise FracturelabError(f"{path / 'labels.json'}: expected {{weight ID: label}}") from None
        if any(not 0 <= k < arch.n_params for k in labels):
            raise FracturelabError(f"{path / 'labels.json'}: a weight ID outside 0..{arch.n_params - 1}")
    return Net(path.name, arch, params.astype(np.float32), labels, str(path))


def load_cppn(spec) -> Net:
    """A genome file (.xml or .zip), a net folder, a built-in CPPN's name (face, or builtin:face as `fracturelab
    builtins` and a net's source name it), or a shipped Picbreeder network's name (cppn.picbreeder: skull,
    butterfly, apple, sgd_skull, 576_Skull, ...). An existing path wins over a name."""
    from .picbreeder import FER_IMAGES, resolve

    path = Path(str(spec))
    name = str(spec).removeprefix("builtin:")
    if name in BUILTINS and not path.exists():
        return builtin_net(name)
    if path.is_dir():
        return load_netdir(path)
    if path.exists():
        genome = load_genome(path)
        check_float32(np.array([link.weight for link in genome.links], dtype=np.float64), path)
        return net_from_genome(genome)
    shipped = resolve(str(spec))
    if shipped is not None:
        return load_cppn(shipped)
    raise FracturelabError(f"{spec}: no such file, net folder, built-in CPPN ({', '.join(BUILTINS)}) or shipped "
                           f"Picbreeder network ({', '.join(FER_IMAGES)}, ...; `fracturelab picbreeder` "
                           "lists them)")


def save_png(path, rgb: np.ndarray) -> None:
    """(H, W, 3) in [0, 1] -> 8-bit RGBA PNG, as FER's img.png; path may be a file name or a binary file object."""
    rgba = np.concatenate([rgb, np.ones_like(rgb[..., :1])], axis=-1)
    Image.fromarray(np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8)).save(path, format="PNG")


def encoded(net, rgb: np.ndarray) -> tuple[bytes, bytes, bytes]:
    """A net as three files' bytes: a render of it (H, W, 3) as a PNG (save_png), its arch as text (Arch.parse reads
    it), and its flat weights as a float32 .npy (np.load reads it; no pickle)."""
    png, npy = io.BytesIO(), io.BytesIO()
    save_png(png, rgb)
    np.save(npy, np.asarray(net.params, dtype=np.float32), allow_pickle=False)
    return png.getvalue(), str(net.arch).encode(), npy.getvalue()


def write_png(path, rgb: np.ndarray) -> Path:
    """Write a PNG through a temporary file and a rename, so a failure never leaves a half-written image."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise FracturelabError(f"{path}: output must end in .png")
    prepare_output_dir(path.parent if str(path.parent) else ".")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        save_png(tmp, rgb)
    return path


def load_png(path, res: int | None = None) -> np.ndarray:
    """A PNG as (H, W, 3) floats in [0, 1], resized (bilinear) to res x res if given."""
    check_size(res * res if res else 0, "max_pixels", f"{path}: target pixels")
    input_file(path, "image")
    try:
        with Image.open(path) as im:
            check_size(im.size[0] * im.size[1], "max_pixels", f"{path}: image pixels")
            img = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as e:
        raise FracturelabError(f"{path}: not a readable image ({e})") from None
    if res and img.size != (res, res):
        img = img.resize((res, res), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def save_netdir(outdir, net: Net, losses=None, settings: dict | None = None, force: bool = False) -> Path:
    """Write FER's net folder (arch.txt, params.npy, img.png at 256x256, losses.npy) plus settings.json and
    labels.json. Written to a temporary folder first and moved into place, so a failure leaves nothing half-written.
    An existing non-empty folder is refused unless force (then it is replaced whole)."""
    out = check_new_dir(outdir, force)
    with staged_dir(out, replace=force) as tmp:
        (tmp / "arch.txt").write_text(str(net.arch))
        np.save(tmp / "params.npy", np.asarray(net.params, dtype=np.float32))
        save_png(tmp / "img.png", net.render(256))
        if losses is not None:
            np.save(tmp / "losses.npy", np.asarray(losses, dtype=np.float32))
        if settings is not None:
            (tmp / "settings.json").write_text(json.dumps(json_finite(settings), indent=1, allow_nan=False))
        if net.labels:
            (tmp / "labels.json").write_text(json.dumps({str(k): v for k, v in sorted(net.labels.items())}, indent=1))
    return out
