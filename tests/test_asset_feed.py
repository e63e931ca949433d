"""GCP asset feed messages into the lake, through ``assetlake ingest``.

Feed sequences are built from the corpus's real Cloud Asset Inventory snapshots (which carry no
time): each snapshot is wrapped into TemporalAsset messages with chosen window start times and
mutated into an update, an update of volatile fields only, a deletion and a re-creation. The
same sequences are written in snake_case (as exports write them, and as the corpus holds them)
and in camelCase (as Pub/Sub delivers them).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from deltalake import DeltaTable

from pipelines.cli import main
from resolvers.errors import LakeError
from resolvers.lake import layout
from resolvers.lake.storage import FORMAT_VERSION, MARKER, Lake

CAI_FILE = "gcp_policy_library_fixtures.cai_assets.jsonl"
T0 = dt.datetime(2024, 6, 3, 8, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=15)

# (asset type, content) of the snapshots the sequences are built from.
RESOURCE_TYPES = [
    "storage.googleapis.com/Bucket",
    "compute.googleapis.com/Firewall",
    "sqladmin.googleapis.com/Instance",
    "container.googleapis.com/Cluster",
]
POLICY_TYPES = ["bigquery.googleapis.com/Dataset", "cloudresourcemanager.googleapis.com/Project"]
SEQUENCE_TYPES = [*RESOURCE_TYPES, *POLICY_TYPES]


# -- feed messages from the corpus --------------------------------------------------------------
def cai_snapshots(corpus: Path) -> list[dict[str, Any]]:
    """Every CAI asset snapshot of the corpus, as exported (snake_case, no time)."""
    lines = (corpus / CAI_FILE).read_text().splitlines()
    return [orjson.loads(line) for line in lines if line.strip()]


def snapshot_of(corpus: Path, asset_type: str) -> dict[str, Any]:
    """The first snapshot of one type holding the content the sequences mutate."""
    content = "iam_policy" if asset_type in POLICY_TYPES else "resource"
    for asset in cai_snapshots(corpus):
        if asset["asset_type"] == asset_type and content in asset:
            return asset
    raise AssertionError(f"no {asset_type} snapshot with {content} in the corpus")


def changed(asset: dict[str, Any]) -> dict[str, Any]:
    """The asset after a real change: a new label, or a new IAM binding."""
    result = copy.deepcopy(asset)
    if "iam_policy" in result:
        binding = {"role": "roles/viewer", "members": ["user:auditor@example.com"]}
        result["iam_policy"].setdefault("bindings", []).append(binding)
    else:
        data = result["resource"]["data"]
        data["labels"] = {**(data.get("labels") or {}), "cost-center": "cc-4711"}
    return result


def touched(asset: dict[str, Any]) -> dict[str, Any]:
    """The asset after a change of volatile fields only (a new etag): not a new version."""
    result = copy.deepcopy(asset)
    holder = result["iam_policy"] if "iam_policy" in result else result["resource"]["data"]
    holder["etag"] = "BwYz9Q0touched="
    return result


def at(step: int) -> str:
    """The window start time of step ``step``, as feeds write it (nanoseconds)."""
    return (T0 + step * STEP).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def feed_sequence(asset: dict[str, Any], first_step: int = 0) -> list[dict[str, Any]]:
    """Create, update, volatile update, delete, re-create: snake_case TemporalAsset messages."""
    updated = changed(asset)
    volatile = touched(updated)
    steps = [
        {"asset": asset, "prior_asset_state": "DOES_NOT_EXIST"},
        {"asset": updated, "prior_asset": asset, "prior_asset_state": "PRESENT"},
        {"asset": volatile, "prior_asset": updated, "prior_asset_state": "PRESENT"},
        {
            "asset": volatile,
            "deleted": True,
            "prior_asset": volatile,
            "prior_asset_state": "PRESENT",
        },
        {"asset": asset, "prior_asset_state": "DELETED"},
    ]
    return [{**m, "window": {"start_time": at(first_step + i)}} for i, m in enumerate(steps)]


EXPECTED_ACTIONS = ["create", "update", "update", "delete", "create"]


def camel(name: str) -> str:
    """snake_case to camelCase."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_message(message: dict[str, Any]) -> dict[str, Any]:
    """A TemporalAsset as Pub/Sub delivers it: envelope, Asset and resource keys in camelCase.

    Contents (resource.data, the IAM policy) are API JSON and are the same in both spellings.
    """

    def asset(value: dict[str, Any]) -> dict[str, Any]:
        converted = {camel(k): v for k, v in value.items()}
        if isinstance(converted.get("resource"), dict):
            converted["resource"] = {camel(k): v for k, v in converted["resource"].items()}
        return converted

    result: dict[str, Any] = {}
    for key, value in message.items():
        if key in ("asset", "prior_asset"):
            value = asset(value)
        elif key == "window":
            value = {camel(k): v for k, v in value.items()}
        result[camel(key)] = value
    return result


