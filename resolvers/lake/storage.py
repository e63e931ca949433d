"""Where the lake lives: a local folder or ``s3://bucket/prefix``, and its Delta tables.

A lake is a folder with a marker file, ``_assetlake.json`` (format version, creation time, the
redaction salt), and one Delta table per name of :mod:`resolvers.lake.tables`. Opening a folder
that holds something else, or a lake of a newer format, is an error: never an overwrite.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

import botocore.session
import fsspec
import orjson
import polars as pl
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError
from deltalake import CommitProperties, DeltaTable, Schema
from deltalake.exceptions import DeltaError, TableNotFoundError

from resolvers.errors import LakeError
from resolvers.lake.tables import TABLES, TABLES_BY_NAME, TableSpec
from resolvers.timeutil import isoformat, utcnow

FORMAT = "assetlake"
FORMAT_VERSION = 1
MARKER = "_assetlake.json"
MARKER_DRAFT = f".{MARKER}."  # a marker being written, before it is linked into place
DEFAULT_LAKE = "./lake"
SALT_ENV = "ASSETLAKE_REDACTION_SALT"


def default_lake_uri() -> str:
    """``$ASSETLAKE_LAKE``, else ``./lake``."""
    return os.environ.get("ASSETLAKE_LAKE") or DEFAULT_LAKE


def s3_storage_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """delta-rs object-store options for S3 from the usual AWS variables.

    Credentials not in the variables are left to the default chain (profile, SSO, web identity,
    instance role). The region comes from the variables, else (for the process's own
    environment) from the AWS config file's profile, else it is left out: never a guessed
    ``us-east-1``, which delta-rs would then use even for a bucket in another region.
    """
    region = None
    if env is None:
        env = os.environ
        region = _configured_region()
    options: dict[str, str] = {}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(name):
            options[name] = env[name]
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or region
    if region:
        options["AWS_REGION"] = region
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        options["AWS_ALLOW_HTTP"] = "true" if endpoint.startswith("http://") else "false"
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
    # S3 has conditional writes (If-None-Match), which delta-rs uses for safe concurrent commits.
    # ASSETLAKE_S3_CONDITIONAL_PUT overrides it for S3-compatible stores; set empty, the option is
    # left out (an empty value is not a valid object-store setting).
    conditional_put = env.get("ASSETLAKE_S3_CONDITIONAL_PUT", "etag")
    if conditional_put:
        options["AWS_CONDITIONAL_PUT"] = conditional_put
    return options


def _configured_region() -> str | None:
    """The region of the AWS profile in use (``AWS_PROFILE``, ``~/.aws/config``), if any."""
    try:
        return botocore.session.Session().get_config_variable("region")
    except BotoCoreError:  # a profile named but not configured: the SDKs will say so
        return None


# What s3fs and botocore raise when S3 cannot be reached: no credentials, access denied, no
# connection to the endpoint. A missing key is FileNotFoundError and is handled where it occurs.
S3_FAILURES = (PermissionError, BotoCoreError, ClientError)
# deltalake 1.6 keeps the file actions of every commit a loaded table has been brought forward
# over (update_incremental, or its own appends) as one more piece of its snapshot, and walks
# them all on each commit: a table object that followed 400 commits took 35 ms of CPU to append
# 10 rows, against 7 ms freshly loaded. A table is loaded afresh (from its latest checkpoint)
# once it has moved this many versions past its load, so a long-running writer's commits stay
# at the cost of a new one's.
RELOAD_AFTER_VERSIONS = 32
# Table properties of every table the lake creates. A checkpoint every 20 commits (Delta's
# default is 100) keeps what a load or an update replays short: with the reloads above, a
# writer's commit cost stayed flat over 160 batches (116 -> 120 ms) where it grew (107 -> 134
# ms) with the default. A checkpoint costs a write of the table's file list every 20 commits.
TABLE_PROPERTIES = {"delta.checkpointInterval": "20"}


class Lake:
    """A lake of Delta tables under one root URI."""

    def __init__(self, uri: str | None = None) -> None:
        raw = uri or default_lake_uri()
        self.is_s3 = raw.startswith("s3://")
        self.uri = raw.rstrip("/") if self.is_s3 else str(Path(raw).expanduser().resolve())
        self.storage_options: dict[str, str] | None = s3_storage_options() if self.is_s3 else None
        self._tables: dict[str, DeltaTable] = {}
        self._loaded_at: dict[str, int] = {}  # the version each cached table was loaded at
        # the latest version of each table this process knows of: its own commits (made by
        # resolvers/lake/append.py) are not loaded into the cached table until it is read
        self._head: dict[str, int] = {}
        self._others: dict[str, int] = {}  # how often other processes' commits were found

    def __repr__(self) -> str:
        return f"Lake({self.uri!r})"

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        """An fsspec filesystem for the lake's root (local or s3fs)."""
        if not self.is_s3:
            return fsspec.filesystem("file")
        options = self.storage_options or {}
        client_kwargs: dict[str, Any] = {}
        if "AWS_REGION" in options:
            client_kwargs["region_name"] = options["AWS_REGION"]
        if "AWS_ENDPOINT_URL" in options:
            client_kwargs["endpoint_url"] = options["AWS_ENDPOINT_URL"]
        return fsspec.filesystem("s3", client_kwargs=client_kwargs)

    def table_uri(self, name: str) -> str:
        """The URI of one table of the lake."""
        return f"{self.uri}/{name}"

    # -- the marker -----------------------------------------------------------------------
    def _marker_path(self) -> str:
        return f"{self.uri}/{MARKER}"

    def read_marker(self) -> dict[str, Any] | None:
        """The lake's marker, or None where there is none."""
        try:
            with self.fs.open(self._marker_path(), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        except S3_FAILURES as exc:
            raise LakeError(f"{self.uri}: cannot read {MARKER}: {exc}") from exc
        try:
            marker = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise LakeError(f"{self.uri}: {MARKER} is not valid JSON") from exc
        if not isinstance(marker, dict) or marker.get("format") != FORMAT:
            raise LakeError(f"{self.uri}: {MARKER} does not describe an assetlake lake")
        return marker

    @cached_property
    def marker(self) -> dict[str, Any]:
        """The marker, checked for compatibility (the lake must exist)."""
        marker = self.read_marker()
        if marker is None:
            raise LakeError(f"{self.uri}: no assetlake lake here (run `assetlake ingest` first)")
        version = marker.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise LakeError(
                f"{self.uri}: lake format version {version!r} is newer than this assetlake "
                f"supports ({FORMAT_VERSION}); upgrade assetlake"
            )
        return marker

    @property
    def salt(self) -> bytes:
        """The redaction salt: ``$ASSETLAKE_REDACTION_SALT``, else the lake's own."""
        return (os.environ.get(SALT_ENV) or self.marker["redaction_salt"]).encode()

    def exists(self) -> bool:
        """Whether an assetlake lake is at this URI."""
        return self.read_marker() is not None

    def _check_bucket(self) -> None:
        """On S3: a missing or unreachable bucket is one clear error, before anything is written
        (s3fs would otherwise fail on the marker upload with a bare FileNotFoundError)."""
        bucket = self.uri.removeprefix("s3://").split("/", 1)[0]
        try:
            found = self.fs.exists(bucket)
        except (OSError, *S3_FAILURES) as exc:
            raise LakeError(f"{self.uri}: cannot reach S3 bucket {bucket!r}: {exc}") from exc
        if not found:
            raise LakeError(
                f"{self.uri}: S3 bucket {bucket!r} does not exist or cannot be listed with these "
                "credentials and endpoint"
            )

    def create(self) -> Lake:
        """Create the lake (marker and empty tables) unless it exists; check it if it does.

        Processes that create the same new lake at once (the sensors of a fresh deployment)
        all succeed and agree on one marker, hence one redaction salt: the marker is written
        exclusively and whole, a folder that another creator has begun counts as this lake, and
        a table that another creator committed first is taken as it is.
        """
        if self.is_s3:
            self._check_bucket()
        if self.read_marker() is None:
            # the folder may hold another creator's marker and tables by now: look again
            if not self._is_empty() and self.read_marker() is None:
                raise LakeError(
                    f"{self.uri}: the folder is not empty and is not an assetlake lake; "
                    "refusing to write into it"
                )
            self._write_marker()
        self.__dict__.pop("marker", None)
        _ = self.marker
        for spec in TABLES:
            self._ensure_table(spec)
        return self

    def _is_empty(self) -> bool:
        """Whether the lake's folder holds nothing (a marker being written aside)."""
        try:
            names = self.fs.ls(self.uri, detail=False)
        except FileNotFoundError:
            return True
        return all(PurePosixPath(str(name)).name.startswith(MARKER_DRAFT) for name in names)

    def _write_marker(self) -> None:
        """Write a new marker unless one is there. It is put exclusively, so of two processes
        creating the lake at once one marker (one salt) stands, and whole, so that no reader
        meets part of one: on S3 a conditional put (unless conditional puts are turned off for
        the store, see :func:`s3_storage_options`), on a folder a draft linked into place."""
        marker = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": isoformat(utcnow()),
            "redaction_salt": secrets.token_hex(16),
        }
        # another process that created the lake first keeps its marker
        self.put_exclusive(MARKER, orjson.dumps(marker, option=orjson.OPT_INDENT_2))

    # -- files ----------------------------------------------------------------------------
    @property
    def exclusive_puts(self) -> bool:
        """Whether :meth:`put_exclusive` is exclusive here (S3 needs conditional puts)."""
        return not self.is_s3 or bool((self.storage_options or {}).get("AWS_CONDITIONAL_PUT"))

    def put_exclusive(self, path: str, data: bytes) -> bool:
        """Create the file ``path`` (relative to the lake) holding ``data``, whole, unless it
        exists; False if it did. A reader never meets part of it: on S3 a conditional put (an
        ordinary one where the store has none, see :func:`s3_storage_options`), on a folder a
        draft linked into place. On S3 a put that the client retried after it had landed (a
        lost answer) finds its own bytes there: that counts as created."""
        if self.is_s3:
            mode = "xb" if self.exclusive_puts else "wb"
            target = f"{self.uri}/{path}"
            try:
                with self.fs.open(target, mode) as handle:
                    handle.write(data)  # type: ignore[arg-type]
            except FileExistsError:
                try:
                    return self.fs.cat_file(target) == data
                except FileNotFoundError:
                    return False
            return True
        target = Path(self.uri, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # the marker's draft is MARKER_DRAFT + 16 hex digits, which _is_empty looks past
        draft = target.with_name(f".{target.name}.{secrets.token_hex(8)}")
        draft.write_bytes(data)
        try:
            os.link(draft, target)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: an exclusive create instead
            try:
                with target.open("xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
        finally:
            draft.unlink(missing_ok=True)
        return True

    def put_file(self, path: str, data: bytes | pa.Buffer) -> None:
        """Write the file ``path`` (relative to the lake), a new one (a data file)."""
        if self.is_s3:
            with self.fs.open(f"{self.uri}/{path}", "wb") as handle:
                handle.write(data)  # type: ignore[arg-type]
            return
        target = Path(self.uri, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            handle.write(data)

    def _ensure_table(self, spec: TableSpec) -> None:
        uri = self.table_uri(spec.name)
        try:
            table = DeltaTable(uri, storage_options=self.storage_options)
        except TableNotFoundError:
            try:
                DeltaTable.create(
                    uri,
                    schema=spec.schema,
                    partition_by=list(spec.partition_by) or None,
                    name=spec.name,
                    description=spec.description,
                    configuration={**TABLE_PROPERTIES, **dict(spec.configuration)},
                    storage_options=self.storage_options,
                    mode="ignore",
                    # a creator that loses the race for version 0 must not commit a second
                    # CREATE TABLE as version 1 (deltalake's retry would: a new table id)
                    commit_properties=CommitProperties(max_commit_retries=0),
                )
                return
            except DeltaError as exc:  # another process committed it first: check what it made
                try:
                    table = DeltaTable(uri, storage_options=self.storage_options)
                except TableNotFoundError:
                    raise LakeError(f"{uri}: cannot create the table ({exc})") from exc
        present = set(table.schema().to_arrow().names)
        missing = [name for name in spec.schema.names if name not in present]
        addable = [name for name in missing if name in spec.added_columns]
        if addable and len(addable) == len(missing):  # a lake older than these columns
            self._add_columns(table, spec, addable)
            return
        if missing:
            raise LakeError(f"{uri}: not an assetlake table (missing columns {', '.join(missing)})")

    def _add_columns(self, table: DeltaTable, spec: TableSpec, names: list[str]) -> None:
        """Add nullable columns to an existing table (a concurrent writer may do it first)."""
        fields = pa.schema([spec.schema.field(name) for name in names])
        try:
            table.alter.add_columns(list(Schema.from_arrow(fields).fields))
        except DeltaError as exc:
            table.update_incremental()
            if set(names) - set(table.schema().to_arrow().names):
                raise LakeError(
                    f"{self.table_uri(spec.name)}: cannot add columns {', '.join(names)} ({exc})"
                ) from exc

    # -- tables ---------------------------------------------------------------------------
    def table(self, name: str, fresh: bool = True) -> DeltaTable:
        """The Delta table ``name``: at its latest version, or with ``fresh=False`` at the
        latest this process knows of (its own commits included)."""
        cached = self._cached(name)
        if fresh:
            self.refresh(name)
        if cached.version() < self._head.get(name, -1):
            head = self._head[name]
            cached.update_incremental()  # this process's own commits, read when it reads
            self._follow(name, head, cached.version())  # and any committed since by others
        if cached.version() - self._loaded_at[name] >= RELOAD_AFTER_VERSIONS:
            self._tables.pop(name)
            cached = self._cached(name)
        return cached

    def _cached(self, name: str) -> DeltaTable:
        if name not in TABLES_BY_NAME:
            raise LakeError(f"no table named {name!r}")
        cached = self._tables.get(name)
        if cached is None:
            _ = self.marker
            try:
                cached = DeltaTable(self.table_uri(name), storage_options=self.storage_options)
            except TableNotFoundError as exc:
                raise LakeError(f"{self.table_uri(name)}: table missing from the lake") from exc
            self._tables[name] = cached
            self._loaded_at[name] = cached.version()
            if name in self._head:  # a reload
                self._follow(name, self._head[name], cached.version())
            self._head[name] = max(self._head.get(name, -1), cached.version())
        return cached

    def _follow(self, name: str, head: int, loaded: int) -> None:
        """A table object was brought to version ``loaded`` where this process knew ``head``:
        past it, other processes committed."""
        if loaded > head:
            self._others[name] = self._others.get(name, 0) + 1
            self._head[name] = loaded

    def head(self, name: str) -> int:
        """The latest version of table ``name`` this process knows of, without reading it."""
        cached = self._cached(name)
        return max(self._head.get(name, -1), cached.version())

    def refresh(self, name: str) -> None:
        """Learn of versions of table ``name`` that other processes committed since
        :meth:`head` (the cached table then reads them, with this process's own)."""
        cached = self._cached(name)
        head = self.head(name)
        if self._may_have_moved(name, head):
            cached.update_incremental()
            self._follow(name, head, cached.version())

    def others_seen(self, name: str) -> int:
        """How many times this process found versions of table ``name`` committed by others
        (what a writer read of the table's metadata may be outdated since)."""
        return self._others.get(name, 0)

    def note_commit(self, name: str, version: int) -> None:
        """Record a version this process committed itself (see :meth:`head`)."""
        self._head[name] = max(self._head.get(name, -1), version)

    def _may_have_moved(self, name: str, version: int) -> bool:
        """Whether table ``name`` may have a version after ``version``. On a local folder, a
        look for the next commit file answers (Delta commits are numbered without gaps) in
        microseconds where deltalake's update takes 2-3 ms with nothing to read; a writer
        refreshes six tables a batch. On S3 the update's own listing answers."""
        if self.is_s3:
            return True
        return Path(self.uri, name, "_delta_log", f"{version + 1:020d}.json").exists()

    def scan(self, name: str, fresh: bool = True) -> pl.LazyFrame:
        """A lazy polars scan of table ``name`` (filters push down); see :meth:`table`."""
        return pl.scan_delta(self.table(name, fresh), credential_provider=None)
