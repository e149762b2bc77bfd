"""What fracture costs: nets that draw the same image inside the training window [-1, 1]^2 can still differ in what
they do with it. Three measurements, each against a reference net (e.g. the Picbreeder skull):

- extrapolation: render both over a wider window [-wide, wide]^2; the error outside [-1, 1]^2 is what the training
  image never pinned down.
- completion: hide a region of the reference's image, fit a replica to the rest, and score it in the hidden region.
- adaptation: fine-tune a net toward a nearby image (the reference with one weight swept, e.g. the skull's mouth) and
  count the steps to get there; "the reverse" fine-tunes the reference toward a replica's own one-weight sweep.

Numbers are plain dicts of floats (NaN where something never happened); pictures travel separately, as
(numbers, images) pairs, so a table never has to skip arrays. Shapes: res x res images are (res, res, 3) in [0, 1].
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from ..cppn import Arch, Net, ReplicateSettings, coord_grid, fit, forward, render
from ..cppn.color import to_rgb
from ..errors import FracturelabError

REGIONS = ("right_half", "rect")


@dataclass
class CostSettings:
    """Settings of every cost measurement (defaults: the skull numbers of the FER issue)."""

    res: int = 64
    """Resolution of the training grid over [-1, 1]^2: targets, replicas and fine-tuning all use it."""
    wide: float = 1.5
    """Extrapolation window half-width; rounded to a whole number of [-1, 1]'s pixels, so the grids line up."""
    region: str = "right_half"
    """Region hidden for completion: "right_half" (x > 0) or "rect" (see `rect`)."""
    rect: tuple[float, float, float, float] = (-0.5, 0.5, -0.5, 0.5)
    """Hidden rectangle (x0, x1, y0, y1) in window coordinates (x along columns, y down the rows), for "rect"."""
    steps: int = 6000
    """Step budget for training a replica (completion replicas too)."""
    stop_mse: float | None = 2e-3
    """Stop replica training below this training MSE (FER's skull passes 2e-3 after about 4,000 steps at 64x64)."""
    lr: float = 3e-3
    """Adam learning rate for training and fine-tuning (FER's recipe: 3e-3, unit-norm gradients)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the completion replicas, one replica per seed."""
    adapt_wid: int = 4371
    """Weight of the reference swept to make the adaptation target (4371 = the Picbreeder skull's mouth)."""
    adapt_delta: float = 1.0
    """How far that weight is moved (FER's sweep figures show -1, 0, +1)."""
    adapt_lr: float = 3e-4
    """Adam learning rate for fine-tuning, 10x below training's: at FER's 3e-3 the first Adam step (every weight moves
    by about lr) takes the Picbreeder skull from MSE 0.016 to 0.115 and it never recovers within 2,000 steps, even
    toward its own one-weight mouth sweep; at 3e-4 it gets there in 801 steps (64x64)."""
    adapt_steps: int = 2000
    """Fine-tuning budget; a net that never gets below `adapt_thresh` within it reports NaN steps."""
    adapt_thresh: float = 1e-3
    """A net has adapted once its MSE to the target falls below this (plus its own fit error, see adapt_relative)."""
    adapt_relative: bool = True
    """Threshold = adapt_thresh + the start net's MSE to the unswept image the target was made from (0 for the
    reference): a replica that fits the skull to 2e-3 is not asked to fit it better than it did, only to follow the
    change. False = adapt_thresh alone, for every net."""
    reverse_pick: str = "match"
    """Which of a net's weights makes its reverse target: "match" = the one whose sweep changes the image as much as
    the reference's adapt_wid sweep does (mean |change|), so both directions ask for a change of the same size;
    "max" = its most effective weight (on the skull nets that one mostly blows the whole image out)."""
    pick_res: int = 32
    """Resolution at which every weight of a net is swept to pick its reverse weight."""
    reverse_self: bool = True
    """Also fine-tune each net toward its own sweep target: the baseline for the reverse (costs one more run)."""

    def check(self) -> None:
        if self.reverse_pick not in ("match", "max"):
            raise FracturelabError(f"reverse_pick must be 'match' or 'max' (got {self.reverse_pick!r})")
        if self.region not in REGIONS:
            raise FracturelabError(f"unknown completion region {self.region!r}: use one of {', '.join(REGIONS)}")
        if (self.res < 2 or self.steps < 1 or self.adapt_steps < 1 or not self.lr > 0 or not self.adapt_thresh > 0
                or not self.adapt_lr > 0):
            raise FracturelabError(f"bad cost settings: res >= 2, steps >= 1, lr > 0, thresh > 0 (got {asdict(self)})")


