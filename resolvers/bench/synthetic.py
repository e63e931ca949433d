"""Synthetic GCP assets: one shape per asset kind, with fields derived from an asset index.

Every synthetic asset is a number ``index`` (its kind, project, zone, name ... follow from it)
at a revision ``rev`` (what changes from one version to the next). A feed message is written
once with *sentinels* (``§project§``, ``§rev§``, ...) where those values go; its JSON text is a
:class:`Template` that polars fills for a million rows at a time. The rows of asset_versions are
templated the same way, from what the real resolver makes of the sentinel message, so the
synthetic history always holds exactly what ingesting those messages would have written (the
tests check it row by row).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
import polars as pl

from resolvers.canonical import canonical_json, strip_volatile
from resolvers.errors import AssetlakeError
from resolvers.gcp.asset_feed import SOURCE as ASSET_FEED
from resolvers.ingest import Record, resolve_record

ASSETS_PER_PROJECT = 100
ZONES = ("us-central1-a", "us-central1-b", "us-east1-b", "europe-west1-c", "asia-east1-a")
TEMPLATE_TIME = "2024-01-01T00:00:00Z"
SENTINEL = re.compile(r"§([a-z_]+)§")
COMPUTE = "https://www.googleapis.com/compute/v1/projects/"
# Columns of asset_versions that come from the resolved message (the rest is chain bookkeeping).
ROW_FIELDS = ("asset_key", "cloud", "account_id", "region", "resource_type", "name", "tags")


class BenchError(AssetlakeError):
    """The bench cannot run (the synthetic data no longer matches what the resolvers do)."""


def s(name: str) -> str:
    """The sentinel that stands for field ``name`` in a template."""
    return f"§{name}§"


@dataclass(frozen=True, slots=True)
class Template:
    """A text with fields: literal pieces at even positions, field names at odd ones."""

    pieces: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Split a text with sentinels into a template."""
        return cls(tuple(SENTINEL.split(text)))

    def expr(self) -> pl.Expr:
        """A polars expression filling the template from string columns named like its fields."""
        parts = [pl.lit(p) if i % 2 == 0 else pl.col(p) for i, p in enumerate(self.pieces) if p]
        return pl.concat_str(parts) if parts else pl.lit("")


@dataclass(frozen=True, slots=True)
class Kind:
    """One synthetic asset type: its CAI type, asset name and resource location, with sentinels."""

    asset_type: str
    discovery_name: str
    name: str
    location: str


INSTANCE = Kind(
    "compute.googleapis.com/Instance",
    "Instance",
    f"//compute.googleapis.com/projects/{s('project')}/zones/{s('zone')}/instances/vm-{s('serial')}",
    s("zone"),
)
FIREWALL = Kind(
    "compute.googleapis.com/Firewall",
    "Firewall",
    f"//compute.googleapis.com/projects/{s('project')}/global/firewalls/fw-{s('serial')}",
    "global",
)
DISK = Kind(
    "compute.googleapis.com/Disk",
    "Disk",
    f"//compute.googleapis.com/projects/{s('project')}/zones/{s('zone')}/disks/disk-{s('serial')}",
    s("zone"),
)
KINDS = (INSTANCE, FIREWALL, DISK)  # kind of asset ``index`` is KINDS[index % 3]


def _common(kind: Kind) -> dict[str, Any]:
    path = kind.name.split("/projects/", 1)[1]
    return {
        "creationTimestamp": s("created"),
        "description": f"managed by {s('team')}, revision {s('rev')}",
        "id": s("id"),
        "kind": f"compute#{kind.discovery_name[0].lower()}{kind.discovery_name[1:]}",
        "labelFingerprint": s("fp"),
        "labels": {"cost-center": f"cc-{s('team')}", "env": s("env"), "team": s("team")},
        "name": path.rsplit("/", 1)[1],
        "selfLink": f"{COMPUTE}{path}",
    }


