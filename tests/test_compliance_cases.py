"""Case builders for the rule tests: real configurations and records, read lazily.

GCP cases are Cloud Asset Inventory fixtures of GoogleCloudPlatform/policy-library (named for
the constraint they test), turned into stored configs by the real feed resolver. AWS cases are
AWS Config items (converted to the describer shapes of docs/aws-config-shapes.md), real
CloudTrail records (Panther, Invictus, Stratus Red Team), and, where the corpus has nothing of
the kind, hand-written boto3-shaped documents. ``vary`` marks a real document changed in one
field to make the other case.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from resolvers.compliance.events import event_from_audit, events_from_cloudtrail
from resolvers.compliance.spec import Event
from resolvers.gcp.asset_feed import resolve_feed_record

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
Case = Callable[[], Any]


# -- corpus readers -----------------------------------------------------------------------------
@functools.cache
def _lines(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (CORPUS / name).read_text().splitlines()]


def cai(line: int, vary: Callable[[dict], None] | None = None) -> Case:
    """A CAI fixture (1-based line) as the feed resolver stores its config."""

    def build() -> dict[str, Any]:
        asset = copy.deepcopy(_lines("gcp_policy_library_fixtures.cai_assets.jsonl")[line - 1])
        if vary:
            vary(asset)
        asset["update_time"] = "2024-01-01T00:00:00Z"
        batch = resolve_feed_record(asset, orjson.dumps(asset).decode(), b"salt")
        return orjson.loads(batch.observations[0].config)

    return build


def trail(name: str, line: int, vary: Callable[[dict], None] | None = None) -> Case:
    """A CloudTrail record of a corpus file, as an Event (its first asset)."""

    def build() -> Event:
        record = copy.deepcopy(_lines(f"{name}.cloudtrail.jsonl")[line - 1])
        if vary:
            vary(record)
        return events_from_cloudtrail(record)[0]

    return build


def panther(line: int, vary: Callable[[dict], None] | None = None) -> Case:
    return trail("panther_analysis_rule_tests", line, vary)


def invictus(line: int) -> Case:
    return trail("invictus_aws_dataset", line)


def audit(line: int, vary: Callable[[dict], None] | None = None) -> Case:
    def build() -> Event | None:
        entry = copy.deepcopy(_lines("panther_analysis_rule_tests.gcp_audit.jsonl")[line - 1])
        if vary:
            vary(entry)
        return event_from_audit(entry, f"line-{line}")

    return build


def _config_item(line: int) -> dict[str, Any]:
    item = _lines("cloud_custodian_tests.aws_config.jsonl")[line - 1]
    if "invokingEvent" in item:
        item = orjson.loads(item["invokingEvent"])["configurationItem"]
    if "configurationItems" in item:
        item = item["configurationItems"][0]
    return item


def _unquote(value: Any) -> Any:
    while isinstance(value, str) and value[:1] in ('"', "{", "["):
        value = orjson.loads(value)
    return value


def s3_item(line: int, vary: Callable[[dict], None] | None = None) -> Case:
    """An AWS Config S3 item converted to the AWS::S3::Bucket describer shape."""

    def build() -> dict[str, Any]:
        item = _config_item(line)
        conf = _unquote(item["configuration"])
        supp = {k: _unquote(v) for k, v in item["supplementaryConfiguration"].items()}
        acl = supp.get("AccessControlList") or {}
        grants = [_grant(g) for g in acl.get("grantList") or []]
        versioning = supp.get("BucketVersioningConfiguration") or {}
        logging_ = supp.get("BucketLoggingConfiguration") or {}
        policy = (supp.get("BucketPolicy") or {}).get("policyText")
        doc = {
            "Name": conf["name"],
            "CreationDate": conf["creationDate"],
            "Acl": {"Owner": {"ID": conf["owner"]["id"]}, "Grants": grants},
            "Versioning": {
                **({"Status": versioning["status"]} if versioning.get("status") != "Off" else {}),
                "MFADelete": "Enabled" if versioning.get("isMfaDeleteEnabled") else "Disabled",
            },
            "Logging": (
                {"LoggingEnabled": {"TargetBucket": logging_["destinationBucketName"]}}
                if logging_.get("destinationBucketName")
                else None
            ),
            "Policy": orjson.loads(policy) if policy else None,
        }
        if vary:
            vary(doc)
        return doc

    return build


def _grant(grant: Mapping[str, Any]) -> dict[str, Any]:
    grantee = grant["grantee"]
    permission = {"FullControl": "FULL_CONTROL", "Read": "READ"}.get(grant["permission"])
    if grantee == "AllUsers":
        uri = "http://acs.amazonaws.com/groups/global/AllUsers"
        return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}
    return {"Grantee": {"Type": "CanonicalUser", "ID": grantee["id"]}, "Permission": permission}


def rds_item(line: int, vary: Callable[[dict], None] | None = None) -> Case:
    """An AWS Config RDS item: its configuration with boto3's key casing (StorageEncrypted)."""

    def build() -> dict[str, Any]:
        conf = _unquote(_config_item(line)["configuration"])
        doc = {key[0].upper() + key[1:]: value for key, value in conf.items()}
        if vary:
            vary(doc)
        return doc

    return build


def doc(document: dict[str, Any]) -> Case:
    """A hand-written document (boto3 shape) or event."""
    return lambda: copy.deepcopy(document)


def event(name: str, source: str, request: dict | None = None, **fields: Any) -> Case:
    """A hand-written CloudTrail record for an event the corpus does not hold."""
    record = {
        "eventVersion": "1.08",
        "eventID": f"hand-{name}",
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
        "requestParameters": request,
        "responseElements": fields.pop("response", None),
        **fields,
    }
    return lambda: events_from_cloudtrail(copy.deepcopy(record))[0]


def setitem(*path: Any, value: Any) -> Callable[[dict], None]:
    """A variation: set one field deep in a document."""

    def change(document: dict) -> None:
        target = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change
