"""No table holds a secret: every Delta table of a lake, every row and column, is scanned for
known secret shapes (tests/secret_shapes.py) after the demo and after the whole corpus.

The scanner is tested first on strings (each shape found, look-alikes not), then on records
that carry every shape through the real ``assetlake ingest`` (so a scan that finds nothing is
not a scan that cannot find anything). docs/secrets.md has the shapes and what the scan found.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import DemoRun
from secret_shapes import (
    EXAMPLE_SECRET_KEY,
    Hit,
    delta_tables,
    scan_document,
    scan_lake,
    scan_string,
)

from pipelines.cli import main
from resolvers.canonical import canonicalize, redact_record
from resolvers.drain import drain, land
from resolvers.ingest import read_file
from resolvers.lake.layout import read_table
from resolvers.lake.storage import SALT_ENV, Lake
from resolvers.lake.writer import LakeWriter
from resolvers.secret_fields import REDACTION_MARKER

# -- secrets as they look (made up here: no real credential is in this file) -------------------
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Fz\n-----END RSA PRIVATE KEY-----\n"
PKCS8 = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr" + "a" * 60 + "/" + "B" * 40 + "=="
OTHER_SECRET_KEY = "Zx9vQw2eR4tY6uI8oP0aS1dF3gH5jK7lL9zX2cV4"  # 40 characters
USER_DATA = base64.b64encode(
    f"#!/bin/bash\nexport AWS_SECRET_ACCESS_KEY={OTHER_SECRET_KEY}\nyum install -y httpd\n".encode()
).decode()
KEY_FILE = {
    "type": "service_account",
    "project_id": "acme",
    "private_key_id": "0123456789abcdef0123456789abcdef01234567",
    "private_key": PKCS8,
    "client_email": "svc@acme.iam.gserviceaccount.com",
}
CONNECTION = "postgresql://app:hunter2@db.internal:5432/orders"

POSITIVE = {
    "aws example secret key": f"the docs use {EXAMPLE_SECRET_KEY} everywhere",
    "aws secret access key": f"[default]\naws_secret_access_key = {OTHER_SECRET_KEY}\n",
    "aws session token": f"AWS_SESSION_TOKEN={SESSION_TOKEN}",
    "private key block": PEM,
    "credentials in a url": f"DATABASE_URL={CONNECTION}",
}
NEGATIVE = [
    "arn:aws:iam::123456789012:role/aws-secret-access-key-rotator",
    "SecretAccessKey: <redacted>:hmac-sha256:0123456789abcdef",
    "AccessKeyId: AKIAIOSFODNN7EXAMPLE",  # an access key id is no secret
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
    "https://alice@example.com/repo.git",  # a user, no password
    "http://127.0.0.1:4566/queue/x",  # a port, no credentials
    "postgresql://app:${DB_PASSWORD}@db.internal:5432/orders",  # a placeholder
    "sha256:" + "a" * 64,
    "b3JkaW5hcnkgdGV4dCwgbm8gc2VjcmV0IGF0IGFsbA==",  # base64 of harmless text
]


def shapes(hits: list[Hit]) -> set[str]:
    """The shapes of some hits, without the field name of field shapes."""
    return {re.sub(r" (field) .*", r" \1", hit.shape) for hit in hits}


@pytest.mark.parametrize("shape", sorted(POSITIVE))
def test_each_text_shape_is_found(shape: str) -> None:
    assert shape in shapes(list(scan_string(POSITIVE[shape])))
    # also inside JSON inside a string inside a list (as a table cell may hold it)
    nested = [orjson.dumps({"note": POSITIVE[shape]}).decode()]
    assert shape in shapes(list(scan_document(nested)))


@pytest.mark.parametrize("text", NEGATIVE)
def test_look_alikes_are_not_secrets(text: str) -> None:
    assert list(scan_string(text)) == []


@pytest.mark.parametrize(
    ("document", "shape"),
    [
        ({"MasterUserPassword": "demo-Passw0rd"}, "password field"),
        ({"requestParameters": {"tdeCredentialPassword": "s3cret!"}}, "password field"),
        ({"credentials": {"sessionToken": "FwoGZXIvYXdz"}}, "secret field"),
        ({"AccessKey": {"SecretAccessKey": "short-but-a-secret"}}, "secret field"),
        ({"userData": "IyEvYmluL2Jhc2gKZWNobyBoaQ=="}, "secret field"),
        ({"Environment": {"Variables": {"TOKEN": "abc"}}}, "environment variable"),
        ({"environment": {"variables": {"TOKEN": "abc"}}}, "environment variable"),
        ({"env": [{"name": "API_KEY", "value": "abc"}]}, "environment variable"),
        ({"SecretString": '{"user":"u"}'}, "secret field"),
        ({"data": {"privateKeyData": "c2VjcmV0"}}, "secret field"),
        (KEY_FILE, "gcp service account key file"),
        ({"userData": USER_DATA}, "aws secret access key"),  # found in the decoded script
    ],
)
def test_each_field_shape_is_found(document: dict[str, Any], shape: str) -> None:
    assert shape in shapes(list(scan_document(document)))
    assert shape in shapes(list(scan_string(orjson.dumps(document).decode())))


@pytest.mark.parametrize(
    "document",
    [
        {"MasterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS", "masterUserPassword": "****"},
        {
            "userData": "<sensitiveDataRemoved>",
            "UserData": "<redacted>:hmac-sha256:0123456789abcdef",
        },
        {"PasswordLastUsed": "2026-01-01T00:00:00Z", "PasswordResetRequired": True},
        {"passwordPolicy": {"MinimumPasswordLength": 14}, "ManageMasterUserPassword": True},
        {"Environment": {"Variables": {"TOKEN": "<redacted>:hmac-sha256:0123456789abcdef"}}},
        {"environment": {}, "env": "prod", "Password": ""},
        {"private_key_id": "0123456789abcdef0123456789abcdef01234567", "private_key": "<redacted>"},
    ],
)
def test_redacted_or_harmless_fields_are_not_secrets(document: dict[str, Any]) -> None:
    assert list(scan_document(document)) == []


# -- the real ingest path on records that carry every shape ------------------------------------
def _cloudtrail(name: str, source: str, request: Any, response: Any = None) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventID": f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
        "eventTime": "2026-01-05T10:00:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
        "eventType": "AwsApiCall",
        "readOnly": False,
        "requestParameters": request,
        "responseElements": response,
    }


def _feed(asset_type: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "asset": {
            "name": name,
            "assetType": asset_type,
            "resource": {"discoveryName": asset_type.rsplit("/", 1)[-1], "data": data},
        },
        "window": {"startTime": "2026-01-05T10:00:00Z"},
    }


SA_KEY = (
    "//iam.googleapis.com/projects/acme/serviceAccounts/svc@acme.iam.gserviceaccount.com/keys/k1"
)
SEEDED: list[dict[str, Any]] = [
    _cloudtrail(
        "RunInstances",
        "ec2.amazonaws.com",
        {"instanceType": "t3.micro", "userData": USER_DATA},
        {"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0"}]}},
    ),
    _cloudtrail(
        "CreateDBInstance",
        "rds.amazonaws.com",
        {
            "dBInstanceIdentifier": "orders",
            "masterUsername": "app",
            "masterUserPassword": "hunter2",
        },
        {"dBInstanceArn": "arn:aws:rds:us-east-1:123456789012:db:orders"},
    ),
    _cloudtrail(
        "AssumeRole",
        "sts.amazonaws.com",
        {"roleArn": "arn:aws:iam::123456789012:role/deploy", "roleSessionName": "ci"},
        {
            "credentials": {
                "accessKeyId": "ASIAXXXXXXXXXXXXXXXX",
                "secretAccessKey": EXAMPLE_SECRET_KEY,
                "sessionToken": SESSION_TOKEN,
            }
        },
    ),
    _cloudtrail(
        "CreateFunction20150331",
        "lambda.amazonaws.com",
        {
            "functionName": "orders-api",
            "environment": {"variables": {"DATABASE_URL": CONNECTION, "KEY": OTHER_SECRET_KEY}},
        },
        {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders-api"},
    ),
    _cloudtrail(
        "CreateSecret",
        "secretsmanager.amazonaws.com",
        {"name": "orders/db", "secretString": orjson.dumps(KEY_FILE).decode()},
        {"aRN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/db-AbCdEf"},
    ),
    _feed(
        "iam.googleapis.com/ServiceAccountKey",
        SA_KEY,
        {"name": SA_KEY[2:], "privateKeyData": base64.b64encode(orjson.dumps(KEY_FILE)).decode()},
    ),
    _feed(
        "cloudfunctions.googleapis.com/CloudFunction",
        "//cloudfunctions.googleapis.com/projects/acme/locations/us-central1/functions/orders",
        {"name": "orders", "environmentVariables": {"DATABASE_URL": CONNECTION}},
    ),
]


def _ingest(lake: Path, *files: Path) -> None:
    result = CliRunner().invoke(
        main, ["ingest", "--lake", str(lake), "--offline", *map(str, files)]
    )
    assert result.exit_code == 0, result.output


def _report(hits: list[Hit]) -> str:
    return "\n".join(map(str, hits[:40])) + (f"\n... {len(hits)} in all" if len(hits) > 40 else "")


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A file of records that carry every secret shape (the scan finds each in it)."""
    path = tmp_path / "secrets.jsonl"
    path.write_text("".join(orjson.dumps(r).decode() + "\n" for r in SEEDED))
    found = shapes(list(scan_string(path.read_text().replace("\n", ","))))
    found |= {s for line in path.read_text().splitlines() for s in shapes(list(scan_string(line)))}
    assert found >= {*POSITIVE, "password field", "secret field", "environment variable"}
    return path


