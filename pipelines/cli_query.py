"""The query commands: sql, history, inventory, findings, rules, trace (resolvers/query.py,
resolvers/render.py, resolvers/trace.py, resolvers/compliance/listing.py)."""

from __future__ import annotations

import click

from pipelines.cli_options import format_option, lake_option
from resolvers.lake.storage import Lake

INVENTORY_TABLE_COLUMNS = (
    "asset_key", "resource_type", "account_id", "region", "name", "version", "valid_from",
    "changed_by", "tags",
)  # fmt: skip


FINDINGS_TABLE_COLUMNS = (
    "severity", "rule_id", "status", "asset_key", "opened_at", "resolved_at", "finding_id",
)  # fmt: skip


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


@click.command()
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


@click.command()
@click.argument("asset_key")
@format_option
@lake_option
def history(lake: Lake, asset_key: str, fmt: str) -> None:
    """Every version of one asset: when, who, which event, and what changed."""
    from resolvers.query import history as asset_history
    from resolvers.render import render_history

    click.echo(render_history(asset_history(lake, asset_key), fmt), nl=False)


@click.command()
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


@click.command()
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


@click.command()
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


@click.command()
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
    from resolvers.trace import trace as trace_target
    from resolvers.trace_render import render_trace

    click.echo(render_trace(trace_target(lake, target), fmt), nl=False)
