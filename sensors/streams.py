"""What every stream sensor does on a tick: pump micro-batches, then ask for a drain run.

A tick pulls bounded micro-batches from its source and lands them in raw_events (the source is
acked only after landing: resolvers.streams.base.pump) for its share of ``TICK_BUDGET_S``
seconds (:func:`tick_budget`), well inside the sensor timeout: a source whose empty pulls wait
for messages (a long poll) is pulled until the budget is spent, so that a record published
between two ticks does not wait for the next one; another (an S3 listing) until a pull finds
nothing. A pulled record waits at most ``LIMITS.max_seconds`` before it is landed. Then, if
anything was landed or its consumers lag
behind raw_events, it requests one drain run per consumer with a deterministic run key (consumer
and raw_events version) and a small config (pointers, never payloads); a consumer that nothing
was landed for since its watermark gets none (resolvers/landed_sources.py). Runs of one consumer
are serialised by the run queue (tag ``assetlake/stream``). The cursor is a typed model that resets
safely when it cannot be decoded. A source that is down or not configured is a skip reason.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
from pydantic import BaseModel, ValidationError

from assets.lake import STREAM_TAG, drain_job
from assets.resources import LakeResource, StreamsResource
from resolvers.drain import note_drained, watermark
from resolvers.errors import AssetlakeError
from resolvers.heap import settle
from resolvers.lake.storage import Lake
from resolvers.lake.tables import RAW_EVENTS
from resolvers.lake.writer import LakeWriter
from resolvers.landed_sources import LandedSources
from resolvers.streams.base import PullLimits, PumpResult, StreamSource, pump
from resolvers.timeutil import isoformat, utcnow

# The seconds that the ticks of the configured stream sensors share, two of the daemon's 5 s
# loops: the daemon ticks its sensors one after another, so a stream holds the others back for
# at most its share, its last pump (a pull of up to 0.5 s, then landing) and the tick's
# bookkeeping. Between two ticks nothing is pulled for the daemon's own work (0.7-0.9 s
# measured in a burst): with one stream, ticks of 4.5 s gave a 20,000-message NATS burst
# 5,700-6,900 events/s, ticks of 9.5 s 9,000-9,300. A tick's run requests wait for its end,
# which matters only when a following drain run's window ends (see tick_budget).
TICK_BUDGET_S = 9.5
MIN_TICK_BUDGET_S = 1.0  # the least a tick pulls for, however many streams share the loop
FOLLOW_ENV = "ASSETLAKE_DRAIN_FOLLOW_SECONDS"
DEFAULT_FOLLOW_S = 0.0  # drain once; deployments set a window (make dev: 120 s)
# The sensor daemon loops every 5 s (back to back when its ticks take longer) and ticks a sensor
# whose minimum interval has passed since its last tick *started*. A minimum of 5 s raced with
# the loop's own 5 s and lost about every other time (measured: 8-13 s between ticks), so the
# minimum is below the loop: every loop ticks every stream sensor.
MIN_INTERVAL_S = 1
# raw_events versions an idle consumer may lag by, with nothing landed for it, before the sensor
# moves its watermark past them (it then reads only new commits' metadata)
IDLE_CATCH_UP_VERSIONS = 100
DRAIN_GRACE_S = 3600  # a drain run's time beyond its follow window before it counts as dead
MAX_RUNTIME_TAG = "dagster/max_runtime"
# max_seconds is how long a pulled record may wait for its batch to fill before it is landed: a
# trickle is landed every half second, a burst in batches of up to 5,000 records
LIMITS = PullLimits(max_records=5000, max_bytes=32 * 1024 * 1024, max_seconds=0.5)
CONSUMERS = {  # consumer -> (default source, sources it resolves)
    "aws_cloudtrail": ("aws_cloudtrail", ["aws_cloudtrail"]),
    "gcp_asset_feed": ("gcp_asset_feed", ["gcp_asset_feed"]),
    "gcp_audit_log": ("gcp_audit_log", ["gcp_audit_log"]),
}
# one writer per lake for the code server's life (warm indexes); the daemon ticks its sensors one
# after another (deploy/dagster.yaml), so one tick uses it at a time
_writers: dict[str, LakeWriter] = {}
_landed: dict[str, LandedSources] = {}  # lake -> what raw_events' commits landed
# sensor -> (its settings and cursor, its source): kept open from tick to tick (see source_for)
_sources: dict[str, tuple[str, StreamSource]] = {}


class StreamCursor(BaseModel):
    """A stream sensor's cursor."""

    source_cursor: str | None = None  # the source's own cursor (S3 log listing positions)
    requested: dict[str, int] = {}  # consumer -> raw_events version of the last run requested

    @classmethod
    def decode(cls, text: str | None) -> StreamCursor:
        """The cursor of a sensor, or a fresh one if it is missing or cannot be decoded."""
        try:
            return cls.model_validate_json(text) if text else cls()
        except ValidationError:
            return cls()


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream sensor: its name, its source, the consumers its records feed, the setting."""

    name: str
    make_source: Callable[[StreamsResource, str | None], StreamSource | None]
    consumers: tuple[str, ...]
    setting: str  # the environment variable that configures it
    description: str


def writer_for(lake: Lake) -> LakeWriter:
    """The code server's writer of a lake (created, with the lake, on first use)."""
    writer = _writers.get(lake.uri)
    if writer is None:
        writer = _writers[lake.uri] = LakeWriter(lake.create())
    return writer


