"""What ``assetlake scan aws`` and ``assetlake iam-policy`` do, below the click wiring.

The progress bar (click's, on stderr) advances one step per finished scope and shows the
assets read so far; the summary is a few lines on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

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


class ProgressBar:
    """click's progress bar on stderr, opened once the scan knows how many scopes it has."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._done = 0

    def __call__(self, progress: ScanProgress) -> None:
        """Advance to ``progress`` (one step per finished scope)."""
        if self._bar is None:
            self._bar = click.progressbar(
                length=progress.scopes_total, label="scanning", file=sys.stderr, show_pos=True
            )
            self._bar.__enter__()
        self._bar.label = f"scanning ({progress.assets} assets)"
        self._bar.update(progress.scopes_done - self._done)
        self._done = progress.scopes_done

    def close(self) -> None:
        """Finish the bar's line."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[ScanProgress], None] | None]:
    """A progress callback drawing on stderr (None when disabled or stderr is no terminal:
    logs get the summary only)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    bar = ProgressBar()
    try:
        yield bar
    finally:
        bar.close()


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