def wide_grid(res: int, wide: float) -> tuple[int, float]:
    """(pad, r): a (res + 2*pad)^2 render over [-r, r]^2 has [-1, 1]'s pixel spacing 2/(res-1), so its inner
    res x res block [pad:pad+res] is exactly the training grid; r = 1 + pad*2/(res-1) is `wide` rounded to a pixel."""
    pad = round((wide - 1.0) * (res - 1) / 2)
    if pad < 1:
        raise FracturelabError(f"wide={wide} adds no pixel outside [-1, 1] at res {res}: use wide > 1 + 1/(res-1)")
    return pad, 1.0 + pad * 2.0 / (res - 1)


def extrapolation(reference: Net, net: Net, res: int = 64, wide: float = 1.5) -> tuple[dict, dict]:
    """Render both nets over [-r, r]^2 (r ~ wide) at [-1, 1]'s spacing for res. Numbers: in_window_mse (pixels inside
    [-1, 1]^2, i.e. the training grid), extrapolation_mse (the ring outside it), wide (r). Images: "reference" and
    "net", each (res + 2*pad, res + 2*pad, 3); pixel [pad + i, pad + j] is the training grid's pixel [i, j]."""
    pad, r = wide_grid(res, wide)
    window = (-r, r, -r, r)
    ref_img, net_img = reference.render(res + 2 * pad, window), net.render(res + 2 * pad, window)
    err = ((ref_img - net_img) ** 2).mean(-1)  # (res', res'): per-pixel MSE over RGB
    inside = np.zeros(err.shape, dtype=bool)
    inside[pad:pad + res, pad:pad + res] = True
    numbers = {"in_window_mse": float(err[inside].mean()), "extrapolation_mse": float(err[~inside].mean()),
               "wide": float(r)}
    return numbers, {"reference": ref_img, "net": net_img}


def region_mask(res: int, region: str = "right_half", rect=(-0.5, 0.5, -0.5, 0.5)) -> np.ndarray:
    """(res, res) bool, True = hidden. "right_half": pixels with x > 0; "rect": x0 <= x <= x1 and y0 <= y <= y1.
    Raises if the region hides no pixel (nothing to complete) or every pixel (nothing to fit)."""
    y, x = np.meshgrid(np.linspace(-1, 1, res), np.linspace(-1, 1, res), indexing="ij")  # as coord_grid
    if region == "right_half":
        hidden = x > 0
    elif region == "rect":
        x0, x1, y0, y1 = rect
        hidden = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    else:
        raise FracturelabError(f"unknown completion region {region!r}: use one of {', '.join(REGIONS)}")
    if not hidden.any():
        raise FracturelabError(f"completion region {region!r} {rect if region == 'rect' else ''} hides no pixel "
                               f"of the {res}x{res} grid over [-1, 1]^2: nothing to complete")
    if hidden.all():
        raise FracturelabError(f"completion region {region!r} hides every pixel: nothing to fit")
    return hidden


def _split_mse(img: np.ndarray, target: np.ndarray, hidden: np.ndarray) -> tuple[float, float]:
    err = ((img - target) ** 2).mean(-1)  # (res, res)
    return float(err[hidden].mean()), float(err[~hidden].mean())


def completion(reference: Net, arch: Arch | str | None, settings: CostSettings, region: str | None = None,
               seed: int = 0) -> tuple[dict, dict]:
    """Fit a fresh replica of `arch` (None = the reference's) to the reference's render with `region` hidden from the
    loss, then score it. The reference itself is the oracle: its completion error is 0 by definition.
    Numbers: completion_mse (hidden pixels), visible_mse (the rest), train_steps, train_mse (best masked loss).
    Images: "render" (res, res, 3) of the replica, "target" (the reference's render), "hidden" (res, res) bool."""
    settings.check()
    arch = reference.arch if arch is None else (Arch.parse(arch) if isinstance(arch, str) else arch)
    region = region or settings.region
    res = settings.res
    target = reference.render(res)
    hidden = region_mask(res, region, settings.rect)
    rs = ReplicateSettings(res=res, steps=settings.steps, lr=settings.lr, seed=seed, stop_mse=settings.stop_mse)
    rep = fit(arch, target, rs, mask=(~hidden).astype(np.float32), progress=False)
    img = render(arch, rep.params, res)
    hidden_mse, visible_mse = _split_mse(img, target, hidden)
    numbers = {"completion_mse": hidden_mse, "visible_mse": visible_mse, "train_steps": float(len(rep.losses)),
               "train_mse": rep.fit_mse}
    return numbers, {"render": img, "target": target, "hidden": hidden}


