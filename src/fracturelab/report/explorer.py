"""The explorer: one self-contained HTML page in which any CPPN's weights are swept live in the browser.

    write_explorer(["skull.zip", "sgd_skull/"], "explorer.html")   # what `fracturelab explore` runs

Each net is embedded as its arch string and flat float32 weight vector (FER's order, base64), with the weights'
people's labels and, from fracturelab.fer.sweeps, each swept weight's effect, locality, added asymmetry, roughness
and whether it passes the "meaningful" rule. The page (templates/explorer_*.js) evaluates the CPPN itself, in float64
over typed arrays: the same inputs (x, y, d = 1.4 sqrt(x² + y²), bias), activations and HSV->RGB rule as
cppn/module.py and cppn/color.py, and fer/maps.py's novel-map rule on its 64x64 feature-map grid. Nothing is loaded
from the network, so the file works from file:// and can be mailed.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import FracturelabError
from ..io import atomic_file, prepare_output_dir
from ..limits import check_pixels

# The page's scripts, in load order: the engines (typed arrays: forward pass, colour, novel maps; WebGL2, measured
# against it) have no page code, the UI and controls have.
SCRIPTS = ("explorer_engine.js", "explorer_gl.js", "explorer_ui.js", "explorer_controls.js")


@dataclass(frozen=True)
class ExploreSettings:
    """What `explore` computes in Python before writing the page (the page computes everything else live)."""

    sweep_res: int = 32
    """Resolution of the sweeps (fer.sweeps, Δw over [-1, 1] in 21 steps) whose effect the weight list shows;
    0 leaves the effect column empty (no sweeps are run). FER's measurements use 64; 32 ranks the weights alike at a
    quarter of the cost."""
    sweep_max: int = 200
    """Nets without a genome (SGD nets): sweep a seeded random subset of this many non-zero weights (every one of an
    SGD apple's 46,000 weights would take an hour); 0: none. Nets with a genome sweep every genome link."""
    seed: int = 0
    """Seed of that subset."""
    res: int = 128
    """Image resolution the page opens with (the page can change it; the state lives in the URL hash)."""

    def check(self) -> None:
        if self.sweep_res < 0 or self.sweep_res in (1, 2) or self.sweep_max < 0 or not 1 <= self.res <= 1024:
            raise FracturelabError(f"explore settings: sweep_res must be 0 or at least 3, sweep_max at least 0, "
                                   f"res in 1..1024 (got {self.sweep_res}, {self.sweep_max}, {self.res})")
        if self.sweep_res:
            check_pixels(self.sweep_res, "explore --sweep-res")


def _sweeps(net, settings: ExploreSettings) -> dict[str, list]:
    """weight ID -> [effect, locality, asym_added, roughness, meaningful] for the weights fer.sweeps picks."""
    from ..fer.sweeps import SweepSettings, is_meaningful, sweep_weights, sweepable_weights

    if settings.sweep_res == 0 or (net.genome is None and settings.sweep_max == 0):
        return {}
    s = SweepSettings(res=settings.sweep_res, max_weights=settings.sweep_max or 1, seed=settings.seed)
    out = {}
    for r in sweep_weights(net, sweepable_weights(net, s), s):
        vals = [r[k] for k in ("effect", "locality", "asym_added", "roughness")]
        out[str(r["wid"])] = [round(v, 6) if np.isfinite(v) else None for v in vals] + [is_meaningful(r, s)]
    return out


def as_given(net, reference):
    """The net with its `source` shown as the reference it was loaded from, as given (a shipped network's name such
    as "576_Skull", a user's path relative or absolute as typed), never the file that reference resolved to: a
    shipped network's file lies in the installation, whose path a shared page must not carry. Built-ins keep
    "builtin:NAME"."""
    return net if str(net.source).startswith("builtin:") else dataclasses.replace(net, source=str(reference))


def net_record(net, settings: ExploreSettings = ExploreSettings()) -> dict:
    """What the page needs of one net, as JSON-ready data."""
    from ..cppn.layerize import layerize

    params = np.ascontiguousarray(np.asarray(net.params, dtype="<f4"))
    rec = {"name": net.name, "source": str(net.source), "arch": str(net.arch),
           "params": base64.b64encode(params.tobytes()).decode(),
           "labels": {str(k): v for k, v in sorted(net.labels.items())}, "links": None, "units": None,
           "sweeps": _sweeps(net, settings)}
    if net.genome is not None:  # the weight list is the genome's links; units are named by the node they hold
        lz = layerize(net.genome)
        rec["links"] = list(dict.fromkeys(i for i in lz.link_weight_ids if i is not None))
        names = {k: (n.label or k) for k, n in net.genome.nodes.items()}  # inputs, outputs by name; others by key
        rec["units"] = [[names.get(k, "") if k else "" for k in layer] for layer in lz.layers]  # hidden 1..L
    return rec


def _asset(name: str) -> str:
    return resources.files("fracturelab.report").joinpath("templates", name).read_text(encoding="utf-8")


def explorer_html(records: list[dict], title: str = "fracturelab explorer", settings=ExploreSettings()) -> str:
    """The page, with the nets' records embedded as JSON (every `<` escaped, so no string can close the script)."""
    data = json.dumps({"nets": records, "res": settings.res}, separators=(",", ":")).replace("<", "\\u003c")
    parts = {"TITLE": html.escape(title), "CSS": _asset("explorer.css"), "DATA": data,
             "SCRIPTS": "\n".join(f"<script>\n{_asset(s)}\n</script>" for s in SCRIPTS)}
    # one pass, so text inside a part (a label, say) is never taken for a placeholder
    return re.sub(r"\{\{(TITLE|CSS|DATA|SCRIPTS)\}\}", lambda m: parts[m.group(1)], _asset("explorer.html"))


def write_explorer(paths, out, settings: ExploreSettings = ExploreSettings(), nets=None) -> Path:
    """Load every path as `render` does (genome, net folder, built-in name) and write the page to OUT (.html).
    `nets` may add already-loaded Net objects (e.g. a study's replicas). All input is checked before anything is
    written; the file appears whole or not at all."""
    from ..cppn.nets import load_cppn

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise FracturelabError(f"{out}: output must end in .html")
    if out.is_dir():
        raise FracturelabError(f"{out}: is a folder; give the page's file name")
    settings.check()
    prepare_output_dir(out.parent if str(out.parent) else ".")
    loaded = [as_given(load_cppn(p), p) for p in paths] + list(nets or [])
    if not loaded:
        raise FracturelabError("explore: give at least one CPPN (genome file, net folder or built-in name)")
    page = explorer_html([net_record(n, settings) for n in loaded], settings=settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


STUDY_EXPLORER = "explorer.html"


def _rebuilt(n):
    """A study net (study.results.StudyNet) as a Net from its stored arch and weights; None where it stored none
    (a store older than the explorer) or they do not make a finite net of that arch."""
    import io

    from ..cppn.arch import Arch
    from ..cppn.nets import Net

    if n.arch is None or n.params is None:
        return None
    try:
        arch, params = Arch.parse(n.arch), np.load(io.BytesIO(n.params), allow_pickle=False)
    except (FracturelabError, ValueError, OSError):  # a damaged blob costs that net its place, never the report
        return None
    if params.shape != (arch.n_params,) or not np.isfinite(params).all():
        return None
    return Net(f"{n.name} {n.regime} seed {n.seed}", arch, params.astype(np.float32), source=n.regime)


def _study_nets(res) -> list:
    """A study's CPPN nets for its explorer (res: study.results.StudyResults, already read from the store): its
    reference networks, each followed by its other nets (replicas, initializations, rebuilt from the arch and weights
    their cells stored; a store older than the explorer gives references only)."""
    from ..cppn.nets import load_cppn

    refs: dict[str, list] = {}
    for n in sorted(res.nets, key=lambda n: (n.reference, n.regime != "reference", n.seed)):
        group = refs.setdefault(n.reference, [])
        if n.regime == "reference":
            try:
                group.insert(0, as_given(load_cppn(n.reference), n.reference))
            except FracturelabError:  # the reference's file moved since the study ran: show its replicas alone
                pass
        elif (net := _rebuilt(n)) is not None:
            group.append(net)
    return [n for group in refs.values() for n in group]


def write_study_explorer(res, dest_dir, settings: ExploreSettings = ExploreSettings(sweep_max=0)) -> Path | None:
    """The explorer of a study's CPPN part (_study_nets), written to DEST_DIR/explorer.html, beside the report that
    links to it; None when the study has no finished CPPN cell. Replicas have no genome, so by default only the
    references' links are swept (sweep_max=0)."""
    nets = _study_nets(res)
    if not nets:
        return None
    return write_explorer([], Path(dest_dir) / STUDY_EXPLORER, settings, nets=nets)


def study_explorer_page(res, settings: ExploreSettings = ExploreSettings(sweep_max=0)) -> str | None:
    """The report's hook: the HTML of the study's explorer (as write_study_explorer writes it), built in memory so
    that the report writes all its files or none; None if the study has no CPPN cells or the page cannot be built
    (the report goes on without it)."""
    try:
        nets = _study_nets(res)
        settings.check()
        return explorer_html([net_record(n, settings) for n in nets], settings=settings) if nets else None
    except (FracturelabError, OSError):
        return None
