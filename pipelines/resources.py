"""Dagster resources. Constructing them does no I/O: the lake is opened on first use.

The one switch between local and cloud is the lake's URI: a folder (the embedded default,
``./lake``) or ``s3://bucket/prefix``, with credentials, region and endpoint (moto, MinIO) from
the usual AWS variables (``AWS_ENDPOINT_URL`` included), read when the lake is first used.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field, PrivateAttr

from resolvers.lake.storage import DEFAULT_LAKE, Lake

LAKE_ENV = "ASSETLAKE_LAKE"


class LakeResource(dg.ConfigurableResource):
    """The assetlake lake: its Delta tables under a local folder or an s3:// prefix."""

    uri: str = Field(
        default=DEFAULT_LAKE,
        description="Lake folder (relative to the code location's working directory) or "
        "s3://bucket/prefix.",
    )
    _lake: Lake | None = PrivateAttr(default=None)

    def get_lake(self) -> Lake:
        """The :class:`Lake` (made on first call; it touches storage only when read)."""
        if self._lake is None:
            self._lake = Lake(self.uri)
        return self._lake


def lake_resource() -> LakeResource:
    """The lake of ``$ASSETLAKE_LAKE`` (resolved in each run), else ``./lake``."""
    if os.environ.get(LAKE_ENV):
        return LakeResource(uri=dg.EnvVar(LAKE_ENV))
    return LakeResource(uri=DEFAULT_LAKE)


def resources() -> dict[str, dg.ConfigurableResource]:
    """Every resource of the code location, by key."""
    return {"lake": lake_resource()}
