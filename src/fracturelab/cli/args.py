"""Argument types of the command line: each checks one number at parse time (finite, in range), so a bad value is
argparse's one-line error (exit 2) before any work starts. Also `declared`: a library constant shown in `--help`,
read without importing the library (the CLI imports the library only inside the function that runs a command)."""
from __future__ import annotations

import argparse
import ast
import math
from pathlib import Path


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


INT_MAX = 2 ** 63 - 1
"""The largest count a command line may give (a signed 64-bit integer)."""


def int_at_least(lo: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}, got {v}")
        if v > INT_MAX:  # numpy and torch hold counts in 64 bits: 10**100 steps failed deep inside tqdm/torch
            raise argparse.ArgumentTypeError(f"must be at most 2**63 - 1, got {text.strip()[:40]}")
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


def declared(module: str, name: str):
    """The value of the literal constant `name = ...` in fracturelab's module `module` (dotted, below the package,
    e.g. "study.spec"), read from the module's source without importing it: importing a module first imports its
    packages, and fracturelab.study's and fracturelab.train's import torch, which costs `--help` over a second of CPU.
    The module stays the one place the value is declared (tests/test_cli_start.py checks both agree)."""
    path = Path(__file__).resolve().parents[1].joinpath(*module.split(".")).with_suffix(".py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return ast.literal_eval(node.value)
    raise LookupError(f"fracturelab.{module} declares no literal {name}")
