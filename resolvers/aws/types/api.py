"""Small helpers the type modules share: paging with read times, error codes, JSON shapes."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from resolvers.aws.types.spec import MalformedResponse, Unreadable
from resolvers.timeutil import UTC, isoformat

T = TypeVar("T")

# Error codes that mean "this asset does not exist" (beyond the *NotFound* / NoSuch* families).
GONE_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "RepositoryNotFoundException",
        "TrailNotFoundException",
        "NotFoundException",
        "NoSuchDistribution",
        "NoSuchConfigurationRecorderException",
    }
)
_GONE_SUFFIXES = ("NotFound", "NotFoundException", "NotFoundFault")
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "AuthFailure",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "OptInRequired",
    }
)


def error_code(error: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_gone(error: BaseException) -> bool:
    """Whether an error says the asset does not exist."""
    code = error_code(error)
    return code in GONE_CODES or code.startswith("NoSuch") or code.endswith(_GONE_SUFFIXES)


def is_denied(error: BaseException) -> bool:
    """Whether an error is a permission (or opt-in) refusal rather than a fault."""
    return error_code(error) in DENIED_CODES


def read_item(identifier: str, read: Callable[[], T]) -> T | Unreadable:
    """``read()`` for one item of a listing; an error reading it makes it :class:`Unreadable`
    (a "gone" error still raises: the caller decides what a vanished item means)."""
    try:
        return read()
    except ClientError as error:
        if is_gone(error):
            raise
        return Unreadable(identifier, f"{error_code(error)}: {brief(error)}")
    except (MalformedResponse, ResponseParserError, BotoCoreError, KeyError, TypeError,
            ValueError) as error:  # fmt: skip
        return Unreadable(identifier, f"malformed response: {type(error).__name__}: {brief(error)}")


def brief(error: BaseException) -> str:
    """The first line of an error message (at most 300 characters)."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def optional(read: Callable[[], T], *absent_codes: str) -> T | None:
    """``read()``, or None when it fails with one of ``absent_codes`` ("not configured")."""
    try:
        return read()
    except ClientError as error:
        if error_code(error) in absent_codes:
            return None
        raise


def pages(client: Any, operation: str, result_key: str, **params: Any) -> Iterator[list[Any]]:
    """The items under ``result_key``, one list per page."""
    for page in client.get_paginator(xform_name(operation)).paginate(**params):
        items = page.get(result_key, [])
        if not isinstance(items, list):
            raise MalformedResponse(f"{operation}: {result_key} is not a list")
        yield items


def paginate(client: Any, operation: str, result_key: str, **params: Any) -> Iterator[Any]:
    """Every item under ``result_key`` across pages."""
    for items in pages(client, operation, result_key, **params):
        yield from items


def jsonable(value: Any) -> Any:
    """A copy of an SDK response as plain JSON values: UTC ISO timestamps, no ResponseMetadata."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return isoformat(aware)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if hasattr(value, "read"):  # a streaming body
        return None
    return value


def parse_policy(text: Any) -> Any:
    """A policy document as JSON: parsed from a string, kept if already parsed, None if empty."""
    if text in (None, ""):
        return None
    if isinstance(text, Mapping | list):
        return jsonable(text)
    if not isinstance(text, str):
        raise MalformedResponse(f"a policy is neither JSON text nor a document: {text!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedResponse(f"a policy is not valid JSON: {error}") from error


def require(mapping: Any, key: str, where: str) -> Any:
    """``mapping[key]``, or MalformedResponse naming what is missing."""
    if not isinstance(mapping, Mapping):
        raise MalformedResponse(f"{where}: expected an object, got {type(mapping).__name__}")
    if key not in mapping or mapping[key] is None:
        raise MalformedResponse(f"{where}: {key} missing")
    return mapping[key]


def without(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A copy of a mapping without some keys."""
    return {k: v for k, v in mapping.items() if k not in keys}
