"""Jobs: what one worker runs at once. A job is one cell, or a population: task cells that differ only in seed,
trained together by train.population (K networks in one vectorised run where the model allows it) and then probed one
by one, each seed still its own cell with its own rows, its own outcome and its own cluster in the statistics.

    for job in jobs(todo, planned, population=10):   # [[cell], [cell, cell, ...], ...]
        outcomes = execute_job(job)                  # one records.Outcome per cell of the job, in order

Populations are cut from the whole plan, not from what is left to do, so a resumed study trains each population with
the members it had (the same numbers as an uninterrupted run; train.population's members equal separate runs only to
float rounding, since a stacked product sums in another order than a single one). A population trains only the
members still to do, so a member finished before an interruption is never recomputed.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from .cell import TaskCell, execute, failed, finished, measured, setup_worker, train_options
from .records import Outcome

POPULATION_NOTE = "population"
"""A cell's note: the seeds of the population it was trained in (absent: trained alone)."""


def _config(cell: TaskCell) -> str:
    """What the members of one population share: every param of the cell but its seed (and key)."""
    return json.dumps({k: v for k, v in cell.params().items() if k not in ("seed", "key")}, sort_keys=True)


def _populates(cell, population: int) -> bool:
    from ..train.regimes import PLANS

    return population > 1 and isinstance(cell, TaskCell) and cell.regime in PLANS


def jobs(todo: list, planned: list, population: int = 1) -> list[list]:
    """The cells of `todo` as jobs: each cell alone, except task cells of an SGD regime (train.regimes.PLANS) when
    population > 1, grouped by configuration; within a configuration the planned cells, sorted by seed, are cut into
    populations of `population` seeds, and a job holds the todo cells of one population. Longest jobs first (by
    member count), so a large population does not start last."""
    todo_keys = {c.key for c in todo}
    by_config: dict[str, list] = {}
    for c in planned:
        if _populates(c, population):
            by_config.setdefault(_config(c), []).append(c)
    out: list[list] = []
    grouped: set[str] = set()
    for members in by_config.values():
        members = sorted(members, key=lambda c: c.seed)
        for i in range(0, len(members), population):
            job = [c for c in members[i:i + population] if c.key in todo_keys]
            grouped |= {c.key for c in members[i:i + population]}
            if job:
                out.append(job)
    out += [[c] for c in todo if c.key not in grouped]
    return sorted(out, key=len, reverse=True)


def execute_job(job: list) -> list[Outcome]:
    """cell.execute for every cell of the job, a population trained at once: never raises (a failure of the
    population's training fails each of its cells with that line; a failure of one member's probes fails that
    member only)."""
    if len(job) == 1:
        return [execute(job[0])]
    return _population(job)


def _population(cells: list[TaskCell]) -> list[Outcome]:
    from ..train.population import train_population

    first = cells[0]
    setup_worker(first.threads)
    t0, c0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="fracturelab-population-") as d:
        outs = [Path(d) / f"seed{c.seed}" for c in cells]
        try:
            found = train_population(first.task, first.split, first.model, first.regime,
                                     [{"seed": c.seed, "outdir": o} for c, o in zip(cells, outs)],
                                     model_options=first.model_options or None, threads=first.threads,
                                     **train_options(first))
        except Exception as e:  # noqa: BLE001 - the population's failure is each member's, recorded in the store
            seconds = (time.perf_counter() - t0) / len(cells)
            return [failed(c, e, seconds) for c in cells]
        # the training's time is shared by its members; each member's probes are its own
        train_wall, train_cpu = (time.perf_counter() - t0) / len(cells), (time.process_time() - c0) / len(cells)
        seeds = [c.seed for c in cells]
        outcomes = []
        for c, out, m in zip(cells, outs, found):
            t1, c1 = time.perf_counter(), time.process_time()
            try:
                result = measured(c, out, m, train_cpu)
            except Exception as e:  # noqa: BLE001 - one member's failure is data, the others go on
                outcomes.append(failed(c, e, train_wall + time.perf_counter() - t1))
                continue
            result.notes[POPULATION_NOTE] = seeds
            outcomes.append(finished(c, result, train_wall + time.perf_counter() - t1,
                                     train_cpu + time.process_time() - c1))
    return outcomes

