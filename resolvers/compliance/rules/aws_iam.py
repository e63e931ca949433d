"""IAM rules: users and their credentials, the root account, password policy, policies, roles.

Age rules (old or unused keys) are clock-dependent: a version fails from the instant the key
became too old (``Verdict.since``), which may be long after the version began.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, instant, items, mappings, number
from resolvers.compliance.rules._policy import admin_statements, public_statements, statement_ids
from resolvers.compliance.spec import PASS, Verdict, VersionView, state_rule, verdict
from resolvers.timeutil import isoformat

USER = ("AWS::IAM::User",)
ROOT = ("AWS::IAM::AccountSummary",)
PASSWORD_POLICY = ("AWS::IAM::AccountPasswordPolicy",)
KEY_MAX_AGE = dt.timedelta(days=90)
UNUSED_MAX = dt.timedelta(days=45)
INITIAL_KEY_WINDOW = dt.timedelta(minutes=5)


def _active_keys(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [key for key in mappings(config.get("AccessKeys")) if key.get("Status") == "Active"]


def _when(value: Any) -> dt.datetime | None:
    return instant(value)


@state_rule(
    id="aws-iam-user-console-without-mfa",
    title="IAM user with a console password has no MFA device",
    severity="high",
    resource_types=USER,
    rationale="A console password alone falls to phishing and reuse; MFA stops most account "
    "takeovers.",
    remediation="Assign a virtual or hardware MFA device to the user, and enforce MFA with an "
    "IAM condition.",
)
def user_console_without_mfa(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when LoginProfile is set and the MFADevices list is empty."""
    if "MFADevices" not in config or not config.get("LoginProfile"):
        return PASS
    return verdict(not items(config.get("MFADevices")), mfa_devices=0)


