"""SNS topics: ``{"Attributes": <GetTopicAttributes Attributes>}`` with ``Policy`` parsed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from resolvers.aws.types.api import jsonable, parse_policy, require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.spec import Reader, TypeSpec, calls


def normalize_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``{"Attributes": ...}`` with ``Policy`` parsed from its JSON text."""
    found = jsonable(attributes)
    if "Policy" in found:
        found["Policy"] = parse_policy(found["Policy"])
    return {"Attributes": found}


def read_topic(reader: Reader, account: str, region: str, arn: str) -> dict[str, Any]:
    """One topic by ARN."""
    answer = reader.client("sns", region).get_topic_attributes(TopicArn=arn)
    return normalize_attributes(require(answer, "Attributes", "GetTopicAttributes"))


def attribute(name: str, operation: str) -> Callable[..., str]:
    """A key function reading one attribute of an ``{"Attributes": ...}`` document."""

    def read(config: Mapping[str, Any], *_: str) -> str:
        return str(require(config.get("Attributes"), name, operation))

    return read


TOPIC = ids_spec(
    type_name="AWS::SNS::Topic",
    service="sns",
    list_ids=listed_ids("sns", "ListTopics", "Topics", "TopicArn"),
    read=read_topic,
    key=attribute("TopicArn", "GetTopicAttributes"),
    normalize=normalize_attributes,
    calls=calls("sns", "ListTopics", "GetTopicAttributes"),
    identifier=lambda key: key,
    name=lambda config: str(config["Attributes"]["TopicArn"]).rsplit(":", 1)[-1],
    description="an SNS topic and its attributes",
)


SPECS: tuple[TypeSpec, ...] = (TOPIC,)
