"""The native helpers (resolvers/native): built where they can be, and answering as the Python.

Each native part stands in for a piece of Python and must give its answer, or say it cannot
(None), on every text: hypothesis drives both with texts built to sit on the edges (secret keys
and look-alikes in every case, quotes escaped or not, any spacing, letters outside ASCII, `\\u`
escapes), and the whole corpus goes through both. CI builds the module and requires it
(``ASSETLAKE_REQUIRE_NATIVE=1``), so these tests run there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolvers import secret_text
from resolvers.native import build
from resolvers.native.load import NATIVE_ENV, native

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
needs_native = pytest.mark.skipif(
    native() is None, reason="the native module is not built here (make native)"
)


def python_answer(payload: str) -> bool | None:
    """What the screen stands in for: the stems, then the look at their members."""
    if not payload.isascii() or "\\u" in payload:
        return None
    lowered = payload.lower()
    stems = secret_text._stems_in(lowered)
    if not stems:
        return False
    return secret_text._held_in_text(payload, lowered, stems)


def python_members(text: bytes) -> tuple[bool, set[bytes]]:
    """What the member scan stands in for: the regex's members, then the two checks."""
    members = set(secret_text._MEMBER.findall(text))
    return secret_text._secret_in(text, members), members & secret_text._VOLATILE_MEMBERS


def native_answer(payload: str) -> bool | None:
    screen = secret_text._SCREEN
    assert screen is not None
    return screen(payload)


def native_members(text: bytes) -> tuple[bool, set[bytes]]:
    scan = secret_text._MEMBER_SCAN
    assert scan is not None
    return scan(text)


def corpus_lines() -> list[str]:
    return [
        line
        for path in sorted(CORPUS.rglob("*.json*"))
        for line in path.read_text("utf-8", "replace").splitlines()
        if line.strip()
    ]


def test_a_built_module_is_loaded_and_ci_requires_one() -> None:
    built = list(build.HERE.glob("_assetlake_native*.so"))
    if os.environ.get(build.REQUIRE_ENV) == "1":
        assert built, "CI requires the native module: make native"
    if built and os.environ.get(NATIVE_ENV, "1") != "0":
        assert native() is not None, f"{built[0].name} is there but does not load: make native"


FRAGMENTS = st.sampled_from(
    [
        '"', '\\"', "\\", ":", " : ", ",", "{", "}", "[", "]", " ", "\n", "\t", "x", "1",
        "env", "ENV", "Env", "environment", "EnvironmentVariables", "variables", "Variables",
        "token", "sessionToken", "SessionToken", "tokenType", "password", "PASSWORD",
        "masterUserPassword", "passwordPolicy", "userData", "UserData", "privateKey",
        "private_key", "secret", "SecretString", "keyMaterial", "KeyMaterial", "\\u0077",
        "\u212a", "\u0130", "é", '"env":[', '"Variables":{', '"password":"', '"userData": 1',
    ]
)  # fmt: skip


@needs_native
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAGMENTS, max_size=24).map("".join))
def test_the_secret_screen_answers_as_the_python(text: str) -> None:
    assert native_answer(text) == python_answer(text), text


@needs_native
def test_texts_outside_ascii_go_back_to_the_python_unread() -> None:
    for text in ("\ud800 env", '{"\u212aeyMaterial": "x"}', "é" * 3):
        assert native_answer(text) is None and python_answer(text) is None


@needs_native
@given(st.text(max_size=200))
def test_the_secret_screen_on_any_text(text: str) -> None:
    assert native_answer(text) == python_answer(text)


@needs_native
def test_the_secret_screen_answers_as_the_python_on_the_corpus() -> None:
    lines = corpus_lines()
    assert len(lines) > 4000
    answers = [native_answer(line) for line in lines]
    assert answers == [python_answer(line) for line in lines]
    assert answers.count(True) > 50 and answers.count(False) > 3000  # both kinds are met


MEMBER_FRAGMENTS = st.sampled_from(
    [
        b'"', b'\\"', b"\\", b":", b'":', b",", b"{", b"}", b"[", b"]", b"1", b"t", b"n",
        b"-", b" ", b"\n", b"\xc3\xa9", b"x", b"etag", b"updateTime", b"ResponseMetadata",
        b"Variables", b"env", b"environment", b"userData", b"UserData", b"password", b"PassWord",
        b"dbPassword", b"SessionToken", b"privateKeyData", b"labels", b'"x":"', b'"x":',
        b'etag":1', b'"etag":"', b'"updateTime":{', b'"Variables":{', b'"env":[', b'password":"',
    ]
)  # fmt: skip


@needs_native
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(MEMBER_FRAGMENTS, max_size=24).map(b"".join))
def test_the_member_scan_answers_as_the_python(text: bytes) -> None:
    assert native_members(text) == python_members(text), text


@needs_native
@given(st.binary(max_size=200))
def test_the_member_scan_on_any_bytes(text: bytes) -> None:
    assert native_members(text) == python_members(text)


@needs_native
def test_the_member_scan_answers_as_the_python_on_the_corpus() -> None:
    texts = [
        orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        for line in corpus_lines()
        if isinstance(value := _json(line), dict)
    ]
    assert len(texts) > 4000
    answers = [native_members(text) for text in texts]
    assert answers == [python_members(text) for text in texts]
    assert sum(secret for secret, _ in answers) > 50  # both kinds are met, volatiles too
    assert sum(bool(volatile) for _, volatile in answers) > 100


def _json(line: str) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


@needs_native
def test_the_screen_refuses_words_it_would_not_find() -> None:
    module = native()
    assert module is not None
    for bad in ("", "Env", "é"):
        with pytest.raises(ValueError, match="lowercase ASCII"):
            module.SecretScreen([(bad, [])], [], [], [], "password")


def test_a_machine_without_cargo_builds_nothing_and_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "HOME": str(tmp_path)}
    env.pop(build.REQUIRE_ENV, None)
    command = [sys.executable, "-m", "resolvers.native.build"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "native helpers not built: no cargo (a Rust toolchain) on this machine; "
        "assetlake runs in pure Python (slower, same results)"
    ]
    required = {**env, build.REQUIRE_ENV: "1"}
    done = subprocess.run(command, env=required, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "native helpers not built: no cargo (a Rust toolchain) on this machine"
    )


def test_a_failed_build_is_tried_once_more_then_said_in_one_line(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    cargo = tmp_path / "cargo"
    cargo.write_text(
        f'#!/bin/sh\necho x >> "{calls}"\necho "error: the compiler unexpectedly panicked" >&2\n'
        "exit 101\n"
    )
    cargo.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    env["CARGO_TARGET_DIR"] = str(tmp_path / "target")
    env.pop(build.REQUIRE_ENV, None)
    command = [sys.executable, "-m", "resolvers.native.build"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert calls.read_text().count("x") == 2  # once more after a pause
    assert done.stderr.splitlines() == [
        "native helpers not built: cargo build failed: error: the compiler unexpectedly "
        "panicked; assetlake runs in pure Python (slower, same results)"
    ]
