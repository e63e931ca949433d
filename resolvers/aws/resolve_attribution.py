"""Who made a CloudTrail call: the principal and everything CloudTrail says about the session.

``principal`` is ``userIdentity.arn`` as CloudTrail writes it (for an assumed-role session the
session ARN ``arn:aws:sts::A:assumed-role/ROLE/SESSION``). Identities without an ARN get the
closest stable name instead: the account root (``Root``), the calling service (``AWSService``,
``invokedBy``), the other account's principal id (``AWSAccount``). The role behind a session,
the session name, ``sourceIdentity``, the access key and MFA go to their own asset_changes
columns so that "who really did it" survives role chaining.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class Attribution(NamedTuple):
    """The principal of one CloudTrail record (the asset_changes attribution columns)."""

    principal: str | None = None
    principal_type: str | None = None
    invoked_by: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    principal_account_id: str | None = None
    principal_id: str | None = None
    session_issuer_arn: str | None = None
    session_name: str | None = None
    source_identity: str | None = None
    access_key_id: str | None = None
    mfa_authenticated: bool | None = None


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    """A field as text: a non-empty string as it is, an integer (an account id) as digits."""
    value = mapping.get(key)
    if isinstance(value, str):
        return value or None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _mapping(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A field that is an object, else an empty one."""
    value = mapping.get(key)
    if type(value) is dict:
        return value
    return value if value is not None and isinstance(value, Mapping) else {}


def attribution(detail: Mapping[str, Any]) -> Attribution:
    """The attribution of one (unwrapped) CloudTrail record; never raises."""
    identity = _mapping(detail, "userIdentity")
    session = _mapping(identity, "sessionContext")
    kind = _text(identity, "type")
    arn = _text(identity, "arn")
    return Attribution(
        principal=arn or _fallback_principal(identity, kind),
        principal_type=kind,
        invoked_by=_text(identity, "invokedBy") or _text(detail, "invokedBy"),
        source_ip=_text(detail, "sourceIPAddress"),
        user_agent=_text(detail, "userAgent"),
        principal_account_id=_text(identity, "accountId"),
        principal_id=_text(identity, "principalId"),
        session_issuer_arn=_text(_mapping(session, "sessionIssuer"), "arn"),
        session_name=_session_name(arn, kind, identity),
        source_identity=_text(session, "sourceIdentity") or _text(detail, "sourceIdentity"),
        access_key_id=_text(identity, "accessKeyId"),
        mfa_authenticated=_mfa(detail, session),
    )


def _fallback_principal(identity: Mapping[str, Any], kind: str | None) -> str | None:
    account = _text(identity, "accountId")
    if kind == "Root" and account:
        return f"arn:aws:iam::{account}:root"
    if kind == "AWSService":
        return _text(identity, "invokedBy")
    return _text(identity, "principalId") or _text(identity, "userName")


def _session_name(arn: str | None, kind: str | None, identity: Mapping[str, Any]) -> str | None:
    if kind == "AssumedRole" and arn and arn.count("/") >= 2:
        return arn.rsplit("/", 1)[-1]
    if kind == "FederatedUser" and arn and "/" in arn:
        return arn.rsplit("/", 1)[-1]
    principal_id = _text(identity, "principalId")
    if kind in ("AssumedRole", "FederatedUser") and principal_id and ":" in principal_id:
        return principal_id.split(":", 1)[1]
    return None


def _mfa(detail: Mapping[str, Any], session: Mapping[str, Any]) -> bool | None:
    value = _mapping(session, "attributes").get("mfaAuthenticated")
    if value is None:
        value = _mapping(detail, "additionalEventData").get("MFAUsed")
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    return None