def region_mse(reference: Net, net: Net, res: int = 64, region: str = "right_half",
               rect=(-0.5, 0.5, -0.5, 0.5)) -> dict:
    """An existing net's error against the reference inside and outside a completion region. This is NOT completion:
    a net trained on the whole image saw that region, so `hidden_region_mse` is only its fit error there (a lower
    bound for what any completion could do, and 0 for the reference)."""
    hidden_mse, visible_mse = _split_mse(net.render(res), reference.render(res), region_mask(res, region, rect))
    return {"hidden_region_mse": hidden_mse, "visible_region_mse": visible_mse}


def adaptation(start_net: Net, target_img: np.ndarray, settings: CostSettings, thresh: float | None = None) -> dict:
    """Fine-tune start_net (init = its weights; FER's recipe at settings.adapt_lr, full batch at the target's
    resolution) toward target_img.
    steps_to_thresh: the first step whose MSE (of the weights before that step) is below thresh (0 = already there),
    NaN if never within settings.adapt_steps. final_mse: the best MSE reached (training stops once below thresh).
    No randomness: fine-tuning from given weights on the full batch is deterministic."""
    settings.check()
    thresh = settings.adapt_thresh if thresh is None else thresh
    rs = ReplicateSettings(res=target_img.shape[0], steps=settings.adapt_steps, lr=settings.adapt_lr, stop_mse=thresh)
    losses = fit(start_net.arch, target_img, rs, init=start_net.params, progress=False).losses
    hit = np.flatnonzero(losses < thresh)
    return {"start_mse": float(losses[0]), "steps_to_thresh": float(hit[0]) if hit.size else math.nan,
            "final_mse": float(losses.min()), "thresh": float(thresh), "budget": float(settings.adapt_steps)}


def adaptation_targets(reference: Net, wid, delta: float = 1.0, res: int = 64) -> np.ndarray:
    """The reference with weight `wid` moved by delta, rendered: (res, res, 3); a list of weight IDs gives
    (K, res, res, 3), all in one batched render. E.g. the skull's mouth: wid 4371, delta +1."""
    wids = [wid] if np.isscalar(wid) else list(wid)
    for w in wids:
        reference.arch.locate(int(w))  # raises a clear error for an ID outside the net
    params = np.repeat(reference.params[None], len(wids), axis=0)  # (K, P)
    params[np.arange(len(wids)), wids] += np.float32(delta)
    imgs = render(reference.arch, params, res)
    return imgs[0] if np.isscalar(wid) else imgs


