"""ARN building for catalog entries: identifier values in, canonical ARNs out (pure functions)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
FIXED = frozenset({"Partition", "Region", "Account"})


@functools.lru_cache(maxsize=256)
def partition(region: str | None) -> str:
    """The AWS partition of a region (``aws`` when unknown; regions are few: cached)."""
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    if region and region.startswith("us-iso"):
        return "aws-iso-b" if region.startswith("us-isob") else "aws-iso"
    return "aws"


def scalar_values(found: Any) -> list[str]:
    """The non-empty strings (and numbers) in a JMESPath result, nested lists flattened."""
    if type(found) is str:  # the usual case first
        return [found] if found and found != "HIDDEN_DUE_TO_SECURITY_REASONS" else []
    if found is None:
        return []
    if isinstance(found, list):
        return [v for item in found for v in scalar_values(item)]
    if isinstance(found, bool):
        return []
    if isinstance(found, Mapping):  # EC2's wrapped form: {"tag": 1, "content": "fl-..."}
        return scalar_values(found.get("content"))
    if isinstance(found, int | float):
        return [str(found)]
    if isinstance(found, str) and found and found != "HIDDEN_DUE_TO_SECURITY_REASONS":
        return [found]
    return []


def id_value(value: str) -> str:
    """An identifier as the template wants it: the last segment of a URL (SQS ``QueueUrl``)."""
    if value.startswith(("https://", "http://")):
        return value.rstrip("/").rsplit("/", 1)[-1]
    return value


def template_vars(template: str) -> list[str]:
    """The variables of an ARN template an event must supply."""
    return list(_compiled(template)[0])


@functools.lru_cache(maxsize=4096)
def _compiled(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the variables an event must supply, the template split at its variables): literal
    text at even indexes, variable names at odd ones. Templates are few: cached."""
    needed = tuple(v for v in dict.fromkeys(_VAR.findall(template)) if v not in FIXED)
    return needed, tuple(_VAR.split(template))


def alternatives(template: str) -> list[str]:
    """The templates of a SAR ``arn`` field (some list two, comma-separated)."""
    return list(_alternatives(template))


@functools.lru_cache(maxsize=4096)
def _alternatives(template: str) -> tuple[str, ...]:
    """:func:`alternatives`, cached (templates are few)."""
    return tuple(part.strip() for part in template.split(",") if part.strip())


def fillable(template: str, variables: set[str] | frozenset[str]) -> bool:
    """Whether some alternative of a template needs only these variables."""
    return any(set(template_vars(alt)) <= variables for alt in alternatives(template))


def fill(
    template: str, values: Mapping[str, Sequence[str]], account: str | None, region: str | None
) -> list[str]:
    """The ARNs of the first alternative template whose variables all have values."""
    for alternative in _alternatives(template):
        arns = _fill_one(alternative, values, account, region)
        if arns:
            return arns
    return []


def _fill_one(
    template: str, values: Mapping[str, Sequence[str]], account: str | None, region: str | None
) -> list[str]:
    """Every ARN one template yields: one per value of the (single) multi-valued variable."""
    needed, pieces = _compiled(template)
    columns: list[Sequence[str]] = []
    width = 1  # the longest column
    for var in needed:
        options = values.get(var)
        if not options:
            return []
        columns.append(options)
        if len(options) > width:
            width = len(options)
    if not template:
        return []
    fixed = {"Partition": partition(region), "Region": region or "", "Account": account or ""}
    arns = []
    for index in range(width):
        row = fixed.copy()
        for var, options in zip(needed, columns, strict=True):
            value = id_value(options[index] if len(options) == width else options[0])
            row[var] = value.lstrip("/") if var.endswith("WithoutLeadingSlash") else value
        if needed and row[needed[-1]].startswith("arn:"):
            arns.append(row[needed[-1]])
            continue
        parts = list(pieces)
        for at in range(1, len(parts), 2):  # the variables' places
            parts[at] = row[parts[at]]
        arns.append("".join(parts))
    return arns if len(arns) == 1 else list(dict.fromkeys(arns))


_PLAUSIBLE = re.compile(r"^arn:aws(-[a-z-]+)?:[a-z0-9-]+:[a-z0-9-]*:(\d{12}|aws)?:[^\s$]+$")


def plausible(arn: str) -> bool:
    """Whether a string is shaped like a real ARN (partition, service, account, resource)."""
    return bool(_PLAUSIBLE.match(arn)) and "${" not in arn


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the ARNs one template describes (variables match one segment or more)."""
    parts = _VAR.split(template)
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(re.escape(part))
        else:
            out.append(r"[^:]*" if part in FIXED else r".+")
    return re.compile("".join(out) + "$")


def arn_service(arn: str) -> str:
    """The service field of an ARN (``arn:aws:ec2:...`` -> ``ec2``)."""
    parts = arn.split(":", 3)
    return parts[2] if len(parts) > 3 else ""
