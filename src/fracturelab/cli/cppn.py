"""CLI commands on CPPNs: genome, render, builtins, picbreeder, replicate, fer, labels, explore."""
from __future__ import annotations

import json

from ..errors import FracturelabError
from .args import add_force, finite, int_at_least, positive, seed


def _cmd_genome(a):
    from ..cppn.describe import describe, describe_text
    from ..cppn.nets import load_cppn

    d = describe(load_cppn(a.path))
    print(json.dumps(d, indent=1) if a.json else describe_text(d))


def _cmd_render(a):
    from pathlib import Path

    import numpy as np

    from ..cppn.nets import FLOAT32_MAX, load_cppn, write_png
    from ..io import output_file

    from ..limits import check_size

    check_size(a.res * a.res, "max_pixels", f"--res {a.res}: pixels")
    window = tuple(a.window) if a.window else None
    if window and max(map(abs, window)) > FLOAT32_MAX:  # nets render in float32: the grid would be infinite
        raise FracturelabError(f"--window: {max(map(abs, window)):.3g} overflows float32 (at most {FLOAT32_MAX:.3g})")
    w32 = np.float32(window) if window else None  # compared as rendered: 0 < 1e-46 is 0 == 0 in float32
    if window and not (w32[0] < w32[1] and w32[2] < w32[3]):
        raise FracturelabError(f"--window X0 X1 Y0 Y1 needs X0 < X1 and Y0 < Y1 in float32, got "
                               f"{' '.join(map(str, window))}")
    if Path(a.out).suffix.lower() != ".png":
        raise FracturelabError(f"{a.out}: output must end in .png")
    output_file(a.out)
    net = load_cppn(a.path)
    print(write_png(a.out, net.render(a.res, window)))


def _cmd_builtins(a):
    from ..cppn.builtins import BUILTINS, builtin_net
    from ..cppn.describe import describe, describe_text

    ds = [describe(builtin_net(n)) for n in BUILTINS]
    print(json.dumps(ds, indent=1) if a.json else "\n\n".join(map(describe_text, ds)))


def _cmd_picbreeder(a):
    from ..cppn import picbreeder

    rows = [{"name": n, "path": str(picbreeder.resolve(n)),
             "license": "MIT (CPPN-X)" if r.startswith("cppnx/") else "Apache-2.0 (FER)"}
            for n, r in picbreeder.NAMES.items()]
    if a.json:
        print(json.dumps({"root": str(picbreeder.ROOT), "networks": rows}, indent=1))
        return
    print(f"shipped Picbreeder networks in {picbreeder.ROOT} (sources and licenses: NOTICE there)")
    for r in rows:
        print(f"  {r['name']:<26} {r['license']:<17} {r['path']}")


def load_target(path: str, res: int):
    """A target image and its net's arch: (image (res, res, 3) in [0, 1], Arch, or None for a PNG). path is a .png
    image or anything load_cppn reads (genome, net folder, built-in name)."""
    from ..cppn.nets import load_cppn, load_png

    if path.lower().endswith(".png"):
        return load_png(path, res), None
    ref = load_cppn(path)
    return ref.render(res), ref.arch


def _cmd_replicate(a):
    from ..cppn.arch import Arch
    from ..cppn.nets import Net, save_netdir
    from ..cppn.replicate import ReplicateSettings, check_fit_size, fit, mse
    from ..io import check_new_dir

    check_new_dir(a.out, a.force, inputs=(a.path,))  # before the work: nothing computed that could not be written
    settings = ReplicateSettings(res=a.res, steps=a.steps, lr=a.lr, seed=a.seed, arch=a.arch, init=a.init,
                                 keep=a.keep)
    settings.check()
    if a.path.lower().endswith(".png") and not a.arch:
        raise FracturelabError("a PNG target needs --arch (e.g. '8;cache:8,gaussian:4,sin:4')")
    if a.arch is not None:
        check_fit_size(Arch.parse(a.arch), a.res)
    target, own = load_target(a.path, a.res)
    arch = Arch.parse(a.arch) if a.arch is not None else own
    rep = fit(arch, target, settings)
    net = Net(f"sgd_{a.path}", arch, rep.params, {}, "sgd")
    final = mse(arch, rep.params, target)
    out = save_netdir(a.out, net, rep.losses, {"target": a.path, **vars(settings), "final_mse": final}, a.force)
    print(f"{out}: MSE {final:.3e} at {a.res}x{a.res} after {a.steps} steps")


def _cmd_fer(a):
    from dataclasses import replace

    from ..cppn.nets import load_cppn, load_netdir
    from ..fer.analyze import FerSettings, analyze
    from ..fer.costs import CostSettings
    from ..cppn.replicate import check_fit_size
    from ..io import check_new_dir, staged_dir
    from ..report.fer_page import write_page

    if a.res < 8 or a.replicas < 0:
        raise FracturelabError("--res must be at least 8 and --replicas at least 0")
    from ..limits import check_size

    check_size(a.replicas, "max_runs", "--replicas")  # before any training: each replica is a full fit
    check_new_dir(a.out, a.force, inputs=(a.reference,))
    reference = load_cppn(a.reference)
    from pathlib import Path

    from ..cppn import picbreeder

    # a net folder, or a shipped net's name (sgd_skull, ...)
    replicas = [load_netdir(p if Path(p).exists() else (picbreeder.resolve(p) or p)) for p in a.replica]
    for net in [reference, *replicas]:
        check_fit_size(net.arch, a.res)
    costs = CostSettings(seeds=tuple(range(a.replicas)) or (0,))
    settings = FerSettings(res=a.res, replicas=a.replicas, costs=costs)
    if a.quick:  # a smoke run: minutes, not the numbers to report
        settings = replace(settings, n_perm=200, costs=replace(costs, steps=1500, adapt_steps=300, seeds=(0,)))
    with staged_dir(a.out, replace=a.force) as tmp:
        metrics, arts = analyze(reference, replicas, settings)
        renders = {n: net.render(256) for n, net in [(reference.name, reference)] + [(r.name, r) for r in replicas]}
        write_page(tmp, metrics, arts, renders, settings.costs.wide)
    print(f"wrote {a.out}/index.html and {a.out}/metrics.json")


