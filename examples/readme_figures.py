"""Make the foundation figures of docs/cppn-fer.md (docs/figures/): FER's images next to this project's renders, the
built-in CPPNs, and an SGD replica of the skull with its loss curve.

    python examples/readme_figures.py [--picbreeder ../shared/data/picbreeder] [-o docs/figures]
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from fracturelab.cppn import BUILTINS, ReplicateSettings, builtin_net, fit, load_cppn  # noqa: E402
from fracturelab.cppn.replicate import mse  # noqa: E402


def fer_renders(pb: Path, out: Path) -> None:
    fig, axes = plt.subplots(3, 4, figsize=(10, 7.6))
    for row, name in zip(axes, ("skull", "butterfly", "apple")):
        fer = np.asarray(Image.open(pb / "fer/nets" / f"picbreeder_{name}" / "img.png"))[..., :3] / 255
        ours = load_cppn(pb / "fer/genomes" / f"{name}.zip")
        img = ours.render(256)
        sgd = load_cppn(pb / "fer/nets" / f"sgd_{name}").render(256)
        panels = [(fer, "FER's img.png"), (img, f"genome, layerized here\n{ours.arch}"),
                  (np.abs(img - fer).mean(-1), f"|difference|, MSE {np.mean((img - fer) ** 2):.1e}"),
                  (sgd, "FER's SGD net, rendered here")]
        for ax, (im, title) in zip(row, panels):
            ax.imshow(im, cmap="magma" if im.ndim == 2 else None, vmin=0, vmax=(0.05 if im.ndim == 2 else 1))
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "fer_renders.png", dpi=80)


def builtins_figure(out: Path) -> None:
    fig, axes = plt.subplots(1, len(BUILTINS), figsize=(3 * len(BUILTINS), 3.3))
    for ax, name in zip(axes, BUILTINS):
        net = builtin_net(name)
        ax.imshow(net.render(256))
        ax.set_title(f"{name}: {net.arch.n_params} weights, {len(net.labels)} labelled", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "builtins.png", dpi=80)


def replica_figure(pb: Path, out: Path) -> None:
    skull = load_cppn(pb / "fer/genomes/skull.zip")
    target = skull.render(64)
    rep = fit(skull.arch, target, ReplicateSettings(res=64, steps=6000, seed=0))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
    axes[0].imshow(target)
    axes[0].set_title("Picbreeder skull, 64x64", fontsize=8)
    axes[1].imshow(skull.__class__("r", rep.arch, rep.params).render(64))
    axes[1].set_title(f"SGD replica (seed 0), MSE {mse(rep.arch, rep.params, target):.1e}", fontsize=8)
    for ax in axes[:2]:
        ax.axis("off")
    axes[2].semilogy(rep.losses)
    axes[2].axhline(2e-3, color="k", ls=":", lw=1)
    axes[2].set_xlabel("Adam step")
    axes[2].set_ylabel("training MSE")
    first = int(np.argmax(rep.losses < 2e-3)) if (rep.losses < 2e-3).any() else None
    axes[2].set_title(f"below 2e-3 first at step {first}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "skull_replica.png", dpi=80)
    print(f"skull replica: first below 2e-3 at step {first}, best MSE {rep.losses.min():.2e}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--picbreeder", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/picbreeder")
    ap.add_argument("-o", "--out", type=Path, default=Path("docs/figures"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    fer_renders(a.picbreeder, a.out)
    builtins_figure(a.out)
    replica_figure(a.picbreeder, a.out)
