"""Shared fixtures: the corpus in ../shared, temporary lakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolvers.lake.storage import Lake

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real CloudTrail, EventBridge, audit and CAI records."""
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing: expected it at {CORPUS}")
    return CORPUS


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """A new, empty lake in a temporary folder."""
    return Lake(str(tmp_path / "lake")).create()
