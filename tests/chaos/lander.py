"""Land corpus records at a given instant: two of these started together are two writers
landing the same records at the same moment (a trail's log files ingested while EventBridge
delivers the same events, two sensors of one trail).

    python -m chaos.lander LAKE_URI CORPUS GO_FILE COUNT

It prints ``ready`` once its writer is made, lands when GO_FILE exists, then prints how many
records it landed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
from stream_fixtures import corpus_lines

from chaos.records import CLOUDTRAIL_FILES
from resolvers.drain import land
from resolvers.ingest import Record
from resolvers.lake.storage import Lake
from resolvers.lake.writer import LakeWriter


def main(lake_uri: str, corpus: Path, go: Path, count: int) -> None:
    """Make the writer, wait for the go, land ``count`` records; print how many landed."""
    values = corpus_lines(corpus, CLOUDTRAIL_FILES[1], count)
    records = [Record(orjson.dumps(v).decode(), v, "lander") for v in values]
    writer = LakeWriter(Lake(lake_uri))
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    print(land(writer, records, "aws_cloudtrail").landed, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
