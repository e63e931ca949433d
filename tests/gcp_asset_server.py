"""A local Cloud Asset Inventory AssetService for tests: the real ListAssets RPC over gRPC.

No emulator exists for this API, so the tests run this one: the service and method names come
from the metadata that ships with google-cloud-asset, requests and responses are its own
protobuf messages (``google.cloud.asset.v1.ListAssetsRequest`` / ``ListAssetsResponse``), and the
assets are the corpus's real CAI snapshots. It implements what a scanner relies on:

- ``parent``: ``projects/P`` holds the assets of project P (the project in the asset's name,
  else its first project ancestor, else its resource parent's); ``folders/F`` and
  ``organizations/O`` hold every asset (the server models one organization);
- ``asset_types`` (exact names, or RE2-style patterns such as ``compute.googleapis.com.*``);
- ``content_type`` RESOURCE, IAM_POLICY (assets that have one) or unspecified (names only);
- ``read_time``: assets as they stood then (the store keeps every state with its time); not in
  the future, not older than 35 days; the response says which instant it read;
- paging: ``page_size`` (default 100, at most 1000) and opaque ``page_token``s that pin the
  snapshot and are refused for another request.

Faults: an injected status for some calls (PERMISSION_DENIED for a project, UNAVAILABLE a few
times then success, a failure in the middle of paging), and a stall point that holds a call
until released (to kill a scanner halfway).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import grpc
from google.cloud.asset_v1 import types as asset_types
from google.iam.v1 import policy_pb2
from google.protobuf import json_format

from resolvers.demo_snapshots import load_snapshots
from resolvers.timeutil import isoformat, utcnow

AssetPb = asset_types.Asset.pb()
RequestPb = asset_types.ListAssetsRequest.pb()
ResponsePb = asset_types.ListAssetsResponse.pb()
RESOURCE = asset_types.ContentType.RESOURCE.value
IAM_POLICY = asset_types.ContentType.IAM_POLICY.value
UNSPECIFIED = asset_types.ContentType.CONTENT_TYPE_UNSPECIFIED.value
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_AGE = dt.timedelta(days=35)
CLOCK_SKEW = dt.timedelta(seconds=2)
_PROJECT_IN_NAME = re.compile(r"/projects/([^/]+)")


def service_name() -> str:
    """``google.cloud.asset.v1.AssetService``, from the metadata google-cloud-asset ships."""
    text = resources.files("google.cloud.asset_v1").joinpath("gapic_metadata.json").read_text()
    metadata = json.loads(text)
    if "ListAssets" not in metadata["services"]["AssetService"]["clients"]["grpc"]["rpcs"]:
        raise RuntimeError("google-cloud-asset no longer lists AssetService.ListAssets")
    return f"{metadata['protoPackage']}.AssetService"


def pubsub_asset(asset: Mapping[str, Any]) -> dict[str, Any]:
    """An Asset as a Pub/Sub feed message carries it (proto3 JSON): the corpus writes some IAM
    policies with enum numbers and empty etags, which proto3 JSON writes as names and omits."""
    document = dict(asset)
    if "iamPolicy" in document:
        policy = json_format.ParseDict(document["iamPolicy"], policy_pb2.Policy())
        document["iamPolicy"] = json_format.MessageToDict(policy)
    return document


def feed_message(
    asset: Mapping[str, Any] | None,
    name: str,
    at: dt.datetime,
    prior: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A TemporalAsset as Pub/Sub delivers it: ``asset`` at ``at``, or (``asset`` None) the
    deletion of ``prior``."""
    window = {"startTime": isoformat(at)}
    if asset is None:
        if prior is None:
            raise ValueError("a deletion message carries the prior asset")
        deleted = {"name": name, "assetType": prior["assetType"]}
        return {
            "asset": deleted, "window": window, "deleted": True,
            "priorAssetState": "PRESENT", "priorAsset": pubsub_asset(prior),
        }  # fmt: skip
    return {"asset": pubsub_asset(asset), "window": window, "priorAssetState": "PRESENT"}


@dataclass
class _State:
    at: dt.datetime
    document: dict[str, Any] | None
    proto: Any = None  # an Asset message, None for a deletion


