"""The ``assetlake`` command line. Wiring only: the work is done in ``resolvers``.

Every command takes ``--lake URI`` (a folder, default ``$ASSETLAKE_LAKE`` else ``./lake``, or
``s3://bucket/prefix``). Errors are one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from resolvers.errors import AssetlakeError
from resolvers.lake.storage import Lake, default_lake_uri

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    """One clear line on stderr, exit status 2."""
    click.echo(f"assetlake: error: {message}", err=True)
    sys.exit(2)


def lake_option(func: F) -> F:
    """``--lake URI`` on a command, handed over as a :class:`Lake`."""

    @click.option(
        "--lake",
        "lake_uri",
        default=None,
        metavar="URI",
        help="Lake folder or s3://bucket/prefix (default $ASSETLAKE_LAKE, else ./lake).",
    )
    @wraps(func)
    def wrapper(*args: Any, lake_uri: str | None, **kwargs: Any) -> Any:
        try:
            return func(*args, lake=Lake(lake_uri or default_lake_uri()), **kwargs)
        except AssetlakeError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """assetlake: an event-driven inventory of cloud assets with full history."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--offline", is_flag=True, help="Call no cloud API; state comes from the events.")
@click.option(
    "--role-name", default=None, help="Read-only role to assume in other accounts (online)."
)
@click.option("--batch-size", default=1000, show_default=True, help="Records per commit.")
@click.option(
    "--rules/--no-rules", default=True, show_default=True, help="Evaluate compliance rules after."
)
@lake_option
def ingest(
    lake: Lake,
    files: tuple[Path, ...],
    offline: bool,
    role_name: str | None,
    batch_size: int,
    rules: bool,
) -> None:
    """Process event files through the same code the Dagster jobs run."""
    from resolvers.aws.describe import OfflineDescriber
    from resolvers.aws.types.describer import online_describer
    from resolvers.ingest import ingest_files

    # online: the state an event does not carry is read with the AWS SDK (current credentials
    # for their account, --role-name assumed in the others); offline: from the events alone
    describer = OfflineDescriber() if offline else online_describer(role_name)
    report = ingest_files(lake, list(files), batch_size=batch_size, describer=describer)
    click.echo(
        f"{report.records} records from {report.files} files in {len(report.batches)} batches: "
        f"{report.total('raw_events')} new raw events, "
        f"{report.total('asset_changes')} asset changes, "
        f"{report.total('versions_written')} versions written, "
        f"{report.total('unresolved_events')} unresolved"
    )
    if rules:
        from resolvers.compliance.evaluate import evaluate

        result = evaluate(lake)
        click.echo(
            f"compliance: {result.versions} versions and {result.events} events judged, "
            f"{result.findings} findings in scope, {result.alerts_queued} alerts queued"
        )


@main.command()
@click.option("--replace", is_flag=True, help="Delete a lake already at --lake first.")
@lake_option
def demo(lake: Lake, replace: bool) -> None:
    """Run the whole pipeline once on embedded services and print what to try next."""
    import time

    from pipelines.demo import run_demo

    started = time.monotonic()
    result = run_demo(lake, replace=replace, say=click.echo)
    click.echo(f"\nWhat happened ({time.monotonic() - started:.0f} s; lake {lake.uri}):")
    for line in result.summary():
        click.echo(f"  {line}")
    click.echo(f"\nAWS: the bucket made public and reverted, {result.bucket}:")
    for line in result.public_bucket():
        click.echo(f"  {line}")
    click.echo("\nGCP: a week of the asset feed")
    for line in result.feed.highlights():
        click.echo(f"  {line}")
    click.echo(f"\n{result.dagster_hint()}")
    click.echo("\nTry next:")
    for query in result.queries():
        click.echo(f"  {query} --lake {lake.uri}")
    click.echo(f"  the notebook notebooks/first_hour.ipynb, with ASSETLAKE_LAKE={lake.uri}")


