"""The describe protocol: how the resolver asks for the full current state of one AWS asset.

The CloudTrail resolver turns events into asset keys; where an event does not carry the whole
state of the asset it changed, the resolver asks a :class:`Describer` (online) or keeps to what
the event carries (``--offline``, :class:`OfflineDescriber`). Real describers (boto3, one per
core type, Cloud Control as a fallback) live in ``resolvers.aws.types`` and implement this
protocol; the resolver never depends on them directly.

Contract for implementers:

* ``asset_key`` is a canonical ARN (:func:`resolvers.aws.arns.canonical_arn`);
  ``resource_type`` the CloudFormation type name (``AWS::S3::Bucket``); ``account_id`` and
  ``region`` where the asset lives (for global types such as IAM or CloudFront, the region
  the event came from, usually ``us-east-1``: use it for the client's endpoint).
* Return :meth:`DescribeResult.found` with the whole configuration as a JSON-able mapping
  (the describer decides its shape per type; secrets are redacted downstream by
  :func:`resolvers.observe.observation`), :meth:`DescribeResult.not_found` when the cloud says
  the asset does not exist, :meth:`DescribeResult.failed` with a short reason for anything
  else (throttled after retries, access denied, no describer for the type, ...).
* Never raise for an expected cloud error; the resolver still guards against exceptions and
  turns them into ``failed``.
* The resolver calls ``describe`` at most once per asset per batch (:func:`describe_all`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

DescribeStatus = Literal["found", "not_found", "failed"]


@dataclass(frozen=True, slots=True)
class DescribeResult:
    """The outcome of one describe: found (with config), not found, or failed (with reason)."""

    status: DescribeStatus
    config: Mapping[str, Any] | None = None
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None  # where the describe found the asset, if it knows better
    reason: str | None = None

    @classmethod
    def found(
        cls,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        region: str | None = None,
    ) -> DescribeResult:
        """The asset exists and this is its whole configuration."""
        return cls("found", config=config, name=name, tags=dict(tags or {}), region=region)

    @classmethod
    def not_found(cls, reason: str = "not found") -> DescribeResult:
        """The cloud says the asset does not exist (now)."""
        return cls("not_found", reason=reason)

    @classmethod
    def failed(cls, reason: str) -> DescribeResult:
        """The describe could not tell; ``reason`` says why (kept in unresolved_events)."""
        return cls("failed", reason=reason)


@runtime_checkable
class Describer(Protocol):
    """Fetches the full current state of one asset."""

    def describe(
        self, asset_key: str, resource_type: str, account_id: str, region: str
    ) -> DescribeResult:
        """The asset's state now (see the module docstring for the contract)."""
        ...


class OfflineDescriber:
    """Calls nothing: state comes from the events alone (``assetlake ingest --offline``)."""

    offline = True

    def describe(
        self, asset_key: str, resource_type: str, account_id: str, region: str
    ) -> DescribeResult:
        """Always ``failed("offline")``; the resolver does not call it in practice."""
        return DescribeResult.failed("offline")


def is_offline(describer: Describer | None) -> bool:
    """Whether this describer never calls a cloud API (None counts as offline)."""
    return describer is None or bool(getattr(describer, "offline", False))


@dataclass(frozen=True, slots=True)
class DescribeRequest:
    """One asset to describe; equal requests are described once."""

    asset_key: str
    resource_type: str
    account_id: str
    region: str


def describe_all(
    describer: Describer, requests: Iterable[DescribeRequest]
) -> dict[str, DescribeResult]:
    """Describe each distinct asset once; results by asset key. Exceptions become ``failed``."""
    results: dict[str, DescribeResult] = {}
    for request in requests:
        if request.asset_key in results:
            continue
        try:
            result = describer.describe(
                request.asset_key, request.resource_type, request.account_id, request.region
            )
        except Exception as error:  # a describer bug must not lose the record
            result = DescribeResult.failed(f"describer raised {type(error).__name__}: {error}")
        results[request.asset_key] = result
    return results
