"""Identifier extractors: JMESPath into requestParameters / responseElements, per protocol.

The four protocol rules: EC2 lists are ``<name>Set.items[].<itemName>`` (and outputs use the
shape's XML ``locationName``); S3's ``Bucket`` is ``bucketName``; generic ``*Arn`` /
``resourceArn`` members carry whole ARNs; other keys are the member name with its first
letter lowered. Query-protocol responses appear both wrapped and unwrapped (IAM vs RDS).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from botocore.model import OperationModel, Shape, StructureShape

from resolvers.aws.catalog_gen.naming import lower_first, norm, singular, stem
from resolvers.aws.catalog_gen.sources import (
    input_shape,
    metadata,
    op_name,
    output_shape,
    serialization,
)

ARN = "arn"  # the pseudo-variable of extractors that yield whole ARNs
FIXED_VARS = frozenset({"Partition", "Region", "Account"})
GENERIC_ARN = frozenset({"resourcearn", "arn", "resourcename", "resource", "resourcearns"})
GENERIC_IDS = frozenset({"name", "id", "identifier", "ids", "names"})
MAX_PER_VAR = 5
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def template_vars(arn_template: str) -> list[str]:
    """The variables of an ARN template that an event must supply (not partition/region/account)."""
    seen: list[str] = []
    for var in _VAR.findall(arn_template):
        if var not in FIXED_VARS and var not in seen:
            seen.append(var)
    return seen


class Paths:
    """Renders member paths as CloudTrail writes them, for one operation's protocol."""

    def __init__(self, op: OperationModel, service: str) -> None:
        self.protocol = metadata(op)["protocol"]
        self.service = service
        self.operation = op_name(op)

    def request(self, member: str, shape: Shape) -> list[str]:
        """Paths of a request member (several candidates for EC2 lists)."""
        if self.service in ("s3", "s3control") and member == "Bucket":
            return ["requestParameters.bucketName"]
        key = lower_first(member)
        wrapper = f"requestParameters.{self.operation}Request"
        if shape.type_name != "list":
            paths = [f"requestParameters.{key}"]
            return [*paths, f"{wrapper}.{member}"] if self.protocol == "ec2" else paths
        if self.protocol != "ec2":
            return [f"requestParameters.{key}[]"]
        wire = serialization(shape).get("name") or singular(member)
        base = lower_first(re.sub(r"(Ids|Names|Arns|s)$", "", member))
        sets = dict.fromkeys([f"{key}Set", f"{base}sSet", f"{base}Set", f"{base}IdSet"])
        paths = [f"requestParameters.{name}.items[].{lower_first(wire)}" for name in sets]
        return [*paths, f"{wrapper}.{wire}"]

    def response_key(self, member: str, shape: Shape) -> str:
        """The response key of an output member (EC2: its XML locationName)."""
        if self.protocol == "ec2":
            return serialization(shape).get("name") or lower_first(member)
        return lower_first(member)

    def response_suffix(self, shape: Shape) -> str:
        """What follows a list-valued response key."""
        if shape.type_name != "list":
            return ""
        return ".items[]" if self.protocol == "ec2" else "[]"


def _match(
    member: str, var: str, aliases: Sequence[str], generic_ok: bool, type_stems: set[str]
) -> int:
    """How well a member names an ARN variable: 3 exact/alias, 2 same stem (or the type's
    stem ending the variable's, ``ClusterId`` for ``CloudHsmClusterInstanceName``), 1 a
    generic ``Name``/``Id`` of an op that names the type, 0 no."""
    key = norm(member)
    if key == norm(var.removesuffix("WithPath")) or key in {norm(a) for a in aliases}:
        return 3
    member_stem = stem(member)
    if not key.endswith("arn") and member_stem == stem(var):
        return 2
    if not key.endswith("arn") and member_stem in type_stems and stem(var).endswith(member_stem):
        return 2
    return 1 if generic_ok and key in GENERIC_IDS else 0


