"""CloudTrail for the demo's emulated account: the record of every boto3 call, as AWS writes it.

A :class:`TrailRecorder` hooks a boto3 client (``before-parameter-build`` keeps the caller's
parameters, ``after-call`` sees the operation and the parsed answer) and turns each call into
the EventBridge event "AWS API Call via CloudTrail", which it hands to a sink (the demo's SQS
queue). The record is shaped as CloudTrail writes it (eventVersion 1.08, userIdentity of an IAM
user or an assumed role, requestParameters and responseElements from botocore's service model:
:mod:`resolvers.demo_trail_shapes`); a failed call gives ``errorCode`` / ``errorMessage``.

Event times come from a :class:`SimClock`: the calls happen now, in order, and their events
are spread over the past hours in that same order (times in the answers move with them).
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resolvers.demo_trail_shapes import Call, request_parameters, response_elements

READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup")
# operations whose CloudTrail eventName differs from the API's operation name
EVENT_NAMES = {
    ("s3", "PutPublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "DeleteBucketPublicAccessBlock",
    ("s3", "GetPublicAccessBlock"): "GetBucketPublicAccessBlock",
    ("lambda", "CreateFunction"): "CreateFunction20150331",
    ("lambda", "AddPermission"): "AddPermission20150331v2",
    ("lambda", "UpdateFunctionConfiguration"): "UpdateFunctionConfiguration20150331v2",
}
Event = dict[str, Any]


class SimClock:
    """Simulated event times: monotone, seeded steps between calls, never past real now."""

    def __init__(
        self, start: dt.datetime, seed: int = 11, now: Callable[[], dt.datetime] | None = None
    ) -> None:
        self.current = start.replace(microsecond=0)
        self.rng = random.Random(seed)
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def pause(self, minutes: float) -> None:
        """Let time pass between two acts of the story."""
        self.current += dt.timedelta(minutes=minutes)

    def tick(self) -> dt.datetime:
        """The time of the next call (a few seconds to a minute after the previous one)."""
        self.current += dt.timedelta(seconds=self.rng.randint(3, 50))
        ceiling = self._now().replace(microsecond=0) - dt.timedelta(seconds=2)
        self.current = min(self.current, ceiling)
        return self.current


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a call: CloudTrail's userIdentity, and where the call comes from."""

    name: str
    identity: Mapping[str, Any]
    user_agent: str
    source_ip: str
    console: bool = False

    @property
    def arn(self) -> str:
        """The principal's ARN as CloudTrail names it."""
        return str(self.identity.get("arn", ""))


@dataclass(slots=True)
class TrailRecorder:
    """Makes the CloudTrail event of every call of the clients it is attached to."""

    clock: SimClock
    account_id: str
    sink: Callable[[Event], None]
    events: list[Event] = field(default_factory=list)

    def attach(self, client: Any, principal: Principal) -> Any:
        """Record every call ``client`` makes, as ``principal``; returns the client."""
        events = client.meta.events
        events.register_first("before-parameter-build", _keep_params)
        region = client.meta.region_name

        def record(**kwargs: Any) -> None:
            self.record(principal, region, kwargs["model"], kwargs["context"], kwargs)

        events.register("after-call", record)
        return client

    def record(self, principal: Principal, region: str, model: Any,
               context: Mapping[str, Any], answer: Mapping[str, Any]) -> None:  # fmt: skip
        """Build the event of one call, keep it and send it to the sink."""
        when = self.clock.tick()
        parsed = answer.get("parsed") or {}
        call = Call(model, context.get("demo_params") or {}, parsed, when, region)
        event = eventbridge(cloudtrail_record(call, principal, self.account_id))
        self.events.append(event)
        self.sink(event)


def _keep_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["demo_params"] = copy.deepcopy(dict(params))


def cloudtrail_record(call: Call, who: Principal, account_id: str) -> Event:
    """The CloudTrail record of one call."""
    name = EVENT_NAMES.get((call.service, call.operation), call.operation)
    error = call.parsed.get("Error") if isinstance(call.parsed.get("Error"), Mapping) else None
    host = "s3.amazonaws.com" if call.service == "s3" else f"{call.service}.amazonaws.com"
    if call.service not in ("iam", "s3"):
        host = f"{call.service}.{call.region}.amazonaws.com"
    record: Event = {
        "eventVersion": "1.08",
        "userIdentity": _identity(who, call.when),
        "eventTime": call.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{call.service}.amazonaws.com",
        "eventName": name,
        "awsRegion": call.region,
        "sourceIPAddress": who.source_ip,
        "userAgent": who.user_agent,
        "requestParameters": request_parameters(call) or None,
        "responseElements": None if error else response_elements(call),
    }
    if error:
        record["errorCode"] = str(error.get("Code", ""))
        record["errorMessage"] = str(error.get("Message", ""))
    record |= {
        "requestID": call.request_id,
        "eventID": str(uuid.uuid4()),
        "readOnly": call.operation.startswith(READ_PREFIXES) or call.operation == "AssumeRole",
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host,
        },
    }
    if who.console:
        record["sessionCredentialFromConsole"] = "true"
    return record


def _identity(who: Principal, when: dt.datetime) -> dict[str, Any]:
    identity = copy.deepcopy(dict(who.identity))
    context = identity.get("sessionContext")
    if isinstance(context, dict) and isinstance(context.get("attributes"), dict):
        started = when - dt.timedelta(minutes=25)
        context["attributes"]["creationDate"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    return identity


def eventbridge(record: Event) -> Event:
    """The EventBridge event that carries a CloudTrail record."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + str(record["eventSource"]).split(".", 1)[0],
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
        "resources": [],
        "detail": record,
    }
