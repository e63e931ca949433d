"""GCP full scans: Cloud Asset Inventory ``ListAssets``, merged into the same history as the feed.

A scan lists every asset under each parent (``projects/P``, ``folders/F``, ``organizations/O``)
twice, with content types RESOURCE and IAM_POLICY, all at one read time, and merges the two
per asset name into the Asset a feed message carries (``resource`` and ``iamPolicy``). Each
asset then becomes an observation through :func:`resolvers.gcp.asset_feed.asset_observation`,
the feed's own mapping, so an asset state gets the same config and hash whichever path saw it.
``resource.data`` is a protobuf Struct, whose numbers are doubles: integral ones are written as
integers, as Google's JSON (the feed's Pub/Sub messages) writes them.

Parents are listed a few at a time (``concurrency``) and merged as they finish. Transient
gRPC errors (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) are retried with exponential
backoff; a parent that still fails, or is denied, is a failed scope: reported in
``scan_reports`` and never a reason to delete (see :mod:`resolvers.scan_scope`). A project scope
covers its project under every account id its assets have in the lake (the project id in
compute names, the project number in ancestors). An organization or folder scan is split into
one scope per project it found; assets outside any project are observed but never deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry, if_exception_type
from google.cloud.asset_v1 import (
    AssetServiceClient,
    ContentType,
    ListAssetsRequest,
    ListAssetsResponse,
)
from google.protobuf import json_format

from resolvers.errors import AssetlakeError
from resolvers.gcp.asset_feed import asset_observation
from resolvers.lake.storage import Lake
from resolvers.model import Observation
from resolvers.scan_scope import (
    COMMIT_EVERY,
    COMPLETE,
    DENIED,
    FAILED,
    ScanMerge,
    ScanReport,
    Scope,
)
from resolvers.timeutil import utcnow

CLOUD = "gcp"
CONTENT_TYPES = (ContentType.RESOURCE, ContentType.IAM_POLICY)
CONTENT_FIELDS = ("resource", "iamPolicy")
TRANSIENT = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.ResourceExhausted,
)
MAX_PAGE_SIZE = 1000
READ_TIME_MARGIN = dt.timedelta(seconds=1)  # a read time a little behind ours: clock skew
MAX_EXACT_DOUBLE = 2**53


@dataclass(frozen=True, slots=True)
class GcpScanTarget:
    """What to scan: projects, folders, organizations, and the asset types (none: all)."""

    projects: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    asset_types: tuple[str, ...] = ()

    def parents(self) -> list[str]:
        """The ListAssets parents, ``projects/P``, ``folders/F``, ``organizations/O``."""
        kinds = (("projects", self.projects), ("folders", self.folders))
        kinds += (("organizations", self.organizations),)
        parents = [_prefixed(kind, value) for kind, values in kinds for value in values]
        return list(dict.fromkeys(parents))  # each once, in the order given


@dataclass(frozen=True, slots=True)
class GcpScanOptions:
    """How to scan: endpoint, read time, paging, retries, commit size."""

    endpoint: str | None = None  # host:port of a test server (insecure, anonymous)
    read_time: dt.datetime | None = None  # default: now, less a margin for clock skew
    page_size: int = MAX_PAGE_SIZE
    retry_initial: float = 1.0  # seconds before the first retry; doubles up to retry_maximum
    retry_maximum: float = 32.0
    retry_timeout: float = 300.0  # give a page up after this long
    call_timeout: float = 60.0
    commit_every: int = COMMIT_EVERY
    concurrency: int = 4  # parents listed at once


@dataclass(frozen=True, slots=True)
class ScopeProgress:
    """One parent listed: what a progress line shows."""

    parent: str
    status: str
    assets: int
    api_calls: int
    error: str | None = None


@dataclass(slots=True)
class Listing:
    """Every asset under one parent at the read time, both content types merged by name."""

    parent: str
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    api_calls: int = 0
    status: str = COMPLETE
    error: str | None = None


def make_client(endpoint: str | None = None) -> AssetServiceClient:
    """An AssetService client: Application Default Credentials, or a test server's endpoint
    (``host:port``) over an insecure channel with anonymous credentials."""
    if endpoint is None:
        from google.auth.exceptions import DefaultCredentialsError

        try:
            return AssetServiceClient()
        except DefaultCredentialsError as exc:
            raise AssetlakeError(
                "no Google credentials: run `gcloud auth application-default login` or set "
                "GOOGLE_APPLICATION_CREDENTIALS"
            ) from exc
    import grpc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.asset_v1.services.asset_service.transports import (
        AssetServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(endpoint)
    transport = AssetServiceGrpcTransport(channel=channel, credentials=AnonymousCredentials())
    return AssetServiceClient(transport=transport)


def scan_gcp(
    lake: Lake,
    target: GcpScanTarget,
    options: GcpScanOptions | None = None,
    *,
    client: AssetServiceClient | None = None,
    progress: Callable[[ScopeProgress], None] | None = None,
) -> ScanReport:
    """Scan the target's parents at one read time and merge what they hold into the lake."""
    options = options or GcpScanOptions()
    parents = target.parents()
    if not parents:
        raise AssetlakeError("nothing to scan: give a project, a folder or an organization")
    read_time = options.read_time or utcnow() - READ_TIME_MARGIN
    client = client or make_client(options.endpoint)
    merge = ScanMerge(
        lake, cloud=CLOUD, scan_id=scan_id(target, read_time), read_time=read_time,
        commit_every=options.commit_every,
    )  # fmt: skip
    for listing in _listings(client, parents, target.asset_types, read_time, options):
        _merge_listing(merge, listing, target.asset_types, read_time, lake.salt)
        if progress is not None:
            count, calls, error = len(listing.assets), listing.api_calls, listing.error
            progress(ScopeProgress(listing.parent, listing.status, count, calls, error))
    return merge.finish()


