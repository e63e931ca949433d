"""Loading the native helpers (resolvers/native/src/lib.rs).

The module is optional: ``make install`` builds it where a Rust toolchain is at hand
(resolvers/native/build.py). Without it, its callers take the Python path, with the same
results: each native part answers as the Python it stands in for, or says it cannot.
``ASSETLAKE_NATIVE=0`` leaves the module unloaded (to compare the two).
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

MODULE = "resolvers.native._assetlake_native"
INTERFACE = 2  # the module's INTERFACE this code was written for
NATIVE_ENV = "ASSETLAKE_NATIVE"


@functools.cache
def native() -> ModuleType | None:
    """The native module, or None when it is not built, is disabled or is of another
    interface (a stale build: ``make native`` builds it again)."""
    if os.environ.get(NATIVE_ENV, "1") == "0":
        return None
    try:
        module = importlib.import_module(MODULE)
    except ImportError:
        return None
    return module if getattr(module, "INTERFACE", None) == INTERFACE else None


def status() -> str:
    """One word for reports: ``native`` or ``python``."""
    return "native" if native() is not None else "python"
