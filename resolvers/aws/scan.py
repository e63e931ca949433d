"""The AWS inventory scan: every scope read with the type specs, merged into the lake's history.

``scan_aws(lake, options)`` plans the scopes (account x region x type, see
:mod:`resolvers.aws.scan_plan`), reads them on a thread pool with at most ``max_per_account``
scopes at once per account and ``max_per_service`` per (account, service), and hands each
finished scope to :class:`resolvers.scan_scope.ScanMerge`, which turns it into observations
(``change_source='scan'``) and, once the whole scan is done, into scoped deletions.

Rules that make a scan safe to run next to the event streams (tests/test_aws_scan.py):

* Every observation of the scan is at one *read time*: the start of the scan, rounded down to
  the second and ``read_margin`` before it. CloudTrail's event times have one-second precision,
  so any change the scan may not have seen is timestamped at or after the read time and the
  SCD2 chain (ordered by time, not arrival) keeps the event's state as current.
* A scope that was denied, failed, or had an asset it could not read deletes nothing; a scan
  that stops halfway (killed, an exception) deletes nothing: deletions are planned only after
  every scope has finished.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from resolvers.aws.scan_plan import (
    ScanOptions,
    ScopeTask,
    accounts_of,
    chosen_specs,
    enabled_regions,
    scope_tasks,
)
from resolvers.aws.types.api import brief, error_code, is_denied
from resolvers.aws.types.session import AwsOptions, Sessions
from resolvers.aws.types.spec import Listed, MalformedResponse, Unreadable
from resolvers.errors import AssetlakeError
from resolvers.lake.storage import Lake
from resolvers.model import Observation, ResolvedBatch, Unresolved
from resolvers.observe import observation
from resolvers.scan_scope import COMPLETE, DENIED, FAILED, ScanMerge, ScanReport
from resolvers.timeutil import utcnow

SOURCE = "aws_scan"


@dataclass(frozen=True, slots=True)
class ScopeOutcome:
    """What reading one scope gave: observations, or a denial or failure, and the cost."""

    task: ScopeTask
    status: str
    observations: tuple[Observation, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()
    error: str | None = None
    api_calls: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a running scan is: scopes done of all, assets read so far, the last scope."""

    scopes_done: int
    scopes_total: int
    assets: int
    last: str


