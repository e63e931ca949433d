"""The resources of the code location (their classes live in ``assets.resources``)."""

from __future__ import annotations

import dagster as dg

from assets.resources import LakeResource, lake_resource, streams_resource

__all__ = ["LakeResource", "resources"]


def resources() -> dict[str, dg.ConfigurableResource]:
    """Every resource of the code location, by key."""
    from pipelines.scans import scan_resource

    return {"lake": lake_resource(), "streams": streams_resource(), "scans": scan_resource()}
