"""``assetlake demo`` end to end: the whole pipeline once on embedded services, then the lake.

The demo runs once for the session (the ``demo`` fixture of conftest.py: moto in server mode,
the Pub/Sub emulator, the code location's sensors and jobs, a full AWS scan, findings); the
tests read what it left.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import dagster as dg
import orjson
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import DemoRun, run_demo_cli

from pipelines.cli import main
from resolvers.demo import prepare_lake
from resolvers.demo_report import short_principal
from resolvers.embedded import port_open
from resolvers.lake.storage import Lake

BUCKET = "arn:aws:s3:::acme-web-assets-123456789012"
PUBLIC_RULE = "aws-event-s3-bucket-policy-made-public"
EVENT_TYPES = {
    "AWS::S3::Bucket", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup",
    "AWS::EC2::Instance", "AWS::IAM::User", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy",
    "AWS::KMS::Key", "AWS::Lambda::Function", "AWS::RDS::DBInstance", "AWS::SQS::Queue",
    "AWS::SNS::Topic",
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.service
def test_the_summary_tells_the_story_and_what_to_try_next(demo: DemoRun) -> None:
    out = demo.output
    assert "Try next:" in out and "made public and reverted" in out
    assert "Pub/Sub emulator on 127.0.0.1:" in out and "moto on http://127.0.0.1:" in out
    assert f"assetlake history '{BUCKET}'" in out and "version 2 of the bucket" in out
    assert "PUBLIC, by alice" in out and "0 unresolved" in out
    assert f"finding {PUBLIC_RULE} (critical, resolved): opened by PutBucketPolicy by alice" in out
    assert "later by DeleteBucketPolicy by bob" in out and "DAGSTER_HOME=" in out


@pytest.mark.slow
@pytest.mark.service
def test_aws_assets_come_from_the_team_s_events_with_their_principals(demo: DemoRun) -> None:
    raw = demo.table("raw_events").filter(pl.col("source") == "aws_cloudtrail")
    assert raw.height >= 40
    assert set(raw.get_column("classification")) == {"change", "error"}
    changes = demo.table("asset_changes").filter(pl.col("cloud") == "aws")
    principals = {short_principal(p) for p in changes.get_column("principal")}
    assert principals == {"alice", "bob", "ci-deployer"}
    assert set(changes.get_column("resource_type")) >= EVENT_TYPES
    event_versions = demo.table("asset_versions").filter(
        (pl.col("cloud") == "aws") & (pl.col("change_source") == "event")
    )
    assert set(event_versions.get_column("resource_type")) >= EVENT_TYPES
    assert event_versions.get_column("changed_by").is_not_null().all()
    assert demo.table("unresolved_events").height == 0


@pytest.mark.slow
@pytest.mark.service
def test_event_times_are_in_call_order_over_the_past_two_hours(demo: DemoRun) -> None:
    raw = demo.table("raw_events").filter(pl.col("source") == "aws_cloudtrail")
    details = [orjson.loads(p)["detail"] for p in raw.sort("received_at").get_column("payload")]
    calls = sorted(details, key=lambda d: d["eventTime"])
    times = [dt.datetime.fromisoformat(d["eventTime"]) for d in calls]
    assert times[-1] < demo.finished and times[-1] - times[0] < dt.timedelta(hours=2)
    assert all(d["eventVersion"] == "1.08" and d["eventCategory"] == "Management" for d in calls)
    names = [d["eventName"] for d in calls]
    made_public, reverted = names.index("PutBucketPolicy"), names.index("DeleteBucketPolicy")
    assert dt.timedelta(minutes=7) <= times[reverted] - times[made_public] < dt.timedelta(minutes=9)
    failed = [d for d in calls if "errorCode" in d]
    assert [(d["eventName"], d["errorCode"]) for d in failed] == [("DeleteUser", "DeleteConflict")]


def _public(config: str | None) -> bool:
    return bool(config) and ('"Principal":"*"' in config or '"IsPublic":true' in config)


@pytest.mark.slow
@pytest.mark.service
def test_the_public_bucket_has_its_public_version_between_two_others(demo: DemoRun) -> None:
    versions = demo.table("asset_versions").filter(pl.col("asset_key").str.starts_with(BUCKET))
    chain = versions.sort("valid_from").to_dicts()
    public = [i for i, row in enumerate(chain) if _public(row["config"]) and not row["is_deleted"]]
    assert public, "no version of the bucket (or of its policy) is public"
    first = public[0]
    assert any(not _public(r["config"]) or r["is_deleted"] for r in chain[first + 1 :])
    assert short_principal(chain[first]["changed_by"]) == "alice"
    assert versions.filter((pl.col("asset_key") == BUCKET) & pl.col("is_current")).get_column(
        "config"
    ).map_elements(_public, return_dtype=pl.Boolean).to_list() == [False]


@pytest.mark.slow
@pytest.mark.service
def test_the_public_bucket_finding_is_opened_and_resolved_by_two_events(demo: DemoRun) -> None:
    found = demo.table("findings").filter(
        (pl.col("rule_id") == PUBLIC_RULE) & (pl.col("asset_key") == BUCKET)
    )
    assert found.height == 1
    finding = found.row(0, named=True)
    assert finding["status"] == "resolved"
    events = demo.table("asset_changes").filter(pl.col("asset_key") == BUCKET)
    by_id = {row["event_id"]: row for row in events.to_dicts()}
    opened, resolved = by_id[finding["opened_by_event_id"]], by_id[finding["resolved_by_event_id"]]
    assert (opened["event_name"], short_principal(opened["principal"])) == (
        "PutBucketPolicy",
        "alice",
    )
    assert (resolved["event_name"], short_principal(resolved["principal"])) == (
        "DeleteBucketPolicy",
        "bob",
    )
    assert finding["resolved_at"] - finding["opened_at"] >= dt.timedelta(minutes=7)


@pytest.mark.slow
@pytest.mark.service
def test_gcp_assets_come_from_the_feed_through_pub_sub(demo: DemoRun) -> None:
    raw = demo.table("raw_events").filter(pl.col("source") == "gcp_asset_feed")
    assert raw.height == 350
    current = demo.table("asset_versions").filter(
        pl.col("is_current") & ~pl.col("is_deleted") & (pl.col("cloud") == "gcp")
    )
    assert current.height >= 280
    assert "gcp_asset_feed_sensor on projects/acme-secops/subscriptions/" in demo.output


@pytest.mark.slow
@pytest.mark.service
def test_the_scan_and_the_dagster_runs_are_recorded(demo: DemoRun) -> None:
    reports = demo.table("scan_reports")
    assert reports.height > 0 and set(reports.get_column("cloud")) == {"aws"}
    scanned = demo.table("asset_versions").filter(pl.col("change_source") == "scan")
    assert {"AWS::IAM::User", "AWS::EC2::VPC"} <= set(scanned.get_column("resource_type"))
    with dg.DagsterInstance.from_config(str(Path(demo.lake.uri) / "_dagster")) as instance:
        runs = instance.get_runs()
    assert runs and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    streams = {run.tags.get("assetlake/stream") for run in runs if run.job_name == "drain_job"}
    assert streams == {"aws_cloudtrail", "gcp_asset_feed"}
    assert any(run.job_name == "__ASSET_JOB" for run in runs)


@pytest.mark.slow
@pytest.mark.service
def test_the_lake_is_folded_and_answers_sql(demo: DemoRun) -> None:
    versions = demo.table("asset_versions")
    assert pl.read_delta(demo.lake.table_uri("asset_versions")).height == versions.height
    answer = CliRunner().invoke(
        main, ["sql", "SELECT count(*) AS n FROM inventory", "--lake", demo.lake.uri]
    )
    assert answer.exit_code == 0, answer.output


@pytest.mark.slow
@pytest.mark.service
def test_nothing_is_left_running(demo: DemoRun) -> None:
    assert len(demo.ports) == 2  # moto, the emulator
    assert not [port for port in demo.ports if port_open(port)]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        assert not any(f"127.0.0.1:{port}" in text or f"-p {port}" in text for port in demo.ports)


@pytest.mark.slow
@pytest.mark.service
def test_a_second_demo_refuses_to_mix_into_the_lake(demo: DemoRun) -> None:
    again = CliRunner().invoke(main, ["demo", "--lake", demo.lake.uri])
    assert again.exit_code == 2 and "--replace" in again.output


def test_replace_clears_a_previous_lake(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake")).create()
    (Path(lake.uri) / "_dagster").mkdir()
    prepare_lake(lake, replace=True)
    assert not Path(lake.uri).exists()
    prepare_lake(Lake(str(tmp_path / "nothing")), replace=False)  # nothing there: nothing to do


@pytest.mark.slow
@pytest.mark.service
def test_without_the_gcloud_sdk_the_feed_comes_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no gcloud, no java
    run = run_demo_cli(tmp_path / "lake")
    assert "the GCP feed from a file" in run.output and "Pub/Sub emulator on" not in run.output
    raw = run.table("raw_events")
    assert raw.filter(pl.col("source") == "gcp_asset_feed").height == 350
    assert raw.filter(pl.col("source") == "aws_cloudtrail").height >= 40
    assert len(run.ports) == 1 and not port_open(run.ports[0])


@pytest.mark.slow
@pytest.mark.service
def test_trace_follows_the_public_bucket_change_through_sensor_run_and_finding(
    demo: DemoRun,
) -> None:
    finding = demo.table("findings").filter(
        (pl.col("rule_id") == PUBLIC_RULE) & (pl.col("asset_key") == BUCKET)
    )
    opened_by = finding.get_column("opened_by_event_id")[0]
    answer = CliRunner().invoke(
        main, ["trace", opened_by, "--lake", demo.lake.uri, "--format", "json"]
    )
    assert answer.exit_code == 0, answer.output
    journey = orjson.loads(answer.output)
    (record,) = journey["records"]
    assert record["landed_by"].startswith("cloudtrail_sqs_sensor tick ")
    assert record["resolved_by"] == "aws_cloudtrail"
    (change,) = [c for c in journey["changes"] if c["asset_key"] == BUCKET]
    assert change["event_name"] == "PutBucketPolicy" and "/runs/" in change["run_url"]
    assert {(f["rule_id"], f["effect"]) for f in journey["findings"]} >= {(PUBLIC_RULE, "opened")}
    stages = journey["stages"]
    for stage in ("received_to_landed_s", "landed_to_resolved_s", "resolved_to_committed_s"):
        assert stages[stage] is not None and stages[stage] >= 0, (stage, stages)
    asset = CliRunner().invoke(main, ["trace", BUCKET, "--lake", demo.lake.uri])
    assert asset.exit_code == 0 and "PutBucketPolicy" in asset.output
    assert "DeleteBucketPolicy" in asset.output
