"""One thread per worker means every library: a worker started exactly as the local executor starts it runs numpy's,
scipy's and torch's BLAS/OpenMP pools on its `threads` (numpy fixes its pool when first imported, which in a spawned
worker happens before any initializer could set the environment). The Ray executor's workers are checked in
tests/test_study_ray_cluster.py through each cell's notes."""
from __future__ import annotations

from fracturelab.study.cell import worker_threads
from fracturelab.study.executors import worker_pool


def load_and_report() -> dict:
    """In the worker: load every library a cell uses (as a cell would: numpy, scipy, scikit-learn, torch), run a BLAS
    call, and report the threads of every pool now loaded."""
    import numpy as np
    import scipy.linalg
    import sklearn.linear_model  # noqa: F401 - loads its own OpenMP runtime where the wheel has one
    import torch

    a = np.ones((64, 64))
    scipy.linalg.solve(a + 64 * np.eye(64), a)
    torch.ones(8, 8) @ torch.ones(8, 8)
    return worker_threads()


def test_every_library_in_a_local_worker_runs_on_one_thread():
    with worker_pool(1, 1) as pool:
        found = pool.submit(load_and_report).result(timeout=120)
    assert found["torch"] == 1
    blas = [k for k in found if k.startswith(("openblas", "mkl", "blis"))]
    assert blas, f"no BLAS library found loaded in the worker: {found}"  # the check must see what it checks
    wrong = {k: v for k, v in found.items() if v != 1}
    assert not wrong, f"libraries not on the worker's one thread: {wrong}"


def env_of(name: str):
    import os

    return os.environ.get(name)


def test_the_parents_environment_is_left_as_it_was(monkeypatch):
    import os

    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with worker_pool(1, 1) as pool:
        assert pool.submit(env_of, "OPENBLAS_NUM_THREADS").result(timeout=60) == "1"
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ
