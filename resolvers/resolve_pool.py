"""Resolving the next batches in worker processes while the calling thread commits this one.

Resolution is pure Python and holds the GIL; a commit is Parquet and Delta work, partly in
Rust threads and partly Python. A second *thread* resolving beside a commit made a 1,000-record
batch slower, not faster (measured: 250 ms a batch against 215 ms with no overlap at all, on
2 cores), because both halves fight for one interpreter. A worker *process* has its own: while
the caller commits batch n, a worker resolves batch n+1 (and more workers, batches after it).

Only what a worker needs crosses the process boundary: the items (for ingest, each record's
text and whether it was JSON) and the function's result (rows pickled field by field; see
:mod:`resolvers.model`). The pool is created on first use with the ``spawn`` method (a forked
copy of a process running Rust thread pools can deadlock) and kept for the process's life.
A pool that breaks (a worker killed) is dropped and the rest is done inline: nothing is lost.

``ASSETLAKE_RESOLVE_WORKERS`` sets the number of workers; the default is one core short of
the machine (at most :data:`MAX_DEFAULT_WORKERS`), and 0 resolves inline.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import util
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

WORKERS_ENV = "ASSETLAKE_RESOLVE_WORKERS"
MAX_DEFAULT_WORKERS = 4
PARENT_CHECK_SECONDS = 1.0

Item = TypeVar("Item")
Result = TypeVar("Result")

_pool: ProcessPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    """In a forked child: the parent's workers are not this process's to use or to stop."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def worker_count() -> int:
    """Workers to resolve in: ``ASSETLAKE_RESOLVE_WORKERS``, else one core short of the machine."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text:
        try:
            return max(0, int(text))
        except ValueError:
            log.warning("%s=%r is not a number of workers; resolving inline", WORKERS_ENV, text)
            return 0
    return max(0, min(MAX_DEFAULT_WORKERS, (os.cpu_count() or 1) - 1))


def _executor(workers: int) -> ProcessPoolExecutor:
    with _pool_lock:
        if _pool is not None and _pool_workers == workers:
            return _pool
        return _start(workers)


def _start(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_workers
    shutdown()
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_end_with_parent, initargs=(os.getpid(),)
    )
    # A process started by multiprocessing (a Dagster step, a bench lane) joins its children
    # when it ends, before the interpreter's own exit handlers would stop the workers: idle
    # workers would then be waited for for ever. Stop them first, before the pool's own
    # queues are closed (their finalizers have priority 10).
    util.Finalize(pool, pool.shutdown, kwargs={"cancel_futures": True}, exitpriority=100)
    _pool, _pool_workers = pool, workers
    return pool


def _end_with_parent(parent: int) -> None:
    """In a worker: end when the process that started it is gone. A worker waits on a queue
    whose pipe it holds both ends of, so a parent killed outright (SIGKILL, the OOM killer, a
    Dagster run terminated) would leave it waiting for ever, an idle orphan."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="assetlake-parent-watch", daemon=True).start()


def workers_peak_rss_mb() -> float:
    """The peak resident memory of this process's live resolver workers, summed (MB; Linux)."""
    processes = getattr(_pool, "_processes", None) or {}
    total = 0.0
    for pid in list(processes):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def shutdown() -> None:
    """Stop the workers (they are started again when next needed)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int | None = None
) -> Iterator[Result]:
    """``function`` over ``items``, results in the items' order, computed ahead of the caller.

    With ``workers`` (default :func:`worker_count`) of at least one and more than one item,
    the caller computes the first item while the workers start on the next ones, and the rest
    are computed in the worker processes, ``workers + 1`` at most in flight, so that a worker
    is busy while the caller handles a result. ``function`` must be a module-level
    function (workers import it by name). One item, or no workers: computed inline, one at a
    time, when the caller asks for it. An exception raised by ``function`` reaches the caller
    at its item, as it would inline.
    """
    workers = worker_count() if workers is None else workers
    pending = deque(items)
    if workers < 1 or len(pending) < 2:
        yield from (function(item) for item in pending)
        return
    in_flight: deque[tuple[Item, Future[Result]]] = deque()
    pool: ProcessPoolExecutor | None = _executor(workers)
    first = pending.popleft()  # the caller has nothing to do but wait: it computes this one
    pool = _top_up(pool, pending, in_flight, function, workers + 1)
    yield function(first)
    while pending or in_flight:
        pool = _top_up(pool, pending, in_flight, function, workers + 1)
        if not in_flight:
            yield function(pending.popleft())
            continue
        item, future = in_flight.popleft()
        try:
            result = future.result()
        except BrokenProcessPool:  # the items still in flight fail the same way, in turn
            pool = _broken()
            result = function(item)
        yield result


def _top_up(
    pool: ProcessPoolExecutor | None,
    pending: deque,
    in_flight: deque,
    function: Callable,
    most: int,
) -> ProcessPoolExecutor | None:
    """Submit pending items until ``most`` are in flight; the pool, or None once it broke."""
    while pool is not None and pending and len(in_flight) < most:
        item = pending.popleft()
        try:
            in_flight.append((item, pool.submit(function, item)))
        except (BrokenProcessPool, RuntimeError):  # a worker died: the rest inline
            pending.appendleft(item)
            return _broken()
    return pool


def _broken() -> None:
    if _pool is not None:
        log.warning("a resolver worker process died; resolving the rest inline")
    shutdown()
