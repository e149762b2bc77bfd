"""Many SGD replicas of one target image, each with its own settings, trained at once.

    reps = fit_population(arch, target, [ReplicateSettings(res=64, steps=3000, seed=s) for s in range(32)])

Each replica follows `replicate.fit` with its own settings (seed, init, lr, steps, stop_mse, normalize_grad, keep,
arch). Replicas that share an arch and a resolution are one `replicate.fit_batch`: one loss-and-gradient call over
their stacked (R, P) weights per step (the fused engine where it is available) and one Adam step with a learning rate
per replica; a replica that reaches its stop_mse or its steps leaves the batch. Returns replicate.Replica objects in
the order of the settings, as `fit` would. tests/test_cppn_population.py checks each replica against a separate `fit`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import FracturelabError
from .arch import Arch
from .module import DEFAULT_WINDOW
from .replicate import Replica, ReplicateSettings, fit_batch, initial_weights


def fit_population(arch: Arch, target: np.ndarray, settings: Sequence[ReplicateSettings],
                   init: np.ndarray | None = None, mask: np.ndarray | None = None, window=DEFAULT_WINDOW,
                   progress: bool = False) -> list[Replica]:
    """Fit one replica per settings entry to target (res, res, 3) in [0, 1]. init (R, P): start replica r from
    init[r] instead of its seed's draw of settings.init (every replica then needs the target's arch); mask (res, res):
    0 hides a pixel from the loss."""
    if not settings:
        raise FracturelabError("fit_population needs at least one replica's settings")
    for s in settings:
        s.check()
    if init is not None and (len(init) != len(settings) or any(s.arch is not None for s in settings)):
        raise FracturelabError("init needs one weight vector per replica, all with the target's own arch")
    archs = [Arch.parse(s.arch) if s.arch else arch for s in settings]
    groups: dict[tuple, list[int]] = {}
    for i, (a, s) in enumerate(zip(archs, settings)):
        groups.setdefault((str(a), s.res), []).append(i)
    out: list[Replica | None] = [None] * len(settings)
    for idx in groups.values():
        a = archs[idx[0]]
        group = [settings[i] for i in idx]
        starts = (torch.as_tensor(np.asarray(init)[idx], dtype=torch.float32) if init is not None
                  else initial_weights(a, group))
        for i, rep in zip(idx, fit_batch(a, target, group, starts, mask, window, progress)):
            out[i] = rep
    return out
