"""``assetlake demo``: a week of a GCP estate replayed into a lake, then what to try next.

The feed is built from the real Cloud Asset Inventory snapshots of the shared corpus
(resolvers/demo_data.py) and goes through exactly the path of ``assetlake ingest``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from resolvers.demo_data import FeedSummary, build_feed
from resolvers.errors import InputError, LakeError
from resolvers.ingest import IngestReport, ingest_files
from resolvers.lake.storage import Lake
from resolvers.timeutil import utcnow

CORPUS_ENV = "ASSETLAKE_CORPUS"


def corpus_dir() -> Path:
    """``$ASSETLAKE_CORPUS``, else the shared corpus beside the repository."""
    configured = os.environ.get(CORPUS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "corpus"


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did."""

    lake: Lake
    feed: FeedSummary
    ingest: IngestReport


def prepare_lake(lake: Lake, replace: bool) -> None:
    """Refuse to mix the demo into an existing lake, or clear a previous demo with ``replace``."""
    if not lake.exists():
        return
    if not replace:
        raise LakeError(f"{lake.uri}: a lake is already there; pass --replace to start over")
    if lake.is_s3:
        lake.fs.rm(lake.uri, recursive=True)
    else:
        shutil.rmtree(lake.uri)


def run_demo(lake: Lake, replace: bool = False) -> DemoResult:
    """Build the week's feed, ingest it, and return what happened."""
    corpus = corpus_dir()
    if not corpus.is_dir():
        raise InputError(f"the corpus is not at {corpus}; set {CORPUS_ENV} to its folder")
    prepare_lake(lake, replace)
    with tempfile.TemporaryDirectory(prefix="assetlake-demo-") as scratch:
        feed_file = Path(scratch) / "gcp-asset-feed.jsonl"
        feed = build_feed(corpus, feed_file, now=utcnow())
        report = ingest_files(Lake(lake.uri), [feed_file])
    return DemoResult(lake=lake, feed=feed, ingest=report)
