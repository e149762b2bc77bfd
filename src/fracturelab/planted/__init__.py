"""Planted structure: do the fracture metrics tell a modular task network from an entangled one computing the same
function? (issue 27, Build 1.)

    from fracturelab.planted import PlantedSettings, run_planted
    result = run_planted("out/planted", PlantedSettings(quick=True))   # writes planted.json, planted.png, planted.md

Pairs (nets.py: how each pair is built and the equality tolerance; scores.py: the metrics and the AUC) over tasks x
seeds x widths; each pair's two nets are scored with the probes at the standard profile's settings; the metrics and
the rule that admits them to the fracture composite are fracture.py's. Writes OUTDIR/planted.json ({"pairs",
"components": {name: {"auc", "ci", "n", "passes", "enters", ...}}, "candidates", "tasks", "composite_warning", "rows",
...}), OUTDIR/planted.png (paired values per metric) and OUTDIR/planted.md (the AUC table, scores.markdown), all at
once (io.staged_dir).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from ..errors import FracturelabError
from .nets import PLANTED_TASKS, TASK_PLANS, TrainSettings, make_pair
from .scores import (
    PROBE_NAMES,
    auc_table,
    composite_warning,
    figure,
    flat_scores,
    markdown,
    standard_options,
)


@dataclass
class PlantedSettings:
    """What `fracturelab planted` builds and scores."""

    tasks: tuple[str, ...] = PLANTED_TASKS
    """Tasks with a plan (nets.TASK_PLANS)."""
    seeds: tuple[int, ...] = tuple(range(10))
    """Seeds per task and width (task data, the modular net's init; the replica's init is seed + 10000)."""
    widths: tuple[int, ...] = (48, 96)
    """Hidden widths (units per hidden layer, split into the plan's blocks)."""
    workers: int = 2
    """Processes the pairs are spread over (one torch thread each)."""
    quick: bool = False
    """Tests and smoke runs: 1 seed x 1 width (48) per task, the probes' tiny settings."""
    n_boot: int = 1000
    """Bootstrap resamples of the AUC interval."""
    train: TrainSettings = field(default_factory=TrainSettings)
    """How the nets are trained and the tolerance of their equality."""

    def jobs(self) -> list[tuple[str, int, int]]:
        """(task, seed, width) of every pair."""
        seeds, widths = (self.seeds[:1], (48,)) if self.quick else (self.seeds, self.widths)
        return [(t, s, w) for t in self.tasks for w in widths for s in seeds]

    def check(self) -> None:
        bad = [t for t in self.tasks if t not in TASK_PLANS]
        if bad or not self.tasks:
            raise FracturelabError(f"planted: unknown task {bad[0] if bad else ''!r} (tasks with a plan: "
                                   f"{', '.join(TASK_PLANS)})")
        twice = next((t for t in self.tasks if self.tasks.count(t) > 1), None)
        if twice is not None:  # each of its pairs would be built, scored and counted in the AUCs twice
            raise FracturelabError(f"planted: task {twice!r} is listed twice")
        if not self.seeds or min(self.seeds) < 0 or not self.widths or min(self.widths) < 3 or self.workers < 1:
            raise FracturelabError("planted: seeds >= 0, widths >= 3 (every block gets a unit) and workers >= 1")


def _probe_settings(quick: bool) -> dict:
    from ..probes import PROBES, probe_settings

    return probe_settings({n: PROBES[n].tiny for n in PROBE_NAMES} if quick else standard_options())


def score_pair(job: tuple[str, int, int], quick: bool, train: TrainSettings) -> dict:
    """One pair built and scored: {"task", "seed", "width", facts of the pair, "modular": {metric: value},
    "entangled": {...}, "seconds"}."""
    import torch

    from ..probes import run_probes

    torch.set_num_threads(1)
    t0 = time.process_time()
    task, seed, width = job
    data, modular, _, replica, facts = make_pair(task, seed, width, train)
    settings = _probe_settings(quick)
    row = dict(facts)
    for name, net in (("modular", modular), ("entangled", replica)):
        row[name] = flat_scores(run_probes(net, data, {}, list(PROBE_NAMES), seed, settings=settings))
    row["seconds"] = round(time.process_time() - t0, 2)
    return row


def _all_pairs(s: PlantedSettings) -> list[dict]:
    jobs = s.jobs()
    if s.workers == 1:
        return [score_pair(j, s.quick, s.train) for j in jobs]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(s.workers, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(score_pair, jobs, [s.quick] * len(jobs), [s.train] * len(jobs)))


def run_planted(outdir, s: PlantedSettings | None = None, force: bool = False) -> dict:
    """Build and score every pair, write OUTDIR (module docstring) and return planted.json's content. Pairs not
    equal within the tolerance are left out of the AUCs and counted under "unequal"."""
    from ..io import check_new_dir, staged_dir
    from .scores import check_metrics

    s = s or PlantedSettings()
    s.check()
    check_metrics()
    options = "tiny" if s.quick else standard_options()  # read before the work: a bad profile stops it here
    check_new_dir(outdir, force=force)  # before the work: nothing is computed that could not be written
    t0 = time.time()
    rows = _all_pairs(s)
    kept = [r for r in rows if r["equal"]]
    components, candidates = auc_table(kept, s.n_boot)
    result = {"pairs": len(kept), "unequal": len(rows) - len(kept), "components": components,
              "candidates": candidates,
              "tasks": {t: sum(r["task"] == t for r in kept) for t in s.tasks},
              "tolerance": {"max_tv": s.train.tv_tol, "worst_max_tv": max(r["max_tv"] for r in rows),
                            "min_answers_equal": min(r["answers_equal"] for r in rows)},
              "settings": {**asdict(s), "probe_options": options},
              "wall_seconds": round(time.time() - t0, 1),
              "cpu_seconds": round(sum(r["seconds"] for r in rows), 1)}
    result["composite_warning"] = composite_warning(result)
    result["rows"] = rows
    with staged_dir(outdir, replace=force) as tmp:
        (tmp / "planted.json").write_text(json.dumps(result, indent=1))
        (tmp / "planted.md").write_text(markdown(result))
        figure(kept, result, tmp / "planted.png")
    return result


__all__ = ["PlantedSettings", "run_planted", "score_pair"]
