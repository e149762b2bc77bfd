"""Size limits on what a user may ask for, checked before any work so a typo cannot ask the allocator for terabytes.

Each limit has a default that fits a machine with a few GB of free memory and can be raised (or lowered) with an
environment variable named FRACTURELAB_ plus the field's name in capitals, e.g. FRACTURELAB_MAX_PIXELS=100000000.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .errors import FracturelabError
from .settings import bounded, from_options

PREFIX = "FRACTURELAB_"


@dataclass(frozen=True)
class Limits:
    """The limits in force (see limits())."""

    max_pixels: int = bounded(4096 * 4096, 1)
    """Most pixels of one render or one target image (res x res); 4096 x 4096 is about 0.5 GB of inputs and output."""
    max_params: int = bounded(50_000_000, 1)
    """Most weights of one network (200 MB as float32), counted from its settings before it is built: a CPPN arch
    (--arch, arch.txt, a genome's layerized arch), a task model (mlp, transformer, cppn; models.n_params), and an
    evolved population's weights together (population x weights)."""
    max_fit_cells: int = bounded(2 ** 28, 1)
    """Most pixels x hidden units of one full-batch CPPN fit or feature-map measurement (replicate, fer, evolve,
    a study's CPPN cells): autograd keeps every activation, about 2 GB at 2^28 of them in float32, several copies."""
    max_task_items: int = bounded(5_000_000, 1)
    """Most items one task's settings ask to generate, as its registry entry estimates them from the settings before
    anything is generated (TaskSpec.items: examples, times their length or pixels where the settings make those
    grow); examples are Python objects of about 1 KB each."""
    max_runs: int = bounded(10_000, 1)
    """Most networks one command or spec asks for at once: seeds in a --seeds list, an evolution's population, a
    spec's cppn.replicas."""
    max_steps: int = bounded(10_000_000, 1)
    """Most optimizer steps or generations of one run (training's max_steps, pretrain_steps and curriculum_steps,
    `replicate --steps`, an evolution's generations): a step costs a millisecond at least, so 10^7 is hours and a
    typo such as 9e9 would never end."""
    max_depth: int = bounded(1000, 1)
    """Most hidden layers of a CPPN arch (--arch, arch.txt, a genome's layerized arch): each layer is one sequential
    step of every forward pass, so a million one-unit layers, though within max_params, take hours per step."""
    max_file_bytes: int = bounded(256 * 2 ** 20, 1)
    """Most bytes of an input file read whole (genome, spec, JSON, arch.txt, params.npy, model.pt)."""
    max_zip_entry_bytes: int = bounded(64 * 2 ** 20, 1)
    """Most bytes of the genome XML inside a zip, once decompressed (genomes are kilobytes; a zip bomb is not)."""


def limits() -> Limits:
    """The defaults, overridden by FRACTURELAB_MAX_* environment variables (each checked: an integer >= 1)."""
    env = {f.name: os.environ[PREFIX + f.name.upper()] for f in fields(Limits) if PREFIX + f.name.upper() in os.environ}
    return from_options(Limits, env, "environment " + PREFIX + "*", strings=True)


def check_size(n: int, limit: str, what: str) -> None:
    """Refuse n above the named limit, with one line saying how to raise it."""
    cap = getattr(limits(), limit)
    if n > cap:
        raise FracturelabError(f"{what}: {n:,} is over the limit {limit} = {cap:,} "
                               f"(set {PREFIX}{limit.upper()} to raise it)")


def check_pixels(res: int, what: str) -> None:
    """Refuse a res x res image over max_pixels (before res^2 is allocated anywhere)."""
    check_size(res * res, "max_pixels", f"{what} {res}: pixels")

