"""The lake as Dagster assets: raw_events -> asset_changes -> asset_versions -> findings.

raw_events is landed by the stream sensors (they report its materialisations); a drain run
materialises asset_changes, asset_versions and unresolved_events together (one resolution pass
writes all three); findings follows asset_versions by declarative automation. No
``from __future__ import annotations``: Dagster reads the config annotations.
"""

import os
import time

import dagster as dg
from pydantic import Field

from assets.resources import LakeResource
from resolvers.aws.describe import OfflineDescriber
from resolvers.aws.types.describer import online_describer
from resolvers.compliance.evaluate import EvaluationResult, evaluate
from resolvers.drain import (
    DRAIN_BATCH_SIZE,
    IDLE_NOTE_SECONDS,
    DrainResult,
    IdleVersions,
    Unreported,
    combined,
    drain,
)
from resolvers.errors import AssetlakeError
from resolvers.heap import settle
from resolvers.lake.checks import chain_violations
from resolvers.lake.writer import LakeWriter

GROUP = "lake"
STREAM_TAG = "assetlake/stream"

raw_events = dg.AssetSpec(
    "raw_events",
    group_name=GROUP,
    description="Every record received, as received (bronze; replayable). Landed by the "
    "stream sensors, idempotently, before they ack their queues.",
    kinds={"deltalake"},
)


class DrainConfig(dg.Config):
    """Which landed records a drain run resolves, and for how long it follows the stream."""

    consumer: str = Field(description="Whose watermark: one per raw_events source.")
    default_source: str = Field(description="The raw_events source of records of unknown shape.")
    sources: list[str] = Field(description="The raw_events sources this consumer resolves.")
    batch_size: int = Field(default=DRAIN_BATCH_SIZE, gt=0, description="Records per commit.")
    follow_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Keep draining what is landed for this long (a following run keeps its "
        "writer's indexes warm and needs no run launch per micro-batch); 0: drain once.",
    )
    poll_seconds: float = Field(default=0.25, gt=0, description="Pause when nothing is landed.")
    offline: bool = Field(
        default=False,
        description="Call no cloud API: the state comes from the events alone "
        "(else the AWS SDK reads what an event does not carry).",
    )
    describe_role_name: str = Field(
        default="", description="Read-only role assumed in other accounts to describe assets."
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "asset_changes",
            deps=[raw_events],
            group_name=GROUP,
            kinds={"deltalake"},
            description="One row per (event, asset it changed): who did what, when.",
        ),
        dg.AssetSpec(
            "asset_versions",
            deps=["asset_changes"],
            group_name=GROUP,
            kinds={"deltalake"},
            description="SCD type 2: one row per version of an asset.",
        ),
        dg.AssetSpec(
            "unresolved_events",
            deps=[raw_events],
            group_name=GROUP,
            kinds={"deltalake"},
            description="Records that could not be resolved, with the reason.",
        ),
    ],
    can_subset=False,
)
def resolve_landed(context: dg.AssetExecutionContext, config: DrainConfig, lake: LakeResource):
    """Resolve everything landed since the consumer's watermark, and commit the results; with
    ``follow_seconds``, keep doing so, reporting materialisations of what it drained as it goes
    (at most every ``resolvers.drain.REPORT_EVERY_S``)."""
    started = time.perf_counter()
    deadline = time.monotonic() + config.follow_seconds
    try:
        writer = LakeWriter(lake.get_lake().create(), run_id=context.run.run_id)
        describer = (
            OfflineDescriber()
            if config.offline
            else online_describer(config.describe_role_name or None)
        )
        settle()  # the run's heap, loaded by now, out of full collections' walks
        results = []
        idle = IdleVersions(writer, config.consumer)
        unreported = Unreported()
        while True:
            drained = time.perf_counter()
            result = drain(
                writer,
                config.consumer,
                config.default_source,
                config.sources,
                config.batch_size,
                describer,
                after=idle.position,
                note_idle=False,
            )
            idle.drained(result)
            results.append(result)
            if result.records and config.follow_seconds:
                unreported.add(result, time.perf_counter() - drained)
                if unreported.due():
                    _report(context, *unreported.take())
            if time.monotonic() >= deadline:
                break
            idle.note(every=IDLE_NOTE_SECONDS)
            if not result.records:
                time.sleep(min(config.poll_seconds, max(0.0, deadline - time.monotonic())))
        idle.note()
    except AssetlakeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    total = combined(results)
    context.log.info(
        f"{config.consumer}: resolved {total.records} records of raw_events versions "
        f"{total.from_version}..{total.to_version} in {time.perf_counter() - started:.2f} s"
    )
    yield from _drain_materialisations(total, time.perf_counter() - started)


