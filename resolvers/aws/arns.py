"""Canonical asset keys for AWS: one ARN per asset, whichever event or scan names it.

AWS names one resource in several ways; the lake needs one. :func:`canonical_arn` is the single
function the event path and the describe/scan path both call, so a key built from a CloudTrail
event and one built from a describe response are equal. The rules (docs/resolution.md):

* ARNs stay as AWS writes them (``arn:aws:s3:::bucket``, the account-less EBS snapshot and AMI
  ARNs, region-less IAM ARNs), except where AWS itself is inconsistent:
* IAM users, roles, groups, managed policies, instance profiles, server certificates and MFA
  devices lose their path: ``role/service-role/x`` -> ``role/x``. Names are unique per account
  whatever the path, and most events name the resource without it (``roleName``).
* Secrets Manager secrets lose the random ``-AbCdEf`` suffix AWS appends to the name: events
  that take a name (``secretId``) cannot know it. Build a key from a bare *name* with
  :func:`secret_arn` (never strip a name, only an ARN as AWS writes it).
* RDS identifiers are lower case: AWS stores them so whatever case the request used.
* Lambda ``:$LATEST`` qualifies nothing: the unqualified function ARN is the function.
* Organizations policies lose the organization id and policy type (``policy/o-x/TYPE/p-y`` ->
  ``policy/p-y``): events name them by ``policyId`` alone. Config recorders lose the recorder
  id (events name them by name). An SNS subscription (``TOPIC:uuid``) is its topic's: a
  subscription has no state of its own beyond the topic's subscription list.

Account-level settings (no resource of their own) get :func:`account_arn`.
"""

from __future__ import annotations

import re

from resolvers.aws.catalog_arn import partition

IAM_PATHLESS = frozenset(
    {"user", "role", "group", "policy", "instance-profile", "server-certificate", "mfa"}
)
_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")
_RDS_LOWER = frozenset(
    {"db", "cluster", "snapshot", "cluster-snapshot", "subgrp", "pg", "cluster-pg", "og", "es"}
)
ACCOUNT_RESOURCE = "account"


def canonical_arn(arn: str) -> str:
    """The canonical form of an ARN as AWS writes it (see the module docstring)."""
    arn = arn.strip()
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return arn
    service, resource = parts[2], parts[5]
    if service == "iam":
        resource = _iam_resource(resource)
    elif service == "secretsmanager" and resource.startswith("secret:"):
        resource = "secret:" + _SECRET_SUFFIX.sub("", resource[len("secret:") :])
    elif service == "rds":
        resource = _rds_resource(resource)
    elif service == "lambda" and resource.endswith(":$LATEST"):
        resource = resource[: -len(":$LATEST")]
    elif service == "organizations" and resource.startswith("policy/"):
        resource = "policy/" + resource.rsplit("/", 1)[-1]
    elif service == "config" and resource.startswith("configuration-recorder/"):
        resource = "/".join(resource.split("/")[:2])
    elif service == "sns" and ":" in resource:  # a subscription: topic:uuid
        resource = resource.split(":", 1)[0]
    if resource == parts[5]:  # as AWS writes it (the parts joined again would be ``arn``)
        return arn
    return ":".join((*parts[:5], resource))


def _iam_resource(resource: str) -> str:
    kind, _, rest = resource.partition("/")
    if kind in IAM_PATHLESS and "/" in rest:
        return f"{kind}/{rest.rsplit('/', 1)[-1]}"
    return resource


def _rds_resource(resource: str) -> str:
    kind, sep, name = resource.partition(":")
    return f"{kind}{sep}{name.lower()}" if sep and kind in _RDS_LOWER else resource


def secret_arn(name_or_arn: str, region: str | None, account: str | None) -> str:
    """The key of a secret named by ARN (canonicalised) or by bare name (kept whole)."""
    if name_or_arn.startswith("arn:"):
        return canonical_arn(name_or_arn)
    prefix = f"arn:{partition(region)}:secretsmanager:{region or ''}:{account or ''}"
    return f"{prefix}:secret:{name_or_arn}"


def iam_arn(kind: str, name: str, account: str | None, region: str | None = None) -> str:
    """The key of an IAM entity named by name or ARN (``kind``: user, role, group, ...)."""
    if name.startswith("arn:"):
        return canonical_arn(name)
    return canonical_arn(f"arn:{partition(region)}:iam::{account or ''}:{kind}/{name}")


def account_arn(service: str, account: str | None, region: str | None, regional: bool) -> str:
    """The key of a service's account-level settings (IAM's is the account root itself)."""
    if service == "iam":
        return f"arn:{partition(region)}:iam::{account or ''}:root"
    where = (region or "") if regional else ""
    return f"arn:{partition(region)}:{service}:{where}:{account or ''}:{ACCOUNT_RESOURCE}"


def arn_fields(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN; empty strings where it has none."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "", "", "", ""
    return parts[2], parts[3], parts[4], parts[5]


def is_arn(value: object) -> bool:
    """Whether a value is a string shaped like an ARN (six colon-separated fields)."""
    return isinstance(value, str) and value.startswith("arn:") and value.count(":") >= 5
