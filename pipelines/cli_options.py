"""What every ``assetlake`` command shares: ``--lake``, ``--format`` and the one-line error."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
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


OUTPUT_FORMATS = ("table", "csv", "json")


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
