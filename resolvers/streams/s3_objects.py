"""CloudTrail log objects on S3 (gzip JSON ``{"Records": [...]}``) as records.

Shared by the S3 log lister (s3_logs) and the SQS notifications of new objects (sqs). Each
record's origin is ``s3://bucket/key#index``. An object that cannot be read as a log file is
still landed: as one record when it is JSON of another shape, as poison when it is not JSON,
corrupt, or gone by the time it is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from resolvers.guard import BOM, GZIP_MAGIC, dumps, gunzip, split_records
from resolvers.ingest import Record
from resolvers.streams.aws import error_code
from resolvers.streams.base import PullLimits, oversized, parse_json, poison, record_of

LOG_FILE_SUFFIXES = (".json.gz", ".json")
MISSING_CODES = ("NoSuchKey", "404", "NotFound")
MAX_LOG_OBJECT_BYTES = 256 * 1024 * 1024  # decompressed; CloudTrail's files are far smaller


def is_log_file_key(key: str) -> bool:
    """A CloudTrail log file (not a digest, an insight file's folder marker or other clutter)."""
    return "/CloudTrail-Digest/" not in key and key.endswith(LOG_FILE_SUFFIXES)


def fetch_log_file(s3: Any, bucket: str, key: str, limits: PullLimits) -> list[Record]:
    """The records of one log object (ClientErrors other than a missing key propagate)."""
    origin = f"s3://{bucket}/{key}"
    try:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in MISSING_CODES:
            return [poison("object not found: deleted before it was read", origin)]
        raise
    return log_file_records(data, origin, limits)


def log_file_records(data: bytes, origin: str, limits: PullLimits) -> list[Record]:
    """The records of a log file's bytes (gzip or plain JSON)."""
    if data[:2] == GZIP_MAGIC:
        try:
            data = gunzip(data, MAX_LOG_OBJECT_BYTES)
        except ValueError as exc:
            return [poison(f"not a valid gzip file: {exc}", origin)]
    data = data.removeprefix(BOM.encode())  # a byte order mark is not part of the records
    document = parse_json(data)
    if document is None and (items := split_records(data)) is not None:
        # one record of the file is not JSON: the others are still records of their own
        return [record_of(item, f"{origin}#{index}", limits) for index, item in enumerate(items)]
    if not isinstance(document, Mapping) or not isinstance(document.get("Records"), list):
        return [record_of(data, origin, limits)]
    return [
        _item_record(item, f"{origin}#{index}", limits)
        for index, item in enumerate(document["Records"])
    ]


def _item_record(item: Any, origin: str, limits: PullLimits) -> Record:
    payload = dumps(item).encode()  # any depth (a record too deep to resolve is still landed)
    if len(payload) > limits.max_record_bytes:
        return oversized(payload, origin, limits.max_record_bytes)
    return Record(payload.decode(), item, origin)