def _cmd_labels(a):
    import csv

    from ..fer.labels import LabelSettings, format_table, label_table
    from ..fer.sweeps import SweepSettings
    from ..io import check_new_dir, json_finite, staged_dir

    from pathlib import Path

    from ..cppn import picbreeder

    check_new_dir(a.out, a.force, inputs=(a.dir,))
    genomes = a.dir if Path(a.dir).exists() or a.dir != "cppnx" else picbreeder.ROOT / "cppnx"  # the shipped 16
    rows = label_table(genomes, LabelSettings(SweepSettings(res=a.res), a.n_perm, a.seed))
    with staged_dir(a.out, replace=a.force) as tmp:
        (tmp / "labels.json").write_text(json.dumps(json_finite(rows), indent=1, allow_nan=False))  # NaN: null
        with open(tmp / "labels.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[-1]), extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    print(format_table(rows))


def _cmd_explore(a):
    from ..io import output_file
    from ..report.explorer import ExploreSettings, write_explorer

    output_file(a.out)  # before the sweeps: a FIFO or device node named by -o is refused, never replaced
    settings = ExploreSettings(sweep_res=a.sweep_res, sweep_max=a.sweep_max, seed=a.seed, res=a.res)
    print(write_explorer(a.paths, a.out, settings))


def register(sub) -> None:
    s = sub.add_parser("genome", help="summarize a genome, net folder or built-in CPPN")
    s.add_argument("path", help="genome file, net folder, built-in name or shipped Picbreeder name")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=_cmd_genome)

    s = sub.add_parser("render", help="render a CPPN to a PNG")
    s.add_argument("path", help="genome file, net folder or built-in name")
    s.add_argument("-o", "--out", required=True, help="output .png")
    s.add_argument("--res", type=int_at_least(1), default=256)
    s.add_argument("--window", type=finite, nargs=4, metavar=("X0", "X1", "Y0", "Y1"),
                   help="coordinate window (default -1 1 -1 1)")
    s.set_defaults(fn=_cmd_render)

    s = sub.add_parser("builtins", help="list the built-in CPPNs and their weights' labels")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=_cmd_builtins)

    s = sub.add_parser("picbreeder", help="list the shipped Picbreeder networks (names usable as PATH)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=_cmd_picbreeder)

    s = sub.add_parser("replicate", help="train an SGD replica of a CPPN or image (FER's recipe)")
    s.add_argument("path", help="genome file, net folder, built-in name, or a .png image")
    s.add_argument("-o", "--out", required=True, help="net folder to write")
    s.add_argument("--res", type=int_at_least(2), default=64)
    s.add_argument("--steps", type=int_at_least(1), default=6000)
    s.add_argument("--lr", type=positive, default=3e-3)
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--arch", default=None, help="replica arch (default: the target's own)")
    add_force(s)
    s.add_argument("--init", default="truncated", choices=("truncated", "normal"),
                   help="initial weights: flax's truncated LeCun normal (FER's, default) or a plain LeCun normal")
    s.add_argument("--keep", default="final", choices=("final", "best"),
                   help="weights to keep: after the last step (FER's, default) or those with the lowest training MSE")
    s.set_defaults(fn=_cmd_replicate)

    s = sub.add_parser("fer", help="measure fractured entangled representation (FER) in a reference CPPN and its "
                       "SGD replicas")
    s.add_argument("reference", help="genome file, net folder or built-in name")
    s.add_argument("--replica", action="append", default=[], metavar="NETDIR",
                   help="a replica net folder or shipped net name, e.g. sgd_skull (repeat)")
    s.add_argument("--replicas", type=int_at_least(0), default=3,
                   help="replicas to train when none are given (default 3)")
    s.add_argument("-o", "--out", required=True)
    s.add_argument("--res", type=int_at_least(8), default=64)
    add_force(s)
    s.add_argument("--quick", action="store_true", help="short training budgets: a smoke run")
    s.set_defaults(fn=_cmd_fer)

    s = sub.add_parser("labels", help="score how well weight sweeps agree with people's labels, for every genome "
                       "in DIR")
    s.add_argument("dir", help="folder of genomes, or `cppnx` for the 16 shipped CPPN-X genomes")
    s.add_argument("-o", "--out", required=True)
    s.add_argument("--res", type=int_at_least(8), default=64)
    s.add_argument("--n-perm", type=int_at_least(1), default=1000)
    s.add_argument("--seed", type=seed, default=0)
    add_force(s)
    s.set_defaults(fn=_cmd_labels)

    s = sub.add_parser("explore", help="write one self-contained HTML page to sweep CPPN weights live in the browser")
    s.add_argument("paths", nargs="+", metavar="PATH", help="genome file, net folder or built-in name (repeat)")
    s.add_argument("-o", "--out", required=True, help="output .html")
    s.add_argument("--sweep-res", type=int, default=32, help="resolution of the sweeps behind the effect column "
                   "(0: no sweeps)")
    s.add_argument("--sweep-max", type=int_at_least(0), default=200,
                   help="weights swept per net without a genome (SGD nets)")
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--res", type=int, default=128, help="image resolution the page opens with")
    s.set_defaults(fn=_cmd_explore)
