"""Run the chaos suite: every pipeline through its phases, then drain, check and count.

    PYTHONPATH=tests python -m chaos.runner --records 10000 [--seed S] [--sources sqs,nats]

(``make chaos``). The pipelines run side by side, one thread each; faults and pauses come from
one seed per pipeline, printed, so a failing run can be replayed with ``--seed``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import records as chaos_records
from chaos.checks import Figures, LakeFrames, lake_problems, phase_figures
from chaos.faults import FAULTS as INJECTORS
from chaos.harness import (
    FAULTS,
    PIPELINES,
    ChaosConfig,
    Phase,
    Pipeline,
    Services,
    environment,
    services,
)
from resolvers.drain import drain, watermark
from resolvers.lake.layout import read_table
from resolvers.lake.tables import RAW_EVENTS
from resolvers.lake.writer import LakeWriter

LONG_RECORDS = 10_000
SEND_CHUNKS = 12  # a phase sends its records in this many pieces, spread over its seconds
WARM_UP_S = 60.0  # a worker's first round (imports, first commits) before the phases start
STRIKE_EVERY = 1000  # a kill or an outage strikes once more for every so many records
POLL_S = 2.0


@dataclass
class ChaosReport:
    """What a run measured and found."""

    seed: int
    records: int
    figures: list[Figures] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # lake-wide, "source: problem"
    seconds: dict[str, float] = field(default_factory=dict)
    worker_kills: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Records lost over every pipeline and fault."""
        return sum(f.lost for f in self.figures)

    @property
    def doubled(self) -> int:
        """Records doubled over every pipeline and fault."""
        return sum(f.doubled for f in self.figures)

    def table(self) -> str:
        """The figures as a Markdown table."""
        lines = [
            f"chaos: seed {self.seed}",
            "",
            "| source | fault | sent | landed | lost | doubled | what happened |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for f in self.figures:
            lines.append(
                f"| {f.source} | {f.fault} | {f.sent} | {f.landed} | {f.lost} | {f.doubled} "
                f"| {'; '.join(f.events)} |"
            )
        lines.append("")
        lines += self.notes
        lines += [f"{name}: {seconds:.1f} s" for name, seconds in self.seconds.items()]
        lines += [f"problem: {p}" for p in self.problems] or ["lake checks: all hold"]
        return "\n".join(lines)


def run_pipeline(
    pipe: Pipeline, run: Services, config: ChaosConfig, seed: int, corpus: Path
) -> None:
    """Send every phase's share while its fault strikes; the worker keeps running."""
    rng = random.Random(seed)
    faults = (*FAULTS[pipe.source], *config.extra_faults)
    share = -(-len(pipe.values) // len(faults))
    pipe.worker.start()
    pipe.worker.wait_for("idle", WARM_UP_S)  # its first round (imports, first commit) is slow
    for index, fault in enumerate(faults):
        values = pipe.values[index * share : (index + 1) * share]
        phase = Phase(fault, ids=chaos_records.value_ids(values, pipe.lake.salt), values=values)
        pipe.phases.append(phase)
        _phase(pipe, run, rng, phase, values, config.phase_seconds(len(values)), corpus)


def _phase(
    pipe: Pipeline,
    run: Services,
    rng: random.Random,
    phase: Phase,
    values: list[Any],
    seconds: float,
    corpus: Path,
) -> None:
    failure: list[BaseException] = []
    injector = INJECTORS.get(phase.fault)
    strike = threading.Thread(
        target=_strike, args=(injector, pipe, run, rng, phase, corpus, failure, seconds),
        daemon=True,
    ) if injector else None  # fmt: skip
    if strike is not None:
        strike.start()
    chunk = max(1, -(-len(values) // SEND_CHUNKS))
    for start in range(0, len(values), chunk):
        pipe.send(values[start : start + chunk])
        time.sleep(seconds / SEND_CHUNKS)
    if strike is not None:
        strike.join()
    if failure:
        raise failure[0]


def _strike(
    injector: Any,
    pipe: Pipeline,
    run: Services,
    rng: random.Random,
    phase: Phase,
    corpus: Path,
    failure: list[BaseException],
    seconds: float,
) -> None:
    strikes = 1 if "writer" in phase.fault else 1 + len(phase.ids) // STRIKE_EVERY
    started, share = time.monotonic(), seconds / strikes
    try:
        for strike in range(strikes):  # once in each slice of the phase, at a random moment
            moment = started + (strike + rng.uniform(0.1, 0.5)) * share
            time.sleep(max(0.0, moment - time.monotonic()))
            injector(pipe, run, rng, phase, corpus)
    except BaseException as exc:
        failure.append(exc)


def wait_drained(pipe: Pipeline, timeout: float) -> bool:
    """Wait until every record sent is in raw_events and the consumer has drained it all."""
    expected = {i for phase in pipe.phases for i in (*phase.ids, *phase.ingested)}
    started, reader = time.monotonic(), LakeWriter(pipe.lake)
    while time.monotonic() - started < timeout:
        if not pipe.worker.alive():
            pipe.worker.start()  # a worker that died on its own is restarted, as a daemon would
        try:
            landed = set(
                read_table(pipe.lake, RAW_EVENTS.name).select("record_hash").collect().to_series()
            )
            writer_version = pipe.lake.table(RAW_EVENTS.name).version()
            done = expected <= landed and watermark(reader, pipe.consumer) >= writer_version
        except Exception:  # the lake is being written: look again
            done = False
        if done:
            return True
        time.sleep(POLL_S)
    return False


def finish(pipe: Pipeline, report: ChaosReport) -> None:
    """Stop the worker, drain once more from a fresh process's writer, and count."""
    pipe.worker.stop()
    again = drain(LakeWriter(pipe.lake), pipe.consumer, pipe.default_source, [pipe.default_source])
    frames = LakeFrames.read(pipe.lake)
    for phase in pipe.phases:
        report.figures.append(
            phase_figures(frames, pipe.source, phase.fault, phase.ids, phase.events)
        )
        if phase.ingested:
            report.figures.append(
                phase_figures(frames, pipe.source, "(second writer's own records)",
                              phase.ingested, [])
            )  # fmt: skip
    report.worker_kills[pipe.source] = pipe.worker.kills
    failed, redelivered = pipe.worker.rounds(0.0, time.time())
    report.notes.append(
        f"{pipe.source} worker: started {pipe.worker.starts} times ({pipe.worker.kills} killed), "
        f"{failed} rounds failed and were tried again, {redelivered} records redelivered "
        "(already landed: nothing written)"
    )
    problems = lake_problems(pipe.lake)
    if again.records:
        problems.append(f"a last drain found {again.records} records not drained")
    report.problems += [f"{pipe.source}: {p}" for p in problems]


def run_chaos(folder: Path, corpus: Path, config: ChaosConfig) -> ChaosReport:
    """The whole run; every process started is stopped, whatever happens."""
    report = ChaosReport(config.seed, config.records)
    started = time.monotonic()
    with services(folder, config.sources) as run, environment(run.aws_env(via_proxy=False)):
        pipes = [PIPELINES[name](run, corpus, config) for name in config.sources]
        report.seconds["start services"] = time.monotonic() - started
        try:
            _run_all(pipes, run, config, corpus, report)
        finally:
            for pipe in pipes:
                pipe.worker.closed = True  # a fault still running restarts nothing
                pipe.worker.stop()
                pipe.close()
    report.seconds["total"] = time.monotonic() - started
    return report


def _run_all(
    pipes: list[Pipeline], run: Services, config: ChaosConfig, corpus: Path, report: ChaosReport
) -> None:
    failures: list[str] = []

    def one(index: int, pipe: Pipeline) -> None:
        try:
            started = time.monotonic()
            run_pipeline(pipe, run, config, config.seed + index, corpus)
            report.seconds[f"{pipe.source}: faults"] = time.monotonic() - started
            started = time.monotonic()
            if not wait_drained(pipe, config.drain_timeout_s):
                report.problems.append(
                    f"{pipe.source}: not drained within {config.drain_timeout_s:.0f} s (what "
                    "had not landed by then counts as lost below)"
                )
            report.seconds[f"{pipe.source}: drain to the end"] = time.monotonic() - started
            finish(pipe, report)
        except BaseException:
            failures.append(f"{pipe.source}: {traceback.format_exc()}")

    threads = [threading.Thread(target=one, args=(i, p), daemon=True) for i, p in enumerate(pipes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.problems += failures
    order = {name: i for i, name in enumerate(config.sources)}
    report.figures.sort(key=lambda f: order[f.source])


def main() -> None:
    """``make chaos``: the long form; prints the figures, exits 1 on a lost or doubled record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=LONG_RECORDS)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(10**6))
    parser.add_argument("--sources", default="sqs,pubsub,nats")
    parser.add_argument("--sqs-records", type=int, help="records through SQS (default --records)")
    parser.add_argument(
        "--same-records", action="store_true",
        help="add a phase where `assetlake ingest` commits the very records being streamed",
    )  # fmt: skip
    parser.add_argument(
        "--corpus", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "corpus"
    )
    parser.add_argument("--folder", type=Path, help="work folder, kept (default: a temporary one)")
    args = parser.parse_args()
    sources = tuple(args.sources.split(","))
    config = ChaosConfig.sized(args.records, args.seed, sources, args.sqs_records)
    if args.same_records:
        config = dataclasses.replace(config, extra_faults=("same records writer",))
    print(f"chaos: seed {config.seed}", flush=True)
    if args.folder:
        report = run_chaos(args.folder, args.corpus, config)
    else:
        with tempfile.TemporaryDirectory(prefix="assetlake-chaos-") as folder:
            report = run_chaos(Path(folder), args.corpus, config)
    print(report.table())
    raise SystemExit(1 if report.lost or report.doubled or report.problems else 0)


if __name__ == "__main__":
    main()
