"""``assetlake rules`` and ``assetlake findings`` over an evaluated lake."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner
from test_compliance_evaluate import BUCKET, NO_SINKS, _cai, feed, ingest

from pipelines.cli import main
from resolvers.compliance.catalog import registry
from resolvers.compliance.evaluate import evaluate
from resolvers.lake.storage import Lake


def test_rules_lists_every_rule_and_filters_by_framework() -> None:
    runner = CliRunner()
    every = orjson.loads(runner.invoke(main, ["rules", "--format", "json"]).output)
    assert len(every) == len(registry())
    cis = orjson.loads(
        runner.invoke(main, ["rules", "--framework", "cis-gcp-3.0", "--format", "json"]).output
    )
    assert cis and all(r["cloud"] == "gcp" and r["frameworks"] for r in cis)
    assert {
        "rule_id": "gcp-storage-bucket-public-iam",
        "frameworks": ["cis-gcp-3.0:5.1"],
    }.items() <= next(r for r in cis if r["rule_id"] == "gcp-storage-bucket-public-iam").items()
    table = runner.invoke(main, ["rules"]).output
    assert "aws-iam-root-access-keys" in table and "cis-aws-3.0:1.4" in table
    wrong = runner.invoke(main, ["rules", "--framework", "pci"])
    assert wrong.exit_code == 2 and "no framework 'pci'" in wrong.output


def test_findings_command_reads_the_findings_table(lake: Lake, corpus: Path) -> None:
    ingest(lake, [feed(_cai(corpus, 338), 0, BUCKET)])
    evaluate(lake, alerts=NO_SINKS)
    result = CliRunner().invoke(
        main, ["findings", "--open", "--lake", lake.uri, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.output)
    public = [r for r in rows if r["rule_id"] == "gcp-storage-bucket-public-iam"]
    assert public and public[0]["asset_key"] == BUCKET and public[0]["status"] == "open"
    assert public[0]["frameworks"] == ["cis-gcp-3.0:5.1"]
