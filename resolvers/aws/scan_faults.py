"""Fault injection for tests and the bench: botocore ``before-send`` hooks that answer in AWS's
place (throttling, access denied, malformed answers) or kill the caller midway.

    faults = FaultInjector(Fault("sqs", "ListQueues", throttled, times=2))
    AwsOptions(client_hooks=(faults,))  # every client the scan makes gets the hook
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse


class _Body:
    """A raw HTTP body for an AWSResponse built by hand."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        """The whole body at once."""
        yield self.data


def error_response(protocol: str, status: int, code: str, message: str) -> AWSResponse:
    """An AWS error answer in the wire format of ``protocol`` (ec2, query, rest-xml, json)."""
    headers: dict[str, str] = {"x-amzn-RequestId": "injected"}
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                "</Error></Errors><RequestID>injected</RequestID></Response>")  # fmt: skip
    elif protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>injected</RequestId>"
                "</ErrorResponse>")  # fmt: skip
    elif protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    else:  # json, rest-json
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message})
    return AWSResponse("https://injected", status, headers, _Body(body.encode()))


def raw_response(status: int, body: bytes) -> AWSResponse:
    """Any answer at all (a malformed one, for instance)."""
    return AWSResponse("https://injected", status, {}, _Body(body))


Responder = Callable[[str], "AWSResponse | None"]  # protocol -> answer (None: send for real)


@dataclass
class Fault:
    """Answer (or raise on) calls of one service operation, ``times`` times (None: always)."""

    service: str
    operation: str
    respond: Responder
    times: int | None = None
    region: str | None = None
    seen: int = 0


class FaultInjector:
    """A client hook: calls matching a :class:`Fault` get its answer instead of the server's."""

    def __init__(self, *faults: Fault) -> None:
        self.faults = list(faults)
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        """Register on one client (its service and region are known from here on)."""
        service = client.meta.service_model.service_name
        protocol = client.meta.service_model.protocol
        region = client.meta.region_name

        def before_send(event_name: str, **_: Any) -> AWSResponse | None:
            fault = self._take(service, event_name.rsplit(".", 1)[-1], region)
            return fault.respond(protocol) if fault is not None else None

        client.meta.events.register("before-send", before_send)

    def _take(self, service: str, operation: str, region: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                matches = fault.service == service and fault.operation in (operation, "*")
                if matches and fault.region in (None, region):
                    if fault.times is not None and fault.seen >= fault.times:
                        continue
                    fault.seen += 1
                    return fault
        return None


def throttled(protocol: str) -> AWSResponse:
    """AWS's throttling answer (retried by botocore)."""
    code = "RequestLimitExceeded" if protocol == "ec2" else "ThrottlingException"
    return error_response(protocol, 400, code, "Rate exceeded")


def denied(protocol: str) -> AWSResponse:
    """AWS's access-denied answer."""
    code = {"ec2": "UnauthorizedOperation", "query": "AccessDenied", "rest-xml": "AccessDenied"}
    return error_response(protocol, 403, code.get(protocol, "AccessDeniedException"), "denied")


def garbage(protocol: str) -> AWSResponse:
    """A 200 answer that no parser accepts."""
    del protocol
    return raw_response(200, b"<<<this is not a response>>>")


class ScanKilled(BaseException):
    """Raised by :func:`kill` to stop a scan midway (like a signal would)."""


def kill(protocol: str) -> AWSResponse:
    """Stop the caller: the scan dies in the middle of a scope."""
    raise ScanKilled(f"killed in a {protocol} call")
