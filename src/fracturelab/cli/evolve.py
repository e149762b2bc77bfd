"""CLI command `evolve`: evolve a CPPN toward a target (an image, a genome, a net folder or a built-in CPPN) and
write a net folder, the format `replicate` writes."""
from __future__ import annotations

from ..errors import FracturelabError
from .args import add_force, declared, int_at_least, positive, seed

GENERATIONS = 300
"""Generations of a method that settings.CPPN_GENERATIONS does not name."""


def _cmd_evolve(a):
    from ..cppn.arch import Arch
    from ..cppn.nets import save_netdir
    from ..cppn.replicate import check_fit_size
    from ..io import check_new_dir
    from ..train.evolve.matched import evolve_target
    from ..train.evolve.settings import (CPPN_ARCH, CPPN_GENERATIONS, CPPN_SIGMA, ESSettings, NEATSettings,
                                         NoveltySettings)
    from ..train.evolve.task_regimes import parse_evolve
    from .cppn import load_target

    if a.generations is None:
        a.generations = CPPN_GENERATIONS.get(a.method, GENERATIONS)
    if a.res < 2 or a.generations < 1 or a.population < 2:
        raise FracturelabError("--res must be at least 2, --generations at least 1, --population at least 2")
    if a.match_mse is not None and not a.match_mse > 0:
        raise FracturelabError(f"--match-mse must be > 0, got {a.match_mse}")
    for flag, text in (("--set", a.set), ("--novelty", a.novelty)):
        if text is not None and not text.strip():
            raise FracturelabError(f"{flag} is empty: give K=V,... or leave it out")
    if a.novelty is not None and a.method != "neat-novelty":
        raise FracturelabError(f"--novelty applies to --method neat-novelty, not {a.method}")
    if a.arch is not None and a.method.startswith("neat"):  # NEAT grows its own arch: --arch would do nothing
        raise FracturelabError(f"--arch applies to --method cmaes and es, not {a.method} (it grows its own)")
    if a.arch is not None and not a.arch.strip():
        raise FracturelabError("--arch is empty: give an arch (e.g. 2;sin:8) or leave it out")
    check_new_dir(a.out, a.force, inputs=(a.target,))  # fail before any long work
    target, own = load_target(a.target, a.res)
    arch = None
    if not a.method.startswith("neat"):
        arch = own if a.arch == "own" else Arch.parse(a.arch or CPPN_ARCH)
        if arch is None:
            raise FracturelabError("--arch own needs a CPPN target (a PNG has no arch of its own)")
        check_fit_size(arch, a.res)
    neat = es = None
    if a.method.startswith("neat"):
        neat = parse_evolve(a.set, NEATSettings, population=a.population, generations=a.generations)
    else:
        method = "sepcma" if a.method == "cmaes" else "openai"  # see settings.CPPN_ARCH
        es = parse_evolve(a.set, ESSettings, method=method, population=a.population, generations=a.generations,
                          sigma=CPPN_SIGMA if a.method == "cmaes" else 0.05)
    nov = parse_evolve(a.novelty, NoveltySettings) if a.method == "neat-novelty" else None
    ev = evolve_target(target, a.method, a.seed, a.match_mse, neat=neat, es=es, arch=arch, novelty=nov,
                       name=f"evolved_{a.method}", start=a.start)
    hist = ev.history
    settings = {"target": a.target, "res": a.res, "seed": a.seed, "match_mse": a.match_mse, **ev.settings,
                "final_mse": ev.mse, "generations": ev.generations, "stopped": ev.stopped, "arch": str(ev.net.arch),
                "history_last": hist[-1] if hist else None}
    losses = [-h["best_fitness"] for h in hist] if not a.method == "neat-novelty" else [h["best_mse"] for h in hist]
    out = save_netdir(a.out, ev.net, losses, settings, a.force)
    print(f"{out}: MSE {ev.mse:.3e} at {a.res}x{a.res} after {ev.generations} generations ({ev.stopped}), "
          f"arch {ev.net.arch}")


def register(sub) -> None:
    arch, generations = (declared("train.evolve.settings", n) for n in ("CPPN_ARCH", "CPPN_GENERATIONS"))
    s = sub.add_parser("evolve", help="evolve a CPPN toward a target (NEAT, novelty search, CMA-ES) into a net folder")
    s.add_argument("target", help="a PNG image, a genome (.xml/.zip), a net folder or a built-in CPPN's name")
    s.add_argument("-o", "--out", required=True, help="net folder to write (arch.txt, params.npy, img.png, ...)")
    s.add_argument("--method", default="neat", choices=("neat", "neat-novelty", "cmaes", "es"))
    s.add_argument("--match-mse", type=positive, default=None, help="stop once the render MSE is at most this")
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--res", type=int_at_least(2), default=32, help="fitness resolution (res x res)")
    s.add_argument("--generations", type=int_at_least(1), default=None,
                   help="most generations (default: " + ", ".join(f"{m} {g}" for m, g in generations.items())
                        + f", others {GENERATIONS})")
    s.add_argument("--population", type=int_at_least(2), default=100)
    add_force(s)
    s.add_argument("--arch", default=None,
                   help=f"cmaes/es: the fixed arch (default {arch}; `own`: the target net's own arch)")
    s.add_argument("--start", default="constant", choices=("constant", "lecun"),
                   help="cmaes/es: start from the target's mean colour (default) or a LeCun-normal draw")
    s.add_argument("--set", default=None, metavar="K=V,...",
                   help="more NEATSettings or ESSettings fields, e.g. 'node_add_prob=0.3' or 'sigma=0.2'")
    s.add_argument("--novelty", default=None, metavar="K=V,...", help="neat-novelty: NoveltySettings fields")
    s.set_defaults(fn=_cmd_evolve)