def _report(context: dg.AssetExecutionContext, result: DrainResult, seconds: float) -> None:
    for event in _drain_materialisations(result, seconds):
        key = event.asset_key
        assert key is not None  # every materialisation names its asset
        context.log_event(dg.AssetMaterialization(key, metadata=event.metadata))


def _drain_materialisations(result: DrainResult, seconds: float):
    common = {
        "consumer": result.consumer,
        "raw_events_versions": f"{result.from_version}..{result.to_version}",
        "records": result.records,
        "seconds": round(seconds, 3),
    }
    lag = {f"lag_event_to_commit_{k}_s": round(v, 3) for k, v in result.event_lag_s.items()}
    lag |= {f"lag_landed_to_commit_{k}_s": round(v, 3) for k, v in result.landing_lag_s.items()}
    yield dg.MaterializeResult(
        asset_key="asset_changes",
        metadata={**common, "asset_changes": result.total("asset_changes"), **lag},
    )
    yield dg.MaterializeResult(
        asset_key="asset_versions",
        metadata={
            **common,
            "version_rows_written": result.total("versions_written"),
            "versions_removed": result.total("versions_deleted"),
            "assets_touched": result.total("assets_touched"),
            "assets_rebuilt": result.total("assets_rebuilt"),
            **lag,
        },
    )
    yield dg.MaterializeResult(
        asset_key="unresolved_events",
        metadata={**common, "unresolved": result.total("unresolved_events")},
    )


@dg.asset(
    deps=["asset_versions", "asset_changes"],
    group_name=GROUP,
    kinds={"deltalake"},
    automation_condition=dg.AutomationCondition.eager(),
)
def findings(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Compliance findings as intervals: every rule on every version written since the last
    evaluation, and the event rules on every change; alerts for what opened or resolved."""
    if context.run.tags.get(AUTOMATION_TAG) == "true":  # a run process of its own
        yield_to_streams()
    try:
        result = evaluate(lake.get_lake())
    except AssetlakeError as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"findings: {_summary(result)}")
    return dg.MaterializeResult(metadata=_findings_metadata(result))


# how much lower than the streams' processes a findings run asks to be scheduled (os.nice)
FINDINGS_NICENESS = 10
AUTOMATION_TAG = "dagster/from_automation_condition"  # a run the automation sensor launched


def yield_to_streams() -> None:
    """Let this process give way to the stream sensors and drain runs when the machine is busy:
    findings follow the versions they judge, and a burst of events is what they judge (a
    100,000-message NATS burst on 2 cores with a findings run beside it: 6,300 events/s; niced,
    7,000-8,400). On an idle machine it changes nothing. Only for a run process of its own: a
    process executing the asset in-process (a test, the embedded demo) is left alone."""
    if hasattr(os, "nice"):
        os.nice(FINDINGS_NICENESS)


def _summary(result: EvaluationResult) -> str:
    return ", ".join(f"{k}={v}" for k, v in _findings_metadata(result).items())


def _findings_metadata(result: EvaluationResult) -> dict[str, str | int | float]:
    return {
        "mode": result.mode,
        "assets_evaluated": result.assets,
        "versions_judged": result.versions,
        "events_judged": result.events,
        "findings_in_scope": result.findings,
        "findings_written": result.written,
        "findings_deleted": result.deleted,
        "alerts_queued": result.alerts_queued,
        "rule_errors": result.rule_errors,
        "seconds": round(result.seconds, 3),
    }


@dg.asset_check(asset="asset_versions", description="SCD2 chain invariants 1 and 2")
def asset_versions_chains(lake: LakeResource) -> dg.AssetCheckResult:
    """Per asset: contiguous versions numbered 1..n, one current, no two equal in a row."""
    violations = chain_violations(lake.get_lake())
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={"violations": len(violations), "examples": "\n".join(violations[:10])},
    )


drain_job = dg.define_asset_job(
    "drain_job",
    selection=dg.AssetSelection.assets("asset_changes", "asset_versions", "unresolved_events"),
    description="Resolve what the stream sensors landed (one consumer per run).",
    tags={"dagster/max_retries": "3"},
)
