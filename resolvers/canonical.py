"""Canonical configuration documents: sorted-key JSON, a stable hash, redaction of secrets.

Every configuration that reaches the lake goes through :func:`canonicalize`. The hash ignores
volatile envelope fields (an ``etag`` that changes on every read-modify-write is not a change of
the asset), and fields known to hold secrets are replaced by a marker with a salted hash: a
changed secret still changes the hash, but the secret itself is never stored.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from resolvers.native.load import native

# Keys whose values are volatile bookkeeping: dropped before hashing, kept in the stored document.
VOLATILE_KEYS: frozenset[str] = frozenset(
    {
        "etag",
        "Etag",
        "ETag",
        "updateTime",
        "update_time",
        "updated",
        "lastModifiedTime",
        "LastModified",
        "lastModified",
        "ResponseMetadata",
        "fingerprint",
        "labelFingerprint",
        "metadataFingerprint",
        # counters and delivery clocks that AWS describe calls return and that change on their
        # own between two reads (not on a change of the asset). Last-use dates (access keys,
        # roles, passwords) stay in the hash: rules on unused credentials judge them.
        "LatestRestorableTime",
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "ItemCount",
        "TableSizeBytes",
        "SubscriptionsConfirmed",
        "SubscriptionsPending",
        "SubscriptionsDeleted",
        "LatestDeliveryTime",
        "LatestDeliveryAttemptTime",
        "LatestDeliveryAttemptSucceeded",
        "LatestNotificationTime",
        "LatestNotificationAttemptTime",
        "LatestNotificationAttemptSucceeded",
        "LatestDigestDeliveryTime",
        "LatestDigestAttemptTime",
        "LatestDigestAttemptSucceeded",
        "LatestCloudWatchLogsDeliveryTime",
    }
)

# The one list of redacted fields. A key in REDACTED_KEYS has its whole value replaced; a key in
# REDACTED_MAPS holds a map whose every value is replaced (names stay visible); a key in
# REDACTED_NAME_VALUE_LISTS holds a list of {name, value} pairs whose values are replaced.
REDACTED_KEYS: frozenset[str] = frozenset(
    {
        # AWS
        "UserData",  # EC2 instance / launch template user data
        "userData",
        "MasterUserPassword",  # RDS, Redshift, DocumentDB
        "masterUserPassword",  # the same in CloudTrail requests (lowerCamel)
        "Password",
        "password",
        "SecretString",  # Secrets Manager
        "SecretBinary",
        "secretString",
        "secretBinary",
        "SecretAccessKey",  # IAM access keys, STS credentials
        "secretAccessKey",
        "SessionToken",
        "sessionToken",
        "PrivateKey",  # ACM, IoT
        "privateKey",
        "AuthToken",  # ElastiCache
        "authToken",
        "KeyMaterial",  # EC2 key pairs
        "keyMaterial",
        # GCP
        "privateKeyData",  # iam.googleapis.com/ServiceAccountKey
        "private_key",
        "private_key_data",
        "rootPassword",  # Cloud SQL
        "clientSecret",
        "client_secret",
    }
)
REDACTED_MAPS: frozenset[str] = frozenset(
    {
        "Variables",  # Lambda Environment.Variables
        "variables",  # the same in CloudTrail requests (lowerCamel)
        "environmentVariables",  # Cloud Functions, CodeBuild
        "environment_variables",
        "buildEnvironmentVariables",
        "secretEnvironmentVariables",
    }
)
REDACTED_NAME_VALUE_LISTS: frozenset[str] = frozenset(
    {
        "environment",  # ECS container definitions
        "env",  # Cloud Run / Kubernetes containers
        "EnvironmentVariables",
    }
)
# Besides, any key whose name ends in "password" (any case) has its value replaced when that
# value is a string: tdeCredentialPassword, newPassword, adminPassword, ... (not
# PasswordLastUsed or passwordPolicy, whose names go on, nor a flag like ManageMasterUserPassword).
PASSWORD_SUFFIX = "password"
# What CloudTrail itself writes in place of a secret: no secret, kept as it is (a record that
# holds only these is landed byte for byte).
PLACEHOLDERS: frozenset[str] = frozenset(
    {"HIDDEN_DUE_TO_SECURITY_REASONS", "<sensitiveDataRemoved>"}
)
REDACTION_MARKER = "<redacted>"
_MARKER = re.compile(re.escape(REDACTION_MARKER) + r":hmac-sha256:[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class CanonicalConfig:
    """A configuration document ready for the lake."""

    json: str  # canonical JSON of the redacted document (sorted keys, compact)
    hash: str  # sha256 of the canonical JSON of the redacted document minus volatile keys


def canonical_json(document: Any) -> str:
    """Compact JSON with sorted keys: the same document always gives the same string."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def redacted_value(value: Any, salt: bytes) -> str:
    """The marker that stands in for a secret: a keyed hash, so changes are still detected.

    A marker is kept as it is (redacting twice is redacting once): a record redacted when it
    was landed resolves, when drained, to the same configurations as the record itself.
    """
    if isinstance(value, str) and _MARKER.fullmatch(value):
        return value
    digest = hmac.new(salt, canonical_json(value).encode(), hashlib.sha256).hexdigest()[:16]
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
    stable = canonical_json(strip_volatile(redacted_document)).encode()
    return hashlib.sha256(stable).hexdigest()[:32]


