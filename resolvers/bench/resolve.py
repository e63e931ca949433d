"""Resolver throughput for ``assetlake bench``: resolve vs parse on the same bytes, same run.

The corpus's CloudTrail and EventBridge lines are replayed many times, offline. One *resolve*
round takes every line from bytes to its ResolvedBatch exactly as ``assetlake ingest`` does
(orjson parse, record hash, classification, assets, attribution, event-carried state); one
*parse* round only parses the same bytes with orjson. Rounds alternate, so a busy machine slows
both alike, and the best round of each counts (the least disturbed one). ``resolve_vs_parse``
is their ratio (goal: at least 0.3); ``resolve_only_records_per_s`` leaves the parse out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from resolvers.ingest import Record, resolve_record

SALT = b"assetlake-bench"
SOURCE = "aws_cloudtrail"
PATTERNS = ("*.cloudtrail.jsonl", "*.eventbridge.jsonl")


def corpus_lines(corpus: Path) -> list[bytes]:
    """The non-empty lines of the corpus's CloudTrail and EventBridge files."""
    lines: list[bytes] = []
    for pattern in PATTERNS:
        for path in sorted(corpus.glob(pattern)):
            lines.extend(line for line in path.read_bytes().splitlines() if line.strip())
    return lines


def _parse(lines: Sequence[bytes]) -> None:
    for line in lines:
        orjson.loads(line)


def _resolve(lines: Sequence[bytes]) -> None:
    for line in lines:
        value = orjson.loads(line)
        resolve_record(Record(line.decode("utf-8", "replace"), value, ""), SALT, SOURCE)


def _best_seconds(work: Callable[[], None], timings: list[float]) -> None:
    started = time.perf_counter()
    work()
    timings.append(time.perf_counter() - started)


def measure_resolve(lines: Sequence[bytes], rounds: int = 7, replay: int = 3) -> dict[str, Any]:
    """resolve_records_per_s, parse_records_per_s and their ratio over ``lines``.

    Each round processes the lines ``replay`` times; ``rounds`` alternating rounds of each kind.
    """
    if not lines:
        raise ValueError("no records to measure")
    batch = list(lines) * replay
    parsed = [(line, orjson.loads(line)) for line in lines]
    _resolve(lines)  # warm caches: the catalog, compiled paths, parsed times
    parse_times: list[float] = []
    resolve_times: list[float] = []
    only_times: list[float] = []
    for _ in range(rounds):
        _best_seconds(lambda: _parse(batch), parse_times)
        _best_seconds(lambda: _resolve(batch), resolve_times)
        _best_seconds(lambda: _resolve_parsed(parsed), only_times)
    parse_rate = len(batch) / min(parse_times)
    resolve_rate = len(batch) / min(resolve_times)
    return {
        "records": len(lines),
        "replayed": len(batch) * rounds,
        "resolve_records_per_s": round(resolve_rate, 1),
        "parse_records_per_s": round(parse_rate, 1),
        "resolve_vs_parse": round(resolve_rate / parse_rate, 4),
        "resolve_only_records_per_s": round(len(parsed) / min(only_times), 1),
    }


def _resolve_parsed(parsed: Sequence[tuple[bytes, Any]]) -> None:
    for line, value in parsed:
        resolve_record(Record(line.decode("utf-8", "replace"), value, ""), SALT, SOURCE)


def measure_corpus(corpus: Path, rounds: int = 7, replay: int = 3) -> dict[str, Any]:
    """:func:`measure_resolve` over the corpus folder's CloudTrail and EventBridge files."""
    return measure_resolve(corpus_lines(corpus), rounds, replay)


def bench_figures(tiny: bool = False) -> dict[str, Any]:
    """What ``assetlake bench`` reports of the resolver: the headline figures, and under
    ``detail`` the whole measurement, or why it was not taken (the corpus is not shipped with
    assetlake: ``$ASSETLAKE_CORPUS``, else ``../shared/corpus`` beside the repository)."""
    from resolvers.demo import CORPUS_ENV, corpus_dir

    corpus = corpus_dir()
    if not corpus.is_dir():
        return {"detail": f"not measured: no corpus at {corpus} (set {CORPUS_ENV})"}
    figures = measure_corpus(corpus, rounds=1 if tiny else 7, replay=1 if tiny else 3)
    headline = ("resolve_records_per_s", "parse_records_per_s", "resolve_vs_parse")
    return {**{name: figures[name] for name in headline}, "detail": figures}
