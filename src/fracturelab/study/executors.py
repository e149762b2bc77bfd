"""Executors: run cells in worker processes and yield their outcomes as they finish; the caller (the parent) alone
writes to the store.

- local (default): a process pool of `workers` spawned processes, each pinned to `threads` torch/BLAS threads, so
  workers x threads stays within the machine's cores. The thread variables are in each worker's environment from its
  start (worker_env), since numpy fixes its BLAS threads when a worker first imports it, before any initializer.
- ray: `ray.init(address)` joins an existing cluster when given an address and starts a local one otherwise; each
  cell is one task of one CPU, its workers started with the same thread variables (the job's runtime_env).

Both run jobs (jobs.py: one cell, or a population of cells that differ only in seed): jobs.execute_job(job) in a fresh
process with the same thread pinning, so a study gives the same numbers on either, and yield one records.Outcome per
cell.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..errors import FracturelabError
from .. import plugins
from .cell import setup_worker, thread_env
from .jobs import execute_job
from .records import Outcome

EXECUTORS = ("local", "ray")
MAX_WORKERS = 64  # worker processes of one study: the runner uses at most this many, and refuses more when asked


@dataclass(frozen=True)
class ExecSettings:
    """How cells are run."""

    executor: str = "local"
    """local (a process pool) or ray."""
    workers: int = 0
    """Worker processes (0: one per core)."""
    address: str | None = None
    """Ray cluster address to join (None: start a local Ray instance)."""

    def resolved_workers(self) -> int:
        return self.workers or max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """Threads each worker may use so workers x threads never exceeds the cores (1 at least)."""
    cores = os.cpu_count() or 1
    return max(1, cores // max(1, workers))


@contextmanager
def worker_env(threads: int):
    """The thread variables (cell.THREAD_VARS = threads) in this process's environment while workers are spawned,
    which inherit it; restored afterwards (this process's own libraries are already loaded and keep theirs)."""
    saved = {k: os.environ.get(k) for k in thread_env(threads)}
    os.environ.update(thread_env(threads))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def worker_pool(workers: int, threads: int):
    """The local executor's pool: `workers` spawned processes, each on `threads` threads in every library."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child would inherit the parent's torch thread pools and open SQLite handle
    with worker_env(threads), ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                                  initializer=setup_worker, initargs=(threads,)) as pool:
        yield pool


def _threads(jobs: list) -> int:
    return max(c.threads for job in jobs for c in job)


def _lost(job: list, why: str) -> list[Outcome]:
    """A job whose worker was lost: each of its cells failed with that line."""
    return [Outcome(c.key, False, 0.0, error=why.splitlines()[0]) for c in job]


def _local(jobs: list, workers: int) -> Iterator[Outcome]:
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    with worker_pool(workers, _threads(jobs)) as pool:
        futures = {pool.submit(execute_job, job): job for job in jobs}
        for fut in as_completed(futures):
            try:
                yield from fut.result()
            except BrokenProcessPool as e:  # a worker died (e.g. out of memory): its cells failed, others go on
                yield from _lost(futures[fut], f"worker died: {e}")


def _ray_execute(job: list) -> list[Outcome]:
    import ray

    node = ray.get_runtime_context().get_node_id()  # which node ran it (a multi-node test checks the spread)
    return [dataclasses.replace(out, result=dataclasses.replace(out.result, notes=out.result.notes | {"node": node}))
            if out.ok else out for out in execute_job(job)]


def _ray_init(workers: int, address: str | None, threads: int) -> bool:
    """Join the Ray cluster at address (None: start a local one of `workers` CPUs) unless this process already is
    in one; returns whether it joined or started one now (the caller then shuts it down). One line if it cannot."""
    try:
        import ray
    except ImportError:
        raise FracturelabError("--executor ray needs ray: pip install 'fracturelab[ray]'") from None
    if ray.is_initialized():
        return False
    # set before a worker process imports numpy (ray itself does); plug-ins reach the workers the same way (their
    # .py paths must exist on every node)
    env = {"env_vars": thread_env(threads) | {k: v for k, v in os.environ.items() if k == plugins.ENV}}
    # Ray's own log lines (token warnings, a node that timed out) would reach stderr before our one line
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        if address:
            ray.init(address=address, runtime_env=env, **quiet)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env=env, **quiet)
    except Exception as e:  # noqa: BLE001 - a cluster that cannot be reached is bad input, one line
        raise FracturelabError(f"ray: cannot {'join ' + address if address else 'start'} ({e})".splitlines()[0]) \
            from None
    return True


@contextmanager
def connected(settings: ExecSettings, workers: int, threads: int):
    """ray: join (or start) the cluster on entry and leave it on exit, so a caller connects before it creates
    anything (a study whose cluster cannot be reached leaves no output folder) and run_jobs inside reuses the
    connection; local: nothing to connect."""
    started = settings.executor == "ray" and _ray_init(workers, settings.address, threads)
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def _ray(jobs: list, workers: int, address: str | None, threads: int) -> Iterator[Outcome]:
    started_here = _ray_init(workers, address, threads)
    import ray
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_execute)
        refs = {remote.remote(job): job for job in jobs}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                try:
                    yield from ray.get(r)
                except Exception as e:  # noqa: BLE001 - a lost worker fails its job's cells only
                    yield from _lost(refs[r], f"ray: {e}")
    finally:
        if started_here:
            ray.shutdown()


def run_jobs(jobs: list, settings: ExecSettings) -> Iterator[Outcome]:
    """Yield the outcome of every cell of every job (jobs.jobs: lists of cells), a job's cells when it finishes."""
    if settings.executor not in EXECUTORS:
        raise FracturelabError(f"unknown executor {settings.executor!r} (executors: {', '.join(EXECUTORS)})")
    if not jobs:
        return iter(())
    workers = min(settings.resolved_workers(), len(jobs))
    if settings.executor == "ray":
        return _ray(jobs, workers, settings.address, _threads(jobs))
    return _local(jobs, workers)