def _alternation(keys: frozenset[str]) -> bytes:
    return b"|".join(re.escape(key.encode()) for key in sorted(keys))


# The members of compact JSON, each as its key, '":' and the first byte of its value. In JSON
# text every '"' inside a string is escaped, so ``"name":`` is always a key; a key with an
# escape in it is never one of ours. The members that may need work, in the same form: a
# secret key, a secret map only when it holds an object, a name/value list only when it holds
# an array (``"env": "prod"`` is a plain label); and any volatile key.
_MEMBER = re.compile(rb'"([^"\\]*":.)', re.DOTALL)
_VALUE_STARTS = b'"{[-0123456789tfn'


def _members(keys: Iterable[str], value_starts: bytes) -> frozenset[bytes]:
    return frozenset(k.encode() + b'":' + bytes([c]) for k in keys for c in value_starts)


# The kinds of secret-bearing keys and the values they hold a secret in: any value, an object,
# an array (b"": any value). Both checks below (members listed, exact members searched) are
# made from this.
_SECRET_KINDS = (
    (REDACTED_KEYS, b""),
    (REDACTED_MAPS, b"{"),
    (REDACTED_NAME_VALUE_LISTS, b"["),
)
_SECRET_MEMBERS = frozenset().union(
    *(_members(keys, starts or _VALUE_STARTS) for keys, starts in _SECRET_KINDS)
)
_VOLATILE_MEMBERS = _members(VOLATILE_KEYS, _VALUE_STARTS)
_VOLATILE_CONTAINERS = _members(VOLATILE_KEYS, b"{[")
_PASSWORD_MEMBER = PASSWORD_SUFFIX.encode() + b'":"'
_SCALAR = rb'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[-+.\w]+)'  # a string, a number, true, false, null


@functools.lru_cache(maxsize=256)
def _scalar_members(keys: frozenset[bytes]) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """Patterns of the members under ``keys`` with a scalar value: after a comma, and first in
    their object (then with the comma after them)."""
    member = b'"(?:' + b"|".join(re.escape(k) for k in sorted(keys)) + b')":' + _SCALAR
    return re.compile(b"," + member + b"(?=[,}])"), re.compile(b"{" + member + b"(?:,|(?=}))")


def _secret_in(text: bytes, members: set[bytes]) -> bool:
    """Whether compact JSON ``text`` (its ``members``) may hold a value :func:`redact` replaces."""
    return not members.isdisjoint(_SECRET_MEMBERS) or _PASSWORD_MEMBER in text.lower()


def _without_volatile(text: bytes, volatile: set[bytes]) -> bytes:
    """Canonical JSON ``text`` minus its volatile members (whose values are scalars)."""
    later, first = _scalar_members(frozenset(member[:-3] for member in volatile))
    return first.sub(b"{", later.sub(b"", text))


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
    text = orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    members = set(_MEMBER.findall(text))
    if not _secret_in(text, members):  # the text is the document; the hash leaves out volatiles
        volatile = members & _VOLATILE_MEMBERS
        if volatile.isdisjoint(_VOLATILE_CONTAINERS):
            stable = _without_volatile(text, volatile) if volatile else text
            return CanonicalConfig(json=text.decode(), hash=hashlib.sha256(stable).hexdigest()[:32])
    redacted, stable = _prepare(document, salt)
    digest = hashlib.sha256(canonical_json(stable).encode()).hexdigest()[:32]
    return CanonicalConfig(json=canonical_json(redacted), hash=digest)


# Whether a record's text may hold a secret-bearing key: plain substrings of the lowercased text
# (each key lowercased, minus those holding a shorter one). Much faster than a regex of the keys;
# a record that passes is redacted and compared, which is exact.
_NAMES = {k.lower() for k in REDACTED_KEYS | REDACTED_MAPS | REDACTED_NAME_VALUE_LISTS}
_STEMS = tuple(
    sorted(n for n in _NAMES | {PASSWORD_SUFFIX} if not any(o in n for o in _NAMES - {n}))
)


def _members_of_stem(stem: str) -> tuple[bytes, ...]:
    """The members of compact JSON that hold a secret under a key containing ``stem``: a secret
    key with any value, a secret map holding an object, a name/value list holding an array."""
    return tuple(
        b'"' + key.encode() + b'":' + starts
        for keys, starts in _SECRET_KINDS
        for key in sorted(keys)
        if stem in key.lower()
    )


_STEM_MEMBERS = {stem: _members_of_stem(stem) for stem in _STEMS}
# Each substring search costs about 1 us on a 2 KB record: the stems are looked for in groups
# that share a word, and a group only when the record holds its word (8 searches, not 14).
_WORDS = ("env", "keymaterial", "password", "private", "secret", "token", "userdata", "variables")
_STEMS_OF_WORD = {word: tuple(s for s in _STEMS if word in s) for word in _WORDS}
if set(_STEMS) - {s for stems in _STEMS_OF_WORD.values() for s in stems}:
    raise AssertionError("a secret stem outside every word of _WORDS: add its word")


