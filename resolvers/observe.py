"""Building observations: canonical config, hash and redaction applied in one place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from resolvers.canonical import canonical_json, canonicalize
from resolvers.model import Observation


def observation(
    *,
    asset_key: str,
    cloud: str,
    resource_type: str,
    config: Any,
    event_time: dt.datetime,
    event_ids: Iterable[str],
    salt: bytes,
    account_id: str | None = None,
    region: str | None = None,
    name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    is_deleted: bool = False,
    principal: str | None = None,
    change_source: str = "event",
    observed_at: dt.datetime | None = None,
) -> Observation:
    """An Observation whose config is redacted, canonical and hashed."""
    canonical = canonicalize(config if config is not None else {}, salt)
    return Observation(
        asset_key=asset_key,
        cloud=cloud,
        account_id=account_id,
        region=region,
        resource_type=resource_type,
        name=name,
        tags=canonical_json(dict(tags or {})),
        config=canonical.json,
        config_hash=canonical.hash,
        is_deleted=is_deleted,
        event_time=event_time,
        event_ids=tuple(sorted(set(event_ids))),
        principal=principal,
        change_source=change_source,
        observed_at=observed_at or event_time,
    )