def forget_writer(lake_uri: str) -> None:
    """Drop the cached writer of a lake (its folder was deleted or replaced)."""
    _writers.pop(lake_uri, None)
    _landed.pop(lake_uri, None)


def source_for(
    spec: StreamSpec, streams: StreamsResource, source_cursor: str | None
) -> StreamSource | None:
    """The sensor's source client, kept open from tick to tick while its settings and cursor
    stay the same (None: the stream is not configured).

    A client can hold messages the broker has delivered but no pull has returned yet: a
    JetStream fetch that returns on its deadline leaves the rest of its batch in flight, in the
    client's queue. A tick that ends at its budget in the middle of a burst and closed its client
    stranded them until the consumer's ack wait (60 s) redelivered them (measured: 672 of a
    20,000-message burst); a kept client hands them to the next tick's first pull. Ticks of one
    sensor never overlap, so a sensor's client is used by one tick at a time.
    """
    identity = f"{streams.model_dump_json()} {source_cursor}"
    kept = _sources.get(spec.name)
    if kept is not None and kept[0] == identity:
        return kept[1]
    forget_source(spec.name)
    source = spec.make_source(streams, source_cursor)
    if source is not None:
        _sources[spec.name] = (identity, source)
    return source


def forget_source(sensor: str) -> None:
    """Close and drop a sensor's kept source client (it failed, or its settings changed)."""
    kept = _sources.pop(sensor, None)
    if kept is not None:
        kept[1].close()


@atexit.register
def _close_sources() -> None:
    for sensor in list(_sources):
        forget_source(sensor)


def tick_budget(configured: int) -> float:
    """How long a tick of one of ``configured`` stream sensors pumps: its share of the loop."""
    return max(TICK_BUDGET_S / max(1, configured), min(MIN_TICK_BUDGET_S, TICK_BUDGET_S))


def pump_for(
    writer: LakeWriter,
    source: StreamSource,
    budget_s: float,
    landed_by: str | None = None,
    keep_polling: bool = True,
) -> list[PumpResult]:
    """Pump micro-batches until the budget is spent, or until a pull finds nothing when the
    source does not long-poll (or ``keep_polling`` is off).

    A batch is bounded in time (``LIMITS.max_seconds``), so a steady trickle keeps the tick
    landing it every half second; the daemon's next loop (5 s after the last began, or at once
    if its ticks took longer) ticks the sensor again. Measured with the Pub/Sub emulator before
    ticks long-polled: a trickle's records waited 2.3 s (p50) for a tick, because a tick ended
    at its first empty pull and the loop then slept out its 5 s.
    """
    deadline = time.monotonic() + budget_s
    results: list[PumpResult] = []
    while time.monotonic() < deadline:
        result = pump(writer, source, LIMITS, landed_by=landed_by)
        results.append(result)
        if result.empty and not (keep_polling and source.long_polls):
            break
    return results


def follow_seconds() -> float:
    """How long a drain run follows its stream (``$ASSETLAKE_DRAIN_FOLLOW_SECONDS``)."""
    return float(os.environ.get(FOLLOW_ENV, DEFAULT_FOLLOW_S))


