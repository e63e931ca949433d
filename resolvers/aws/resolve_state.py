"""State from the events alone (``--offline``): what a CloudTrail event says about an asset.

An observation must be a whole state, never a patch (docs/resolution.md explains why):

* a creation whose response returns the resource (RunInstances' items, CreateRole's ``role``)
  is the asset's first state; where it returns no document, the creation's parameters are;
* a deletion is a deleted observation;
* a sub-document written whole (a bucket policy, a public access block, an inline IAM policy,
  a Lambda permission statement, a queue attribute) is the whole state of that sub-document,
  observed under its own key ``PARENT#fragment[/name]`` (:data:`SUBDOCS`); removing it is a
  deleted observation of that key;
* anything else (a tag added, a rule authorized, an attribute modified) changes the asset in a
  way the event does not fully describe: asset_changes records it, no version is invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.aws.resolve_subdocs import (
    JSON_SCALARS,
    SUBDOCS,
    Parts,
    is_mapping,
    request_of,
    response_of,
    without,
)
from resolvers.aws.resolve_targets import Target

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


def subdocument_parts(detail: Mapping[str, Any], source: str, name: str) -> tuple[str, Parts]:
    """(fragment, parts) of a sub-document event, or ("", []) for any other event."""
    spec = SUBDOCS.get((source, name))
    if spec is None:
        return "", []
    fragment, extract = spec
    parts = [(suffix, value) for suffix, value in extract(detail) if not _hidden(value)]
    return fragment, parts


def _hidden(value: Any) -> bool:
    """CloudTrail did not say what the value is: no state can be observed."""
    if isinstance(value, Mapping):
        return any(item == HIDDEN for item in value.values())
    return value is None or value == HIDDEN


# -- creations --------------------------------------------------------------------------------
def creation_document(detail: Mapping[str, Any], target: Target) -> dict[str, Any]:
    """The first state of a created asset, as its creation event knows it."""
    response = without(response_of(detail))
    asset_id = resource_id(target.asset_key)
    item = _item_with(response, asset_id, depth=3)
    if item is not None:
        return dict(item)
    documents = [v for v in response.values() if is_mapping(v)]
    scalars = [k for k, v in response.items() if not (isinstance(v, list) or is_mapping(v))]
    if len(documents) == 1 and len(scalars) <= 1 and len(documents[0]) > 1:
        return dict(documents[0])
    return {**without(request_of(detail)), **response}


def _item_with(value: Any, asset_id: str, depth: int) -> Mapping[str, Any] | None:
    """The mapping in a list that names ``asset_id`` (RunInstances' instancesSet items)."""
    if depth < 0:
        return None
    if isinstance(value, list):
        for item in value:
            if is_mapping(item) and asset_id in item.values():
                return item
        children = value
    elif is_mapping(value):
        children = value.values()
    else:
        return None
    if depth == 0:  # the children's own search would stop at once
        return None
    for child in children:
        if type(child) not in JSON_SCALARS:  # a leaf holds no item
            found = _item_with(child, asset_id, depth - 1)
            if found is not None:
                return found
    return None


def resource_id(asset_key: str) -> str:
    """The last identifier of a key: ``...:instance/i-1`` -> ``i-1``, ``...:db:x`` -> ``x``."""
    resource = asset_key.split(":", 5)[-1]
    return resource.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
