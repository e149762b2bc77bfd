"""Nets as FER stores them (a folder with arch.txt and params.npy), and one loader for every way to name a CPPN:
a genome file, a net folder, or the name of a built-in CPPN."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import FracturelabError
from ..io import atomic_file, prepare_output_dir, staged_dir
from .arch import Arch
from .genome import Genome, load_genome
from .layerize import layerize
from .module import render


@dataclass
class Net:
    """A layerized CPPN: FER's arch and flat float32 weight vector, plus the weights' human labels where known."""

    name: str
    arch: Arch
    params: np.ndarray
    labels: dict[int, str] = field(default_factory=dict)  # weight ID -> text
    source: str = ""                                      # path, or "builtin:NAME"
    genome: Genome | None = None

    def render(self, res: int = 256, window=None) -> np.ndarray:
        return render(self.arch, self.params, res, window) if window else render(self.arch, self.params, res)


def net_from_genome(genome: Genome) -> Net:
    lz = layerize(genome)
    return Net(genome.name, lz.arch, lz.params, lz.labels, genome.path, genome)


def load_netdir(path) -> Net:
    path = Path(path)
    for f in ("arch.txt", "params.npy"):
        if not (path / f).is_file():
            raise FracturelabError(f"{path}: not a net folder (no {f})")
    try:
        arch = Arch.parse((path / "arch.txt").read_text())
    except FracturelabError as e:
        raise FracturelabError(f"{path / 'arch.txt'}: {e}") from None
    try:
        params = np.load(path / "params.npy", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise FracturelabError(f"{path / 'params.npy'}: unreadable ({e})") from None
    if params.ndim != 1 or params.size != arch.n_params:
        raise FracturelabError(f"{path / 'params.npy'}: {params.size} values, arch {arch} needs {arch.n_params}")
    if not np.isfinite(params).all():
        raise FracturelabError(f"{path / 'params.npy'}: holds NaN or infinite weights")
    labels = {}
    if (path / "labels.json").is_file():
        labels = {int(k): v for k, v in json.loads((path / "labels.json").read_text()).items()}
    return Net(path.name, arch, params.astype(np.float32), labels, str(path))


def load_cppn(spec) -> Net:
    """A genome file (.xml or .zip), a net folder, or a built-in CPPN's name."""
    from .builtins import BUILTINS, builtin_net  # builtins build on this module

    path = Path(str(spec))
    if path.is_dir():
        return load_netdir(path)
    if path.exists():
        return net_from_genome(load_genome(path))
    if str(spec) in BUILTINS:
        return builtin_net(str(spec))
    raise FracturelabError(f"{spec}: no such file, net folder or built-in CPPN "
                           f"(built-ins: {', '.join(BUILTINS)})")


def save_png(path, rgb: np.ndarray) -> None:
    """(H, W, 3) in [0, 1] -> 8-bit RGBA PNG, as FER's img.png; path may be a file name or a binary file object."""
    rgba = np.concatenate([rgb, np.ones_like(rgb[..., :1])], axis=-1)
    Image.fromarray(np.round(np.clip(rgba, 0, 1) * 255).astype(np.uint8)).save(path, format="PNG")


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
    try:
        img = Image.open(path).convert("RGB")
    except (OSError, ValueError) as e:
        raise FracturelabError(f"{path}: not a readable image ({e})") from None
    if res and img.size != (res, res):
        img = img.resize((res, res), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


NETDIR_FILES = {"arch.txt", "params.npy", "img.png", "losses.npy", "settings.json", "labels.json", "args.json"}


def save_netdir(outdir, net: Net, losses=None, settings: dict | None = None) -> Path:
    """Write FER's net folder (arch.txt, params.npy, img.png at 256x256, losses.npy) plus settings.json and
    labels.json. Written to a temporary folder first and moved into place, so a failure leaves nothing half-written."""
    out = prepare_output_dir(outdir)
    if out.exists():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in NETDIR_FILES)
        if foreign:
            raise FracturelabError(f"{out}: exists and holds other files ({', '.join(foreign[:3])}); "
                                   "choose a new folder")
    with staged_dir(out, replace=True) as tmp:
        (tmp / "arch.txt").write_text(str(net.arch))
        np.save(tmp / "params.npy", np.asarray(net.params, dtype=np.float32))
        save_png(tmp / "img.png", net.render(256))
        if losses is not None:
            np.save(tmp / "losses.npy", np.asarray(losses, dtype=np.float32))
        if settings is not None:
            (tmp / "settings.json").write_text(json.dumps(settings, indent=1))
        if net.labels:
            (tmp / "labels.json").write_text(json.dumps({str(k): v for k, v in sorted(net.labels.items())}, indent=1))
    return out
