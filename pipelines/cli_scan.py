"""The scan commands: scan gcp|aws, iam-policy, and coverage (how the resolvers classify event
files), over resolvers/gcp/scan.py, resolvers/aws/scan_cli.py and resolvers/coverage.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipelines.cli_options import fail, lake_option
from resolvers.lake.storage import Lake


@click.group()
def scan() -> None:
    """A full inventory scan now: onboarding, and the safety net for events the streams missed."""


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeatable options that also take comma-separated lists."""
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


@scan.command("gcp")
@click.option("--project", "projects", multiple=True, metavar="P", help="Project (repeatable).")
@click.option("--folder", "folders", multiple=True, metavar="F", help="Folder id (repeatable).")
@click.option("--org", "orgs", multiple=True, metavar="O", help="Organization id (repeatable).")
@click.option(
    "--types", multiple=True, metavar="T[,T...]", help="Asset types (default: every type)."
)
@click.option(
    "--endpoint",
    metavar="HOST:PORT",
    help="A test AssetService (insecure channel, anonymous credentials) instead of Google's.",
)
@click.option("--page-size", default=1000, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
    help="Parents (projects, folders, organizations) listed at once.",
)  # fmt: skip
@click.option("--commit-every", default=5000, hidden=True, type=click.IntRange(min=1))
@lake_option
def scan_gcp_command(
    lake: Lake,
    projects: tuple[str, ...],
    folders: tuple[str, ...],
    orgs: tuple[str, ...],
    types: tuple[str, ...],
    endpoint: str | None,
    page_size: int,
    concurrency: int,
    commit_every: int,
) -> None:
    """Scan GCP with Cloud Asset Inventory (Application Default Credentials) into the lake."""
    from resolvers.gcp.scan import GcpScanOptions, GcpScanTarget, ScopeProgress, scan_gcp

    def progress(done: ScopeProgress) -> None:
        detail = f": {done.error}" if done.error else ""
        click.echo(
            f"  {done.parent}: {done.status}, {done.assets} assets, {done.api_calls} calls{detail}",
            err=True,
        )

    target = GcpScanTarget(_split(projects), _split(folders), _split(orgs), _split(types))
    options = GcpScanOptions(
        endpoint=endpoint, page_size=page_size, commit_every=commit_every, concurrency=concurrency
    )
    report = scan_gcp(lake, target, options, progress=progress)
    click.echo(
        f"scanned {report.total('scanned_assets')} assets at {report.read_time.isoformat()}: "
        f"{report.total('new_assets')} new, {report.total('changed_assets')} changed, "
        f"{report.total('deleted_assets')} deleted, {report.total('unchanged_assets')} "
        f"unchanged; {report.api_calls} API calls; scan_reports scan_id {report.scan_id}"
    )
    if report.failed_scopes and len(report.failed_scopes) == len(target.parents()):
        fail(f"every scope failed: {', '.join(report.failed_scopes)}")
    for scope in report.failed_scopes:
        click.echo(f"assetlake: warning: {scope} not scanned; nothing deleted there", err=True)


@scan.command("aws")
@click.option("--accounts", multiple=True, metavar="ID[,ID...]", help="Accounts (default: own).")
@click.option("--regions", multiple=True, metavar="R[,R...]", help="Default: enabled regions.")
@click.option("--types", multiple=True, metavar="T[,T...]", help="CloudFormation type names.")
@click.option("--role-name", metavar="R", help="Read-only role assumed in other accounts.")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML (or .json) file of the same options.",
)  # fmt: skip
@click.option("--organizations", is_flag=True, default=None, help="Add the org's accounts.")
@click.option("--max-per-account", type=click.IntRange(min=1), help="Scopes at once per account.")
@click.option("--max-per-service", type=click.IntRange(min=1), help="Per (account, service).")
@click.option("--max-attempts", type=click.IntRange(min=1), help="Adaptive retries per call.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@lake_option
def scan_aws_command(
    lake: Lake, config_file: Path | None, no_progress: bool, **options: Any
) -> None:
    """Scan AWS accounts (credentials from the usual AWS variables) into the lake."""
    from resolvers.aws.scan_cli import all_failed, run_scan, scan_options, summary

    for name in ("accounts", "regions", "types"):
        options[name] = _split(options[name])
    result = run_scan(lake, scan_options(config_file, options), show_progress=not no_progress)
    first, *warnings = summary(result)
    click.echo(first)
    for line in warnings:
        click.echo(f"assetlake: {line}", err=True)
    if all_failed(result):
        fail("every scope failed or was denied; nothing was deleted")


@click.command("iam-policy")
@click.option("--organizations", is_flag=True, help="Add organizations:ListAccounts.")
@click.option("--no-cloud-control", is_flag=True, help="Leave out the Cloud Control fallback.")
@click.option(
    "--assume-role", metavar="R",
    help="Print instead the scanning principal's policy: sts:AssumeRole on role R everywhere.",
)  # fmt: skip
def iam_policy(organizations: bool, no_cloud_control: bool, assume_role: str | None) -> None:
    """The read-only IAM policy the AWS scanner and describer need, generated from the calls
    the type specs declare."""
    from resolvers.aws.scan_cli import policy_text

    click.echo(policy_text(organizations, not no_cloud_control, assume_role))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@lake_option
def coverage(lake: Lake, files: tuple[Path, ...], as_json: bool) -> None:
    """How the resolvers classify and resolve the records of event files (offline; writes
    nothing: --lake is accepted like everywhere else and ignored)."""
    import json

    from resolvers.coverage import coverage as measure
    from resolvers.coverage import render

    del lake
    report = measure(list(files))
    click.echo(json.dumps(report, indent=2) if as_json else render(report))
