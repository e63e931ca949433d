"""The lake's tables: names, Arrow schemas, keys and partitioning (rows <-> Arrow: rows.py).

The five tables of CONTRACT.md keep exactly its columns (in its order) and add a few of their
own after them. ``asset_observations`` is internal: the compact log of every observation, from
which a chain is rebuilt when a late observation arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
IDS = pa.list_(pa.string())


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One Delta table of the lake."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]  # the columns that identify a row (idempotent landing)
    partition_by: tuple[str, ...] = ()
    description: str = ""
    configuration: tuple[tuple[str, str], ...] = ()  # Delta table properties at creation
    # nullable columns added after the table's first release: Lake.create adds them to an
    # existing table that lacks them (older rows read NULL)
    added_columns: tuple[str, ...] = ()


# lineage of a derived row: when its record was received and landed (raw_events), and when
# the batch that resolved it was resolved; its commit is recorded_at, its batch batch_id, its
# Dagster run run_id
LINEAGE = [("received_at", TS), ("landed_at", TS), ("resolved_at", TS)]

RAW_EVENTS = TableSpec(
    name="raw_events",
    schema=pa.schema(
        [
            ("event_id", STR),
            ("source", STR),
            ("cloud", STR),
            ("account_id", STR),
            ("region", STR),
            ("event_time", TS),
            ("received_at", TS),
            ("classification", STR),
            ("payload", STR),
            ("batch_id", STR),
            ("record_hash", STR),
            ("event_date", pa.date32()),  # partition: a batch looks up only its days
            ("run_id", STR),  # the Dagster run that landed it (NULL outside a run)
            # lineage: received_at is when it was received from its source (pulled from a
            # queue, read from a file); landed_at when its landing commit started
            ("landed_at", TS),
            ("landed_by", STR),  # "<sensor> tick <instant>", "assetlake ingest", a job
        ]
    ),
    key=("event_id", "record_hash"),
    partition_by=("event_date",),
    description="every record received, as received but for its secrets (bronze; replayable)",
    added_columns=("run_id", "landed_at", "landed_by"),
    # the change data feed lets a drain read exactly the rows landed since its watermark
    configuration=(("delta.enableChangeDataFeed", "true"),),
)

ASSET_CHANGES = TableSpec(
    name="asset_changes",
    schema=pa.schema(
        [
            ("event_id", STR),
            ("asset_key", STR),
            ("cloud", STR),
            ("account_id", STR),
            ("region", STR),
            ("resource_type", STR),
            ("action", STR),
            ("event_source", STR),
            ("event_name", STR),
            ("event_time", TS),
            ("principal", STR),
            ("principal_type", STR),
            ("source_ip", STR),
            ("user_agent", STR),
            ("invoked_by", STR),
            ("request", STR),
            ("response", STR),
            ("batch_id", STR),
            ("recorded_at", TS),
            ("principal_account_id", STR),
            ("principal_id", STR),
            ("session_issuer", STR),
            ("session_name", STR),
            ("source_identity", STR),
            ("access_key_id", STR),
            ("mfa_authenticated", pa.bool_()),
            ("relation", STR),
            ("event_date", pa.date32()),  # partition: a batch looks up only its days
            ("run_id", STR),  # the Dagster run that resolved it (NULL outside a run)
            *LINEAGE,
        ]
    ),
    key=("event_id", "asset_key"),
    partition_by=("event_date",),
    description="one row per (event, asset it changed): the audit trail",
    added_columns=("run_id", "received_at", "landed_at", "resolved_at"),
)

ASSET_VERSIONS = TableSpec(
    name="asset_versions",
    schema=pa.schema(
        [
            ("asset_key", STR),
            ("cloud", STR),
            ("account_id", STR),
            ("region", STR),
            ("resource_type", STR),
            ("name", STR),
            ("tags", STR),
            ("config", STR),
            ("config_hash", STR),
            ("version", pa.int64()),
            ("valid_from", TS),
            ("valid_to", TS),
            ("is_current", pa.bool_()),
            ("is_deleted", pa.bool_()),
            ("changed_by", STR),
            ("change_event_ids", IDS),
            ("change_source", STR),
            ("observed_at", TS),
            ("recorded_at", TS),
            ("last_observed_at", TS),
        ]
    ),
    key=("asset_key", "valid_from"),
    partition_by=("is_current",),
    description="SCD type 2: one row per version of an asset",
)

FINDINGS = TableSpec(
    name="findings",
    schema=pa.schema(
        [
            ("finding_id", STR),
            ("rule_id", STR),
            ("severity", STR),
            ("asset_key", STR),
            ("resource_type", STR),
            ("account_id", STR),
            ("status", STR),
            ("opened_at", TS),
            ("resolved_at", TS),
            ("opened_by_event_id", STR),
            ("resolved_by_event_id", STR),
            ("evidence", STR),
            ("frameworks", IDS),
        ]
    ),
    key=("finding_id",),
    description="one row per interval during which an asset (or a change event) broke a rule",
)

UNRESOLVED_EVENTS = TableSpec(
    name="unresolved_events",
    schema=pa.schema(
        [
            ("event_id", STR),
            ("source", STR),
            ("event_source", STR),
            ("event_name", STR),
            ("event_time", TS),
            ("reason", STR),
            ("detail", STR),
            ("recorded_at", TS),
            ("batch_id", STR),
            ("run_id", STR),
            *LINEAGE,
            ("record_hash", STR),  # raw_events' record_hash of the record
        ]
    ),
    # the record hash: records colliding on an event id (another account, forged) each keep
    # their row (asset_changes is keyed by the contract on (event_id, asset_key) alone)
    key=("event_id", "reason", "record_hash"),
    description="records that could not be resolved, with the reason",
    added_columns=("run_id", "received_at", "landed_at", "resolved_at", "record_hash"),
)

ASSET_OBSERVATIONS = TableSpec(
    name="asset_observations",
    schema=pa.schema(
        [
            ("asset_key", STR),
            ("event_time", TS),
            ("event_ids", IDS),
            ("cloud", STR),
            ("account_id", STR),
            ("region", STR),
            ("resource_type", STR),
            ("name", STR),
            ("tags", STR),
            ("config", STR),
            ("config_hash", STR),
            ("is_deleted", pa.bool_()),
            ("principal", STR),
            ("change_source", STR),
            ("observed_at", TS),
            ("recorded_at", TS),
            ("event_date", pa.date32()),  # partition: a batch looks up only its days
        ]
    ),
    # the same event seeing the same state at the same instant (scd2.observation_key)
    key=("asset_key", "event_time", "event_ids", "is_deleted", "config_hash"),
    partition_by=("event_date",),
    description="internal: every observation of every asset, for rebuilding a chain",
)

ASSET_VERSIONS_TAIL = TableSpec(
    name="asset_versions_tail",
    schema=pa.schema(
        [
            *ASSET_VERSIONS.schema,
            ("_op", STR),  # put (a whole row) | patch (chain fields of a row) | delete
            ("_seq", pa.int64()),  # commit order: the latest op on a row wins
            ("_rebuild", pa.bool_()),  # written by a chain rebuild (may touch closed history)
        ]
    ),
    key=("asset_key", "valid_from", "_seq"),
    description="internal: asset_versions row operations committed since the last fold",
)

DRAIN_PROGRESS = TableSpec(
    name="drain_progress",
    schema=pa.schema(
        [
            ("consumer", STR),
            ("from_version", pa.int64()),
            ("to_version", pa.int64()),
            ("records", pa.int64()),
            ("batch_id", STR),
            ("drained_at", TS),
        ]
    ),
    key=("consumer", "to_version"),
    description="internal: how far each consumer has resolved raw_events (its watermark)",
)

ALERTS = TableSpec(
    name="alerts",
    schema=pa.schema(
        [
            ("alert_id", STR),  # hash of (finding_id, kind): one opening and one resolution
            ("sink", STR),  # the configured sink's name
            ("finding_id", STR),
            ("kind", STR),  # opened | resolved
            ("rule_id", STR),
            ("severity", STR),
            ("asset_key", STR),
            ("occurred_at", TS),  # the finding's opened_at or resolved_at
            ("payload", STR),  # the JSON document sent
            ("status", STR),  # pending | sent | failed | skipped
            ("attempts", pa.int64()),
            ("created_at", TS),
            ("last_attempt_at", TS),
            ("next_attempt_at", TS),
            ("sent_at", TS),
            ("last_error", STR),
        ]
    ),
    key=("alert_id", "sink"),
    description="compliance alert outbox: each finding's opening and resolution, per sink, "
    "with its delivery state",
)

SCAN_REPORTS = TableSpec(
    name="scan_reports",
    schema=pa.schema(
        [
            ("scan_id", STR),
            ("cloud", STR),
            ("scope", STR),  # the listing as the API names it: projects/P, ACCOUNT/REGION
            ("account_id", STR),  # AWS account id or GCP project
            ("region", STR),  # NULL: every region (GCP)
            ("resource_type", STR),  # '*': a scope of every type that found none
            ("status", STR),  # complete | denied | failed (nothing is deleted unless complete)
            ("error", STR),
            ("read_time", TS),  # the instant the scan's observations are at
            ("scanned_assets", pa.int64()),
            ("new_assets", pa.int64()),  # not in the lake at the read time: a missed creation
            ("changed_assets", pa.int64()),  # another config than the lake's: a missed change
            ("deleted_assets", pa.int64()),  # current in the lake, gone: a missed deletion
            ("unchanged_assets", pa.int64()),
            ("missed_rate", pa.float64()),  # (new + changed + deleted) / (scanned + deleted)
            ("scope_api_calls", pa.int64()),  # the scope's API calls (retries included)
            ("started_at", TS),
            ("finished_at", TS),
            ("recorded_at", TS),
        ]
    ),
    key=("scan_id", "scope", "resource_type"),
    description="full scans: per scope and type, what the scan found that the streams missed",
)

TABLES: tuple[TableSpec, ...] = (
    RAW_EVENTS,
    ASSET_CHANGES,
    ASSET_VERSIONS,
    FINDINGS,
    UNRESOLVED_EVENTS,
    ASSET_OBSERVATIONS,
    ASSET_VERSIONS_TAIL,
    DRAIN_PROGRESS,
    ALERTS,
    SCAN_REPORTS,
)
TABLES_BY_NAME = {spec.name: spec for spec in TABLES}
