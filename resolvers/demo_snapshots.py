"""The corpus's real Cloud Asset Inventory snapshots, as the Assets of feed messages.

The shared corpus holds CAI export records (``gcp_policy_library_fixtures.cai_assets.jsonl``:
real assets of some thirty types, snake_case, without times). :func:`load_snapshots` reads them
as the camelCase Assets a Pub/Sub feed delivers; the demo's week of feed messages
(resolvers/demo_data.py) and the tests' Cloud Asset API server are built from them, the demo's
story with the changes below (a bucket made public and reverted, labels set).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from resolvers.errors import InputError
from resolvers.gcp.asset_feed import camel, camel_keys

CORPUS_FILE = "gcp_policy_library_fixtures.cai_assets.jsonl"
Asset = dict[str, Any]
Transform = Callable[[Asset, dt.datetime], Asset]  # a change: the asset as changed at a time


def corpus_file(corpus_dir: Path) -> Path:
    """The CAI snapshot file of the corpus; InputError with the reason if it is not there."""
    path = Path(corpus_dir) / CORPUS_FILE
    if not path.is_file():
        raise InputError(
            f"the corpus is missing: expected {CORPUS_FILE} in {corpus_dir} "
            "(the shared corpus of real records, next to the repository as ../shared/corpus)"
        )
    return path


def load_snapshots(corpus_dir: Path) -> dict[str, list[Asset]]:
    """Usable corpus snapshots as camelCase Assets, by asset name, in corpus order.

    Kept: assets with a resource, and IAM-policy-only assets whose name has no resource
    snapshot. Left out: access levels and service perimeters (the fixtures file them under
    organization names) and snapshots whose type disagrees with the name's first type.
    """
    by_name: dict[str, list[Asset]] = {}
    for line in corpus_file(corpus_dir).read_bytes().splitlines():
        if line.strip():
            record = orjson.loads(line)
            if "resource" in record or "iam_policy" in record:
                by_name.setdefault(record["name"], []).append(to_feed_asset(record))
    snapshots: dict[str, list[Asset]] = {}
    for name in sorted(by_name):
        found = by_name[name]
        with_resource = [asset for asset in found if "resource" in asset]
        chosen = with_resource or found
        kept = [asset for asset in chosen if asset["assetType"] == chosen[0]["assetType"]]
        snapshots[name] = _distinct(kept)
    return snapshots


def _distinct(assets: Iterable[Asset]) -> list[Asset]:
    seen: set[bytes] = set()
    unique = []
    for asset in assets:
        text = orjson.dumps(asset, option=orjson.OPT_SORT_KEYS)
        if text not in seen:
            seen.add(text)
            unique.append(asset)
    return unique


def to_feed_asset(record: Mapping[str, Any]) -> Asset:
    """A CAI export record (snake_case) as the Asset of a feed message (camelCase).

    ``resource.data`` is the service's own JSON and is kept as it is; ``ancestry_path`` (the
    deprecated form) becomes ``ancestors``.
    """
    asset: Asset = {"name": record["name"], "assetType": record["asset_type"]}
    resource = record.get("resource")
    if isinstance(resource, Mapping):
        asset["resource"] = {
            camel(key): value if key == "data" else camel_keys(value)
            for key, value in resource.items()
        }
    if "iam_policy" in record:
        asset["iamPolicy"] = camel_keys(record["iam_policy"])
    ancestors = record.get("ancestors") or _ancestors(record)
    if ancestors:
        asset["ancestors"] = list(ancestors)
    return asset


def _ancestors(record: Mapping[str, Any]) -> list[str]:
    """Ancestors from ``ancestry_path`` (``organization/1/project/p`` -> ``projects/p``, ...)."""
    path = record.get("ancestry_path")
    if isinstance(path, str) and path:
        parts = path.strip("/").split("/")
        pairs = [f"{kind}s/{value}" for kind, value in zip(parts[::2], parts[1::2], strict=False)]
        return pairs[::-1]
    resource = record.get("resource") or {}
    parent = resource.get("parent") if isinstance(resource, Mapping) else None
    if isinstance(parent, str) and "/projects/" in parent:
        return ["projects/" + parent.rsplit("/", 1)[1]]
    return []


# -- the changes the demo's story makes ---------------------------------------------------------
def _touch(asset: Asset, when: dt.datetime) -> dict[str, Any]:
    """The asset's resource data, with the bookkeeping a real update changes (buckets)."""
    data = asset["resource"]["data"]
    if isinstance(data.get("metageneration"), int):
        data["metageneration"] += 1
    if "updated" in data:
        data["updated"] = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return data


def make_public(asset: Asset, when: dt.datetime) -> Asset:
    """The bucket readable by anyone: uniform bucket-level access off, an allUsers ACL entry."""
    data = _touch(asset, when)
    access = data.setdefault("iamConfiguration", {})
    for key in ("uniformBucketLevelAccess", "bucketPolicyOnly"):  # the second is the old alias
        if key in access or key == "uniformBucketLevelAccess":
            access[key] = {"enabled": False}  # a lock time goes with the lock
    bucket = data.get("name") or asset["name"].rsplit("/", 1)[-1]
    entry = {
        "bucket": bucket,
        "entity": "allUsers",
        "etag": "CAM=",
        "id": f"{bucket}/allUsers",
        "kind": "storage#bucketAccessControl",
        "role": "READER",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/acl/allUsers",
    }
    data["acl"] = [*(data.get("acl") or []), entry]
    return asset


def revert_public(before: Asset) -> Transform:
    """The change that puts back the bucket's access settings of ``before``."""
    saved = (before.get("resource") or {}).get("data") or {}

    def revert(asset: Asset, when: dt.datetime) -> Asset:
        data = _touch(asset, when)
        for key in ("iamConfiguration", "acl"):
            if key in saved:
                data[key] = saved[key]
            else:
                data.pop(key, None)
        return asset

    return revert


def set_labels(labels: Mapping[str, str]) -> Transform:
    """The change that sets these labels (others kept) in resource.data.labels."""

    def change(asset: Asset, when: dt.datetime) -> Asset:
        data = _touch(asset, when)
        data["labels"] = {**(data.get("labels") or {}), **labels}
        return asset

    return change
