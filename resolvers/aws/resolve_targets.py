"""Which assets a CloudTrail change touched: canonical keys, types, actions, fan-out.

The catalog entry finds the primary asset(s) (its extractors fan out over EC2 item lists such
as RunInstances' ``instancesSet``); the rules here add what the catalog cannot say on its own:
generic EC2 tag operations over ids of any type (by prefix), the other side of attach/detach
events (:data:`resolvers.aws.resolve_rules.RELATED`), Secrets Manager names vs suffixed ARNs,
and account-level settings that have no resource of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jmespath

from resolvers.aws import resolve_rules as rules
from resolvers.aws.arns import account_arn, arn_fields, canonical_arn, secret_arn
from resolvers.aws.catalog import CatalogEntry, Registry, account_of, search_simple, simple_path
from resolvers.aws.catalog_arn import partition, scalar_values
from resolvers.aws.ids import ec2_arn, ec2_type


class Target(NamedTuple):
    """One asset a change touched."""

    asset_key: str
    resource_type: str
    action: str  # create | update | delete
    relation: str = "target"  # target | related | account | part


class Context(NamedTuple):
    """What the rules need to know about one record."""

    detail: Mapping[str, Any]
    entry: CatalogEntry
    catalog: Registry
    region: str | None
    account: str | None


class Unresolvable(Exception):
    """No asset could be named; ``reason`` goes to unresolved_events."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


Rule = Callable[[Context], list[Target]]
_PATHS: dict[str, jmespath.parser.ParsedResult] = {}
_STEPS: dict[str, tuple[tuple[str, bool], ...] | None] = {}


def values_at(detail: Mapping[str, Any], path: str) -> list[str]:
    """The identifier strings a JMESPath finds in a record (compiled once per path)."""
    if path not in _STEPS:
        _STEPS[path] = simple_path(path)
    steps = _STEPS[path]
    try:
        if steps is not None:
            return scalar_values(search_simple(steps, detail))
        expression = _PATHS.get(path)
        if expression is None:
            expression = _PATHS[path] = jmespath.compile(path)
        return scalar_values(expression.search(detail))
    except (TypeError, ValueError, AttributeError):
        return []


def targets(detail: Mapping[str, Any], entry: CatalogEntry, catalog: Registry) -> list[Target]:
    """The assets one change record touched (primary first); raises :class:`Unresolvable`."""
    region = detail.get("awsRegion")
    ctx = Context(
        detail, entry, catalog, region if isinstance(region, str) else None, account_of(detail)
    )
    special = SPECIAL.get(entry.service)
    found = special(ctx) if special else primary(ctx)
    found.extend(related(ctx))
    if len(found) < 2:
        return found
    return list({t.asset_key: t for t in reversed(found)}.values())[::-1]


def primary(ctx: Context) -> list[Target]:
    """The catalog's own assets, canonical; account-level settings for type-less events."""
    entry = ctx.entry
    arns = [canonical_arn(a) for a in entry.arns_in(ctx.detail, ctx.account) if _usable(a)]
    if not arns:
        arns = _listed_resources(ctx)
    if arns:
        action = entry.action or "update"
        return [Target(a, type_of(ctx, a), action) for a in dict.fromkeys(arns)]
    if entry.resource_type is None:
        return [account_target(ctx)]
    raise _no_identifier(ctx)


def _listed_resources(ctx: Context) -> list[str]:
    """CloudTrail's own ``resources`` list, where it names resources of the entry's type."""
    listed = [canonical_arn(a) for a in values_at(ctx.detail, "resources[].ARN") if _usable(a)]
    wanted = ctx.entry.resource_type
    if wanted is None:
        return listed
    return [a for a in listed if ctx.catalog.type_for_arn(a) == wanted]


def _usable(arn: str) -> bool:
    """An ARN (six fields) with a service and a resource, and no template variable left."""
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[0] == "arn" and bool(parts[2] and parts[5]) and "${" not in arn


def type_of(ctx: Context, arn: str) -> str:
    """The CloudFormation type of one of the event's ARNs."""
    entry = ctx.entry
    if entry.resource_type and entry.event_name not in rules.GENERIC_ARN_EVENTS:
        return rules.PARENT_TYPES.get(entry.resource_type, entry.resource_type)
    found = ctx.catalog.type_for_arn(arn) or entry.resource_type
    if found is None:
        service = arn_fields(arn)[0]
        found = f"AWS::{rules.namespace(ctx.catalog, service)}::Resource"
    return rules.PARENT_TYPES.get(found, found)


def account_target(ctx: Context) -> Target:
    """The account-level settings asset of the event's service (docs/resolution.md)."""
    service = rules.arn_service_of(ctx.entry)
    own = rules.ACCOUNT_ASSETS.get((ctx.entry.event_source, ctx.entry.event_name))
    if own is not None:
        key = f"arn:{partition(ctx.region)}:{service}::{ctx.account or ''}:{own[0]}"
        return Target(key, own[1], "update", "account")
    key = account_arn(service, ctx.account, ctx.region, service not in rules.GLOBAL_SERVICES)
    namespace = rules.namespace(ctx.catalog, service)
    kind = rules.IAM_ACCOUNT_TYPE if service == "iam" else f"AWS::{namespace}::Account"
    return Target(key, kind, "update", "account")


