"""Shared fixtures. Real Picbreeder data is read from ../shared/data/picbreeder beside the checkout (or the folder
in FRACTURELAB_PICBREEDER); tests that need it skip with a clear reason where it is absent. It is never copied here."""
import os
from pathlib import Path

import pytest
import torch

# The suite is many small tensor ops; torch's OpenMP threads spin-wait for each other and ran 10-100x slower here
# whenever another process held a core. One thread is as fast on an idle 2-core machine and safe on a busy one.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
PICBREEDER = Path(os.environ.get("FRACTURELAB_PICBREEDER", REPO.parent / "shared" / "data" / "picbreeder"))


@pytest.fixture(scope="session")
def picbreeder_dir() -> Path:
    if not (PICBREEDER / "cppnx").is_dir() or not (PICBREEDER / "fer").is_dir():
        pytest.skip(f"Picbreeder data not found at {PICBREEDER} (set FRACTURELAB_PICBREEDER to its folder)")
    return PICBREEDER
