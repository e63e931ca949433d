"""Names: eventSource per service, IAM prefix, CFN namespaces, verbs, nouns, stems, key casing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from botocore.model import ServiceModel

from resolvers.aws.catalog_gen.sources import metadata, service_name

READ_VERBS = (
    "Describe", "Get", "List", "Search", "Query", "Scan", "Head", "Check", "Test", "Validate",
    "Lookup", "Preview", "Estimate", "Simulate", "Evaluate", "Detect", "Download", "Select",
    "Filter", "BatchGet", "BatchDescribe", "Poll", "Retrieve", "Count", "Calculate", "Compare",
    "Explain", "Discover", "View", "Lookup",
)  # fmt: skip
CREATE_VERBS = (
    "Create", "Run", "Allocate", "Register", "Import", "Copy", "Launch", "Provision",
    "Restore", "Purchase", "Clone", "Request",
)  # fmt: skip
DELETE_VERBS = (
    "Delete",
    "Terminate",
    "Deregister",
    "Release",
    "Deprovision",
    "Unregister",
    "Destroy",
)
SUFFIXES = ("withpath", "identifiers", "identifier", "names", "name", "arns", "arn", "ids", "id")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+")


def event_source(model: ServiceModel, overrides: Mapping[str, str]) -> str:
    """The CloudTrail eventSource of a service: its endpoint prefix (``api.`` stripped)."""
    if service_name(model) in overrides:
        return overrides[service_name(model)]
    prefix = metadata(model)["endpointPrefix"].removeprefix("api.")
    return f"{prefix}.amazonaws.com"


def iam_prefix(model: ServiceModel, known: Iterable[str], overrides: Mapping[str, str]) -> str:
    """The IAM action prefix of a service ('' when the SAR has none)."""
    if service_name(model) in overrides:
        return overrides[service_name(model)]
    known_set = set(known)
    md = metadata(model)
    for candidate in (md.get("signingName"), md["endpointPrefix"], service_name(model)):
        if candidate and candidate in known_set:
            return candidate
    return ""


def norm(text: str) -> str:
    """Lower-case, without separators: the form in which names are compared."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def words(name: str) -> list[str]:
    """CamelCase words of an operation or member name."""
    return _CAMEL.findall(name)


def verb(operation: str) -> str:
    """The leading verb of an operation name (``BatchGet`` counts as one verb)."""
    parts = words(operation)
    if len(parts) > 1 and parts[0] == "Batch":
        return "Batch" + parts[1]
    return parts[0] if parts else operation


def noun(operation: str) -> str:
    """The operation name without its verb, normalised (``CreateDBInstance`` -> ``dbinstance``)."""
    return norm(operation[len(verb(operation)) :])


PREPOSITIONS = frozenset({"From", "To", "With", "For", "In", "On", "Read", "At"})


def noun_core(operation: str) -> str:
    """The noun up to a preposition (``RestoreDBInstanceFromDBSnapshot`` -> ``dbinstance``)."""
    parts = words(operation)[1:]
    if parts and words(operation)[0] == "Batch":
        parts = parts[1:]
    core = []
    for part in parts:
        if part in PREPOSITIONS and core:
            break
        core.append(part)
    return norm("".join(core))


def singular(text: str) -> str:
    """A normalised word without a plural ending."""
    if text.endswith("ies"):
        return text[:-3] + "y"
    if text.endswith(("sses", "xes")):
        return text[:-2]
    if text.endswith("s") and not text.endswith("ss"):
        return text[:-1]
    return text


def stem(name: str) -> str:
    """A member or ARN variable name without its identifier suffix (``DBInstanceIdentifier``)."""
    text = norm(name)
    changed = True
    while changed:
        changed = False
        for suffix in SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
                break
    return text


def lower_first(name: str) -> str:
    """CloudTrail's request/response key casing: the member name with its first letter lowered."""
    return name[:1].lower() + name[1:]


def pascal(text: str) -> str:
    """``security-group`` -> ``SecurityGroup`` (for synthesised type names)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)
