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
@click.option("--batch-size", default=1000, show_default=True, help="Records per commit.")
@lake_option
def ingest(lake: Lake, files: tuple[Path, ...], offline: bool, batch_size: int) -> None:
    """Process event files through the same code the Dagster jobs run."""
    from resolvers.ingest import ingest_files

    del offline  # no resolver calls a cloud API yet: every state comes from the events
    report = ingest_files(lake, list(files), batch_size=batch_size)
    click.echo(
        f"{report.records} records from {report.files} files in {len(report.batches)} batches: "
        f"{report.total('raw_events')} new raw events, "
        f"{report.total('asset_changes')} asset changes, "
        f"{report.total('versions_written')} versions written, "
        f"{report.total('unresolved_events')} unresolved"
    )


@main.command()
@click.argument("engine", type=click.Choice(["duckdb", "trino", "spark"]))
@click.option("--schema", default="assetlake", show_default=True, help="Schema to register in.")
@lake_option
def ddl(lake: Lake, engine: str, schema: str) -> None:
    """Print the DDL that registers the lake's tables and views in another engine."""
    from resolvers.lake.ddl import ddl as build_ddl

    click.echo(build_ddl(engine, lake.uri, schema), nl=False)


if __name__ == "__main__":
    main()