@state_rule(
    id="aws-iam-user-access-key-not-rotated",
    title="IAM user has an active access key older than 90 days",
    severity="medium",
    resource_types=USER,
    rationale="Long-lived keys accumulate exposure (laptops, CI logs, repositories); rotating "
    "them every 90 days bounds how long a leaked key works.",
    remediation="Create a new key, move its users to it, deactivate and then delete the old one.",
    clock=True,
)
def user_key_not_rotated(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails from 90 days after the creation of the oldest active access key."""
    dated = [(_when(key.get("CreateDate")), key) for key in _active_keys(config)]
    dated = [(created, key) for created, key in dated if created is not None]
    if not dated:
        return PASS
    created, key = min(dated, key=lambda pair: pair[0])
    evidence = {"access_key_id": key.get("AccessKeyId"), "created": isoformat(created)}
    return Verdict(True, evidence, since=created + KEY_MAX_AGE)


def _credentials_last_used(config: Mapping[str, Any]) -> list[tuple[dt.datetime, str]]:
    used = []
    for key in _active_keys(config):
        last = _when(key.get("LastUsedDate")) or _when(key.get("CreateDate"))
        if last is not None:
            used.append((last, f"access key {key.get('AccessKeyId')}"))
    profile = config.get("LoginProfile")
    if isinstance(profile, dict):
        last = _when(config.get("PasswordLastUsed")) or _when(profile.get("CreateDate"))
        if last is not None:
            used.append((last, "console password"))
    return used


@state_rule(
    id="aws-iam-user-credentials-unused",
    title="IAM user has a credential unused for 45 days or more",
    severity="medium",
    resource_types=USER,
    rationale="Credentials nobody uses are credentials nobody would notice being abused.",
    remediation="Deactivate the unused access key or console password; delete it after a grace "
    "period.",
    clock=True,
)
def user_credentials_unused(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails from 45 days after the last use (else the creation) of its least recently used
    active credential."""
    used = _credentials_last_used(config)
    if not used:
        return PASS
    last, what = min(used)
    return Verdict(True, {"credential": what, "last_used": isoformat(last)}, last + UNUSED_MAX)


@state_rule(
    id="aws-iam-user-two-active-keys",
    title="IAM user has more than one active access key",
    severity="low",
    resource_types=USER,
    rationale="Two active keys usually mean a rotation that was never finished.",
    remediation="Deactivate the key that is no longer in use.",
)
def user_two_active_keys(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when more than one access key has Status Active."""
    active = [key.get("AccessKeyId") for key in _active_keys(config)]
    return verdict(len(active) > 1, active_keys=active)


@state_rule(
    id="aws-iam-user-initial-access-key",
    title="IAM console user has an access key created with the user and never used",
    severity="low",
    resource_types=USER,
    rationale="Keys created by default at user creation are rarely needed; unused, they are "
    "pure exposure.",
    remediation="Delete the unused key; let users create keys themselves when they need them.",
)
def user_initial_access_key(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a console user has an active, never-used key created within five minutes of
    the user."""
    created = _when(config.get("CreateDate"))
    if created is None or not config.get("LoginProfile"):
        return PASS
    keys = [
        key.get("AccessKeyId")
        for key in _active_keys(config)
        if "LastUsedDate" in key
        and key.get("LastUsedDate") is None
        and (made := _when(key.get("CreateDate"))) is not None
        and abs(made - created) <= INITIAL_KEY_WINDOW
    ]
    return verdict(bool(keys), access_keys=keys)


@state_rule(
    id="aws-iam-user-direct-policies",
    title="IAM user has policies attached directly",
    severity="low",
    resource_types=USER,
    rationale="Permissions granted through groups are reviewed in one place; per-user grants "
    "drift.",
    remediation="Move the user's permissions to groups and detach the user's own policies.",
)
def user_direct_policies(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when AttachedPolicies or InlinePolicies is not empty."""
    attached = [get(p, "PolicyName") for p in mappings(config.get("AttachedPolicies"))]
    policies = config.get("InlinePolicies")
    inline = sorted(policies) if isinstance(policies, dict) else []
    return verdict(bool(attached or inline), attached=attached, inline=inline)


@state_rule(
    id="aws-iam-inline-admin-policy",
    title="IAM user or role has an inline policy allowing * on *",
    severity="high",
    resource_types=("AWS::IAM::User", "AWS::IAM::Role", "AWS::IAM::Group"),
    rationale="Full administrative rights granted inline escape policy review and least privilege.",
    remediation="Replace the inline policy with scoped managed policies.",
)
def inline_admin_policy(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an inline policy has an Allow statement for Action * on Resource *."""
    inline = config.get("InlinePolicies")
    if not isinstance(inline, dict):
        return PASS
    names = sorted(name for name, document in inline.items() if admin_statements(document))
    return verdict(bool(names), policies=names)


@state_rule(
    id="aws-iam-managed-policy-admin",
    title="Attached customer managed policy allows * on *",
    severity="high",
    resource_types=("AWS::IAM::ManagedPolicy",),
    rationale="A policy granting every action on every resource makes whoever holds it an "
    "administrator, whatever the name of the role suggests.",
    remediation="Detach the policy and grant only the actions needed.",
)
def managed_policy_admin(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the default version allows * on * and the policy is attached somewhere."""
    found = admin_statements(config.get("DefaultVersionDocument"))
    attached = (number(config.get("AttachmentCount")) or 0) > 0
    return verdict(bool(found) and attached, statements=statement_ids(found))


@state_rule(
    id="aws-iam-role-public-trust",
    title="IAM role can be assumed by anyone",
    severity="critical",
    resource_types=("AWS::IAM::Role",),
    rationale="A trust policy with Principal * and no condition lets any AWS account assume the "
    "role.",
    remediation="Name the trusted accounts or services in the trust policy, or add an "
    "aws:PrincipalOrgID / sts:ExternalId condition.",
)
def role_public_trust(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when AssumeRolePolicyDocument has an unconditioned Allow for Principal *."""
    found = public_statements(config.get("AssumeRolePolicyDocument"))
    return verdict(bool(found), statements=statement_ids(found))


@state_rule(
    id="aws-iam-root-access-keys",
    title="The root user has access keys",
    severity="critical",
    resource_types=ROOT,
    rationale="Root keys cannot be limited by any policy; whoever holds one owns the account.",
    remediation="Delete the root user's access keys; use IAM roles instead.",
)
def root_access_keys(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when SummaryMap.AccountAccessKeysPresent is above 0."""
    present = number(get(config, "SummaryMap", "AccountAccessKeysPresent"))
    return verdict((present or 0) > 0, access_keys_present=present)


@state_rule(
    id="aws-iam-root-mfa-off",
    title="The root user has no MFA",
    severity="critical",
    resource_types=ROOT,
    rationale="The root password alone should never be enough to take over the account.",
    remediation="Enable MFA (preferably hardware) on the root user.",
)
def root_mfa_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when SummaryMap.AccountMFAEnabled is known and not 1."""
    enabled = number(get(config, "SummaryMap", "AccountMFAEnabled"))
    return verdict(enabled is not None and enabled != 1, account_mfa_enabled=enabled)


def _password_policy(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The policy, {} when the account has none (null), None when unknown (key absent)."""
    if "PasswordPolicy" not in config:
        return None
    policy = config.get("PasswordPolicy")
    return policy if isinstance(policy, dict) else {}


@state_rule(
    id="aws-iam-password-policy-short",
    title="IAM password policy does not require 14 characters or more",
    severity="medium",
    resource_types=PASSWORD_POLICY,
    rationale="Short passwords fall to guessing; CIS asks for at least 14 characters.",
    remediation="Set MinimumPasswordLength to 14 or more (update-account-password-policy).",
)
def password_policy_short(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when there is no password policy or its MinimumPasswordLength is below 14."""
    policy = _password_policy(config)
    if policy is None:
        return PASS
    length = number(policy.get("MinimumPasswordLength"))
    return verdict((length or 0) < 14, minimum_length=length)


@state_rule(
    id="aws-iam-password-policy-reuse",
    title="IAM password policy does not prevent password reuse",
    severity="medium",
    resource_types=PASSWORD_POLICY,
    rationale="Reused passwords bring old compromises back; CIS asks to remember 24.",
    remediation="Set PasswordReusePrevention to 24.",
)
def password_policy_reuse(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when there is no password policy or PasswordReusePrevention is below 24."""
    policy = _password_policy(config)
    if policy is None:
        return PASS
    remembered = number(policy.get("PasswordReusePrevention"))
    return verdict((remembered or 0) < 24, reuse_prevention=remembered)


RULES = (
    user_console_without_mfa,
    user_key_not_rotated,
    user_credentials_unused,
    user_two_active_keys,
    user_initial_access_key,
    user_direct_policies,
    inline_admin_policy,
    managed_policy_admin,
    role_public_trust,
    root_access_keys,
    root_mfa_off,
    password_policy_short,
    password_policy_reuse,
)
