"""The parity report's matching and table (no moto, no Prowler)."""

from __future__ import annotations

from resolvers.parity import Result, found, render
from resolvers.parity_seed import Problem

PROBLEM = Problem("public bucket", (":::open-1",), ("s3_bucket_public_access",), ("aws-rule",))


def test_found_needs_the_id_on_the_seeded_resource() -> None:
    failures = {
        ("s3_bucket_public_access", "arn:aws:s3:::open-1 open-1"),
        ("aws-rule", "arn:aws:s3:::other"),
    }
    assert found(failures, PROBLEM.prowler, PROBLEM.markers) == ["s3_bucket_public_access"]
    assert found(failures, PROBLEM.assetlake, PROBLEM.markers) == []


def test_render_counts_and_marks_misses() -> None:
    prowler = Result("Prowler", "5.0", 12.0, {("s3_bucket_public_access", "arn:aws:s3:::open-1")})
    assetlake = Result("assetlake", "0.1", 3.0, error="scan exit 1")
    context = {"date": "2026-01-01 00:00 UTC", "moto": "5", "python": "3.11"}
    text = render([PROBLEM], prowler, assetlake, context, ["a note"])
    assert "Prowler 1/1, assetlake 0/1" in text
    assert "| public bucket | yes: `s3_bucket_public_access` | not run |" in text
    assert "| assetlake | 3.0 s | failed: scan exit 1 |" in text
    assert "- a note" in text