def write_lines(path: Path, messages: Iterable[dict[str, Any] | str]) -> Path:
    """A JSON-lines file of messages (strings are written as they are)."""
    lines = [m if isinstance(m, str) else orjson.dumps(m).decode() for m in messages]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- running the command and reading the lake ----------------------------------------------------
def ingest(lake: Path | str, *files: Path, batch_size: int | None = None) -> Result:
    """``assetlake ingest --lake LAKE FILE...`` in-process."""
    args = ["ingest", "--lake", str(lake), *map(str, files)]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    return CliRunner().invoke(main, args)


def read(lake: Lake, name: str) -> list[dict[str, Any]]:
    """One table as readers see it, in a stable order."""
    return sorted(layout.read_table(lake, name).collect().to_dicts(), key=repr)


def line_numbers(lake: Lake, files: Sequence[Path]) -> dict[str, str]:
    """event_id -> 'file-index:line' of the record it came from (via raw_events payloads)."""
    where = {}
    for index, path in enumerate(files):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            where[line] = f"{index}:{number}"
    return {row["event_id"]: where[row["payload"]] for row in read(lake, "raw_events")}


# when and by what a row was loaded: not part of what it says
LOAD_COLUMNS = ("batch_id", "recorded_at", "received_at", "landed_at", "resolved_at")


