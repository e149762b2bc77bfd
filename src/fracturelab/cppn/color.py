"""FER's output rule: raw (h, s, v) -> RGB, differentiable so SGD can fit RGB targets."""
from __future__ import annotations

import torch


def hsv2rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Standard HSV->RGB for h, s, v in [0, 1] (h wraps), as colorsys: f(n) = v - v*s*clip(min(k, 4-k), 0, 1),
    k = (n + 6h) mod 6 for n = 5, 3, 1. Returns (..., 3)."""
    n = torch.tensor([5.0, 3.0, 1.0], dtype=h.dtype, device=h.device)
    k = torch.remainder(n + 6.0 * h.unsqueeze(-1), 6.0)
    f = torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return v.unsqueeze(-1) - (v * s).unsqueeze(-1) * f


def to_rgb(hsv_raw: torch.Tensor) -> torch.Tensor:
    """FER: rgb = hsv2rgb((h+1) mod 1, clip(s, 0, 1), clip(|v|, 0, 1)). hsv_raw (..., 3) -> rgb (..., 3) in [0, 1]."""
    h = torch.remainder(hsv_raw[..., 0] + 1.0, 1.0)
    s = torch.clamp(hsv_raw[..., 1], 0.0, 1.0)
    v = torch.clamp(hsv_raw[..., 2].abs(), 0.0, 1.0)
    return hsv2rgb(h, s, v)