def _scalar(shape: Shape) -> bool:
    """Identifiers are strings or numbers, or lists of them."""
    if shape.type_name == "list":
        return _scalar(shape.member)  # type: ignore[attr-defined]
    return shape.type_name in ("string", "integer", "long")


def _is_arn_member(member: str, type_stems: set[str]) -> bool:
    """Whether a member carries a whole ARN of the target (``PolicyArn``) or of anything."""
    key = norm(member)
    return key in GENERIC_ARN or (key.endswith(("arn", "arns")) and stem(member) in type_stems)


def _members(shape: Shape | None) -> Iterator[tuple[str, Shape]]:
    if isinstance(shape, StructureShape):
        yield from sorted(cast(dict[str, Shape], shape.members).items())


Candidate = tuple[str, str, Shape, str]  # path, member, shape, parent member ('' at top level)


def _response_members(op: OperationModel, paths: Paths) -> Iterator[Candidate]:
    """Output members at the top level and one level below; EC2 also in its wrapper form."""
    roots = ["responseElements"]
    if paths.protocol == "ec2":
        roots.append(f"responseElements.{op_name(op)}Response")
    tops = list(_members(output_shape(op)))
    flat = paths.protocol == "query" and len(tops) == 1  # IAM nests the result, RDS does not
    for root in roots:
        wrapped = root != "responseElements"  # EC2's wrapped lists are "<name>.item"
        for member, shape in tops:
            tail = _tail(paths, shape, wrapped)
            prefix = f"{root}.{paths.response_key(member, shape)}{tail}"
            yield prefix, member, shape, ""
            inner = shape.member if shape.type_name == "list" else shape  # type: ignore[attr-defined]
            for sub, sub_shape in _members(inner):
                sub_key = paths.response_key(sub, sub_shape)
                sub_tail = "" if wrapped else paths.response_suffix(sub_shape)
                yield f"{prefix}.{sub_key}{sub_tail}", sub, sub_shape, member
                if flat and shape.type_name == "structure":
                    yield f"{root}.{sub_key}{sub_tail}", sub, sub_shape, member


def _tail(paths: Paths, shape: Shape, wrapped: bool) -> str:
    if wrapped:
        return ".item" if shape.type_name == "list" else ""
    return paths.response_suffix(shape)


def extractors(
    op: OperationModel,
    service: str,
    arn_template: str,
    type_stems: set[str],
    exact: bool,
    var_aliases: Mapping[str, Sequence[str]],
) -> list[list[str]]:
    """Ordered ``[variable, path]`` candidates: whole-ARN members first, then each variable's."""
    paths = Paths(op, service)
    request = [(p, m, s, "") for m, s in _members(input_shape(op)) for p in paths.request(m, s)]
    response = list(_response_members(op, paths))
    found: list[list[str]] = []
    for path, member, _, parent in request + response:
        nested_ok = not parent or stem(parent) in type_stems or norm(parent) in type_stems
        if nested_ok and _is_arn_member(member, type_stems) and len(found) < MAX_PER_VAR:
            found.append([ARN, path])
    scalars = [c for c in request + response if _scalar(c[2])]
    for var in template_vars(arn_template):
        aliases = var_aliases.get(var, ())
        found.extend(_var_paths(var, scalars, aliases, exact, type_stems))
    return found


def _var_paths(
    var: str,
    candidates: Sequence[Candidate],
    aliases: Sequence[str],
    exact: bool,
    type_stems: set[str],
) -> list[list[str]]:
    scored = []
    for order, (path, member, _shape, _parent) in enumerate(candidates):
        score = _match(member, var, aliases, exact, type_stems)
        if score:
            scored.append((-score, order, path))
    scored.sort()
    return [[var, path] for _, _, path in scored[:MAX_PER_VAR]]


def summarize(ids: Sequence[Sequence[str]], arn_template: str) -> dict[str, Any]:
    """Whether the extractors can build an ARN: a whole-ARN path, or every template variable."""
    variables = {var for var, _ in ids}
    needed = set(template_vars(arn_template))
    return {"arn": ARN in variables, "filled": bool(arn_template) and needed <= variables}
