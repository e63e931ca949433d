"""Canonical configuration documents: sorted-key JSON, a stable hash, redaction of secrets.

Every configuration that reaches the lake goes through :func:`canonicalize`. The hash ignores
volatile envelope fields (an ``etag`` that changes on every read-modify-write is not a change of
the asset), and fields known to hold secrets are replaced by a marker with a salted hash: a
changed secret still changes the hash, but the secret itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

import orjson

from resolvers.secret_fields import (
    PASSWORD_SUFFIX,
    PLACEHOLDERS,
    REDACTED_KEYS,
    REDACTED_MAPS,
    REDACTED_NAME_VALUE_LISTS,
    REDACTION_MARKER,
    VOLATILE_KEYS,
)
from resolvers.secret_text import (
    VOLATILE_CONTAINERS,
    config_members,
    record_may_hold_secret,
    without_volatile,
)

_MARKER = re.compile(re.escape(REDACTION_MARKER) + r":hmac-sha256:[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class CanonicalConfig:
    """A configuration document ready for the lake."""

    json: str  # canonical JSON of the redacted document (sorted keys, compact)
    hash: str  # sha256 of the canonical JSON of the redacted document minus volatile keys


def canonical_bytes(document: Any) -> bytes:
    """Compact JSON with sorted keys, as UTF-8: the same document always gives the same bytes
    (what every hash here is taken of)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def canonical_json(document: Any) -> str:
    """:func:`canonical_bytes` as text."""
    return canonical_bytes(document).decode()


def redacted_value(value: Any, salt: bytes) -> str:
    """The marker that stands in for a secret: a keyed hash, so changes are still detected.

    A marker is kept as it is (redacting twice is redacting once): a record redacted when it
    was landed resolves, when drained, to the same configurations as the record itself.
    """
    if isinstance(value, str) and _MARKER.fullmatch(value):
        return value
    digest = hmac.new(salt, canonical_bytes(value), hashlib.sha256).hexdigest()[:16]
    return f"{REDACTION_MARKER}:hmac-sha256:{digest}"


def is_secret(key: Any, value: Any) -> bool:
    """Whether ``value``, under ``key``, is a secret to replace by its marker."""
    if value in (None, "", {}, []) or (isinstance(value, str) and value in PLACEHOLDERS):
        return False
    if key in REDACTED_KEYS:
        return True
    return isinstance(value, str) and isinstance(key, str) and key.lower().endswith(PASSWORD_SUFFIX)


def redact(document: Any, salt: bytes) -> Any:
    """A copy of ``document`` with every secret-bearing field replaced by its marker."""
    if isinstance(document, dict):
        result: dict[Any, Any] = {}
        for key, value in document.items():
            if is_secret(key, value):
                result[key] = redacted_value(value, salt)
            elif key in REDACTED_MAPS and isinstance(value, dict):
                result[key] = {name: redacted_value(v, salt) for name, v in value.items()}
            elif key in REDACTED_NAME_VALUE_LISTS and isinstance(value, list):
                result[key] = [_redact_pair(item, salt) for item in value]
            else:
                result[key] = redact(value, salt)
        return result
    if isinstance(document, list):
        return [redact(item, salt) for item in document]
    return document


def _redact_pair(item: Any, salt: bytes) -> Any:
    if isinstance(item, dict) and "value" in item:
        return {**redact(item, salt), "value": redacted_value(item["value"], salt)}
    return redact(item, salt)


def strip_volatile(document: Any) -> Any:
    """A copy of ``document`` without volatile envelope keys, at any depth."""
    if isinstance(document, dict):
        return {k: strip_volatile(v) for k, v in document.items() if k not in VOLATILE_KEYS}
    if isinstance(document, list):
        return [strip_volatile(item) for item in document]
    return document


def config_hash(redacted_document: Any) -> str:
    """The stable hash of an already redacted document."""
    return hashlib.sha256(canonical_bytes(strip_volatile(redacted_document))).hexdigest()[:32]


def _prepare(document: Any, salt: bytes) -> tuple[Any, Any]:
    """The redacted document and its stable form (no volatile keys), in one walk."""
    if isinstance(document, dict):
        redacted: dict[Any, Any] = {}
        stable: dict[Any, Any] = {}
        for key, value in document.items():
            if is_secret(key, value):
                redacted[key] = kept = redacted_value(value, salt)
            elif key in REDACTED_MAPS and isinstance(value, dict):
                redacted[key] = kept = {n: redacted_value(v, salt) for n, v in value.items()}
            elif key in REDACTED_NAME_VALUE_LISTS and isinstance(value, list):
                redacted[key] = kept = [_redact_pair(item, salt) for item in value]
            elif isinstance(value, dict | list):
                redacted[key], kept = _prepare(value, salt)
            else:
                redacted[key] = kept = value
            if key not in VOLATILE_KEYS:
                secret_container = key in REDACTED_MAPS or key in REDACTED_NAME_VALUE_LISTS
                stable[key] = strip_volatile(kept) if secret_container else kept
        return redacted, stable
    if isinstance(document, list):
        pairs = [_prepare(item, salt) for item in document]
        return [r for r, _ in pairs], [k for _, k in pairs]
    return document, document


def canonicalize(document: Any, salt: bytes) -> CanonicalConfig:
    """Redact, serialise canonically and hash a configuration document.

    Most documents hold no secret-bearing key at all: those are serialised once and hashed as
    they are, or with their volatile members cut out of the text when those hold scalars (the
    same result as the general path, at a fraction of the cost).
    """
    text = canonical_bytes(document)
    secret, volatile = config_members(text)
    if not secret and volatile.isdisjoint(VOLATILE_CONTAINERS):
        # the text is the document; the hash leaves out volatiles
        stable = without_volatile(text, volatile) if volatile else text
        return CanonicalConfig(json=text.decode(), hash=hashlib.sha256(stable).hexdigest()[:32])
    redacted, stable = _prepare(document, salt)
    digest = hashlib.sha256(canonical_bytes(stable)).hexdigest()[:32]
    return CanonicalConfig(json=canonical_json(redacted), hash=digest)


def redact_record(payload: str, value: Any, salt: bytes) -> tuple[str, Any]:
    """A received record as it may be landed: ``(payload, value)`` with secrets redacted.

    A record with no secret in it (nearly all) is returned as it is, byte for byte; one with a
    secret (a session token in an AssumeRole answer, user data, a password) is its redacted
    JSON, in its own key order. Redacting an already redacted record changes nothing.
    """
    if value is None or not record_may_hold_secret(payload, value):
        return payload, value
    redacted = redact(value, salt)
    if redacted == value:
        return payload, value
    return orjson.dumps(redacted, option=orjson.OPT_NON_STR_KEYS).decode(), redacted
