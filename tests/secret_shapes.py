"""Known secret shapes, and a scan of every Delta table of a lake for them.

Two kinds of detection, both independent of the project's own redaction list
(``resolvers/canonical.py``), so that a field the list forgot is still found:

- **text shapes**, searched in every string (and in what a base64 string decodes to): the
  documented example AWS secret key, a 40-character secret after an AWS secret key name, AWS
  session tokens, PEM private key blocks, URLs with a password (``scheme://user:pass@host``);
- **field shapes**, searched in every JSON document held in a string (and in list and struct
  columns): a password, secret key, session token, private key, auth token, client secret,
  EC2 user data, Secrets Manager value, or environment variable map whose value is there and is
  not a redaction marker (ours, or the ones CloudTrail writes itself).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl

# Values that stand in for a secret: our marker, and what CloudTrail writes in its place.
MARKERS = (
    re.compile(r"<redacted>(?::hmac-sha256:[0-9a-f]{16})?"),
    re.compile(r"HIDDEN_DUE_TO_SECURITY_REASONS"),
    re.compile(r"<sensitiveDataRemoved>"),
    re.compile(r"\*+"),  # consoles and SDKs mask a password as asterisks
    re.compile(r"(?i)\[?redacted\]?"),  # what some sources of the corpus wrote in its place
    re.compile(r"\$\{[^}]*\}|\{\{[^}]*\}\}"),  # a template placeholder, not a value
)

EXAMPLE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

TEXT_SHAPES: dict[str, re.Pattern[str]] = {
    "aws example secret key": re.compile(re.escape(EXAMPLE_SECRET_KEY)),
    # aws_secret_access_key = X, SecretAccessKey: "X", "secretAccessKey":"X", AWS_SECRET_KEY=X
    "aws secret access key": re.compile(
        r"(?i)(?:secret_?access_?key|aws_?secret_?key)[\"']?\s*[:=]\s*[\"']?"
        r"(?<![A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    ),
    # STS session tokens are base64 of a protobuf: they begin with these (old and new format)
    "aws session token": re.compile(
        r"(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE|FQoDYXdzE)[A-Za-z0-9/+=]{40,}"
    ),
    "private key block": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "credentials in a url": re.compile(
        r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@\"'<>]+:([^\s/@\"'<>]+)@[A-Za-z0-9.\-\[\]_]+"
    ),
}

# Field names, compared without case, underscores or dashes.
SECRET_FIELDS = frozenset(
    {
        "secretaccesskey",
        "awssecretaccesskey",
        "sessiontoken",
        "awssessiontoken",
        "privatekey",
        "privatekeydata",
        "privatekeypem",
        "secretstring",
        "secretbinary",
        "authtoken",
        "clientsecret",
        "keymaterial",
        "userdata",
    }
)
# A field that ends like this holds a password when its value is a string (``MasterUserPassword``,
# ``rootPassword``; not ``PasswordLastUsed`` or ``passwordPolicy``, whose names go on).
PASSWORD_SUFFIXES = ("password", "passwd", "passphrase")
# Maps of environment variables: every value is a secret (names may stay).
ENV_MAPS = frozenset(
    {"variables", "environmentvariables", "buildenvironmentvariables", "secretenvironmentvariables"}
)
# Lists of {name, value} pairs (ECS, Cloud Run, Kubernetes).
ENV_PAIR_LISTS = frozenset({"environment", "env"})
# Where base64 is decoded and searched again (user data is base64 of a script).
BASE64 = re.compile(r"^[A-Za-z0-9+/]{24,}={0,2}$")


@dataclass(frozen=True, slots=True)
class Hit:
    """One secret shape found: where, which shape, and a short, partly masked excerpt."""

    where: str
    shape: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.shape}: {self.excerpt}"


def is_marker(value: Any) -> bool:
    """Whether a value is empty or a redaction marker (not a secret)."""
    if value is None or value in ("", {}, []):
        return True
    return isinstance(value, str) and any(m.fullmatch(value.strip()) for m in MARKERS)


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _mask(text: str) -> str:
    text = text if len(text) <= 60 else text[:60] + "..."
    return text[:12] + "*" * min(8, max(0, len(text) - 12)) if len(text) > 12 else text


def scan_text(text: str, where: str = "") -> Iterator[Hit]:
    """Text shapes in a string, and in what it decodes to when it is base64."""
    for shape, pattern in TEXT_SHAPES.items():
        for match in pattern.finditer(text):
            secret = match.group(match.lastindex or 0)
            if shape == "credentials in a url" and is_marker(secret):
                continue
            yield Hit(where, shape, _mask(match.group(0)))
    stripped = text.strip()
    if BASE64.fullmatch(stripped):
        try:
            decoded = base64.b64decode(stripped, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return
        yield from scan_string(decoded, f"{where} (base64)")


def scan_document(document: Any, where: str = "") -> Iterator[Hit]:
    """Field shapes and text shapes in a JSON-like value, at any depth."""
    if isinstance(document, dict):
        for key, value in document.items():
            path = f"{where}.{key}"
            name = _norm(str(key))
            if name == "privatekeyid" and not is_marker(document.get("private_key")):
                yield Hit(path, "gcp service account key file", _mask(str(value)))
            if name in SECRET_FIELDS and not is_marker(value):
                yield Hit(path, f"secret field {key}", _mask(str(value)))
                yield from scan_document(value, path)  # and what it holds (a decoded script)
            elif (
                name.endswith(PASSWORD_SUFFIXES) and isinstance(value, str) and not is_marker(value)
            ):
                yield Hit(path, f"password field {key}", _mask(value))
            elif name in ENV_MAPS and isinstance(value, dict):
                for var, secret in value.items():
                    if not is_marker(secret):
                        yield Hit(f"{path}.{var}", "environment variable", _mask(str(secret)))
            elif name in ENV_PAIR_LISTS and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and "value" in item and not is_marker(item["value"]):
                        yield Hit(path, "environment variable", _mask(str(item["value"])))
            else:
                yield from scan_document(value, path)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from scan_document(item, f"{where}[{index}]")
    elif isinstance(document, str):
        yield from scan_string(document, where)


def scan_string(text: str, where: str = "") -> Iterator[Hit]:
    """A string: its text shapes, and the field shapes of the JSON it holds, if it holds JSON."""
    yield from scan_text(text, where)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return
        yield from scan_document(parsed, where)


def delta_tables(lake_dir: Path) -> list[Path]:
    """Every Delta table under a lake folder (any folder holding a ``_delta_log``)."""
    return sorted(log.parent for log in lake_dir.rglob("_delta_log") if log.is_dir())


def scan_table(path: Path, root: Path) -> tuple[int, list[Hit]]:
    """Every row and column of one Delta table: (rows read, hits)."""
    frame = pl.read_delta(str(path))
    name = path.relative_to(root).as_posix()
    hits: dict[tuple[str, str, str], Hit] = {}
    for number, row in enumerate(frame.iter_rows(named=True)):
        for column, value in row.items():
            for hit in scan_document(value, f"{name}[{number}].{column}"):
                hits.setdefault((hit.where.split(".", 1)[0], hit.shape, hit.excerpt), hit)
    return frame.height, list(hits.values())


def scan_lake(lake_dir: Path) -> tuple[dict[str, int], list[Hit]]:
    """Every Delta table of a lake: rows read per table, and every hit."""
    rows: dict[str, int] = {}
    hits: list[Hit] = []
    for path in delta_tables(lake_dir):
        count, found = scan_table(path, lake_dir)
        rows[path.relative_to(lake_dir).as_posix()] = count
        hits.extend(found)
    return rows, hits
