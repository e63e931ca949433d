"""Build the native helpers into the package: ``python -m resolvers.native.build``.

``make install`` runs this. It compiles src/lib.rs with cargo and puts the extension module
beside this file, where resolvers/native/load.py imports it. The crates come from Debian's
packages of them (``librust-*-dev``, installed with apt-get when missing and this is root) when
the machine has them, so the build needs no network beyond the distribution's own; else from
crates.io. Without cargo, or when the build fails, assetlake runs in pure Python and this says
why in one line; ``ASSETLAKE_REQUIRE_NATIVE=1`` (CI) makes that an error instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "Cargo.toml"
LIBRARY = "lib_assetlake_native.so"
REQUIRE_ENV = "ASSETLAKE_REQUIRE_NATIVE"
DEBIAN_CRATES = Path("/usr/share/cargo/registry")
# Debian's packages of the crates Cargo.lock names (their dependencies come with them)
DEBIAN_PACKAGES = ("librust-pyo3-dev", "librust-memchr-dev")
NEEDED_CRATES = ("pyo3-0.17", "memchr-2")
BUILD_TIMEOUT_S = 900
RETRY_PAUSE_S = 5.0


class BuildError(Exception):
    """Why the module was not built (one line)."""


def target() -> Path:
    """Where the module goes: beside this file, named for this interpreter."""
    return HERE / f"_assetlake_native{sysconfig.get_config_var('EXT_SUFFIX')}"


def cargo() -> str:
    """The cargo to build with: on PATH, else rustup's default place."""
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(found).is_file():
        raise BuildError("no cargo (a Rust toolchain) on this machine")
    return found


def _has_debian_crates() -> bool:
    names = [p.name for p in DEBIAN_CRATES.iterdir()] if DEBIAN_CRATES.is_dir() else []
    return all(any(n.startswith(crate) for n in names) for crate in NEEDED_CRATES)


def _apt_install() -> None:
    """Install Debian's packages of the crates, refreshing the package lists if need be."""
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *DEBIAN_PACKAGES]
    if _quietly(install) == 0:
        return
    _quietly(["apt-get", "update", "-q"])
    if _quietly(install) != 0:
        raise BuildError(f"apt-get could not install {' '.join(DEBIAN_PACKAGES)}")


def _quietly(command: list[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    ).returncode


def crate_source() -> list[str]:
    """cargo's options for where the crates come from: Debian's directory when it has them
    (installed here if this is a Debian machine and root), else crates.io."""
    if not _has_debian_crates() and shutil.which("apt-get") and os.geteuid() == 0:
        _apt_install()
    if not _has_debian_crates():
        return []
    return [
        "--offline",
        "--config",
        'source.crates-io.replace-with="debian-packages"',
        "--config",
        f'source.debian-packages.directory="{DEBIAN_CRATES}"',
    ]


def build(target_dir: Path) -> Path:
    """Compile the crate at the versions of Cargo.lock; returns the built library.

    Where those versions cannot be had (Debian updated one of its packaged crates), a copy of
    the crate is built at the versions at hand, leaving the committed lock file as it is.
    """
    try:
        _cargo_build(MANIFEST, target_dir, locked=True)
    except BuildError as exc:
        if "lock" not in str(exc):  # "cannot update the lock file", "(locked to 2.5.0)"
            raise
        copy = target_dir / "unlocked"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(HERE / "src", copy / "src")
        shutil.copyfile(MANIFEST, copy / MANIFEST.name)
        _cargo_build(copy / MANIFEST.name, target_dir, locked=False)
    return target_dir / "release" / LIBRARY


def _cargo_build(manifest: Path, target_dir: Path, locked: bool) -> None:
    command = [cargo(), "build", "--release", "--manifest-path", str(manifest)]
    env = {**os.environ, "PYO3_PYTHON": sys.executable, "CARGO_TARGET_DIR": str(target_dir)}
    try:
        done = subprocess.run(
            [*command, *(["--locked"] if locked else []), *crate_source()],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"cargo build took over {BUILD_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
        raise BuildError(f"cargo build failed: {(errors or ['(no error line)'])[0]}")


def _build_twice(target_dir: Path) -> Path:
    """:func:`build`, and once more after a pause if that failed for another reason than a
    missing toolchain (apt's lock held by another process, a compiler that crashed)."""
    try:
        return build(target_dir)
    except BuildError as exc:
        if "no cargo" in str(exc):
            raise
        time.sleep(RETRY_PAUSE_S)
        return build(target_dir)


def install(library: Path, destination: Path) -> None:
    """Put the library in place by rename: a process that loaded the old one keeps it."""
    draft = destination.with_name(destination.name + ".draft")
    shutil.copyfile(library, draft)
    draft.replace(destination)


def main() -> int:
    """Build and install the module; exit status 1 only when it is required and not built."""
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or HERE.parents[1] / ".venv" / "native")
    try:
        install(_build_twice(target_dir), target())
    except (BuildError, OSError) as exc:
        required = os.environ.get(REQUIRE_ENV) == "1"
        tail = "" if required else "; assetlake runs in pure Python (slower, same results)"
        print(f"native helpers not built: {exc}{tail}", file=sys.stderr)
        return 1 if required else 0
    print(f"native helpers built: {target().relative_to(HERE.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