@main.command()
@click.argument("engine", type=click.Choice(["duckdb", "trino", "spark"]))
@click.option("--schema", default="assetlake", show_default=True, help="Schema to register in.")
@lake_option
def ddl(lake: Lake, engine: str, schema: str) -> None:
    """Print the DDL that registers the lake's tables and views in another engine."""
    from resolvers.lake.ddl import ddl as build_ddl

    click.echo(build_ddl(engine, lake.uri, schema), nl=False)


# -- queries: sql, history, inventory, findings (resolvers/query.py, resolvers/render.py) ------
OUTPUT_FORMATS = ("table", "csv", "json")
INVENTORY_TABLE_COLUMNS = (
    "asset_key", "resource_type", "account_id", "region", "name", "version", "valid_from",
    "changed_by", "tags",
)  # fmt: skip
FINDINGS_TABLE_COLUMNS = (
    "severity", "rule_id", "status", "asset_key", "opened_at", "resolved_at", "finding_id",
)  # fmt: skip


def format_option(func: F) -> F:
    """``--format table|csv|json`` on a query command."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(OUTPUT_FORMATS),
        default="table",
        show_default=True,
        help="A readable table, or CSV / a JSON array for scripts.",
    )(func)


def parse_tags(values: tuple[str, ...]) -> dict[str, str | None]:
    """``K=V`` options as a mapping (a bare ``K``: the tag is present, any value)."""
    from resolvers.errors import InputError

    tags: dict[str, str | None] = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        if not key:
            raise InputError(f"--tag {value!r}: expected KEY=VALUE (or KEY)")
        if key in tags:
            raise InputError(f"--tag {key}: given twice (a tag has one value)")
        tags[key] = wanted if sep else None
    return tags


@main.command()
@click.argument("query")
@format_option
@lake_option
def sql(lake: Lake, query: str, fmt: str) -> None:
    """DuckDB SQL over the lake: QUERY names tables and views directly.

    \b
    Tables: raw_events, asset_changes, asset_versions, findings, unresolved_events,
    asset_observations, and the internal ones (SHOW TABLES lists them all).
    Views: inventory (current, not deleted), open_findings, changes_by_principal;
    table macro inventory_as_of(TIMESTAMPTZ '2026-01-31T00:00:00Z'). Times are UTC.
    """
    from resolvers.query import run_sql
    from resolvers.render import render

    result = run_sql(lake, query)
    if result is not None:
        click.echo(render(result, fmt), nl=False)


@main.command()
@click.argument("asset_key")
@format_option
@lake_option
def history(lake: Lake, asset_key: str, fmt: str) -> None:
    """Every version of one asset: when, who, which event, and what changed."""
    from resolvers.query import history as asset_history
    from resolvers.render import render_history

    click.echo(render_history(asset_history(lake, asset_key), fmt), nl=False)


@main.command()
@click.option("--as-of", "as_of", metavar="TS", help="The inventory at this instant (ISO 8601).")
@click.option("--type", "resource_type", metavar="T", help="Resource type, e.g. AWS::S3::Bucket.")
@click.option("--account", metavar="A", help="AWS account id or GCP project.")
@click.option(
    "--tag", "tags", metavar="K=V", multiple=True, help="Tag (repeatable; K alone: any value)."
)
@click.option("--search", metavar="TEXT", help="Text in the key, name, tags, type or config.")
@format_option
@lake_option
def inventory(
    lake: Lake,
    as_of: str | None,
    resource_type: str | None,
    account: str | None,
    tags: tuple[str, ...],
    search: str | None,
    fmt: str,
) -> None:
    """The inventory now, or at any past instant with --as-of."""
    from resolvers.query import inventory as query_inventory
    from resolvers.render import render

    table = query_inventory(
        lake, as_of=as_of, type=resource_type, account=account, tags=parse_tags(tags),
        search=search,
    )  # fmt: skip
    output = render(table, fmt, INVENTORY_TABLE_COLUMNS, "asset", json_columns=("tags", "config"))
    click.echo(output, nl=False)


@main.command()
@click.option("--open", "open_only", is_flag=True, help="Only findings open now (or at --as-of).")
@click.option("--as-of", "as_of", metavar="TS", help="The findings as they stood at this instant.")
@click.option("--rule", metavar="R", help="Only this rule id.")
@format_option
@lake_option
def findings(lake: Lake, open_only: bool, as_of: str | None, rule: str | None, fmt: str) -> None:
    """Compliance findings, most severe first."""
    from resolvers.query import findings as query_findings
    from resolvers.render import render

    table = query_findings(lake, open_only=open_only, as_of=as_of, rule=rule)
    output = render(table, fmt, FINDINGS_TABLE_COLUMNS, "finding", json_columns=("evidence",))
    click.echo(output, nl=False)


@main.command()
@click.option(
    "--vacuum-hours",
    default=168,
    show_default=True,
    type=click.IntRange(min=0),
    help="Keep files the tables stopped using more recently than this (a short retention can "
    "break readers of older versions).",
)
@click.option("--no-z-order", is_flag=True, help="Compact only; do not z-order asset_versions.")
@lake_option
def compact(lake: Lake, vacuum_hours: int, no_z_order: bool) -> None:
    """Maintain the lake: compact, z-order, vacuum and checkpoint every table (rows unchanged)."""
    from resolvers.lake.maintenance import MaintenanceOptions, maintain

    report = maintain(lake, MaintenanceOptions(vacuum_hours=vacuum_hours, z_order=not no_z_order))
    for table in report.tables:
        ordered = f", z-ordered {', '.join(table.z_ordered)}" if table.z_ordered else ""
        click.echo(
            f"{table.table}: {table.files_before} -> {table.files_after} files, "
            f"{table.rows} rows, {table.files_vacuumed} files vacuumed{ordered} "
            f"({table.seconds:.2f} s)"
        )
    click.echo(
        f"{report.total('files_before')} -> {report.total('files_after')} files in "
        f"{len(report.tables)} tables, {report.seconds:.2f} s"
    )


@main.command()
@click.option("--quick", is_flag=True, help="100k live assets, 1M history rows (about a minute).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the bench's temporary lakes go (default: the system temp folder).",
)
@click.option("--tiny", is_flag=True, hidden=True, help="A few thousand rows (tests).")
@click.option(
    "--e2e/--no-e2e",
    default=False,
    show_default=True,
    help="Also measure latency and throughput through the Dagster daemon (a few minutes).",
)
@lake_option
def bench(
    lake: Lake, quick: bool, as_json: bool, workdir: Path | None, tiny: bool, e2e: bool
) -> None:
    """Benchmark the write and read paths on synthetic lakes of its own.

    The bench builds its lakes in a temporary folder and removes them afterwards; --lake is
    accepted like everywhere else but never written to. Progress goes to stderr.
    """
    import json

    from resolvers.bench.report import render_table
    from resolvers.bench.runner import FULL, QUICK, TINY, default_progress, run_bench

    del lake  # the bench never touches a user's lake
    sizes = TINY if tiny else QUICK if quick else FULL
    result = run_bench(sizes, workdir=workdir, progress=default_progress())
    if not tiny:  # the cost model: a scan and the event path on a moto account (started here)
        from resolvers.bench.scan import measure_describes, measure_scan

        scan = measure_scan(200 if quick else 1000, workdir=workdir)
        describes = measure_describes()
        result["scan_assets_per_s"] = scan["scan_assets_per_s"]
        result["scan_api_calls_per_asset"] = scan["scan_api_calls_per_asset"]
        result["event_api_calls_per_change"] = describes["event_api_calls_per_change"]
        result.setdefault("detail", {})["scan"] = {**scan, **describes}
    from resolvers.bench.resolve import bench_figures  # CloudTrail records, offline

    resolved = bench_figures(tiny)
    result.setdefault("detail", {})["resolve"] = resolved.pop("detail")
    result.update(resolved)
    if e2e:
        import tempfile

        from resolvers.bench.e2e import QUICK_E2E, E2ESizes, measure_e2e

        with tempfile.TemporaryDirectory(prefix="assetlake-e2e-", dir=workdir) as folder:
            figures = measure_e2e(Path(folder), QUICK_E2E if quick else E2ESizes())
        result.update({k: v for k, v in figures.items() if k != "e2e_detail"})
        result.setdefault("detail", {})["e2e"] = figures.get("e2e_detail")
    click.echo(json.dumps(result, indent=2) if as_json else render_table(result))


# -- streams: relay (resolvers/streams/relay.py) ----------------------------------------------
@main.command()
@click.option(
    "--from",
    "source_uri",
    required=True,
    metavar="URI",
    help="sqs://QUEUE_URL or pubsub://projects/P/subscriptions/S[?source=gcp_audit_log].",
)
@click.option(
    "--to",
    "target_uri",
    required=True,
    metavar="URI",
    help="nats://HOST:PORT/STREAM/SUBJECT (the stream is created if it is missing).",
)
@click.option(
    "--max",
    "max_records",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after N records (default: when the source is empty).",
)
def relay(source_uri: str, target_uri: str, max_records: int | None) -> None:
    """Move records from SQS or Pub/Sub into a JetStream stream.

    Each record is published with Nats-Msg-Id set to its id, so the stream's duplicate window
    drops redeliveries; the source is acked only after JetStream acknowledged every publish.
    Endpoints: AWS_ENDPOINT_URL, PUBSUB_EMULATOR_HOST and the usual credentials.
    """
    from resolvers.streams.relay import relay_uris

    try:
        result = relay_uris(source_uri, target_uri, max_records)
    except AssetlakeError as exc:
        fail(str(exc))
        return
    click.echo(
        f"relayed {result.records} records ({result.messages} messages, {result.batches} "
        f"batches): {result.stored} stored, {result.duplicates} duplicates dropped, "
        f"{result.seconds:.2f} s"
    )


# -- full scans: assetlake scan aws|gcp (resolvers/scan_scope.py) -----------------------------
@main.group()
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


# -- compliance rules: assetlake rules (resolvers/compliance) --------------------------------
@main.command()
@click.option(
    "--framework",
    metavar="F",
    help="Only the rules a framework maps (cis-aws-3.0, cis-gcp-3.0), with its requirements.",
)
@format_option
@lake_option
def rules(lake: Lake, framework: str | None, fmt: str) -> None:
    """The compliance rules: id, severity, kind, resource types and framework requirements."""
    from resolvers.compliance.listing import RULE_COLUMNS, rules_table
    from resolvers.render import render

    del lake  # the registry is code and data; no lake is read
    click.echo(render(rules_table(framework), fmt, RULE_COLUMNS, "rule"), nl=False)


# -- coverage: how the resolvers classify event files (resolvers/coverage.py) -----------------
@main.command()
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


# -- AWS scan and its IAM policy: assetlake scan aws, assetlake iam-policy (resolvers/aws/scan*) ---
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


@main.command("iam-policy")
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


@main.command()
@click.argument("target", metavar="EVENT_ID|ASSET_KEY")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "json")),
    default="table",
    show_default=True,
    help="Readable text, or one JSON object for scripts.",
)
@lake_option
def trace(lake: Lake, target: str, fmt: str) -> None:
    """The journey of one record (EVENT_ID) or of every change of one asset (ASSET_KEY):
    landing, resolution, changes, versions or why none, findings, alerts, time per stage."""
    from resolvers.trace import render_trace
    from resolvers.trace import trace as trace_target

    click.echo(render_trace(trace_target(lake, target), fmt), nl=False)


if __name__ == "__main__":
    main()