def scan_gcp_project(
    lake: Lake, project: str, types: Sequence[str] = (), endpoint: str | None = None
) -> ScanReport:
    """One project's scan, as a partitioned (per project) scan job runs it."""
    target = GcpScanTarget(projects=(project,), asset_types=tuple(types))
    return scan_gcp(lake, target, GcpScanOptions(endpoint=endpoint))


def scan_id(target: GcpScanTarget, read_time: dt.datetime) -> str:
    """A scan's id: its read time and what it covers (the same scan again: the same id)."""
    what = "\n".join([*target.parents(), "", *sorted(target.asset_types)])
    digest = hashlib.sha256(what.encode()).hexdigest()[:8]
    return f"gcp-scan-{read_time.strftime('%Y%m%dT%H%M%S.%fZ')}-{digest}"


# -- listing ----------------------------------------------------------------------------------
def _listings(
    client: AssetServiceClient,
    parents: Sequence[str],
    asset_types: Sequence[str],
    read_time: dt.datetime,
    options: GcpScanOptions,
) -> Iterator[Listing]:
    """The parents' listings as they finish, ``options.concurrency`` at a time."""
    pool = ThreadPoolExecutor(max_workers=max(1, options.concurrency))
    try:
        running = [
            pool.submit(list_parent, client, parent, asset_types, read_time, options)
            for parent in parents
        ]
        for done in as_completed(running):
            yield done.result()
    finally:  # a scan stopped halfway lists no further parents
        pool.shutdown(wait=False, cancel_futures=True)


def list_parent(
    client: AssetServiceClient,
    parent: str,
    asset_types: Sequence[str],
    read_time: dt.datetime,
    options: GcpScanOptions,
) -> Listing:
    """Every asset under ``parent`` at ``read_time``; a denied or failing parent is reported
    in the listing's status (its assets then stand for nothing)."""
    listing = Listing(parent)

    def count_retry(_exc: Exception) -> None:
        listing.api_calls += 1

    retry = Retry(
        predicate=if_exception_type(*TRANSIENT), initial=options.retry_initial,
        maximum=options.retry_maximum, multiplier=2.0, timeout=options.retry_timeout,
        on_error=count_retry,
    )  # fmt: skip
    try:
        for content_type in CONTENT_TYPES:
            request = ListAssetsRequest(
                parent=parent, asset_types=list(asset_types), content_type=content_type,
                page_size=min(options.page_size, MAX_PAGE_SIZE), read_time=read_time,
            )  # fmt: skip
            pager = client.list_assets(request=request, retry=retry, timeout=options.call_timeout)
            for page in pager.pages:
                listing.api_calls += 1
                _add_page(listing.assets, ListAssetsResponse.pb(page))
    except api_exceptions.PermissionDenied as exc:
        listing.status, listing.error = DENIED, _error_text(exc)
    except (api_exceptions.GoogleAPICallError, api_exceptions.RetryError) as exc:
        listing.status, listing.error = FAILED, _error_text(exc)
    return listing


