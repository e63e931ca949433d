"""A readable structural diff of two JSON documents, and of two consecutive asset versions.

Each difference is one :class:`Change` with a path such as
``resource.data.iamConfiguration.uniformBucketLevelAccess.enabled`` and renders as
``path: old -> new`` (``(absent)`` where a side has no value). Lists are aligned element by
element (an inserted rule does not show every later rule as changed). Redacted secrets render as
their marker, so a changed secret reads ``path: <redacted> -> <redacted>``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from resolvers.canonical import canonical_json
from resolvers.secret_fields import REDACTION_MARKER

ABSENT = "(absent)"
MAX_VALUE_WIDTH = 120
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two documents at one path."""

    path: str
    kind: str  # 'added' | 'removed' | 'changed'
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        old = ABSENT if self.kind == "added" else render_value(self.old)
        new = ABSENT if self.kind == "removed" else render_value(self.new)
        return f"{self.path or '(document)'}: {old} -> {new}"


def render_value(value: Any, width: int = MAX_VALUE_WIDTH) -> str:
    """A value as compact JSON (a secret as its marker), cut to ``width`` with an ellipsis."""
    if isinstance(value, str) and value.startswith(REDACTION_MARKER):
        return REDACTION_MARKER
    text = canonical_json(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def child_path(path: str, key: str | int) -> str:
    """``path.key``, ``path["odd key"]`` or ``path[3]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{orjson.dumps(key).decode()}]"


def _same(old: Any, new: Any) -> bool:
    # 1 == 1.0 == True in Python; JSON tells them apart, and so must the diff.
    return type(old) is type(new) and old == new


def diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """Every difference between two JSON documents, in path order."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return _diff_mappings(old, new, path)
    if isinstance(old, list) and isinstance(new, list):
        return _diff_lists(old, new, path)
    return [] if _same(old, new) else [Change(path, "changed", old, new)]


def _diff_mappings(old: Mapping[str, Any], new: Mapping[str, Any], path: str) -> list[Change]:
    changes: list[Change] = []
    for key in sorted(old.keys() | new.keys(), key=str):
        where = child_path(path, str(key))
        if key not in old:
            changes.append(Change(where, "added", new=new[key]))
        elif key not in new:
            changes.append(Change(where, "removed", old=old[key]))
        else:
            changes.extend(diff(old[key], new[key], where))
    return changes


def _diff_lists(old: Sequence[Any], new: Sequence[Any], path: str) -> list[Change]:
    if len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True)):
        return []
    matcher = difflib.SequenceMatcher(
        a=[canonical_json(item) for item in old],
        b=[canonical_json(item) for item in new],
        autojunk=False,
    )
    changes: list[Change] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and a1 - a0 == b1 - b0:
            for offset in range(a1 - a0):
                changes.extend(
                    diff(old[a0 + offset], new[b0 + offset], child_path(path, b0 + offset))
                )
            continue
        changes.extend(Change(child_path(path, i), "removed", old=old[i]) for i in range(a0, a1))
        changes.extend(Change(child_path(path, i), "added", new=new[i]) for i in range(b0, b1))
    return changes


@dataclass(frozen=True, slots=True)
class VersionState:
    """What a version of an asset holds that a reader compares: name, tags, config, deletion."""

    name: str | None
    tags: str | None  # JSON object
    config: str | None  # canonical JSON
    is_deleted: bool


def version_changes(
    previous: VersionState | None, current: VersionState, last_live: VersionState | None = None
) -> list[str]:
    """What changed from one version to the next, as readable lines.

    ``last_live`` is the last version before ``current`` that was not a deletion: a re-created
    asset is compared with what it was before it was deleted.
    """
    if current.is_deleted:
        return ["deleted"]
    if previous is None:
        return ["created"]
    head: list[str] = []
    base = previous
    if previous.is_deleted:
        head = ["re-created"]
        if last_live is None:
            return head
        base = last_live
    lines = [str(change) for change in _state_diff(base, current)]
    return head + (lines or ([] if head else ["(no change to name, tags or config)"]))


def _state_diff(old: VersionState, new: VersionState) -> list[Change]:
    changes = [] if old.name == new.name else [Change("name", "changed", old.name, new.name)]
    changes += diff(_loads(old.tags), _loads(new.tags), "tags")
    changes += diff(_loads(old.config), _loads(new.config))
    return changes


def _loads(document: str | None) -> Any:
    if not document:
        return {}
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:
        return document  # not JSON: compared as one opaque value