def _no_identifier(ctx: Context) -> Unresolvable:
    detail = ctx.detail
    omitted = any(
        isinstance(detail.get(part), Mapping) and detail[part].get("omitted") in (True, "true")
        for part in ("requestParameters", "responseElements")
    )
    reason = "parameters_omitted" if omitted else "no_identifier"
    name = f"{ctx.entry.event_source} {ctx.entry.event_name}"
    return Unresolvable(reason, f"{name}: no identifier of {ctx.entry.resource_type} found")


def related(ctx: Context) -> list[Target]:
    """The other assets an event changes: both sides of attach/detach, the VPC of a new SG."""
    found = []
    for path, kind in rules.RELATED.get((ctx.entry.event_source, ctx.entry.event_name), ()):
        for value in values_at(ctx.detail, path):
            target = key_of(ctx, value, kind)
            if target is not None:
                found.append(Target(target[0], target[1], "update", "related"))
    return found


def key_of(ctx: Context, value: str, kind: str) -> tuple[str, str] | None:
    """(key, type) of an identifier of a known kind, or None if it names nothing of ours."""
    if kind == "ec2":
        arn, type_name = ec2_arn(value, ctx.region, ctx.account), ec2_type(value)
        return (arn, type_name) if arn and type_name else None
    if value.startswith("arn:"):
        arn = canonical_arn(value)
        if arn_fields(arn)[2] == "aws":  # AWS-managed policies are nobody's inventory
            return None
        return arn, type_of_arn(ctx, arn)
    template = rules.KEY_TEMPLATES.get(kind)
    if template is None:
        return None
    if kind == "kms-key" and value.startswith("alias/"):
        return None  # an alias names no key until a describe resolves it
    fields = {"p": partition(ctx.region), "r": ctx.region or "", "a": ctx.account or ""}
    return canonical_arn(template[0].format(v=value, **fields)), template[1]


def type_of_arn(ctx: Context, arn: str) -> str:
    """The type of an ARN of any kind (the catalog's templates), or a service placeholder."""
    found = ctx.catalog.type_for_arn(arn)
    if found is None:
        found = f"AWS::{rules.namespace(ctx.catalog, arn_fields(arn)[0])}::Resource"
    return rules.PARENT_TYPES.get(found, found)


# -- service rules ----------------------------------------------------------------------------
def ec2_rule(ctx: Context) -> list[Target]:
    """EC2: tag operations over ids of any type (by prefix), route table associations."""
    name = ctx.entry.event_name
    if name in rules.EC2_BY_PREFIX:
        ids = [v for path in rules.EC2_BY_PREFIX[name] for v in values_at(ctx.detail, path)]
        found = [key_of(ctx, value, "ec2") for value in dict.fromkeys(ids)]
        keyed = [Target(k, t, "update") for k, t in (f for f in found if f)]
        if not keyed:
            raise _no_identifier(ctx)
        return keyed
    associations = rules.EC2_ASSOCIATIONS.get(name)
    if associations is None:
        return primary(ctx)
    found = []
    for path, action in associations:
        for value in values_at(ctx.detail, path):
            keyed = key_of(ctx, value, "ec2")
            if keyed is not None:
                found.append(Target(keyed[0], keyed[1], action))
    found.extend(_primary_or_empty(ctx))
    if not found:
        raise _no_identifier(ctx)
    return found


def _primary_or_empty(ctx: Context) -> list[Target]:
    try:
        return primary(ctx)
    except Unresolvable:
        return []


def secrets_rule(ctx: Context) -> list[Target]:
    """Secrets Manager: a secret named by suffixed ARN or by bare name has one key."""
    entry = ctx.entry
    if entry.resource_type is None and entry.event_name not in rules.SECRET_EVENTS:
        return primary(ctx)
    chosen = _secret_named(ctx)
    if chosen is None:
        return primary(ctx)
    key = secret_arn(chosen, ctx.region, ctx.account)
    return [Target(key, "AWS::SecretsManager::Secret", entry.action or "update")]


def _secret_named(ctx: Context) -> str | None:
    """The first secret ARN the secret paths find, else the first bare name they find."""
    name = None
    for path in rules.SECRET_PATHS:
        for value in values_at(ctx.detail, path):
            if not value.startswith("arn:"):
                name = name or value
            elif arn_fields(value)[0] == "secretsmanager":
                return value
    return name


def organizations_rule(ctx: Context) -> list[Target]:
    """Organizations: policies are named by ``policyId`` (their ARN needs the org id)."""
    if ctx.entry.resource_type == "AWS::Organizations::Policy":
        found = [
            key_of(ctx, v, "org-policy")
            for v in values_at(ctx.detail, "requestParameters.policyId")
        ]
        action = ctx.entry.action or "update"
        keyed = [Target(k, t, action) for k, t in (f for f in found if f)]
        if keyed:
            return keyed
    return primary(ctx)


SPECIAL: dict[str, Rule] = {
    "ec2": ec2_rule,
    "secretsmanager": secrets_rule,
    "organizations": organizations_rule,
}
