"""What ``assetlake scan aws`` and ``assetlake iam-policy`` do, below the click wiring.

The progress bar (rich, on stderr) advances one step per finished scope and shows the assets
read so far; the summary is a few lines on stdout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from resolvers.aws.scan import AwsScanResult, scan_aws
from resolvers.aws.scan import Progress as ScanProgress
from resolvers.aws.scan_plan import ScanOptions, load_config
from resolvers.aws.scan_policy import assume_policy, read_only_policy
from resolvers.lake.storage import Lake
from resolvers.scan_scope import COMPLETE


def scan_options(config_file: Path | None, overrides: dict[str, Any]) -> ScanOptions:
    """Defaults, then the config file, then the command line's options."""
    options = ScanOptions()
    if config_file is not None:
        options = options.merged(load_config(config_file))
    return options.merged(overrides)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[ScanProgress], None] | None]:
    """A rich progress bar on stderr, fed by the scan's progress callback."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TextColumn("scopes"),
        TextColumn("{task.fields[assets]} assets"), TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scan", total=None, assets=0)

        def update(progress: ScanProgress) -> None:
            bar.update(
                task, completed=progress.scopes_done, total=progress.scopes_total,
                assets=progress.assets,
            )  # fmt: skip

        yield update


def run_scan(lake: Lake, options: ScanOptions, show_progress: bool) -> AwsScanResult:
    """Run one scan with an optional progress bar."""
    with progress_bar(show_progress) as progress:
        return scan_aws(lake, options, progress=progress)


def summary(result: AwsScanResult) -> list[str]:
    """Lines for stdout: what was found, what it cost, which scopes deleted nothing."""
    report = result.report
    lines = [
        f"scanned {result.assets} assets in {len(result.outcomes)} scopes "
        f"({result.seconds:.1f} s, {result.api_calls} API requests) at read time "
        f"{report.read_time.isoformat()}: {report.total('new_assets')} new, "
        f"{report.total('changed_assets')} changed, {report.total('deleted_assets')} deleted, "
        f"{report.total('unchanged_assets')} unchanged; scan_reports scan_id {report.scan_id}"
    ]
    skipped = [o for o in result.outcomes if o.status != COMPLETE or o.unreadable]
    lines += [
        f"warning: {o.task.scope.label}: {o.status}"
        f"{' with unreadable assets' if o.unreadable else ''}; nothing deleted there"
        for o in skipped
    ]
    return lines


def all_failed(result: AwsScanResult) -> bool:
    """Whether not a single scope completed (the command then exits with status 2)."""
    return bool(result.outcomes) and all(o.status != COMPLETE for o in result.outcomes)


def policy_text(organizations: bool, cloud_control: bool, assume_role: str | None) -> str:
    """The JSON of ``assetlake iam-policy``."""
    if assume_role:
        return json.dumps(assume_policy(assume_role), indent=2)
    document = read_only_policy(cloud_control=cloud_control, organizations=organizations)
    return json.dumps(document, indent=2)