def _native_screen() -> Callable[[str], bool | None]:
    """The record check below in one native pass (resolvers/native): ``_stems_in`` and
    :func:`_held_in_text`, answering the same, or None where the Python must look (a character
    outside ASCII, a ``\\u`` escape, an escaped quote next to a stem). Without the native
    module it always answers None."""
    module = native()
    if module is None:
        return lambda _payload: None
    groups = [(word, list(_STEMS_OF_WORD[word])) for word in _WORDS]
    screen = module.SecretScreen(
        groups,
        sorted(REDACTED_KEYS),
        sorted(REDACTED_MAPS),
        sorted(REDACTED_NAME_VALUE_LISTS),
        PASSWORD_SUFFIX,
    )
    return screen.held


_SCREEN = _native_screen()


def _stems_in(lowered: str) -> tuple[str, ...]:
    """The stems a record's lowercased text holds."""
    found: list[str] = []
    for word, stems in _STEMS_OF_WORD.items():
        if word in lowered:
            found.extend(stem for stem in stems if stem in lowered)
    return tuple(found)


_AFTER_KEY = re.compile(r"[ \t\n\r]*:[ \t\n\r]*(.)", re.DOTALL)  # a key's colon, its value's start


def _held_in_text(payload: str, lowered: str, stems: tuple[str, ...]) -> bool | None:
    """Whether a record's JSON text holds a member :func:`redact` may replace under a key with
    one of ``stems`` (``lowered``: the text lowercased), read off the text where each stem
    occurs, whatever the spacing: no need to serialise the record again. None when an escaped
    quote next to a stem makes the text ambiguous (the caller then looks at the compact JSON).

    In JSON text every quote inside a string is escaped, so the nearest quotes around an
    occurrence, when neither is escaped, bound the string it is in; a string followed by a
    colon is a key.
    """
    if len(lowered) != len(payload):  # a letter whose lowercase is longer: positions differ
        return None
    for stem in stems:
        position = lowered.find(stem)
        while position >= 0:
            start = payload.rfind('"', 0, position)
            end = payload.find('"', position + len(stem))
            if start < 0 or end < 0 or payload[start - 1] == "\\" or payload[end - 1] == "\\":
                return None
            after = _AFTER_KEY.match(payload, end + 1)
            if after is not None and _secret_member(payload[start + 1 : end], after.group(1)):
                return True
            position = lowered.find(stem, end + 1)
    return False


def _secret_member(key: str, starts: str) -> bool:
    """Whether the member ``key`` whose value starts with ``starts`` may hold a secret."""
    return (
        key in REDACTED_KEYS
        or (starts == "{" and key in REDACTED_MAPS)
        or (starts == "[" and key in REDACTED_NAME_VALUE_LISTS)
        or (starts == '"' and key.lower().endswith(PASSWORD_SUFFIX))
    )


def _held_in_json(value: Any, stems: tuple[str, ...]) -> bool:
    """:func:`_held_in_text` read off the compact JSON of ``value`` (a value orjson cannot
    serialise is taken to hold a secret: the caller redacts and compares, which is exact)."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return True
    return _secret_member_in(text, stems)


def _secret_member_in(text: bytes, stems: tuple[str, ...]) -> bool:
    """Whether compact JSON ``text`` holds a member :func:`redact` may replace, among those
    under the keys of ``stems`` (every key holding a secret contains one of the stems). A key
    whose text only looks like one ("a\\"key") makes the caller redact and compare: exact."""
    for stem in stems:
        if any(member in text for member in _STEM_MEMBERS[stem]):
            return True
    return PASSWORD_SUFFIX in stems and _PASSWORD_MEMBER in text.lower()


def redact_record(payload: str, value: Any, salt: bytes) -> tuple[str, Any]:
    """A received record as it may be landed: ``(payload, value)`` with secrets redacted.

    A record with no secret in it (nearly all) is returned as it is, byte for byte; one with a
    secret (a session token in an AssumeRole answer, user data, a password) is its redacted
    JSON, in its own key order. Redacting an already redacted record changes nothing.
    """
    if value is None or not _may_hold_secret(payload, value):
        return payload, value
    redacted = redact(value, salt)
    if redacted == value:
        return payload, value
    return orjson.dumps(redacted, option=orjson.OPT_NON_STR_KEYS).decode(), redacted


def _may_hold_secret(payload: str, value: Any) -> bool:
    """Whether a record holds a member :func:`redact` may replace (the caller redacts and
    compares, which is exact): natively where that can answer, else read off the text."""
    held = _SCREEN(payload)
    if held is not None:
        return held
    if "\\u" in payload:  # an escape may spell a key ("pass\\u0077ord"): look for every stem
        return _held_in_json(value, _STEMS)
    lowered = payload.lower()
    stems = _stems_in(lowered)
    if not stems:
        return False
    # the names matched may be labels ("env": "prod") or longer names: look at the members
    held = _held_in_text(payload, lowered, stems)
    return _held_in_json(value, stems) if held is None else held
