"""``assetlake coverage`` on the shared corpus: the figures the issue asks for, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from resolvers.coverage import coverage


@pytest.fixture(scope="module")
def aws_files(corpus: Path) -> list[Path]:
    """The CloudTrail and EventBridge files of the corpus."""
    files = sorted(corpus.glob("*.cloudtrail.jsonl")) + sorted(corpus.glob("*.eventbridge.jsonl"))
    assert len(files) >= 5
    return files


@pytest.fixture(scope="module")
def aws_report(aws_files: list[Path]) -> dict:
    """The coverage report of the AWS files."""
    return coverage(aws_files)


def test_under_one_percent_unknown(aws_report: dict) -> None:
    """Fewer than 1% of the CloudTrail and EventBridge records are unknown."""
    assert aws_report["records"] >= 3700
    assert sum(aws_report["by_classification"].values()) == aws_report["records"]
    assert aws_report["by_classification"]["unknown"] / aws_report["records"] < 0.01
    assert aws_report["unknown_share"] < 0.01


def test_at_least_97_percent_of_changes_resolved(aws_report: dict) -> None:
    """At least 97% of change records resolve to at least one asset."""
    assert aws_report["changes"] >= 700
    assert aws_report["resolved"] / aws_report["changes"] >= 0.97
    assert aws_report["resolved_share"] >= 0.97
    print(json.dumps({k: aws_report[k] for k in ("changes", "resolved", "resolved_share")}))


def test_unresolved_are_explained(aws_report: dict) -> None:
    """Every unresolved record has a reason; the top list names (eventSource, eventName)."""
    unresolved = aws_report["changes"] - aws_report["resolved"]
    unknown = aws_report["by_classification"]["unknown"]
    assert sum(aws_report["unresolved_by_reason"].values()) == unresolved + unknown
    top = aws_report["top_unresolved"]
    assert top and {"event_source", "event_name", "reason", "count"} <= set(top[0])
    assert [row["count"] for row in top] == sorted((row["count"] for row in top), reverse=True)


def test_cli_json_and_text(aws_files: list[Path], tmp_path: Path) -> None:
    """--json prints one object with the required keys; the text form a summary."""
    runner = CliRunner()
    args = ["coverage", "--lake", str(tmp_path / "unused"), *map(str, aws_files[:2])]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    required = {"records", "by_classification", "changes", "resolved", "resolved_share",
                "unresolved_by_reason", "top_unresolved"}  # fmt: skip
    assert required <= set(report)
    text = runner.invoke(main, args)
    assert text.exit_code == 0 and "resolved to an asset" in text.output
    assert not (tmp_path / "unused").exists()  # coverage writes nothing


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    """A missing file is a clear error with status 2."""
    result = CliRunner().invoke(main, ["coverage", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