def _instance_data() -> dict[str, Any]:
    zone, project = f"{COMPUTE}{s('project')}/zones/{s('zone')}", f"{COMPUTE}{s('project')}"
    return {
        **_common(INSTANCE),
        "canIpForward": False,
        "cpuPlatform": "Intel Cascade Lake",
        "deletionProtection": False,
        "disks": [
            {
                "autoDelete": True,
                "boot": True,
                "deviceName": "persistent-disk-0",
                "index": 0,
                "interface": "SCSI",
                "mode": "READ_WRITE",
                "type": "PERSISTENT",
                "source": f"{zone}/disks/disk-{s('serial')}",
            }
        ],
        "fingerprint": s("fp"),
        "machineType": f"{zone}/machineTypes/n2-standard-4",
        "metadata": {"fingerprint": s("fp"), "items": [{"key": "enable-oslogin", "value": "TRUE"}]},
        "networkInterfaces": [
            {
                "fingerprint": s("fp"),
                "name": "nic0",
                "networkIP": s("ip"),
                "network": f"{project}/global/networks/default",
                "stackType": "IPV4_ONLY",
                "subnetwork": f"{project}/regions/{s('region')}/subnetworks/default",
            }
        ],
        "scheduling": {
            "automaticRestart": True,
            "onHostMaintenance": "MIGRATE",
            "preemptible": False,
        },
        "serviceAccounts": [
            {
                "email": f"{s('project_number')}-compute@developer.gserviceaccount.com",
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            }
        ],
        "status": "RUNNING",
        "tags": {"fingerprint": s("fp"), "items": ["http-server", "https-server"]},
        "zone": zone,
    }


def _firewall_data() -> dict[str, Any]:
    network = f"{COMPUTE}{s('project')}/global/networks/default"
    return {
        **_common(FIREWALL),
        "allowed": [
            {"IPProtocol": "tcp", "ports": ["22", "443", "8080-8090"]},
            {"IPProtocol": "icmp"},
        ],
        "direction": "INGRESS",
        "disabled": False,
        "logConfig": {"enable": True, "metadata": "INCLUDE_ALL_METADATA"},
        "network": network,
        "priority": 1000,
        "sourceRanges": [f"{s('ip')}/32", "10.128.0.0/9", "35.235.240.0/20"],
        "targetServiceAccounts": [f"{s('project_number')}-compute@developer.gserviceaccount.com"],
        "targetTags": ["web", f"{s('team')}-ingress"],
    }


def _disk_data() -> dict[str, Any]:
    zone = f"{COMPUTE}{s('project')}/zones/{s('zone')}"
    return {
        **_common(DISK),
        "guestOsFeatures": [{"type": "VIRTIO_SCSI_MULTIQUEUE"}, {"type": "UEFI_COMPATIBLE"}],
        "lastAttachTimestamp": s("created"),
        "licenses": [f"{COMPUTE}debian-cloud/global/licenses/debian-12-bookworm"],
        "physicalBlockSizeBytes": "4096",
        "sizeGb": "100",
        "sourceImage": f"{COMPUTE}debian-cloud/global/images/debian-12-bookworm-v20240110",
        "status": "READY",
        "type": f"{zone}/diskTypes/pd-balanced",
        "users": [f"{zone}/instances/vm-{s('serial')}"],
        "zone": zone,
    }


DATA = {INSTANCE: _instance_data, FIREWALL: _firewall_data, DISK: _disk_data}


def feed_message(kind: Kind, deleted: bool, time: str = s("time")) -> dict[str, Any]:
    """A TemporalAsset (camelCase, as Pub/Sub delivers it) for one asset, with sentinels."""
    ancestors = [f"projects/{s('project_number')}", "folders/480307420851", "organizations/9121"]
    asset: dict[str, Any] = {
        "ancestors": ancestors,
        "assetType": kind.asset_type,
        "name": kind.name,
    }
    window = {"startTime": time}
    if deleted:
        return {"asset": asset, "deleted": True, "priorAssetState": "PRESENT", "window": window}
    asset["resource"] = {
        "data": DATA[kind](),
        "discoveryDocumentUri": "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest",
        "discoveryName": kind.discovery_name,
        "location": kind.location,
        "parent": f"//cloudresourcemanager.googleapis.com/projects/{s('project_number')}",
        "version": "v1",
    }
    asset["updateTime"] = time
    return {"asset": asset, "priorAssetState": s("prior"), "window": window}


@cache
def feed_template(kind: Kind, deleted: bool) -> Template:
    """The JSON text of a feed message as a template (fields + ``time`` and ``prior``)."""
    return Template.parse(orjson.dumps(feed_message(kind, deleted)).decode())