def test_no_table_holds_a_seeded_secret(seeded: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _ingest(lake, seeded)
    rows, hits = scan_lake(lake)
    assert rows["raw_events"] == len(SEEDED), rows
    assert rows["asset_changes"] >= 5 and rows["asset_versions"] >= 5, rows
    assert not hits, _report(hits)
    _ingest(lake, seeded)  # again: the landed (redacted) records are repeats, nothing new
    assert scan_lake(lake)[0] == rows


def test_a_drain_of_redacted_landings_gives_the_versions_of_an_ingest(
    seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream lands (redacted) then drains what it landed: the same versions as an ingest."""
    monkeypatch.setenv(SALT_ENV, "one-key-for-both-lakes")
    direct = tmp_path / "direct"
    _ingest(direct, seeded)
    streamed = Lake(str(tmp_path / "streamed")).create()
    writer = LakeWriter(streamed)
    records = read_file(seeded)
    land(writer, records, "aws_cloudtrail")
    land(writer, records, "aws_cloudtrail")  # a redelivery: nothing new
    drain(writer, "all", "aws_cloudtrail")
    columns = ["asset_key", "config", "config_hash", "is_deleted"]

    def versions(uri: str) -> list[tuple[Any, ...]]:
        frame = read_table(Lake(uri), "asset_versions").collect().select(columns)
        return sorted(frame.iter_rows())

    assert versions(streamed.uri) == versions(str(direct)) != []
    assert pl.read_delta(streamed.table_uri("raw_events")).height == len(SEEDED)
    assert not scan_lake(Path(streamed.uri))[1]


def test_landing_redaction_keeps_clean_records_and_the_configs() -> None:
    salt = b"salt"
    for record in SEEDED:
        payload = orjson.dumps(record).decode()
        redacted, value = redact_record(payload, record, salt)
        assert redacted != payload and not list(scan_string(redacted))
        assert redact_record(redacted, value, salt) == (redacted, value)  # idempotent
        # the same configuration, whether resolved from the record or from its landed form
        assert canonicalize(value, salt) == canonicalize(record, salt)
    clean = '{"eventName":  "DescribeInstances", "b": [1, 2]}'  # spacing kept, byte for byte
    assert redact_record(clean, orjson.loads(clean), salt)[0] is clean
    escaped = '{"pass\\u0077ord": "hunter2"}'  # a key spelt with an escape is still a key
    assert "hunter2" not in redact_record(escaped, orjson.loads(escaped), salt)[0]
    hidden = '{"masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS"}'
    assert redact_record(hidden, orjson.loads(hidden), salt)[0] is hidden


# -- the demo and the corpus --------------------------------------------------------------------
def _manifest_files(corpus: Path) -> list[Path]:
    names = re.findall(
        r"^\| ([\w.-]+\.jsonl(?:\.gz)?) \|", (corpus / "MANIFEST.md").read_text(), re.M
    )
    assert names, "no files listed in the corpus MANIFEST"
    return [corpus / name for name in names]


@dataclass(frozen=True)
class Scan:
    """A lake and what the scan of its every table found."""

    lake: Path
    rows: dict[str, int]  # rows read, by table
    hits: list[Hit]


def _scan(lake: Path) -> Scan:
    rows, hits = scan_lake(lake)
    contract = {"raw_events", "asset_changes", "asset_versions", "findings", "unresolved_events"}
    assert contract <= set(rows) and len(rows) == len(delta_tables(lake)), rows
    assert rows["raw_events"] > 0 and rows["asset_versions"] > 0, rows
    return Scan(lake, rows, hits)


def _markers(lake: Path) -> int:
    """How many cells of the lake's tables hold a redaction marker (the secrets that came)."""
    return sum(
        frame.select(pl.col(pl.String).str.contains(REDACTION_MARKER, literal=True).sum())
        .sum_horizontal()
        .item()
        for frame in (pl.read_delta(str(path)) for path in delta_tables(lake))
    )


@pytest.fixture(scope="module")
def corpus_scan(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    """A lake of every corpus file of the MANIFEST (all are formats ingest reads), scanned."""
    lake = tmp_path_factory.mktemp("corpus") / "lake"
    _ingest(lake, *_manifest_files(corpus))
    return _scan(lake)


def test_no_table_of_the_corpus_holds_a_secret(corpus_scan: Scan) -> None:
    assert not corpus_scan.hits, _report(corpus_scan.hits)
    assert _markers(corpus_scan.lake) > 0  # secrets came (STS session tokens), and were replaced


@pytest.mark.slow
@pytest.mark.service
def test_no_table_of_the_demo_holds_a_secret(demo: DemoRun) -> None:
    scan = _scan(Path(demo.lake.uri))
    assert not scan.hits, _report(scan.hits)
    assert _markers(scan.lake) > 0  # the Lambda's environment, redacted by the scan