@dataclass(slots=True)
class AwsScanResult:
    """A finished scan: the merge's report, plus per-scope outcomes and totals."""

    report: ScanReport
    outcomes: list[ScopeOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def assets(self) -> int:
        """Assets read (observations made)."""
        return sum(len(outcome.observations) for outcome in self.outcomes)

    @property
    def api_calls(self) -> int:
        """HTTP requests the scopes sent (retries included)."""
        return sum(outcome.api_calls for outcome in self.outcomes)

    @property
    def errors(self) -> list[str]:
        """One line per scope that failed or was denied, and per asset that could not be read."""
        lines = [f"{o.task.scope.label}: {o.status}: {o.error}" for o in self.outcomes if o.error]
        lines += [
            f"{o.task.scope.label}: {item.identifier}: {item.reason}"
            for o in self.outcomes
            for item in o.unreadable
        ]
        return lines


class ScopeCalls:
    """A client hook counting HTTP requests per scope (the scope running on this thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, client: Any) -> None:
        """Register the counter on one client."""
        client.meta.events.register("before-send", self._count)

    def _count(self, **_: Any) -> None:
        counter = getattr(self._local, "counter", None)
        if counter is not None:
            counter[0] += 1

    @contextmanager
    def counting(self) -> Iterator[list[int]]:
        """Count this thread's requests into the yielded one-element list."""
        self._local.counter = counter = [0]
        try:
            yield counter
        finally:
            self._local.counter = None


def read_time_of(started: dt.datetime, margin_seconds: float) -> dt.datetime:
    """The scan's read time: its start rounded down to the second, ``margin`` before."""
    return started.replace(microsecond=0) - dt.timedelta(seconds=margin_seconds)


class AwsScan:
    """One scan run: sessions, scopes, the merge. Use :func:`scan_aws`."""

    def __init__(
        self,
        lake: Lake,
        options: ScanOptions,
        aws: AwsOptions | None = None,
        base: boto3.Session | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.lake, self.options, self.progress = lake, options, progress
        self.calls = ScopeCalls()
        aws = aws or AwsOptions()
        hooks = (*aws.client_hooks, self.calls)
        self.aws = replace(
            aws, client_hooks=hooks, role_name=options.role_name,
            max_attempts=options.max_attempts,
            endpoint_url=options.endpoint_url or aws.endpoint_url,
        )  # fmt: skip
        self.sessions = Sessions(self.aws, base)
        self.started = utcnow()
        self.read_time = read_time_of(self.started, options.read_margin)
        self.scan_id = f"aws-scan-{self.started.strftime('%Y%m%dT%H%M%S.%fZ')}"
        self.salt = lake.create().salt  # a first scan onboards: it makes the lake

    # -- planning -------------------------------------------------------------------------
    def plan(self) -> tuple[list[ScopeTask], list[ScopeOutcome]]:
        """The scopes to read, and the outcomes of accounts that could not even be planned."""
        specs = chosen_specs(self.options)
        tasks: list[ScopeTask] = []
        refused: list[ScopeOutcome] = []
        try:
            accounts = accounts_of(self.options, self.sessions)
        except (ClientError, BotoCoreError) as error:
            raise AssetlakeError(f"AWS: cannot tell which accounts to scan: {error}") from error
        for account in accounts:
            try:
                regions = list(self.options.regions) or enabled_regions(
                    self.sessions.reader(account)
                )
            except (ClientError, BotoCoreError) as error:
                status = DENIED if is_denied(error) else FAILED
                for task in scope_tasks(account, list(self.options.regions) or ["*"], specs):
                    refused.append(ScopeOutcome(task, status, error=_reason(error)))
                continue
            tasks.extend(scope_tasks(account, regions, specs))
        return tasks, refused

    # -- reading one scope (on a worker thread) ---------------------------------------------
    def read_scope(self, task: ScopeTask) -> ScopeOutcome:
        """List one scope to the end; a denial or failure is an outcome, not an exception."""
        begun = utcnow()
        with self.calls.counting() as calls:
            try:
                reader = self.sessions.reader(task.account)
                found = list(task.spec.list(reader, task.account, task.region))
            except (ClientError, BotoCoreError, ResponseParserError, MalformedResponse, KeyError,
                    TypeError) as error:  # fmt: skip
                status = DENIED if isinstance(error, ClientError) and is_denied(error) else FAILED
                return ScopeOutcome(task, status, error=_reason(error), api_calls=calls[0],
                                    seconds=_since(begun))  # fmt: skip
        listed = [item for item in found if isinstance(item, Listed)]
        unreadable = tuple(item for item in found if isinstance(item, Unreadable))
        observations = tuple(self._observation(task, item) for item in listed)
        return ScopeOutcome(
            task, COMPLETE, observations, unreadable, api_calls=calls[0], seconds=_since(begun)
        )

    def _observation(self, task: ScopeTask, item: Listed) -> Observation:
        spec = task.spec
        return observation(
            asset_key=item.asset_key, cloud="aws", resource_type=spec.type_name,
            config=item.config, event_time=self.read_time, event_ids=(), salt=self.salt,
            account_id=task.account, region=item.region, name=spec.name(item.config),
            tags=spec.tags(item.config), change_source="scan", observed_at=utcnow(),
        )  # fmt: skip

    # -- running --------------------------------------------------------------------------
    def run(self) -> AwsScanResult:
        """Read every scope, merge as scopes finish, delete only once all have finished."""
        merge = ScanMerge(
            self.lake, cloud="aws", scan_id=self.scan_id, read_time=self.read_time,
            commit_every=self.options.commit_every,
        )  # fmt: skip
        tasks, outcomes = self.plan()
        for outcome in outcomes:
            merge.failed(outcome.task.scope, outcome.status, outcome.error or "", 0)
        assets = 0
        for done, outcome in enumerate(self._execute(tasks), 1):
            outcomes.append(outcome)
            self._merge(merge, outcome)
            assets += len(outcome.observations)
            if self.progress is not None:
                self.progress(Progress(done, len(tasks), assets, outcome.task.scope.label))
        self._commit_unresolved(merge, outcomes)
        report = merge.finish()
        return AwsScanResult(report, outcomes, seconds=_since(self.started))

    def _merge(self, merge: ScanMerge, outcome: ScopeOutcome) -> None:
        scope = outcome.task.scope
        if outcome.status != COMPLETE:
            merge.failed(scope, outcome.status, outcome.error or "", outcome.api_calls)
            return
        if outcome.unreadable:  # an asset exists that the scan could not name: delete nothing
            scope = replace(scope, deletes=False)
        merge.complete(scope, outcome.observations, outcome.api_calls)

    def _execute(self, tasks: list[ScopeTask]) -> Iterator[ScopeOutcome]:
        """Run the scopes under the per-account and per-service caps; yield as they finish."""
        queues: dict[tuple[str, str], deque[ScopeTask]] = defaultdict(deque)
        for task in tasks:
            queues[(task.account, task.service)].append(task)
        per_account: Counter[str] = Counter()
        per_service: Counter[tuple[str, str]] = Counter()
        running: dict[Future[ScopeOutcome], ScopeTask] = {}
        with ThreadPoolExecutor(self.options.workers, thread_name_prefix="scan") as pool:
            try:
                while queues or running:
                    self._launch(pool, queues, running, per_account, per_service)
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        task = running.pop(future)
                        per_account[task.account] -= 1
                        per_service[(task.account, task.service)] -= 1
                        yield future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _launch(
        self,
        pool: ThreadPoolExecutor,
        queues: dict[tuple[str, str], deque[ScopeTask]],
        running: dict[Future[ScopeOutcome], ScopeTask],
        per_account: Counter[str],
        per_service: Counter[tuple[str, str]],
    ) -> None:
        """Start queued scopes while a worker is free and neither cap is reached."""
        for group in list(queues):
            account, _ = group
            while (
                queues[group]
                and len(running) < self.options.workers
                and per_account[account] < self.options.max_per_account
                and per_service[group] < self.options.max_per_service
            ):
                task = queues[group].popleft()
                per_account[account] += 1
                per_service[group] += 1
                running[pool.submit(self.read_scope, task)] = task
            if not queues[group]:
                del queues[group]

    def _commit_unresolved(self, merge: ScanMerge, outcomes: list[ScopeOutcome]) -> None:
        """Assets the scan could not read, and failed scopes, as unresolved_events rows."""
        rows = [row for outcome in outcomes for row in self._unresolved(outcome)]
        if rows:
            merge.writer.commit(ResolvedBatch(unresolved=rows), f"{self.scan_id}/unresolved")

    def _unresolved(self, outcome: ScopeOutcome) -> Iterator[Unresolved]:
        label = outcome.task.scope.label
        source = f"{outcome.task.service}.amazonaws.com"
        if outcome.error is not None:
            yield Unresolved(
                event_id=f"{self.scan_id}/{label}", source=SOURCE, reason=f"scan_{outcome.status}",
                detail=outcome.error, event_source=source, event_name="List",
                event_time=self.read_time,
            )  # fmt: skip
        for item in outcome.unreadable:
            yield Unresolved(
                event_id=f"{self.scan_id}/{label}/{item.identifier}", source=SOURCE,
                reason="scan_unreadable", detail=item.reason, event_source=source,
                event_name="Describe", event_time=self.read_time,
            )  # fmt: skip


def scan_aws(
    lake: Lake,
    options: ScanOptions,
    aws: AwsOptions | None = None,
    base: boto3.Session | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> AwsScanResult:
    """Run a full AWS scan into ``lake`` and return what it found (also in scan_reports)."""
    return AwsScan(lake, options, aws, base, progress).run()


def _reason(error: BaseException) -> str:
    """A one-line reason: the AWS error code, or what was wrong with the answer."""
    if isinstance(error, ClientError):
        return f"{error_code(error)}: {brief(error)}"
    if isinstance(error, ResponseParserError | MalformedResponse | KeyError | TypeError):
        return f"malformed response: {type(error).__name__}: {brief(error)}"
    return f"{type(error).__name__}: {brief(error)}"


def _since(begun: dt.datetime) -> float:
    return (utcnow() - begun).total_seconds()