class AssetStore:
    """Every asset's states in time order (thread-safe): what the server reads snapshots of."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: dict[str, list[_State]] = {}
        self._projects: dict[str | None, set[str]] = {}  # names by project, deleted ones too
        self.variants: dict[str, list[dict[str, Any]]] = {}  # other corpus states by name

    @classmethod
    def from_corpus(cls, corpus_dir: Path, at: dt.datetime) -> AssetStore:
        """The corpus's CAI snapshots (their first state), all present since ``at``."""
        store = cls()
        for name, states in load_snapshots(corpus_dir).items():
            store.put(states[0], at)
            store.variants[name] = states[1:]
        return store

    def put(self, asset: Mapping[str, Any], at: dt.datetime | None = None) -> None:
        """A new state of an asset (a camelCase Asset document) from ``at`` (default now)."""
        document = json.loads(json.dumps(asset))
        proto = json_format.ParseDict(document, AssetPb())
        self._append(document["name"], _State(at or utcnow(), document, proto))

    def delete(self, name: str, at: dt.datetime | None = None) -> None:
        """The asset is gone from ``at`` (default now)."""
        self._append(name, _State(at or utcnow(), None))

    def _append(self, name: str, state: _State) -> None:
        with self._lock:
            states = self._history.setdefault(name, [])
            states.append(state)
            states.sort(key=lambda item: item.at)
            if state.proto is not None:
                state.proto.update_time.FromDatetime(state.at)
                self._projects.setdefault(project_of(state.proto), set()).add(name)

    def document(self, name: str) -> dict[str, Any] | None:
        """The asset's latest state (None if deleted)."""
        with self._lock:
            return self._history[name][-1].document

    def snapshot(self, read_time: dt.datetime, project: str | None = None) -> list[Any]:
        """The Asset messages present at ``read_time`` (of one project), by name."""
        with self._lock:
            names = self._history if project is None else self._projects.get(project, ())
            found = []
            for name in sorted(names):
                state = _state_at(self._history[name], read_time)
                if state is None or state.proto is None:
                    continue
                if project is None or project_of(state.proto) == project:
                    found.append(state.proto)
            return found

    def names(self, project: str | None = None) -> list[str]:
        """The names present now (of one project)."""
        present = self.snapshot(utcnow())
        return [a.name for a in present if project is None or project_of(a) == project]

    def projects(self) -> list[str]:
        """The projects that hold an asset now."""
        return sorted({p for a in self.snapshot(utcnow()) if (p := project_of(a)) is not None})


def _state_at(states: list[_State], read_time: dt.datetime) -> _State | None:
    """The state in force at ``read_time`` (states are in time order)."""
    found = None
    for state in states:
        if state.at > read_time:
            break
        found = state
    return found


def project_of(asset: Any) -> str | None:
    """The project an Asset message belongs to: its name's, else its ancestors', else its
    resource parent's."""
    found = _PROJECT_IN_NAME.search(asset.name)
    if found:
        return found.group(1)
    for ancestor in asset.ancestors:
        if ancestor.startswith("projects/"):
            return ancestor.split("/", 1)[1]
    parent = asset.resource.parent
    return parent.rsplit("/", 1)[1] if "/projects/" in parent else None


@dataclass
class Fault:
    """An injected failure: ``times`` matching calls end with ``code``."""

    code: grpc.StatusCode
    times: int = 1
    parent: str | None = None  # only calls for this parent
    mid_paging: bool = False  # only calls that carry a page token

    def matches(self, request: Any) -> bool:
        """Whether this fault applies to a request (and still has calls to fail)."""
        if self.times <= 0 or (self.parent is not None and request.parent != self.parent):
            return False
        return bool(request.page_token) or not self.mid_paging