@cache
def row_templates(kind: Kind, deleted: bool) -> dict[str, Template]:
    """Templates of the asset_versions columns the real resolver makes of a message.

    ``config`` is the stored document and ``hash_input`` the text whose sha256 is config_hash.
    """
    message = feed_message(kind, deleted, TEMPLATE_TIME)
    if not deleted:
        message["priorAssetState"] = "PRESENT"
    record = Record(orjson.dumps(message).decode(), message, "bench:template")
    observations = resolve_record(record, b"bench", ASSET_FEED).observations
    if len(observations) != 1:
        raise BenchError(f"the feed resolver made {len(observations)} observations of a message")
    obs = observations[0]
    texts = {name: getattr(obs, name) or "" for name in ROW_FIELDS}
    texts["config"] = obs.config
    texts["hash_input"] = canonical_json(strip_volatile(orjson.loads(obs.config)))
    return {name: Template.parse(text) for name, text in texts.items()}


def _zfill(expr: pl.Expr, width: int) -> pl.Expr:
    return expr.cast(pl.String).str.zfill(width)


def _pick(expr: pl.Expr, values: tuple[str, ...]) -> pl.Expr:
    return (expr % len(values)).replace_strict(dict(enumerate(values)), return_dtype=pl.String)


def asset_field_exprs(index: pl.Expr) -> dict[str, pl.Expr]:
    """The fields of an asset that no revision changes (strings), from its index."""
    project = index // ASSETS_PER_PROJECT
    text = pl.concat_str
    return {
        "project": text([pl.lit("proj-"), _zfill(project, 6)]),
        "project_number": (project + 400_000_000_000).cast(pl.String),
        "zone": _pick(project, ZONES),
        "region": _pick(project, tuple(zone.rsplit("-", 1)[0] for zone in ZONES)),
        "serial": _zfill(index, 8),
        "id": (index + 1_000_000_000_000_000_000).cast(pl.String),
        "ip": text(
            [pl.lit("10.")]
            + [
                text([((index // 256**k) % 256).cast(pl.String), pl.lit(sep)])
                for k, sep in ((2, "."), (1, "."), (0, ""))
            ]
        ),
        "created": text(
            [
                pl.lit("2023-"),
                _zfill(index % 12 + 1, 2),
                pl.lit("-"),
                _zfill(index % 28 + 1, 2),
                pl.lit("T08:15:00.000-07:00"),
            ]
        ),
        "env": _pick(project, ("prod", "staging", "dev")),
        "team": text([pl.lit("team-"), _zfill(project % 40, 2)]),
    }


def revision_field_exprs(index: pl.Expr, rev: pl.Expr) -> dict[str, pl.Expr]:
    """The fields that change from one revision of an asset to the next (strings)."""
    fingerprint = pl.concat_str(
        [pl.lit("fp"), index.cast(pl.String), pl.lit("r"), rev.cast(pl.String)]
    )
    return {"rev": rev.cast(pl.String), "fp": fingerprint}


def with_fields(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (integer columns ``index`` and ``rev``) with every field added, as strings.

    The fields of each asset are computed once, however many revisions of it the frame holds.
    """
    assets = frame.select(pl.col("index").unique())
    assets = assets.with_columns(**asset_field_exprs(pl.col("index")))
    joined = frame.join(assets, on="index", how="left", maintain_order="left")
    return joined.with_columns(**revision_field_exprs(pl.col("index"), pl.col("rev")))


def kind_of(index: pl.Expr) -> pl.Expr:
    """The position in KINDS of each asset's kind."""
    return index % len(KINDS)


def time_text(column: str) -> pl.Expr:
    """RFC 3339 text with microseconds of a timestamp column (as feed messages write it)."""
    return pl.col(column).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def utc(year: int, month: int, day: int) -> dt.datetime:
    """An aware UTC datetime at midnight."""
    return dt.datetime(year, month, day, tzinfo=dt.UTC)


def asset_keys(indexes: list[int]) -> list[str]:
    """The asset keys (CAI full resource names) of synthetic assets, in the order given."""
    frame = with_fields(pl.DataFrame({"index": indexes, "rev": [0] * len(indexes)}))
    frame = frame.with_columns(_row=pl.int_range(pl.len()), _kind=kind_of(pl.col("index")))
    parts = [
        part.select("_row", key=row_templates(KINDS[int(kind)], False)["asset_key"].expr())  # type: ignore[arg-type]
        for (kind,), part in frame.partition_by(["_kind"], as_dict=True).items()
    ]
    return pl.concat(parts).sort("_row").get_column("key").to_list()
