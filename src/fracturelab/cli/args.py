"""Argument types of the command line: each checks one number at parse time (finite, in range), so a bad value is
argparse's one-line error (exit 2) before any work starts."""
from __future__ import annotations

import argparse
import math


def finite(text: str) -> float:
    """A finite float (NaN and infinities refused)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return v


def positive(text: str) -> float:
    v = finite(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return v


def int_at_least(lo: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {v}")
        return v

    parse.__name__ = f"integer >= {lo}"
    return parse


def seed(text: str) -> int:
    """A seed: an integer in [0, 2^32) (numpy's and torch's common range)."""
    v = int_at_least(0)(text)
    if v >= 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be below 2^32, got {v}")
    return v


def add_force(p) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace an existing non-empty output folder (refused otherwise, before any work)")
