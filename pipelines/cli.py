"""The ``assetlake`` command line. Wiring only: the work is done in ``resolvers``.

Every command takes ``--lake URI`` (a folder, default ``$ASSETLAKE_LAKE`` else ``./lake``, or
``s3://bucket/prefix``). Errors are one line on stderr and exit status 2. The query commands
are in pipelines/cli_query.py, the scans in pipelines/cli_scan.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipelines import cli_query, cli_scan
from pipelines.cli_options import fail, lake_option
from resolvers.errors import AssetlakeError
from resolvers.lake.storage import Lake


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


for command in (
    cli_query.sql, cli_query.history, cli_query.inventory, cli_query.findings, cli_query.rules,
    cli_query.trace, cli_scan.scan, cli_scan.iam_policy, cli_scan.coverage,
):  # fmt: skip
    main.add_command(command)


if __name__ == "__main__":
    main()
