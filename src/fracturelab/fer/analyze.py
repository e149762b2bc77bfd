"""Everything `fracturelab fer` computes for a reference CPPN and its replicas, as plain data plus the images the
figures need. Replicas are given (net folders) or trained here with FER's recipe, one per seed."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from ..cppn.nets import Net
from .costs import CostSettings, fracture_costs, replica_net
from .labels import LabelSettings, label_agreement
from .maps import feature_maps, map_metrics, novel_from_maps
from .sweeps import SweepSettings, is_meaningful, summarize_sweeps, sweep_all, sweep_weights

FER_SKULL_ARCH = "12;cache:15,gaussian:4,identity:2,sin:1"
FER_SKULL_IDS = {4371: "mouth", 5009: "wink", 5097: "eye width", 37: "jaw"}  # the paper's named skull weights


@dataclass
class FerSettings:
    res: int = 64
    """Resolution of maps, sweeps and cost measurements."""
    replicas: int = 3
    """SGD replicas to train (seeds 0..replicas-1) when none are given."""
    sweep: SweepSettings = field(default_factory=SweepSettings)
    """How weights are swept."""
    costs: CostSettings = field(default_factory=CostSettings)
    """Extrapolation, completion and adaptation settings (its res is overridden by `res`)."""
    n_perm: int = 1000
    """Label shuffles for the label-agreement p-value."""


def strip_weights(reference: Net, sweeps: list[dict]) -> dict[int, str]:
    """Weights shown as sweep strips: the paper's IDs for FER's skull, else up to 4 labelled weights."""
    if str(reference.arch) == FER_SKULL_ARCH:
        return dict(FER_SKULL_IDS)
    labelled = [r for r in sweeps if r["wid"] in reference.labels]
    labelled.sort(key=lambda r: -r["effect"])
    return {r["wid"]: reference.labels[r["wid"]] for r in labelled[:4]}


def adaptation_weight(reference: Net, sweeps: list[dict]) -> int:
    """The weight whose sweep makes the adaptation target: the paper's mouth (4371) on FER's skull, else the
    reference's meaningful sweep with the largest effect (or the largest effect if none is meaningful)."""
    if str(reference.arch) == FER_SKULL_ARCH:
        return 4371
    pool = [r for r in sweeps if is_meaningful(r)] or sweeps
    return max(pool, key=lambda r: r["effect"])["wid"]


def _per_net(net: Net, settings: FerSettings) -> tuple[dict, list[dict], dict]:
    sweeps = sweep_all(net, settings.sweep)
    ranked = sorted(sweeps, key=lambda r: r["effect"])
    nonzero = [r for r in ranked if r["effect"] > 0] or ranked
    numbers = map_metrics(net, settings.res) | {"sweeps": summarize_sweeps(sweeps, settings.sweep)}
    maps = feature_maps(net, min(settings.res, 32))  # the grid figure's thumbnails
    art = {"maps": maps, "novel": novel_from_maps(maps)["novel"],
           "top": [r["wid"] for r in ranked[::-1][:3]], "bottom": [r["wid"] for r in nonzero[:3]],
           "effect_maps": [(r["wid"], r["effect_map"]) for r in ranked[::-1][:16]]}
    return numbers, sweeps, art


def analyze(reference: Net, replicas: list[Net], settings: FerSettings, progress: bool = True) -> tuple[dict, dict]:
    """metrics = {"reference": name, "nets": {name: {...}}}; artifacts = images and sweep data for the figures."""
    sweep = replace(settings.sweep, res=settings.res)
    settings = replace(settings, sweep=sweep)
    # steps: replicas to train, maps and sweeps per net, then the costs
    n_train = 0 if replicas else settings.replicas
    bar = tqdm(total=n_train + 1 + (len(replicas) or n_train) + 1, desc="fer", disable=not progress)
    if not replicas:
        for seed in range(settings.replicas):
            bar.set_postfix(step=f"training replica {seed}")
            replicas.append(replica_net(reference, replace(settings.costs, res=settings.res), seed))
            bar.update()
    nets = {reference.name: reference} | {n.name: n for n in replicas if n.name != reference.name}
    metrics, arts = {}, {}
    ref_sweeps = None
    for name, net in nets.items():
        bar.set_postfix(step=f"maps and sweeps: {name}")
        metrics[name], sweeps, arts[name] = _per_net(net, settings)
        ref_sweeps = sweeps if ref_sweeps is None else ref_sweeps
        bar.update()
    strips = strip_weights(reference, ref_sweeps)
    adapt_wid = adaptation_weight(reference, ref_sweeps)
    for name, net in nets.items():
        shown = dict(strips) | {w: "most effective" for w in arts[name]["top"][:2]} | {
            w: "least effective" for w in arts[name]["bottom"][:2]}
        results = sweep_weights(net, list(shown), replace(settings.sweep, n_deltas=3), keep_images=True)
        arts[name]["strips"] = [(r["wid"], shown[r["wid"]], r["images"]) for r in results]
    if reference.labels:
        bar.set_postfix(step="label agreement")
        la = label_agreement(reference, LabelSettings(settings.sweep, settings.n_perm))
        metrics[reference.name]["label_agreement"] = {k: la[k] for k in (
            "auc_quiet_smaller", "within_label_corr", "between_label_corr", "p_value", "n_links", "n_quiet")}
    bar.set_postfix(step="extrapolation, completion, adaptation")
    others = {n: net for n, net in nets.items() if n != reference.name}
    costs = replace(settings.costs, res=settings.res, adapt_wid=adapt_wid)
    rows, images = fracture_costs(reference, {("reference_" + n if n == "reference" else n): v
                                              for n, v in others.items()}, costs)
    rows[reference.name] = rows.pop("reference")
    images[f"wide/{reference.name}"] = images.pop("wide/reference")
    for name in nets:
        metrics[name] |= {k: float(v) for k, v in rows[name].items()}
    completion = {k: v for k, v in rows.items() if k.startswith("completion_seed")}
    bar.update()
    bar.close()
    out = {"reference": reference.name, "adaptation_weight": int(adapt_wid), "nets": metrics,
           "completion": completion}
    return _jsonable(out), {"nets": arts, "images": images, "names": list(nets)}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None  # JSON has no NaN: "never reached" and "not defined" are null
    return x