@dataclass
class AssetService:
    """The AssetService's ListAssets, over an :class:`AssetStore`."""

    store: AssetStore
    faults: list[Fault] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    stall_parent: str | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, code: grpc.StatusCode, times: int = 1, **where: Any) -> Fault:
        """Fail the next ``times`` matching calls with ``code``."""
        fault = Fault(code, times, **where)
        self.faults.append(fault)
        return fault

    def stall_on(self, parent: str) -> None:
        """Hold the first call for ``parent`` until :attr:`release` is set."""
        self.stall_parent = parent

    def ListAssets(self, request: Any, context: grpc.ServicerContext) -> Any:
        """One page of the assets under the request's parent."""
        with self._lock:
            self.requests.append(request)
            fault = next((f for f in self.faults if f.matches(request)), None)
            if fault is not None:
                fault.times -= 1
        if self.stall_parent == request.parent and not self.stalled.is_set():
            self.stalled.set()
            self.release.wait(timeout=60)
        if fault is not None:
            context.abort(fault.code, f"injected {fault.code.name} for {request.parent}")
        return self._page(request, context)

    def _page(self, request: Any, context: grpc.ServicerContext) -> Any:
        _check(request, context)
        read_time, offset = self._position(request, context)
        kind, _, value = request.parent.partition("/")
        in_parent = self.store.snapshot(read_time, value if kind == "projects" else None)
        found = [
            asset for asset in in_parent
            if _of_types(asset, request.asset_types) and _has_content(asset, request.content_type)
        ]  # fmt: skip
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        response = ResponsePb()
        response.read_time.FromDatetime(read_time)
        for asset in found[offset : offset + size]:
            response.assets.append(_content(asset, request.content_type))
        if offset + size < len(found):
            response.next_page_token = _token(request, read_time, offset + size)
        return response

    def _position(self, request: Any, context: grpc.ServicerContext) -> tuple[dt.datetime, int]:
        """The snapshot instant and the offset of the page asked for."""
        if request.page_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(request.page_token))
                if token["request"] != _fingerprint(request):
                    raise ValueError("page token of another request")
                return dt.datetime.fromisoformat(token["read_time"]), int(token["offset"])
            except (ValueError, KeyError, TypeError) as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid page_token: {exc}")
        now = utcnow()
        if not request.HasField("read_time"):
            return now, 0
        read_time = request.read_time.ToDatetime(tzinfo=dt.UTC)
        if read_time > now + CLOCK_SKEW or read_time < now - MAX_AGE:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "read_time must be between the current time and 35 days ago",
            )
        return read_time, 0


def _check(request: Any, context: grpc.ServicerContext) -> None:
    for pattern in request.asset_types:
        try:
            re.compile(pattern)
        except re.error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid asset type {pattern!r}")
    if not re.fullmatch(r"(projects|folders|organizations)/[^/]+", request.parent):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid parent {request.parent!r}")
    if request.content_type not in (RESOURCE, IAM_POLICY, UNSPECIFIED):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "content type not served by this server")
    if request.page_size < 0:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_size must not be negative")


def _fingerprint(request: Any) -> str:
    what = [request.parent, request.content_type, *request.asset_types]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def _token(request: Any, read_time: dt.datetime, offset: int) -> str:
    token = {"request": _fingerprint(request), "read_time": read_time.isoformat(), "offset": offset}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _of_types(asset: Any, patterns: Any) -> bool:
    """Whether the asset's type matches one of the patterns (a plain type matches itself)."""
    return not patterns or any(re.fullmatch(p, asset.asset_type) for p in patterns)


def _has_content(asset: Any, content_type: int) -> bool:
    if content_type == RESOURCE:
        return asset.HasField("resource")
    if content_type == IAM_POLICY:
        return asset.HasField("iam_policy")
    return True


def _content(asset: Any, content_type: int) -> Any:
    """The asset as ListAssets returns it for one content type."""
    result = AssetPb(name=asset.name, asset_type=asset.asset_type, ancestors=asset.ancestors)
    result.update_time.CopyFrom(asset.update_time)
    if content_type == RESOURCE:
        result.resource.CopyFrom(asset.resource)
    elif content_type == IAM_POLICY:
        result.iam_policy.CopyFrom(asset.iam_policy)
    return result


@dataclass(frozen=True)
class RunningServer:
    """A started server: its ``host:port``, the service (faults, requests) and the store."""

    endpoint: str
    service: AssetService
    store: AssetStore


@contextmanager
def serve(store: AssetStore, workers: int = 4) -> Iterator[RunningServer]:
    """Serve ``store`` on 127.0.0.1 at a free port until the block ends."""
    service = AssetService(store)
    handler = grpc.method_handlers_generic_handler(
        service_name(),
        {
            "ListAssets": grpc.unary_unary_rpc_method_handler(
                service.ListAssets,
                request_deserializer=RequestPb.FromString,
                response_serializer=ResponsePb.SerializeToString,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield RunningServer(f"127.0.0.1:{port}", service, store)
    finally:
        service.release.set()
        server.stop(grace=None).wait()