def run_requests(writer: LakeWriter, spec: StreamSpec, cursor: StreamCursor) -> list[dg.RunRequest]:
    """A drain run for every consumer of the stream that lags behind raw_events.

    A drain run follows its stream for ``follow_seconds`` (one run per consumer and window: the
    run queue starts the next when the current ends), or drains once when that is 0 (one run
    per raw_events version landed). A consumer that nothing was landed for since its
    watermark gets no run; once it lags by ``IDLE_CATCH_UP_VERSIONS`` such versions, they are
    noted as drained for it.
    """
    table = writer.lake.table(RAW_EVENTS.name)
    version = table.version()
    follow = follow_seconds()
    token = int(time.time() // follow) if follow > 0 else version
    landed = _landed.setdefault(writer.lake.uri, LandedSources())
    requests = []
    for consumer in spec.consumers:
        done = watermark(writer, consumer)
        if done >= version or cursor.requested.get(consumer) == token:
            continue
        default_source, sources = CONSUMERS[consumer]
        if not landed.may_hold(table, sources, done + 1, version):
            if version - done >= IDLE_CATCH_UP_VERSIONS and watermark(writer, consumer) == done:
                note_drained(writer, consumer, done + 1, version)
            continue
        cursor.requested[consumer] = token
        requests.append(
            dg.RunRequest(
                run_key=f"{consumer}:{'window' if follow > 0 else 'version'}-{token}",
                job_name=drain_job.name,
                run_config={
                    "ops": {
                        "resolve_landed": {
                            "config": {
                                "consumer": consumer,
                                "default_source": default_source,
                                "sources": sources,
                                "follow_seconds": follow,
                            }
                        }
                    }
                },
                # a run whose process died stays STARTED and would hold its consumer's queue
                # slot for ever: run monitoring (deploy/dagster.yaml) fails it after this
                tags={STREAM_TAG: consumer, MAX_RUNTIME_TAG: str(int(follow + DRAIN_GRACE_S))},
            )
        )
    return requests


def tick(
    context: dg.SensorEvaluationContext,
    spec: StreamSpec,
    lake: LakeResource,
    streams: StreamsResource,
) -> dg.SensorResult | dg.SkipReason:
    """One evaluation of a stream sensor."""
    cursor = StreamCursor.decode(context.cursor)
    source = source_for(spec, streams, cursor.source_cursor)
    if source is None:
        return dg.SkipReason(f"{spec.name}: not configured (set {spec.setting})")
    try:
        writer = writer_for(lake.get_lake())
        settle()  # the code server's heap, loaded by now, out of full collections' walks
        landed_by = f"{spec.name} tick {isoformat(utcnow())}"
        budget = tick_budget(streams.configured())
        results = pump_for(writer, source, budget, landed_by, streams.keep_polling)
        requests = run_requests(writer, spec, cursor)
    except AssetlakeError as exc:  # a source that is down, a lake that is not writable
        forget_source(spec.name)  # the next tick starts from a new client
        return dg.SkipReason(str(exc))
    except BaseException:
        forget_source(spec.name)
        raise
    cursor.source_cursor = next(
        (r.cursor for r in reversed(results) if r.cursor), cursor.source_cursor
    )
    return dg.SensorResult(
        run_requests=requests,
        cursor=cursor.model_dump_json(),
        asset_events=_landed_events(spec, results),
    )


def _landed_events(spec: StreamSpec, results: list[PumpResult]) -> list[dg.AssetMaterialization]:
    landed = sum(r.landed for r in results)
    if not landed:
        return []
    version = next((r.raw_events_version for r in reversed(results) if r.raw_events_version), 0)
    return [
        dg.AssetMaterialization(
            asset_key="raw_events",
            metadata={
                "sensor": spec.name,
                "messages": sum(r.messages for r in results),
                "records": sum(r.records for r in results),
                "landed": landed,
                "acked": sum(r.acked for r in results),
                "pull_s": round(sum(r.pull_s for r in results), 3),
                "land_s": round(sum(r.land_s for r in results), 3),
                "ack_s": round(sum(r.ack_s for r in results), 3),
                "raw_events_version": version,
            },
        )
    ]


# sensor name -> the environment variable that configures its stream
STREAM_SETTINGS: dict[str, str] = {}


def default_status(spec: StreamSpec) -> dg.DefaultSensorStatus:
    """Running when the code location's environment configures the stream, else stopped.

    The daemon ticks its sensors one after another, and a tick that only skips costs a loop
    0.15-0.35 s of gRPC and tick bookkeeping: four unconfigured stream sensors held a NATS
    stream's next tick back by 0.8-1.4 s every loop. The streams resource is read from the
    same environment when the code location loads, so a stream set up later needs a reload
    anyway; a sensor started by hand in the UI still says which variable to set.
    """
    configured = bool(os.environ.get(spec.setting))
    return dg.DefaultSensorStatus.RUNNING if configured else dg.DefaultSensorStatus.STOPPED


def stream_sensor(spec: StreamSpec) -> dg.SensorDefinition:
    """The sensor of one stream."""
    STREAM_SETTINGS[spec.name] = spec.setting

    def evaluate(
        context: dg.SensorEvaluationContext, lake: LakeResource, streams: StreamsResource
    ) -> dg.SensorResult | dg.SkipReason:
        return tick(context, spec, lake, streams)

    evaluate.__doc__ = spec.description
    return dg.sensor(
        name=spec.name,
        job=drain_job,
        minimum_interval_seconds=MIN_INTERVAL_S,
        default_status=default_status(spec),
        description=spec.description,
    )(evaluate)
