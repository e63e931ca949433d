"""GCP IAM rules: project IAM policies and service account keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, instant, items, mappings
from resolvers.compliance.rules._gcp import data, iam_policy
from resolvers.compliance.rules._policy import public_members
from resolvers.compliance.spec import PASS, Verdict, VersionView, state_rule, verdict
from resolvers.timeutil import isoformat

PROJECT = ("cloudresourcemanager.googleapis.com/Project",)
SA_KEY = ("iam.googleapis.com/ServiceAccountKey",)
KEY_MAX_AGE = dt.timedelta(days=90)
BASIC_ROLES = ("roles/owner", "roles/editor")
SA_IMPERSONATION_ROLES = ("roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator")
HUMAN_PREFIXES = ("user:", "group:", "domain:")


def _bindings(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(mappings(get(iam_policy(config), "bindings")))


def _members_with(config: Mapping[str, Any], roles: Any, prefixes: tuple[str, ...]) -> dict:
    found: dict[str, list[str]] = {}
    for binding in _bindings(config):
        role = str(binding.get("role"))
        if not roles(role):
            continue
        members = [m for m in items(binding.get("members")) if str(m).startswith(prefixes)]
        if members:
            found[role] = sorted(members)
    return found


@state_rule(
    id="gcp-iam-project-public-binding",
    title="Project IAM grants a role to allUsers or allAuthenticatedUsers",
    severity="critical",
    resource_types=PROJECT,
    rationale="A project role granted to allUsers applies to everyone on the internet.",
    remediation="Remove the allUsers / allAuthenticatedUsers members from the project policy.",
)
def project_public_binding(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a project binding has allUsers or allAuthenticatedUsers as a member."""
    found = public_members(iam_policy(config))
    return verdict(bool(found), bindings=found)


@state_rule(
    id="gcp-iam-service-account-admin",
    title="Service account holds an administrative role on the project",
    severity="high",
    resource_types=PROJECT,
    rationale="A service account with Owner, Editor or an *Admin role turns any compromise of "
    "its workload into a compromise of the project.",
    remediation="Grant service accounts only the predefined roles their workload needs.",
)
def service_account_admin(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a serviceAccount: member is bound to roles/owner, roles/editor or a role whose
    name contains 'admin'."""

    def admin(role: str) -> bool:
        return role in BASIC_ROLES or "admin" in role.lower()

    found = _members_with(config, admin, ("serviceAccount:",))
    return verdict(bool(found), bindings=found)


@state_rule(
    id="gcp-iam-sa-impersonation-at-project",
    title="Users hold Service Account User or Token Creator on the whole project",
    severity="medium",
    resource_types=PROJECT,
    rationale="Granted at project level, these roles let a user act as every service account "
    "of the project.",
    remediation="Grant them on the individual service accounts that need impersonating.",
)
def sa_impersonation_at_project(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a user, group or domain is bound to roles/iam.serviceAccountUser or
    roles/iam.serviceAccountTokenCreator on the project."""
    found = _members_with(config, lambda role: role in SA_IMPERSONATION_ROLES, HUMAN_PREFIXES)
    return verdict(bool(found), bindings=found)


@state_rule(
    id="gcp-iam-basic-roles",
    title="Project grants basic roles (Owner, Editor) to users or groups",
    severity="low",
    resource_types=PROJECT,
    rationale="Basic roles grant thousands of permissions across every service; predefined "
    "roles express what people need.",
    remediation="Replace Owner/Editor grants with predefined roles; keep Owner to a break-glass "
    "group.",
)
def basic_roles(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when roles/owner or roles/editor is bound to a user, group or domain."""
    found = _members_with(config, lambda role: role in BASIC_ROLES, HUMAN_PREFIXES)
    return verdict(bool(found), bindings=found)


@state_rule(
    id="gcp-iam-user-managed-sa-key",
    title="Service account has a user-managed key",
    severity="medium",
    resource_types=SA_KEY,
    rationale="User-managed keys are long-lived credentials outside Google's custody; they leak "
    "through laptops and repositories.",
    remediation="Delete the key; use workload identity, impersonation or attached service "
    "accounts.",
)
def user_managed_key(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when keyType is USER_MANAGED (a key of unknown type passes)."""
    return verdict(data(config).get("keyType") == "USER_MANAGED", key_type="USER_MANAGED")


@state_rule(
    id="gcp-iam-sa-key-not-rotated",
    title="User-managed service account key is older than 90 days",
    severity="medium",
    resource_types=SA_KEY,
    rationale="Rotating keys every 90 days bounds how long a leaked key works.",
    remediation="Create a new key, switch its users, delete the old one.",
    clock=True,
)
def sa_key_not_rotated(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails from 90 days after validAfterTime for an enabled USER_MANAGED key."""
    key = data(config)
    created = instant(key.get("validAfterTime"))
    if key.get("keyType") != "USER_MANAGED" or key.get("disabled") is True or created is None:
        return PASS
    return Verdict(True, {"valid_after": isoformat(created)}, since=created + KEY_MAX_AGE)


RULES = (
    project_public_binding,
    service_account_admin,
    sa_impersonation_at_project,
    basic_roles,
    user_managed_key,
    sa_key_not_rotated,
)
