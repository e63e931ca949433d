"""Type specs: one frozen spec per AWS resource type, shared by the scanner and the describer.

A :class:`TypeSpec` says, for one CloudFormation type name, how to build the canonical key of an
asset from what the API returns (identity), how to list every asset of the type in one account
and region (the scan), how to read one asset by identifier (the event path's describe), how to
turn raw API output into the documented configuration shape (``normalize``), and which API
calls all of that makes (``calls``: the read-only IAM policy is generated from them).

``list`` and ``describe`` receive a :class:`Reader` (clients of one account, see
``resolvers.aws.types.session``), never a module-level client: nothing here opens a connection
at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Scope = Literal["regional", "global", "bucket"]
SCOPES: tuple[Scope, ...] = ("regional", "global", "bucket")
GLOBAL_REGION = "us-east-1"  # where the control planes of IAM and CloudFront answer

# boto3 client name -> IAM action prefix, where they differ
IAM_PREFIXES: Mapping[str, str] = {
    "elbv2": "elasticloadbalancing",
    "cloudcontrol": "cloudformation",
}


class Reader(Protocol):
    """What list and describe callables use: API clients of one account."""

    account_id: str

    def client(self, service: str, region: str) -> Any:
        """A boto3 client of ``service`` in ``region`` for this account (cached, thread-safe)."""
        ...


class NotFoundType:
    """The cloud says the asset does not exist (the singleton :data:`NOT_FOUND`)."""

    _instance: NotFoundType | None = None

    def __new__(cls) -> NotFoundType:
        """The one instance."""
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_FOUND"

    def __bool__(self) -> bool:
        return False


NOT_FOUND = NotFoundType()


class MalformedResponse(ValueError):
    """An API answered, but not in the shape its model promises (a field missing or mistyped)."""


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One read call a spec makes: boto3 service, botocore operation, and the IAM action."""

    service: str
    operation: str
    action: str = ""

    @property
    def iam_action(self) -> str:
        """The IAM action this call needs (``prefix:Operation`` unless given explicitly)."""
        if self.action:
            return self.action
        return f"{IAM_PREFIXES.get(self.service, self.service)}:{self.operation}"


def calls(service: str, *operations: str, **renamed: str) -> tuple[ApiCall, ...]:
    """ApiCalls of one service; ``renamed`` maps operations to IAM action names that differ."""
    prefix = IAM_PREFIXES.get(service, service)
    found = [ApiCall(service, op) for op in operations]
    found += [ApiCall(service, op, f"{prefix}:{action}") for op, action in renamed.items()]
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Listed:
    """One asset read from the cloud: its canonical key, normalized config, and region."""

    asset_key: str
    config: dict[str, Any]
    region: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An asset a listing found but could not read (denied, throttled, malformed answer).

    The scanner records it and keeps its scope from deleting anything: the asset exists, but
    its key may not be known.
    """

    identifier: str
    reason: str


ListFn = Callable[[Reader, str, str], Iterator["Listed | Unreadable"]]
DescribeFn = Callable[[Reader, str, str, str], "Listed | NotFoundType"]
NormalizeFn = Callable[..., dict[str, Any]]


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """One resource type: identity, list, describe, normalize and the calls they make.

    * ``scope``: ``regional`` (listed per region), ``global`` (listed once per account, in
      :data:`GLOBAL_REGION`: IAM, CloudFront) or ``bucket`` (S3: listed once, each bucket's
      region from ``GetBucketLocation``).
    * ``list(reader, account, region)`` yields every asset of the type there (paginated).
    * ``describe(reader, account, region, identifier)`` reads one asset; ``identifier`` comes
      from ``identifier(asset_key)``.
    * ``normalize`` turns raw API output into the documented configuration shape; ``list`` and
      ``describe`` both end with it, so a scan and an event give one config for one state.
    * ``name`` and ``tags`` pick the display name and tags out of a normalized config.
    """

    type_name: str
    service: str
    scope: Scope
    list: ListFn
    describe: DescribeFn
    identifier: Callable[[str], str]
    normalize: NormalizeFn
    calls: tuple[ApiCall, ...]
    name: Callable[[Mapping[str, Any]], str | None] = lambda config: None
    tags: Callable[[Mapping[str, Any]], dict[str, str]] = lambda config: {}
    description: str = ""

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"{self.type_name}: unknown scope {self.scope!r}")
        if not self.type_name.startswith("AWS::") or self.type_name.count("::") != 2:
            raise ValueError(f"{self.type_name!r} is not a CloudFormation type name")

    @property
    def is_global(self) -> bool:
        """Whether the type is listed once per account rather than once per region."""
        return self.scope != "regional"


def tag_map(tags: Any) -> dict[str, str]:
    """Tags as a mapping, from AWS's ``[{"Key": k, "Value": v}]`` lists (any key casing)."""
    if isinstance(tags, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in tags.items()}
    found: dict[str, str] = {}
    for tag in tags or ():
        if not isinstance(tag, Mapping):
            raise MalformedResponse(f"a tag is not an object: {tag!r}")
        key = tag.get("Key", tag.get("key", tag.get("TagKey")))
        value = tag.get("Value", tag.get("value", tag.get("TagValue")))
        if key is None:
            raise MalformedResponse(f"a tag has no key: {tag!r}")
        found[str(key)] = "" if value is None else str(value)
    return found


def config_tags(config: Mapping[str, Any]) -> dict[str, str]:
    """The ``Tags`` of a normalized config (already a mapping)."""
    tags = config.get("Tags")
    return dict(tags) if isinstance(tags, Mapping) else {}


def field_of(name: str) -> Callable[[Mapping[str, Any]], str | None]:
    """A ``name`` callable reading one top-level field of the config."""

    def read(config: Mapping[str, Any]) -> str | None:
        value = config.get(name)
        return str(value) if value not in (None, "") else None

    return read