def lake_contents(lake: Lake, files: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    """asset_versions and asset_changes with event ids replaced by record positions and load
    times left out: what must not depend on how the same messages were spelled or batched."""
    position = line_numbers(lake, files)
    versions = [
        {
            **{k: v for k, v in row.items() if k not in ("recorded_at", "change_event_ids")},
            "changes": sorted(position[i] for i in row["change_event_ids"]),
        }
        for row in read(lake, "asset_versions")
    ]
    changes = [
        {
            **{k: v for k, v in row.items() if k not in ("event_id", *LOAD_COLUMNS)},
            "record": position[row["event_id"]],
        }
        for row in read(lake, "asset_changes")
    ]
    return {
        "asset_versions": sorted(versions, key=repr),
        "asset_changes": sorted(changes, key=repr),
    }


def chain(lake: Lake, asset_key: str) -> list[dict[str, Any]]:
    """The versions of one asset, in order."""
    rows = [row for row in read(lake, "asset_versions") if row["asset_key"] == asset_key]
    return sorted(rows, key=lambda row: row["valid_from"])


# -- sequences through the command --------------------------------------------------------------
@pytest.mark.parametrize("asset_type", SEQUENCE_TYPES)
def test_feed_sequence_gives_full_history(corpus: Path, tmp_path: Path, asset_type: str) -> None:
    asset = snapshot_of(corpus, asset_type)
    feed = write_lines(tmp_path / "feed.jsonl", feed_sequence(asset))
    result = ingest(tmp_path / "lake", feed)
    assert result.exit_code == 0, result.output
    assert "5 records" in result.stdout

    lake = Lake(str(tmp_path / "lake"))
    versions = chain(lake, asset["name"])
    starts = [T0 + i * STEP for i in range(5)]
    assert [(v["version"], v["valid_from"], v["is_deleted"]) for v in versions] == [
        (1, starts[0], False),
        (2, starts[1], False),  # the etag-only message at step 2 is no new version
        (3, starts[3], True),
        (4, starts[4], False),
    ]
    assert [v["valid_to"] for v in versions] == [starts[1], starts[3], starts[4], None]
    assert [v["is_current"] for v in versions] == [False, False, False, True]
    assert versions[1]["last_observed_at"] == starts[2]
    assert {v["resource_type"] for v in versions} == {asset_type}
    assert versions[3]["config_hash"] == versions[0]["config_hash"]  # re-created as it was
    assert versions[1]["config_hash"] != versions[0]["config_hash"]
    assert "cc-4711" in versions[1]["config"] or "auditor@example.com" in versions[1]["config"]

    changes = sorted(read(lake, "asset_changes"), key=lambda row: row["event_time"])
    assert [c["action"] for c in changes] == EXPECTED_ACTIONS
    assert {c["asset_key"] for c in changes} == {asset["name"]}
    assert read(lake, "unresolved_events") == []


def test_sequences_of_several_types_interleaved(corpus: Path, tmp_path: Path) -> None:
    """Several assets in one file and small batches: every asset gets its own full chain."""
    assets = [snapshot_of(corpus, asset_type) for asset_type in SEQUENCE_TYPES]
    messages = [m for i, a in enumerate(assets) for m in feed_sequence(a, first_step=i)]
    messages.sort(key=lambda m: m["window"]["start_time"])
    feed = write_lines(tmp_path / "feed.jsonl", messages)
    result = ingest(tmp_path / "lake", feed, batch_size=4)
    assert result.exit_code == 0, result.output

    lake = Lake(str(tmp_path / "lake"))
    assert len(read(lake, "raw_events")) == len(messages)
    for asset in assets:
        versions = chain(lake, asset["name"])
        assert [v["version"] for v in versions] == [1, 2, 3, 4]
        assert [v["is_deleted"] for v in versions] == [False, False, True, False]


@pytest.mark.parametrize(
    "asset_type",
    [*RESOURCE_TYPES, *POLICY_TYPES],
)
def test_camel_and_snake_case_give_identical_lakes(
    corpus: Path, tmp_path: Path, asset_type: str
) -> None:
    messages = feed_sequence(snapshot_of(corpus, asset_type))
    snake = write_lines(tmp_path / "snake.jsonl", messages)
    camel_case = write_lines(tmp_path / "camel.jsonl", map(camel_message, messages))
    assert b"start_time" in snake.read_bytes() and b"startTime" in camel_case.read_bytes()
    for name, feed in (("snake", snake), ("camel", camel_case)):
        result = ingest(tmp_path / name, feed)
        assert result.exit_code == 0, result.output
    from_snake = lake_contents(Lake(str(tmp_path / "snake")), [snake])
    from_camel = lake_contents(Lake(str(tmp_path / "camel")), [camel_case])
    assert len(from_snake["asset_versions"]) == 4
    assert from_camel == from_snake


def test_batching_and_order_do_not_change_the_lake(corpus: Path, tmp_path: Path) -> None:
    """Invariant 4 through the command: reversed files, one record a batch, same tables."""
    assets = [snapshot_of(corpus, t) for t in ("storage.googleapis.com/Bucket", *POLICY_TYPES)]
    messages = [m for a in assets for m in feed_sequence(a)]
    forward = write_lines(tmp_path / "forward.jsonl", messages)
    backward = write_lines(tmp_path / "backward.jsonl", messages[::-1])
    assert ingest(tmp_path / "one", forward).exit_code == 0
    assert ingest(tmp_path / "many", backward, batch_size=1).exit_code == 0
    one = lake_contents(Lake(str(tmp_path / "one")), [forward])
    many = lake_contents(Lake(str(tmp_path / "many")), [backward])
    strip = _without_positions
    assert strip(many) == strip(one)


def _without_positions(contents: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    """Contents compared across files holding the same lines in another order."""
    return {
        name: sorted(
            ({k: v for k, v in r.items() if k not in ("changes", "record")} for r in rows), key=repr
        )
        for name, rows in contents.items()
    }


def test_ingest_twice_changes_nothing(corpus: Path, tmp_path: Path) -> None:
    feed = write_lines(
        tmp_path / "feed.jsonl", feed_sequence(snapshot_of(corpus, RESOURCE_TYPES[1]))
    )
    assert ingest(tmp_path / "lake", feed).exit_code == 0
    lake = Lake(str(tmp_path / "lake"))
    tables = ("raw_events", "asset_changes", "asset_versions", "unresolved_events")
    before = {name: read(lake, name) for name in tables}
    again = ingest(tmp_path / "lake", feed)
    assert again.exit_code == 0, again.output
    assert "0 new raw events, 0 asset changes, 0 versions written" in again.stdout
    assert {name: read(lake, name) for name in tables} == before  # recorded_at included


def test_corpus_snapshots_without_time_are_landed_as_unresolved(
    corpus: Path, tmp_path: Path
) -> None:
    """The corpus file as it is: bare assets with no update time cannot be placed in a history,
    so every one is landed and reported, none is lost, and the command succeeds."""
    source = corpus / CAI_FILE
    result = ingest(tmp_path / "lake", source)
    assert result.exit_code == 0, result.output
    lake = Lake(str(tmp_path / "lake"))
    lines = [line for line in source.read_text().splitlines() if line.strip()]
    raw = read(lake, "raw_events")
    assert {row["payload"] for row in raw} == set(lines)
    unresolved = read(lake, "unresolved_events")
    assert {row["event_id"] for row in unresolved} == {row["event_id"] for row in raw}
    assert {row["reason"] for row in unresolved} == {"no_event_time"}
    assert read(lake, "asset_versions") == []


# -- bad input ----------------------------------------------------------------------------------
def one_error_line(result: Result) -> str:
    """The command failed with status 2 and exactly one line on stderr; returns it."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("assetlake: error: ")
    return lines[0]


def test_non_json_file_is_refused_and_nothing_written(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not an event file\nnor is this line\n")
    lake_folder = tmp_path / "lake"
    line = one_error_line(ingest(lake_folder, text))
    assert "notes.txt" in line and "not JSON" in line
    assert not lake_folder.exists()


def test_bad_file_among_good_ones_writes_nothing(corpus: Path, tmp_path: Path) -> None:
    good = write_lines(tmp_path / "good.jsonl", feed_sequence(snapshot_of(corpus, POLICY_TYPES[0])))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_error_line(ingest(tmp_path / "lake", good, empty))
    assert not (tmp_path / "lake").exists()


def test_malformed_line_is_unresolved_and_the_rest_committed(corpus: Path, tmp_path: Path) -> None:
    messages: list[dict[str, Any] | str] = list(feed_sequence(snapshot_of(corpus, POLICY_TYPES[0])))
    broken = '{"asset": {"name": "//bigquery.googleapis.com/projects/p/datasets/d", '
    messages.insert(2, broken)
    feed = write_lines(tmp_path / "feed.jsonl", messages)
    result = ingest(tmp_path / "lake", feed)
    assert result.exit_code == 0, result.output
    lake = Lake(str(tmp_path / "lake"))
    unresolved = read(lake, "unresolved_events")
    assert [(row["reason"], row["source"]) for row in unresolved] == [
        ("malformed", "gcp_asset_feed")
    ]
    assert "feed.jsonl:3" in unresolved[0]["detail"]
    raw = read(lake, "raw_events")
    assert len(raw) == 6
    assert unresolved[0]["event_id"] in {row["event_id"] for row in raw}
    assert len(read(lake, "asset_changes")) == 5
    assert len(read(lake, "asset_versions")) == 4


def test_folder_holding_something_else_is_not_touched(corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "q3.csv").write_text("quarter,total\nQ3,42\n")
    feed = write_lines(tmp_path / "feed.jsonl", feed_sequence(snapshot_of(corpus, POLICY_TYPES[0])))
    line = one_error_line(ingest(folder, feed))
    assert "not an assetlake lake" in line and str(folder) in line
    assert sorted(p.name for p in folder.iterdir()) == ["q3.csv"]
    assert (folder / "q3.csv").read_text() == "quarter,total\nQ3,42\n"


def test_lake_of_a_newer_format_is_refused(corpus: Path, tmp_path: Path) -> None:
    feed = write_lines(tmp_path / "feed.jsonl", feed_sequence(snapshot_of(corpus, POLICY_TYPES[0])))
    Lake(str(tmp_path / "lake")).create()
    marker_path = tmp_path / "lake" / MARKER
    marker = orjson.loads(marker_path.read_bytes())
    marker["format_version"] = FORMAT_VERSION + 1
    marker_path.write_bytes(orjson.dumps(marker))
    line = one_error_line(ingest(tmp_path / "lake", feed))
    assert "newer" in line and str(FORMAT_VERSION + 1) in line
    with pytest.raises(LakeError, match="newer"):
        Lake(str(tmp_path / "lake")).table("raw_events")
    assert _raw_rows_on_disk(tmp_path / "lake") == 0


def _raw_rows_on_disk(lake_folder: Path) -> int:
    """raw_events rows, read without going through the (refusing) Lake."""
    return DeltaTable(str(lake_folder / "raw_events")).to_pyarrow_table().num_rows


def test_marker_that_is_not_json_is_refused(tmp_path: Path, corpus: Path) -> None:
    folder = tmp_path / "lake"
    folder.mkdir()
    (folder / MARKER).write_text("not json")
    feed = write_lines(tmp_path / "feed.jsonl", feed_sequence(snapshot_of(corpus, POLICY_TYPES[0])))
    assert "not valid JSON" in one_error_line(ingest(folder, feed))
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]
