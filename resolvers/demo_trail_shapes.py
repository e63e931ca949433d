"""CloudTrail's shapes of a call's request and answer, from botocore's service model.

* request parameters: lowerCamel member names (map keys as given), sensitive values hidden,
  blobs left out; EC2's lists as ``{"items": [...]}`` under their ``...Set`` names (RunInstances'
  image and counts in ``instancesSet``); S3's ``bucketName``, ``Host``, headers by their names,
  the sub-resource flag and the XML body (``PublicAccessBlockConfiguration`` with ``xmlns``), a
  bucket policy parsed (``bucketPolicy``);
* response elements where CloudTrail records them: lowerCamel (EC2: the XML names, lists as
  items, ``requestId``, ``_return``; RDS: the one resource flattened); none for S3; secrets
  omitted. Times in answers move with the simulated clock (:attr:`Call.shift`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.model import Shape

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
# EC2 request members CloudTrail names after the XML element, and their scalar items' names
EC2_SETS = {
    "instanceIds": ("instancesSet", "instanceId"),
    "resources": ("resourcesSet", "resourceId"),
    "tags": ("tagSet", None),
    "tagSpecifications": ("tagSpecificationSet", None),
    "securityGroupIds": ("groupSet", "groupId"),
    "userIdGroupPairs": ("groups", None),
}
RUN_INSTANCES_ITEM = ("imageId", "minCount", "maxCount", "keyName")
S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


def lower_camel(name: str) -> str:
    """``DBInstanceIdentifier`` -> ``dBInstanceIdentifier`` (CloudTrail's rule: first letter)."""
    return name[:1].lower() + name[1:]


def _ser(shape: Any) -> Mapping[str, Any]:
    """A shape's serialization settings (location, name, payload, flattened)."""
    return getattr(shape, "serialization", None) or {}


def _meta(shape: Any) -> Mapping[str, Any]:
    """A shape's metadata (``sensitive``)."""
    return getattr(shape, "metadata", None) or {}


def _member(shape: Any, name: str) -> Any:
    """A structure's member shape, or None."""
    return (getattr(shape, "members", None) or {}).get(name)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call: what was asked, what came back, when (simulated) and where."""

    model: Any  # botocore's OperationModel (its cached properties defeat the type checker)
    params: Mapping[str, Any]
    parsed: Mapping[str, Any]
    when: dt.datetime
    region: str

    @property
    def operation(self) -> str:
        """The API's operation name (``PutPublicAccessBlock``)."""
        return str(self.model.name)

    @property
    def input_shape(self) -> Shape | None:
        """The request's shape in the service model."""
        return self.model.input_shape

    @property
    def output_shape(self) -> Shape | None:
        """The answer's shape in the service model."""
        return self.model.output_shape

    @property
    def http(self) -> Mapping[str, Any]:
        """The operation's HTTP binding (``requestUri`` with an S3 sub-resource)."""
        return dict(self.model.http)

    @property
    def service(self) -> str:
        """The endpoint prefix (``ec2``, ``s3``, ``iam``, ...)."""
        return str(self.model.service_model.endpoint_prefix)

    @property
    def protocol(self) -> str:
        """The wire protocol (``ec2``, ``rest-xml``, ``query``, ``json``, ``rest-json``)."""
        return str(self.model.metadata["protocol"])

    @property
    def request_id(self) -> str:
        """The answer's request id (a fresh one where moto answers with a placeholder)."""
        found = str((self.parsed.get("ResponseMetadata") or {}).get("RequestId") or "")
        return found if len(found) >= 32 else str(uuid.uuid5(uuid.NAMESPACE_OID, repr(self)))

    @property
    def shift(self) -> dt.timedelta:
        """How far the simulated time is from the real call (times in answers move by it)."""
        return self.when - dt.datetime.now(dt.UTC)


# -- request parameters ------------------------------------------------------------------------
def request_parameters(call: Call) -> dict[str, Any]:
    """``requestParameters`` as CloudTrail writes them for this protocol."""
    shape = call.input_shape
    if shape is None:
        return {}
    if call.protocol == "rest-xml":
        return s3_request(call)
    if call.protocol == "ec2":
        return ec2_request(call.operation, shape, call.params)
    return _plain(shape, call.params, call.shift)


def _plain(shape: Shape, value: Any, shift: dt.timedelta, ec2: bool = False) -> Any:
    """A value in CloudTrail's JSON: lowerCamel members, secrets hidden, blobs left out."""
    if _meta(shape).get("sensitive"):
        return HIDDEN
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        return _members(shape, value, shift, ec2)
    if kind == "list" and isinstance(value, list):
        items = [_plain(shape.member, item, shift, ec2) for item in value]  # type: ignore[attr-defined]
        return ({"items": items} if items else {}) if ec2 else items
    if kind == "map" and isinstance(value, Mapping):
        return {k: _plain(shape.value, v, shift, ec2) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "timestamp" and isinstance(value, dt.datetime):
        return _time(value + shift, ec2)
    return value


def _members(shape: Shape, value: Mapping[str, Any], shift: dt.timedelta, ec2: bool) -> dict:
    out: dict[str, Any] = {}
    for name, item in value.items():
        member = _member(shape, name)
        if member is None or name == "ResponseMetadata" or member.type_name == "blob":
            continue
        key = lower_camel(_ser(member).get("name", name) if ec2 else name)
        out[key] = _plain(member, item, shift, ec2)
    return out


def _time(value: dt.datetime, ec2: bool) -> Any:
    """EC2 writes epoch milliseconds; IAM, KMS, RDS and the others a US-style date."""
    value = value.astimezone(dt.UTC)
    if ec2:
        return int(value.timestamp() * 1000)
    return value.strftime("%b %-d, %Y %-I:%M:%S %p")


def ec2_request(operation: str, shape: Shape, params: Mapping[str, Any]) -> dict[str, Any]:
    """EC2's request: lowerCamel, lists as items under their ``...Set`` names."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        member = _member(shape, name)
        if member is None:
            continue
        key = lower_camel(name)
        set_name, item_name = EC2_SETS.get(key, (key, None))
        if member.type_name == "list":
            items = [_ec2_item(member.member, item, item_name) for item in value]
            out[set_name] = {"items": items} if items else {}
        else:
            out[key] = _ec2_value(member, value)
    if operation == "RunInstances":
        first = {k: out.pop(k) for k in RUN_INSTANCES_ITEM if k in out}
        out = {"instancesSet": {"items": [first]}, **out}
    return out


def _ec2_item(shape: Shape, value: Any, item_name: str | None) -> Any:
    if shape.type_name != "structure":
        return {item_name or lower_camel(_ser(shape).get("name", "item")): value}
    item = _ec2_value(shape, value)
    if "tagSet" in item and "resourceType" in item:  # a TagSpecification: tags as a plain list
        item["tags"] = item.pop("tagSet").get("items", [])
    return item


def _ec2_value(shape: Shape, value: Any) -> Any:
    if shape.type_name == "structure" and isinstance(value, Mapping):
        return ec2_request("", shape, value)
    return _plain(shape, value, dt.timedelta(0))


def s3_request(call: Call) -> dict[str, Any]:
    """S3's request: bucketName, Host, headers by their names, the XML body, the flag."""
    shape, params = call.input_shape, call.params
    payload = _ser(shape).get("payload")
    out: dict[str, Any] = {}
    for name, value in params.items():
        member = _member(shape, name)
        if member is None or name in ("ContentMD5", "ChecksumAlgorithm"):
            continue
        where = _ser(member).get("location")
        if name == "Bucket":
            out["bucketName"] = value
        elif where in ("header", "querystring"):
            out[_ser(member).get("name", name)] = value
        elif where == "uri":
            out[lower_camel(name)] = value
        elif name == payload and name == "Policy":
            out["bucketPolicy"] = orjson.loads(value)
        elif name == payload:
            root = _ser(member).get("name", name)
            out[root] = {"xmlns": S3_XMLNS, **_xml(member, value)}
    out["Host"] = f"{params.get('Bucket', '')}.s3.amazonaws.com".lstrip(".")
    _, _, flag = str(call.http.get("requestUri", "")).partition("?")
    if flag:
        out[flag.split("&", 1)[0].split("=", 1)[0]] = ""
    return out


def _xml(shape: Shape, value: Any) -> Any:
    """An XML body as CloudTrail renders it: element names, one child or a list of them."""
    if shape.type_name == "structure" and isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, item in value.items():
            member = _member(shape, name)
            if member is None:
                continue
            key = _ser(member).get("name", name)
            if member.type_name == "list" and not _ser(member).get("flattened"):
                inner = _ser(member.member).get("name", "member")  # type: ignore[attr-defined]
                out[key] = {inner: _xml(member, item)}
            else:
                out[key] = _xml(member, item)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        items = [_xml(shape.member, item) for item in value]  # type: ignore[attr-defined]
        return items[0] if len(items) == 1 else items
    return value


# -- response elements -------------------------------------------------------------------------
def response_elements(call: Call) -> dict[str, Any] | None:
    """``responseElements``: what CloudTrail keeps of the answer (None where it keeps none)."""
    shape = call.output_shape
    if call.service == "s3" or shape is None:
        return None
    body = {k: v for k, v in call.parsed.items() if k != "ResponseMetadata"}
    if call.protocol == "ec2":
        out = _plain(shape, body, call.shift, ec2=True)
        if "return" in out:
            out["_return"] = out.pop("return")
        return {"requestId": call.request_id, **out}
    out = _plain(shape, body, call.shift)
    if call.service == "rds" and len(out) == 1 and isinstance(next(iter(out.values())), dict):
        out = next(iter(out.values()))  # CloudTrail flattens RDS's one-resource answers
    return _without_hidden(out) or None


def _without_hidden(value: Any) -> Any:
    """Secrets in answers are left out of the record (an access key's secret, credentials)."""
    if isinstance(value, dict):
        return {k: _without_hidden(v) for k, v in value.items() if v != HIDDEN}
    if isinstance(value, list):
        return [_without_hidden(item) for item in value]
    return value