def _add_page(assets: dict[str, dict[str, Any]], page: Any) -> None:
    """Merge one page's assets into ``assets`` (by name: resource and IAM policy together)."""
    for asset in page.assets:
        document = asset_json(asset)
        assets.setdefault(asset.name, {}).update(document)


def asset_json(asset: Any) -> dict[str, Any]:
    """An Asset message as the feed's JSON (camelCase): name, type, content, ancestors."""
    document: dict[str, Any] = {"name": asset.name, "assetType": asset.asset_type}
    if asset.HasField("resource"):
        document["resource"] = _resource_json(asset.resource)
    if asset.HasField("iam_policy"):
        document["iamPolicy"] = json_format.MessageToDict(asset.iam_policy)
    if asset.ancestors:
        document["ancestors"] = list(asset.ancestors)
    return document


def _resource_json(resource: Any) -> dict[str, Any]:
    """A Resource message as JSON; ``data`` (a Struct) through :func:`struct_json`."""
    document: dict[str, Any] = {}
    for descriptor, value in resource.ListFields():
        if descriptor.name == "data":
            document["data"] = struct_json(value)
        elif descriptor.message_type is None:
            document[descriptor.json_name] = value
        else:
            document[descriptor.json_name] = json_format.MessageToDict(value)
    return document


def struct_json(struct: Any) -> dict[str, Any]:
    """A Struct as JSON, with integral numbers as integers (``5``, not ``5.0``) as Google's own
    JSON (the feed's Pub/Sub messages) writes them."""
    return {key: _value_json(value) for key, value in struct.fields.items()}


def _value_json(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < MAX_EXACT_DOUBLE else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_json(value.struct_value)
    if kind == "list_value":
        return [_value_json(item) for item in value.list_value.values]
    return None


def _error_text(exc: Exception) -> str:
    if isinstance(exc, api_exceptions.RetryError) and exc.cause is not None:
        return f"gave up retrying: {_error_text(exc.cause)}"
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        code = exc.grpc_status_code.name if exc.grpc_status_code else type(exc).__name__
        return f"{code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


# -- merging ----------------------------------------------------------------------------------
def _merge_listing(
    merge: ScanMerge,
    listing: Listing,
    asset_types: Sequence[str],
    read_time: dt.datetime,
    salt: bytes,
) -> None:
    """Hand a listing to the merge: as one project scope, or as one scope per project found."""
    types = tuple(sorted(asset_types)) or None
    if listing.status != COMPLETE:
        scope = Scope(CLOUD, _account_label(listing.parent), listing.parent, resource_types=types)
        merge.failed(scope, listing.status, listing.error or "", listing.api_calls)
        return
    observations = [
        asset_observation(
            name, asset["assetType"], asset, read_time, (), salt, change_source="scan"
        )
        for name, asset in sorted(listing.assets.items())
    ]
    for scope, members in _scopes(listing.parent, observations, types):
        merge.complete(scope, members, listing.api_calls)


def _scopes(
    parent: str, observations: list[Observation], types: tuple[str, ...] | None
) -> Iterable[tuple[Scope, list[Observation]]]:
    accounts = {obs.account_id for obs in observations if obs.account_id}
    if parent.startswith("projects/"):
        project = _account_label(parent)
        yield Scope(CLOUD, project, parent, frozenset(accounts), None, types), observations
        return
    for account in sorted(accounts):
        members = [obs for obs in observations if obs.account_id == account]
        label = f"{parent}:projects/{account}"
        yield Scope(CLOUD, account, label, frozenset(), None, types), members
    outside = [obs for obs in observations if not obs.account_id]
    if outside:  # organizations, folders, org policies: no project to hold them
        yield Scope(CLOUD, parent, parent, frozenset(), None, types, deletes=False), outside


def _account_label(parent: str) -> str:
    kind, _, value = parent.partition("/")
    return value if kind == "projects" else parent


def _prefixed(kind: str, value: str) -> str:
    value = value.strip()
    return value if value.startswith(f"{kind}/") else f"{kind}/{value}"
