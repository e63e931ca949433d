"""Reading secret-bearing and volatile members off JSON text, without walking the document.

Two checks run on every record and configuration, so they read text rather than walk parsed
values: whether a received record's text holds a member that redaction may replace
(:func:`record_may_hold_secret`, for ``canonical.redact_record``), and which members of a
configuration's compact JSON are secret-bearing or volatile (:func:`config_members`, for
``canonical.canonicalize``). Both only decide whether the exact path (redact and compare, the
documents' own walk) must run: a wrong "may" costs time, never a result, while a wrong "no"
would store a secret. The native helpers (resolvers/native) do each in one pass of the bytes
and must answer exactly as the Python here, which answers without them (tests/test_native.py
holds them to it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from resolvers.native.load import native
from resolvers.secret_fields import (
    PASSWORD_SUFFIX,
    REDACTED_KEYS,
    REDACTED_MAPS,
    REDACTED_NAME_VALUE_LISTS,
    VOLATILE_KEYS,
)

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
VOLATILE_CONTAINERS = _members(VOLATILE_KEYS, b"{[")  # volatile, holding more than a scalar
_PASSWORD_MEMBER = PASSWORD_SUFFIX.encode() + b'":"'
_SCALAR = rb'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[-+.\w]+)'  # a string, a number, true, false, null


@functools.lru_cache(maxsize=256)
def _scalar_members(keys: frozenset[bytes]) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """Patterns of the members under ``keys`` with a scalar value: after a comma, and first in
    their object (then with the comma after them)."""
    member = b'"(?:' + b"|".join(re.escape(k) for k in sorted(keys)) + b')":' + _SCALAR
    return re.compile(b"," + member + b"(?=[,}])"), re.compile(b"{" + member + b"(?:,|(?=}))")


def _secret_in(text: bytes, members: set[bytes]) -> bool:
    """Whether compact JSON ``text`` (its ``members``) may hold a value redaction replaces."""
    return not members.isdisjoint(_SECRET_MEMBERS) or _PASSWORD_MEMBER in text.lower()


def _native_member_scan() -> Callable[[bytes], tuple[bool, set[bytes]]] | None:
    """:func:`config_members` in one native pass (resolvers/native), or None without it."""
    module = native()
    if module is None:
        return None
    scan = module.MemberScan(sorted(_SECRET_MEMBERS), sorted(_VOLATILE_MEMBERS), _PASSWORD_MEMBER)
    return scan.scan


_MEMBER_SCAN = _native_member_scan()


def config_members(text: bytes) -> tuple[bool, set[bytes]]:
    """Of a configuration's compact JSON ``text``: whether it may hold a value redaction
    replaces, and its volatile members (each as ``key":`` and its value's first byte)."""
    if _MEMBER_SCAN is not None:
        return _MEMBER_SCAN(text)
    members = set(_MEMBER.findall(text))
    return _secret_in(text, members), members & _VOLATILE_MEMBERS


def without_volatile(text: bytes, volatile: set[bytes]) -> bytes:
    """Canonical JSON ``text`` minus its volatile members (whose values are scalars)."""
    later, first = _scalar_members(frozenset(member[:-3] for member in volatile))
    return first.sub(b"{", later.sub(b"", text))


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


def _native_screen() -> Callable[[str], bool | None] | None:
    """The record check below in one native pass (resolvers/native): ``_stems_in`` and
    :func:`_held_in_text`, answering the same, or None where the Python must look (a character
    outside ASCII, a ``\\u`` escape, an escaped quote next to a stem); None without it."""
    module = native()
    if module is None:
        return None
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
    """Whether a record's JSON text holds a member redaction may replace under a key with
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
    """Whether compact JSON ``text`` holds a member redaction may replace, among those
    under the keys of ``stems`` (every key holding a secret contains one of the stems). A key
    whose text only looks like one ("a\\"key") makes the caller redact and compare: exact."""
    for stem in stems:
        if any(member in text for member in _STEM_MEMBERS[stem]):
            return True
    return PASSWORD_SUFFIX in stems and _PASSWORD_MEMBER in text.lower()


def record_may_hold_secret(payload: str, value: Any) -> bool:
    """Whether a received record (its text and parsed value) holds a member redaction may
    replace (the caller redacts and compares, which is exact): natively where that can answer,
    else read off the text."""
    held = None if _SCREEN is None else _SCREEN(payload)
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
