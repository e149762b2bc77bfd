"""Claim 7 (Jin et al. 2026): the sparsity gap grows with exposure during training. Per learned run with a
checkpoint during training (the spec's checkpoints), the Hoyer OOD - ID gap after training minus at the first
checkpoint after step 0; the runs' mean over configurations, its interval over task x seed clusters."""
from __future__ import annotations

from ..measures import _mean_over_runs, _missing, learned
from ..names import SPARSITY_CKPT
from ..stats import Estimate
from .base import Claim
from .claim6_sparsity import FINAL, gap_scatter


def first_ckpt(r: dict) -> float | None:
    """The run's gap at its first checkpoint after step 0 (None without one)."""
    steps = sorted(int(k.split(".")[2]) for k in r if k.startswith(SPARSITY_CKPT) and k.endswith(".hoyer_gap"))
    steps = [st for st in steps if st > 0]
    return r[f"{SPARSITY_CKPT}{steps[0]}.hoyer_gap"] if steps else None


def claim7(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if FINAL in r and first_ckpt(r) is not None]
    if len(rs) < 2:
        return _missing(caveats, "no learned run with a sparsity checkpoint during training (spec checkpoints)")
    return _mean_over_runs(rs, [r[FINAL] - first_ckpt(r) for r in rs], s, caveats)


def draw(res, entry: dict) -> str:
    """Per run: the gap at its first checkpoint (x) against after training (y)."""
    return gap_scatter(res.rows, first_ckpt, lambda r: r.get(FINAL), "OOD - ID Hoyer gap, at the first checkpoint",
                       "after training", "sparsity gap at a checkpoint during training and after it")


CLAIM = Claim(
    7, "that sparsity gap grows with exposure during training",
    "Jin et al. 2026",
    "Hoyer OOD - ID gap of the trained model minus at the first checkpoint during training",
    "task x seed (every run of one task and seed shares its data)",
    "the early checkpoint of the same run",
    "a gap fixed early (or present at initialization) gives 0",
    0.01, claim7, "fig-exposure", draw,
    "Hoyer OOD − ID gap at the first checkpoint during training (x) against after training (y), per run; "
    "above the diagonal, the gap grew with exposure",
    "Does the sparsity gap grow with training?",
    reworded="exposure is varied by training steps only (the spec's checkpoints), not by data size")
