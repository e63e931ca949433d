"""boto3 clients for the AWS stream sources: made on first use, failures as one line.

The endpoint and region come from the arguments, else from the usual environment
(``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL_S3`` for moto or LocalStack,
``AWS_REGION`` / ``AWS_DEFAULT_REGION``), which botocore reads itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import boto3.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from resolvers.streams.base import StreamUnavailable

DEFAULT_REGION = "us-east-1"
# short connect timeouts and few retries: a source that is down makes the tick skip quickly
CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
)


_SESSIONS: dict[tuple[str | None, ...], boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _session() -> boto3.session.Session:
    """A boto3 session shared by the clients made with the same credential settings: a new
    session loads every service model again (a quarter of a second), a shared one does not."""
    key = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = boto3.session.Session()
        return _SESSIONS[key]


def aws_client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 client (no I/O until its first call)."""
    session = _session()
    with _SESSIONS_LOCK:  # making clients from one session is not thread-safe
        return session.client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint_url,
            region_name=region or session.region_name or DEFAULT_REGION,
            config=CLIENT_CONFIG,
        )


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(source: str) -> Iterator[None]:
    """Turn botocore failures into one-line :class:`StreamUnavailable` errors."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise StreamUnavailable(
            source,
            "no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)",
        ) from None
    except BotoConnectionError as exc:
        raise StreamUnavailable(source, f"cannot reach the endpoint: {exc}") from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        raise StreamUnavailable(source, f"{error_code(exc)}: {message}") from None
    except BotoCoreError as exc:
        raise StreamUnavailable(source, str(exc)) from None
