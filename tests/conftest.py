"""Shared test configuration: Hypothesis profiles and fixtures.

Pick a profile with ``HYPOTHESIS_PROFILE`` (``dev``, the default; ``ci``; ``nightly``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("dev", max_examples=50)
settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True)
settings.register_profile("nightly", max_examples=10_000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """The directory of the test data (real captures, golden files)."""
    return DATA_DIR
