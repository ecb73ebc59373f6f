"""Shared fixtures: where the embedded models and the repository live."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The folder `make models` fills; HEARTH_MODELS_DIR points elsewhere."""
    return Path(os.environ.get("HEARTH_MODELS_DIR", REPO_ROOT / "models"))