def weight_effects(net: Net, delta: float = 1.0, res: int = 32, candidates=None,
                   chunk_elems: int = 2 ** 24) -> np.ndarray:
    """Mean |image change| when each candidate weight (default: all P) alone moves by delta: (C,) floats.
    Every candidate is one row of a (B, P) weight batch through `forward`, so a net is swept without a Python loop
    over weights; the batch is split only to bound memory (B * res^2 * width <= chunk_elems activations)."""
    cand = np.arange(net.arch.n_params) if candidates is None else np.asarray(candidates, dtype=np.int64)
    inputs = coord_grid(res)                                    # (N, 4)
    base = torch.as_tensor(net.params)
    per_chunk = max(1, chunk_elems // (inputs.shape[0] * net.arch.width))
    out = []
    with torch.no_grad():
        ref = to_rgb(forward(net.arch, base, inputs))           # (N, 3)
        for i in range(0, len(cand), per_chunk):
            idx = torch.as_tensor(cand[i:i + per_chunk])
            batch = base.repeat(len(idx), 1)                    # (B, P)
            batch[torch.arange(len(idx)), idx] += delta
            rgb = to_rgb(forward(net.arch, batch, inputs))      # (B, N, 3)
            out.append((rgb - ref).abs().mean(dim=(1, 2)))
    return torch.cat(out).numpy().astype(np.float64)


def pick_weight(net: Net, delta: float = 1.0, res: int = 32, match: float | None = None) -> tuple[int, float]:
    """(weight ID, its mean |image change|) among all of the net's weights moved by delta: the most effective one,
    or, given `match`, the one whose change is closest to that size."""
    effects = weight_effects(net, delta, res)
    wid = int(np.argmax(effects) if match is None else np.argmin(np.abs(effects - match)))
    return wid, float(effects[wid])


def reverse_target(net: Net, delta: float = 1.0, res: int = 64, pick_res: int = 32,
                   match: float | None = None) -> tuple[int, np.ndarray]:
    """The reverse of the mouth sweep: a one-weight sweep of the net itself (see pick_weight, run at pick_res) and
    the image it makes at res. Fine-tuning the reference toward it asks whether the reference can follow a change
    that is one weight away for the net."""
    wid, _ = pick_weight(net, delta, pick_res, match)
    return wid, adaptation_targets(net, wid, delta, res)


def fracture_costs(reference: Net, nets: dict[str, Net], settings: CostSettings | None = None,
                   log: Callable[[str], None] | None = None) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """All costs for the reference and each net. Rows (numbers):
    - "reference" and every name in `nets`: extrapolation (in_window_mse, extrapolation_mse), hidden_region_mse (its
      plain error in the completion region, not a completion), adapt_* (fine-tuned toward the reference's sweep of
      adapt_wid by adapt_delta; adapt_change = that target's mean |change|, adapt_thresh = the threshold used),
      reverse_* (the reference fine-tuned toward this net's own one-weight sweep of reverse_wid, see reverse_pick;
      reverse_self_steps: this net toward the same target, the baseline for a change one weight away).
    - "completion_seed{k}": a replica of the reference's arch trained here with the region hidden (see completion).
    Images: "wide/{name}" (extrapolation renders), "completion/seed{k}", "completion/target", "completion/hidden"."""
    settings = settings or CostSettings()
    settings.check()
    if "reference" in nets:
        raise FracturelabError('"reference" names the reference row: give the other nets other names')
    say = log or (lambda _: None)
    res = settings.res
    ref_img = reference.render(res)
    fwd_target = adaptation_targets(reference, settings.adapt_wid, settings.adapt_delta, res)
    # the size of change the reverse targets should match, measured as pick_weight measures it
    match = (float(weight_effects(reference, settings.adapt_delta, settings.pick_res, [settings.adapt_wid])[0])
             if settings.reverse_pick == "match" else None)

    def thresh(start_img: np.ndarray, unswept: np.ndarray) -> float:
        base = float(((start_img - unswept) ** 2).mean()) if settings.adapt_relative else 0.0
        return base + settings.adapt_thresh

    rows, images = {}, {}
    for name, net in {"reference": reference, **nets}.items():
        t0 = time.perf_counter()
        ex, ex_imgs = extrapolation(reference, net, res, settings.wide)
        images[f"wide/{name}"] = ex_imgs["net"]
        region = region_mse(reference, net, res, settings.region, settings.rect)
        row = {"in_window_mse": ex["in_window_mse"], "extrapolation_mse": ex["extrapolation_mse"],
               "hidden_region_mse": region["hidden_region_mse"]}
        net_img = net.render(res)
        fwd = adaptation(net, fwd_target, settings, thresh(net_img, ref_img))
        row |= {"adapt_change": float(np.abs(fwd_target - ref_img).mean()), "adapt_thresh": fwd["thresh"],
                "adapt_start_mse": fwd["start_mse"], "adapt_steps": fwd["steps_to_thresh"],
                "adapt_final_mse": fwd["final_mse"]}
        wid, rev_target = reverse_target(net, settings.adapt_delta, res, settings.pick_res, match)
        rev = adaptation(reference, rev_target, settings, thresh(ref_img, net_img))
        row |= {"reverse_wid": float(wid), "reverse_change": float(np.abs(rev_target - net_img).mean()),
                "reverse_thresh": rev["thresh"], "reverse_start_mse": rev["start_mse"],
                "reverse_steps": rev["steps_to_thresh"], "reverse_final_mse": rev["final_mse"]}
        if name == "reference":
            row["reverse_self_steps"] = rev["steps_to_thresh"]  # the same run: the reference toward its own sweep
        elif settings.reverse_self:  # the net's own sweep is 0 away from its own render: the bare threshold
            own = adaptation(net, rev_target, settings, thresh(net_img, net_img))
            row["reverse_self_steps"] = own["steps_to_thresh"]
        row["seconds"] = time.perf_counter() - t0
        rows[name] = row
        say(f"{name}: " + ", ".join(f"{k}={v:.3g}" for k, v in row.items()))
    for seed in settings.seeds:
        t0 = time.perf_counter()
        c, c_imgs = completion(reference, reference.arch, settings, seed=seed)
        rows[f"completion_seed{seed}"] = c | {"seconds": time.perf_counter() - t0}
        images[f"completion/seed{seed}"] = c_imgs["render"]
        images["completion/target"], images["completion/hidden"] = c_imgs["target"], c_imgs["hidden"]
        say(f"completion_seed{seed}: " + ", ".join(f"{k}={v:.3g}" for k, v in rows[f"completion_seed{seed}"].items()))
    return rows, images


def replica_net(reference: Net, settings: CostSettings, seed: int, name: str | None = None) -> Net:
    """A fresh SGD replica of the reference's render at settings.res (FER's recipe, same arch, stop at stop_mse)."""
    rs = ReplicateSettings(res=settings.res, steps=settings.steps, lr=settings.lr, seed=seed,
                           stop_mse=settings.stop_mse)
    rep = fit(reference.arch, reference.render(settings.res), rs, progress=False)
    return Net(name or f"replica_s{seed}", rep.arch, rep.params, source=f"replica of {reference.name}, seed {seed}")
