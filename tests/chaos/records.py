"""What the chaos suite sends: real corpus records (CloudTrail, as EventBridge events for SQS and
bare for NATS) and Cloud Asset Inventory feed messages (several versions per asset, for Pub/Sub).

A long run needs more records than the corpus holds: record ``i`` is corpus record ``i mod n``
with its ``eventID`` made unique (``-c<round>``), so every record sent is distinct content.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
from stream_fixtures import corpus_lines, eventbridge

from resolvers.canonical import redact_record
from resolvers.ingest import Record, record_hash

CLOUDTRAIL_FILES = (
    "invictus_aws_dataset.cloudtrail.jsonl",
    "stratus_red_team_detonation_logs.cloudtrail.jsonl",
    "otrf_security_datasets_ec2_proxy_s3_exfiltration.cloudtrail.jsonl",
)
# what the second writer ingests (disjoint from what is streamed): (short form, long form)
INGEST_FILES = {
    "aws": (
        "cloud_custodian_tests.cloudtrail.jsonl",
        "panther_analysis_rule_tests.cloudtrail.jsonl",
    ),
    "gcp": (
        "panther_analysis_rule_tests.gcp_audit.jsonl",
        "panther_analysis_rule_tests.gcp_audit.jsonl",
    ),
}
LONG_FORM = 2000  # records per source from which the second writer ingests the larger files
START = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
FEED_ASSETS = 97  # feed messages cycle over this many assets (several versions each)


def cloudtrail(corpus: Path, count: int, offset: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct CloudTrail records from the corpus, starting at ``offset``."""
    pool = [r for name in CLOUDTRAIL_FILES for r in corpus_lines(corpus, name)]
    values = []
    for index in range(offset, offset + count):
        record = pool[index % len(pool)]
        round_ = index // len(pool)
        if round_:
            record = copy.deepcopy(record)
            record["eventID"] = f"{record.get('eventID', 'none')}-c{round_}"
        values.append(record)
    return values


def eventbridge_events(corpus: Path, count: int) -> list[dict[str, Any]]:
    """CloudTrail records as EventBridge delivers them to SQS."""
    return [eventbridge(record) for record in cloudtrail(corpus, count)]


def feed_messages(count: int) -> list[dict[str, Any]]:
    """Feed messages: asset ``i mod FEED_ASSETS``, a new state and update time each."""
    values = []
    for index in range(count):
        asset = index % FEED_ASSETS
        name = f"//storage.googleapis.com/chaos-bucket-{asset}"
        # strictly increasing times: each message is a new version of its asset
        when = (START + dt.timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ")
        values.append(
            {
                "asset": {
                    "name": name,
                    "assetType": "storage.googleapis.com/Bucket",
                    "ancestors": ["projects/318576589455"],
                    "resource": {
                        "version": "v1",
                        "data": {"name": f"chaos-bucket-{asset}", "labels": {"n": str(index)}},
                    },
                    "updateTime": when,
                },
                "priorAssetState": "PRESENT" if index >= FEED_ASSETS else "DOES_NOT_EXIST",
                "window": {"startTime": when},
            }
        )
    return values


def landed_ids(records: list[Record], salt: bytes) -> list[str]:
    """The raw_events.record_hash each record lands under: a record that carries a secret (an
    STS session token) is landed and hashed redacted, with the lake's salt."""
    ids = []
    for record in records:
        payload, value = redact_record(record.payload, record.value, salt)
        ids.append(record_hash(Record(payload, value, record.origin)))
    return ids


def value_ids(values: list[Any], salt: bytes) -> list[str]:
    """:func:`landed_ids` of JSON values as they are sent (one message body each)."""
    return landed_ids([Record(orjson.dumps(v).decode(), v, "chaos") for v in values], salt)
