"""SQS queues: ``{"Attributes": <GetQueueAttributes Attributes (All)>}`` with ``Policy`` parsed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from resolvers.aws.types.api import require
from resolvers.aws.types.generic import ids_spec, listed_ids
from resolvers.aws.types.sns import attribute, normalize_attributes
from resolvers.aws.types.spec import Reader, TypeSpec, calls


def list_queue_names(reader: Reader, account: str, region: str) -> Iterator[str]:
    """The names of the region's queues (from their URLs)."""
    for url in listed_ids("sqs", "ListQueues", "QueueUrls")(reader, account, region):
        yield url.rstrip("/").rsplit("/", 1)[-1]


def read_queue(reader: Reader, account: str, region: str, name: str) -> dict[str, Any]:
    """One queue by name (its URL from GetQueueUrl)."""
    client = reader.client("sqs", region)
    url = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    answer = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return normalize_attributes(require(answer, "Attributes", "GetQueueAttributes"))


QUEUE = ids_spec(
    type_name="AWS::SQS::Queue",
    service="sqs",
    list_ids=list_queue_names,
    read=read_queue,
    key=attribute("QueueArn", "GetQueueAttributes"),
    normalize=normalize_attributes,
    calls=calls("sqs", "ListQueues", "GetQueueUrl", "GetQueueAttributes"),
    identifier=lambda key: key.rsplit(":", 1)[-1],
    name=lambda config: str(config["Attributes"]["QueueArn"]).rsplit(":", 1)[-1],
    description="an SQS queue and its attributes",
)

SPECS: tuple[TypeSpec, ...] = (QUEUE,)
