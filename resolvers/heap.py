"""Long-running processes keep their settled heap out of the garbage collector's walks.

CPython's full collection walks every object the collector tracks. A Dagster code server or run
process holds about 300,000 of them once Dagster, the definitions and the clients are loaded,
and none of them ever becomes garbage; a full collection then took 0.2-0.5 s of CPU, and a
burst of 20,000 records through the daemon met one or two in the sensor's process and two in
the drain run's (measured with ``gc.callbacks``), each a stall of the stream. :func:`settle`
collects once and moves what survives to the permanent generation (``gc.freeze``), which
collections skip; objects made later are collected as before. It runs once per process, when
a stream sensor first ticks and when a drain run starts.
"""

from __future__ import annotations

import gc
import os

_settled_in: int | None = None  # the process that settled (a fork starts unsettled)


def settle() -> bool:
    """Collect, then freeze what is left, the first time a process calls this; returns whether
    it did (a later call does nothing)."""
    global _settled_in
    if _settled_in == os.getpid():
        return False
    gc.collect()
    gc.freeze()
    _settled_in = os.getpid()
    return True
