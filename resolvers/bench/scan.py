"""Cost model inputs, measured on a moto account in server mode (started here, stopped after).

* :func:`measure_scan`: a full scan (every registered type, one region) of an account seeded
  with N cheap assets: ``scan_assets_per_s`` and ``scan_api_calls_per_asset`` (HTTP requests,
  counted with a botocore hook, retries included, the scan's fixed per-scope cost included).
* :func:`measure_describes`: what the event path costs per change: one describe per changed
  asset (``event_api_calls_per_change``), per core type and averaged, and for comparison what
  a scan costs per asset of each type.
* :func:`hourly_calls`: the README's comparison, hourly scans against the event path, from
  those figures.

moto is a dev dependency (as for the rest of the bench's test servers); it answers slower and
without throttling, so rates here are the code's, not AWS's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from resolvers.aws.scan import scan_aws
from resolvers.aws.scan_moto import MotoServer, seed_bulk, seed_core
from resolvers.aws.scan_plan import ScanOptions
from resolvers.aws.types.catalog import registry
from resolvers.aws.types.describer import Boto3Describer, DescriberOptions
from resolvers.aws.types.session import AwsOptions, CallCounter, Sessions
from resolvers.aws.types.spec import Listed
from resolvers.lake.storage import Lake

ACCOUNT, REGION = "123456789012", "us-east-1"


def _base() -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@contextmanager
def _server(given: MotoServer | None) -> Iterator[MotoServer]:
    """The given server, reset (kept running), or one of our own for the block."""
    if given is not None:
        given.reset()
        yield given
        return
    server = MotoServer.start()
    try:
        yield server
    finally:
        server.stop()


def measure_scan(
    assets: int = 1000, workdir: Path | None = None, server: MotoServer | None = None
) -> dict[str, float]:
    """Scan a moto account seeded with ``assets`` assets into a new lake; rates and calls."""
    with _server(server) as running:
        reader = Sessions(AwsOptions(endpoint_url=running.endpoint), _base()).reader(ACCOUNT)
        seed_bulk(reader, REGION, assets)
        counter = CallCounter()
        with tempfile.TemporaryDirectory(dir=workdir) as folder:
            lake = Lake(str(Path(folder) / "lake")).create()
            started = time.perf_counter()
            result = scan_aws(
                lake, ScanOptions(regions=(REGION,), endpoint_url=running.endpoint),
                AwsOptions(client_hooks=(counter,)), _base(),
            )  # fmt: skip
            seconds = time.perf_counter() - started
    return {
        "scan_assets": float(result.assets),
        "scan_seconds": round(seconds, 3),
        "scan_assets_per_s": round(result.assets / seconds, 1),
        "scan_api_calls": float(counter.total_attempts),
        "scan_api_calls_per_asset": round(counter.total_attempts / max(result.assets, 1), 3),
    }


def measure_describes(server: MotoServer | None = None) -> dict[str, Any]:
    """Per core type, API calls of one event-path describe and of a scan per asset."""
    with _server(server) as running:
        counter = CallCounter()
        sessions = Sessions(
            AwsOptions(endpoint_url=running.endpoint, client_hooks=(counter,)), _base()
        )
        reader = sessions.reader(ACCOUNT)
        seed_core(reader, REGION)
        describer = Boto3Describer(sessions, DescriberOptions(not_found_retries=0))
        per_change: dict[str, float] = {}
        per_asset: dict[str, float] = {}
        for name, spec in sorted(registry().items()):
            counter.reset()
            listed = [i for i in spec.list(reader, ACCOUNT, REGION) if isinstance(i, Listed)]
            per_asset[name] = round(counter.total_attempts / max(len(listed), 1), 2)
            counter.reset()
            describer.describe(listed[0].asset_key, name, ACCOUNT, listed[0].region)
            per_change[name] = float(counter.total_attempts)
    return {
        "event_api_calls_per_change": round(sum(per_change.values()) / len(per_change), 2),
        "event_api_calls_per_change_by_type": per_change,
        "scan_api_calls_per_asset_by_type": per_asset,
    }


def hourly_calls(
    scan_calls_per_asset: float,
    event_calls_per_change: float,
    sizes: Iterable[int] = (1_000, 10_000),
    change_rate: float = 0.01,
) -> list[dict[str, float]]:
    """API calls per hour: an hourly full scan against the event path at ``change_rate``."""
    rows = []
    for assets in sizes:
        scan = assets * scan_calls_per_asset
        events = assets * change_rate * event_calls_per_change
        rows.append({
            "assets": float(assets), "hourly_scan_calls": round(scan),
            "event_path_calls": round(events, 1), "ratio": round(scan / events, 1),
        })  # fmt: skip
    return rows
