"""assetlake scan aws and assetlake iam-policy end to end; the scan's concurrency caps."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from resolvers.aws.scan import AwsScan, ScopeOutcome
from resolvers.aws.scan_moto import moto_env, shared_server
from resolvers.aws.scan_plan import ScanOptions, ScopeTask, scope_tasks
from resolvers.aws.scan_policy import actions
from resolvers.aws.types.catalog import registry, select
from resolvers.bench.scan import hourly_calls, measure_describes, measure_scan
from resolvers.lake.storage import Lake
from resolvers.scan_scope import COMPLETE


def test_iam_policy_is_generated_from_the_specs() -> None:
    """The printed policy allows exactly the specs' calls plus the scan's own (read-only)."""
    result = CliRunner().invoke(main, ["iam-policy"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
    allowed = set(statement["Action"])
    assert allowed == set(actions())
    declared = {call.iam_action for spec in registry().values() for call in spec.calls}
    assert declared <= allowed
    assert allowed - declared == {"ec2:DescribeRegions", "cloudformation:GetResource"}
    read_only = ("Get", "List", "Describe")
    assert all(action.split(":")[1].startswith(read_only) for action in allowed)
    orgs = json.loads(CliRunner().invoke(main, ["iam-policy", "--organizations"]).output)
    assert "organizations:ListAccounts" in orgs["Statement"][0]["Action"]
    assume = json.loads(CliRunner().invoke(main, ["iam-policy", "--assume-role", "R"]).output)
    assert assume["Statement"][0]["Resource"] == "arn:aws:iam::*:role/R"


@pytest.mark.service
def test_scan_aws_command(tmp_path: Path) -> None:
    """The command reads options from a config file and the command line, prints a summary,
    and fails with one line when every scope was refused."""
    server = shared_server()
    server.reset()
    env = {**moto_env(), "AWS_ENDPOINT_URL": server.endpoint}
    config = tmp_path / "scan.toml"
    config.write_text('regions = ["us-east-1"]\ntypes = ["AWS::SQS::Queue"]\nmax_attempts = 2\n')
    lake = str(tmp_path / "lake")
    runner = CliRunner()
    boto3.client("sqs", endpoint_url=server.endpoint, **_creds()).create_queue(QueueName="q1")
    result = runner.invoke(
        main, ["scan", "aws", "--config", str(config), "--types", "AWS::SQS::Queue,AWS::SNS::Topic",
               "--no-progress", "--lake", lake], env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scanned 1 assets in 2 scopes" in result.output and "1 new" in result.output
    refused = runner.invoke(
        main, ["scan", "aws", "--config", str(config), "--accounts", "999999999999",
               "--role-name", "Nope", "--no-progress", "--lake", lake],
        env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines()[-1].startswith("assetlake: error:")
    bad = runner.invoke(main, ["scan", "aws", "--types", "AWS::No::Such", "--lake", lake], env=env)
    assert bad.exit_code == 2 and "no AWS scanner for AWS::No::Such" in bad.output


def _creds() -> dict[str, str]:
    env = moto_env()
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


def test_concurrency_is_capped_per_account_and_per_service(tmp_path: Path) -> None:
    """No more scopes run at once than max_per_account in an account and max_per_service per
    (account, service), and every scope runs once."""
    options = ScanOptions(max_per_account=3, max_per_service=2, workers=8)
    scan = AwsScan(Lake(str(tmp_path / "lake")), options)
    specs = select(["AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::EC2::VPC", "AWS::EC2::Subnet"])
    regions = ["us-east-1", "eu-west-1", "ap-south-1"]
    tasks = scope_tasks("111111111111", regions, specs) + scope_tasks(
        "222222222222", regions, specs
    )
    running: Counter[tuple[str, ...]] = Counter()
    peaks: Counter[tuple[str, ...]] = Counter()
    lock = threading.Lock()

    def read_scope(task: ScopeTask) -> ScopeOutcome:
        keys = [(task.account,), (task.account, task.service), ("all",)]
        with lock:
            for key in keys:
                running[key] += 1
                peaks[key] = max(peaks[key], running[key])
        time.sleep(0.01)
        with lock:
            for key in keys:
                running[key] -= 1
        return ScopeOutcome(task, COMPLETE)

    scan.read_scope = read_scope  # type: ignore[method-assign]
    done = list(scan._execute(tasks))
    assert sorted(o.task.scope.label for o in done) == sorted(t.scope.label for t in tasks)
    assert max(v for k, v in peaks.items() if len(k) == 1 and k != ("all",)) == 3
    assert max(v for k, v in peaks.items() if len(k) == 2) == 2
    assert peaks[("all",)] <= 6


@pytest.mark.service
def test_cost_model_inputs() -> None:
    """The bench's scan figures: a small seeded account scanned, describes counted per type."""
    server = shared_server()
    scan = measure_scan(assets=12, server=server)
    assert scan["scan_assets"] >= 12 and scan["scan_api_calls_per_asset"] > 0
    assert scan["scan_assets_per_s"] > 0
    describes = measure_describes(server=server)
    assert set(describes["event_api_calls_per_change_by_type"]) == set(registry())
    assert describes["event_api_calls_per_change_by_type"]["AWS::SQS::Queue"] == 2
    assert describes["event_api_calls_per_change"] > 1
    (row,) = hourly_calls(1.5, 2.0, sizes=(1000,))
    assert row == {"assets": 1000.0, "hourly_scan_calls": 1500, "event_path_calls": 20.0,
                   "ratio": 75.0}  # fmt: skip
