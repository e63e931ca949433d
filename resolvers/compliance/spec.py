"""What a compliance rule is: a frozen spec with typed metadata around one small pure function.

Two kinds of rule:

- a *state* rule judges one version of an asset: ``check(config, version) -> Verdict``, where
  ``config`` is the parsed configuration document stored in asset_versions (docs/
  aws-config-shapes.md for AWS, ``{"resource": ..., "iamPolicy": ...}`` for GCP) and
  ``version`` the few row fields a rule may read (:class:`VersionView`). It is evaluated on
  every version, so a configuration that was wrong for three minutes between two scans is seen.
- an *event* rule judges one change event (an asset_changes row, or a whole CloudTrail record
  or audit LogEntry): ``check(event) -> Verdict | None``. ``Verdict(failed=True)`` means the
  act opens a finding, ``Verdict(failed=False)`` that it reverses one (StartLogging after
  StopLogging), ``None`` that the event is none of the rule's business.

Rules never raise on an unexpected document: a missing optional key is "unknown", which is a
pass, unless the rule is about that key's absence. Rules are registered explicitly in
:mod:`resolvers.compliance.catalog`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low", "informational"]
Kind = Literal["state", "event"]
Cloud = Literal["aws", "gcp"]
Scope = Literal["asset", "region"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "informational")
EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule says about one version or one event.

    ``since``: for clock-dependent state rules (key age, last use), the instant from which the
    condition holds; the version fails only from then on (and not at all while it is future).
    """

    failed: bool
    evidence: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    since: dt.datetime | None = None


PASS = Verdict(False)


def fail(**evidence: Any) -> Verdict:
    """A failing verdict with evidence."""
    return Verdict(True, evidence)


def verdict(failed: bool, **evidence: Any) -> Verdict:
    """A verdict with evidence (kept on failures only: passes need none)."""
    return Verdict(True, evidence) if failed else PASS


@dataclass(frozen=True, slots=True)
class VersionView:
    """The fields of an asset_versions row a state rule may read besides the config."""

    asset_key: str
    resource_type: str
    account_id: str | None = None
    region: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One change event as event rules see it, whichever table or file it came from.

    ``request``/``response``: CloudTrail requestParameters/responseElements, or an audit
    entry's protoPayload request/response. ``record``: the whole original record where it is
    at hand (additionalEventData, serviceData, ...); None for an asset_changes row.
    """

    event_id: str
    event_time: dt.datetime
    cloud: str
    event_source: str
    event_name: str
    asset_key: str | None = None
    resource_type: str | None = None
    account_id: str | None = None
    region: str | None = None
    principal: str | None = None
    principal_type: str | None = None
    request: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    response: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    record: Mapping[str, Any] | None = None
    error: str | None = None


StateCheck = Callable[[Mapping[str, Any], VersionView], Verdict]
EventCheck = Callable[[Event], "Verdict | None"]
Target = Callable[[Event], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A compliance rule: metadata plus the pure function that judges.

    Event rules also say which events they read (``events``: ``"source:Name"`` strings, data
    the evaluator filters on), which state rules show the finding fixed (``fixed_by``), whether
    deleting the asset fixes it (``deletion_resolves``; not when deleting *is* the act), what a
    reversal must share with the act (``scope``: the asset, or the account and region), and,
    where the finding belongs to another asset than the event's, how to find it (``target``).
    """

    id: str
    title: str
    severity: Severity
    cloud: Cloud
    resource_types: tuple[str, ...]
    rationale: str
    remediation: str
    kind: Kind
    check: Callable[..., Any] = field(compare=False, repr=False)
    events: tuple[str, ...] = ()
    fixed_by: tuple[str, ...] = ()
    deletion_resolves: bool = True
    scope: Scope = "asset"
    target: Target | None = field(default=None, compare=False, repr=False)
    clock: bool = False  # a state rule whose verdict depends on time (uses Verdict.since)

    @property
    def description(self) -> str:
        """What the rule checks: the docstring of its function."""
        return (self.check.__doc__ or "").strip()

    def event_names(self) -> frozenset[str]:
        """The bare event names (without the source) this event rule reads."""
        return frozenset(spec.split(":", 1)[1] for spec in self.events)


def state_rule(
    *,
    id: str,
    title: str,
    severity: Severity,
    resource_types: tuple[str, ...],
    rationale: str,
    remediation: str,
    clock: bool = False,
) -> Callable[[StateCheck], Rule]:
    """Declare a state rule: decorates its check function and returns the :class:`Rule`."""

    def wrap(check: StateCheck) -> Rule:
        return Rule(
            id=id,
            title=title,
            severity=severity,
            cloud=_cloud_of(resource_types),
            resource_types=resource_types,
            rationale=rationale,
            remediation=remediation,
            kind="state",
            check=check,
            clock=clock,
        )

    return wrap


def event_rule(
    *,
    id: str,
    title: str,
    severity: Severity,
    resource_types: tuple[str, ...],
    rationale: str,
    remediation: str,
    events: tuple[str, ...],
    fixed_by: tuple[str, ...] = (),
    deletion_resolves: bool = True,
    scope: Scope = "asset",
    target: Target | None = None,
) -> Callable[[EventCheck], Rule]:
    """Declare an event rule: decorates its check function and returns the :class:`Rule`."""

    def wrap(check: EventCheck) -> Rule:
        return Rule(
            id=id,
            title=title,
            severity=severity,
            cloud=_cloud_of(resource_types),
            resource_types=resource_types,
            rationale=rationale,
            remediation=remediation,
            kind="event",
            check=check,
            events=events,
            fixed_by=fixed_by,
            deletion_resolves=deletion_resolves,
            scope=scope,
            target=target,
        )

    return wrap


def _cloud_of(resource_types: tuple[str, ...]) -> Cloud:
    return "aws" if resource_types and resource_types[0].startswith("AWS::") else "gcp"
