"""What ``assetlake demo`` left in the lake, read back from the lake, for a person to read.

:func:`lake_facts` reads the tables the demo wrote (counts, the AWS public bucket's changes,
versions and findings); :class:`DemoResult` turns them into the summary and the queries to try
next. Everything printed about the pipeline's outcome comes from the lake, not from what the
demo meant to do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from resolvers.demo_aws import AwsDemoResult
from resolvers.demo_data import FeedSummary
from resolvers.lake.layout import read_table
from resolvers.lake.storage import Lake
from resolvers.timeutil import isoformat

PUBLIC_RULE = "aws-event-s3-bucket-policy-made-public"
MOMENT_LABELS = {
    "block_removed": "<- the public access block removed",
    "made_public": '<- made public: a bucket policy for Principal "*"',
    "reverted": "<- reverted: the policy deleted",
    "block_restored": "<- the public access block back on",
}


def short_principal(arn: str | None) -> str:
    """``arn:...:user/people/alice`` -> ``alice``; an assumed role -> the role's name."""
    if not arn:
        return "?"
    if ":assumed-role/" in arn:
        return arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


@dataclass(frozen=True, slots=True)
class LakeFacts:
    """Counts and the public bucket's story, as the lake holds them."""

    raw_events: dict[str, int]
    asset_changes: int
    unresolved: int
    assets: dict[str, int]  # cloud -> current, not deleted assets (sub-documents apart)
    versions: dict[str, int]  # change_source -> version rows
    findings: dict[str, int]  # status -> findings
    principals: dict[str, int]  # AWS principal -> asset changes
    bucket_changes: list[dict[str, Any]] = field(default_factory=list)
    bucket_versions: list[dict[str, Any]] = field(default_factory=list)  # its keys' versions
    bucket_findings: list[dict[str, Any]] = field(default_factory=list)


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    grouped = frame.group_by(column).len().sort(column)
    return {str(key): int(count) for key, count in grouped.iter_rows()}


def lake_facts(lake: Lake, aws: AwsDemoResult) -> LakeFacts:
    """Read the demo's lake."""
    raw = lake.scan("raw_events").select("source").collect()
    changes = lake.scan("asset_changes").collect()
    versions = read_table(lake, "asset_versions").collect()
    found = lake.scan("findings").collect()
    current = versions.filter(
        pl.col("is_current") & ~pl.col("is_deleted") & ~pl.col("asset_key").str.contains("#")
    )
    aws_changes = changes.filter(pl.col("cloud") == "aws").unique(["event_id", "principal"])
    bucket = _bucket_arn(aws)
    return LakeFacts(
        raw_events=_counts(raw, "source"),
        asset_changes=changes.height,
        unresolved=lake.scan("unresolved_events").select(pl.len()).collect().item(),
        assets=_counts(current, "cloud"),
        versions=_counts(versions, "change_source"),
        findings=_counts(found, "status"),
        principals={short_principal(k): v for k, v in _counts(aws_changes, "principal").items()},
        bucket_changes=_bucket_changes(changes, bucket),
        bucket_versions=_bucket_versions(versions, bucket),
        bucket_findings=_of_bucket(found, bucket).sort("opened_at").to_dicts(),
    )


def _bucket_arn(aws: AwsDemoResult) -> str:
    return aws.story.arn("public_bucket") if aws.story else ""


def _of_bucket(frame: pl.DataFrame, bucket: str) -> pl.DataFrame:
    key = pl.col("asset_key")
    return frame.filter((key == bucket) | key.str.starts_with(bucket + "#"))


def _bucket_versions(versions: pl.DataFrame, bucket: str) -> list[dict[str, Any]]:
    """The versions of the bucket and its sub-documents, oldest first, marked when public."""
    public = pl.col("config").str.contains('"IsPublic":true') | pl.col("config").str.contains(
        '"Principal":"*"', literal=True
    )
    rows = _of_bucket(versions, bucket).with_columns(public.fill_null(False).alias("public"))
    columns = ["asset_key", "version", "valid_from", "is_deleted", "changed_by", "change_source"]
    return rows.sort("valid_from", "asset_key").select(*columns, "public").to_dicts()


def _bucket_changes(changes: pl.DataFrame, bucket: str) -> list[dict[str, Any]]:
    rows = changes.filter(pl.col("asset_key") == bucket).sort("event_time")
    return rows.select("event_time", "event_name", "principal", "event_id").to_dicts()


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did, and what the lake holds afterwards."""

    lake: Lake
    feed: FeedSummary
    feed_via: str  # the Pub/Sub subscription, or the file name
    aws: AwsDemoResult
    scan: Any  # resolvers.aws.scan.AwsScanResult
    dagster_runs: int
    alerts: int
    ports: tuple[int, ...]
    dagster_home: Path | None
    facts: LakeFacts

    @property
    def bucket(self) -> str:
        """The ARN of the AWS bucket made public and reverted."""
        return _bucket_arn(self.aws)

    def summary(self) -> list[str]:
        """Counts: events, assets, versions, findings, who did what."""
        facts, aws = self.facts, self.aws
        lines = [
            f"events: {facts.raw_events.get('aws_cloudtrail', 0)} CloudTrail (AWS account "
            f"{aws.account_id}, via SQS; {aws.errors} failed call{'s' * (aws.errors != 1)}), "
            f"{facts.raw_events.get('gcp_asset_feed', 0)} asset-feed messages (GCP, via "
            f"{self.feed_via}); {facts.asset_changes} asset changes, {facts.unresolved} "
            "unresolved",
            f"assets now: {facts.assets.get('aws', 0)} AWS, {facts.assets.get('gcp', 0)} GCP; "
            f"{sum(facts.versions.values())} versions ("
            + ", ".join(f"{n} from {source}s" for source, n in facts.versions.items())
            + ")",
            f"findings: {facts.findings.get('open', 0)} open, "
            f"{facts.findings.get('resolved', 0)} resolved; {self.alerts} alerts to the log sink",
            "AWS events that changed assets, by principal: "
            + ", ".join(f"{who} {n}" for who, n in sorted(facts.principals.items())),
        ]
        if self.scan is not None:
            read_time = isoformat(self.scan.report.read_time)
            lines.append(
                f"full AWS scan: {self.scan.assets} assets read in {len(self.scan.outcomes)} "
                f"scopes at {read_time}"
            )
        return lines

    def public_bucket(self) -> list[str]:
        """The AWS bucket made public and reverted: its changes, versions and findings."""
        labels = self._moment_labels()
        lines = [
            _change_line(row, labels.get(row["event_id"])) for row in self.facts.bucket_changes
        ]
        lines += [_version_line(row, self.bucket) for row in self.facts.bucket_versions]
        events = self._events()
        story = [row for row in self.facts.bucket_findings if _is_story_finding(row, self.bucket)]
        lines += [_finding_line(row, events) for row in story]
        others = len(self.facts.bucket_findings) - len(story)
        if others:
            lines.append(
                f"and {others} more findings on the bucket and its sub-documents: assetlake sql "
                f'"SELECT rule_id, status, asset_key FROM findings WHERE asset_key LIKE '
                f"'{self.bucket}%'\""
            )
        return lines

    def _moment_labels(self) -> dict[str, str]:
        """Event id -> what that call meant in the story."""
        moments = self.aws.story.moments if self.aws.story else {}
        return {
            moments[name].event_id: label
            for name, label in MOMENT_LABELS.items()
            if name in moments
        }

    def _events(self) -> dict[str, str]:
        """Event id -> "EventName by principal" for the bucket's events."""
        return {
            row["event_id"]: f"{row['event_name']} by {short_principal(row['principal'])}"
            for row in self.facts.bucket_changes
        }

    def queries(self) -> list[str]:
        """Commands to try next."""
        story, bucket = self.aws.story, self.bucket
        moments = story.moments if story else {}
        lines = [f"assetlake history '{bucket}'", f"assetlake history '{bucket}#Policy'"]
        if "made_public" in moments:
            during = moments["made_public"].time + dt.timedelta(minutes=1)
            lines.append(f"assetlake inventory --as-of {isoformat(during)} --search PublicRead")
        lines += [
            f"assetlake findings --rule {PUBLIC_RULE}",
            "assetlake findings --open",
            'assetlake sql "SELECT principal, event_name, count(*) AS n FROM asset_changes '
            "WHERE cloud = 'aws' GROUP BY ALL ORDER BY n DESC\"",
        ]
        return lines + self.feed.queries()

    def dagster_hint(self) -> str:
        """How to see the demo's runs in the Dagster UI."""
        if self.dagster_home is None:
            return f"{self.dagster_runs} Dagster runs (ephemeral instance: an s3:// lake)"
        return (
            f"{self.dagster_runs} Dagster runs recorded in {self.dagster_home}; to see them: "
            f"DAGSTER_HOME={self.dagster_home} ASSETLAKE_LAKE={self.lake.uri} "
            ".venv/bin/dagster dev -w workspace.yaml"
        )


def _clock(value: dt.datetime) -> str:
    return value.strftime("%H:%M:%S")


def _change_line(row: dict[str, Any], label: str | None) -> str:
    text = (
        f"{_clock(row['event_time'])}  {row['event_name']} by {short_principal(row['principal'])}"
    )
    return f"{text:<52} {label}" if label else text


def _version_line(row: dict[str, Any], bucket: str) -> str:
    key = row["asset_key"].removeprefix(bucket)
    state = "deleted" if row["is_deleted"] else "PUBLIC" if row["public"] else "not public"
    return (
        f"version {row['version']} of {key or 'the bucket'} from {_clock(row['valid_from'])}: "
        f"{state}, by {short_principal(row['changed_by'])} ({row['change_source']})"
    )


def _is_story_finding(row: dict[str, Any], bucket: str) -> bool:
    """A finding of a public-access rule on the bucket itself (not a sub-document's key)."""
    return row["asset_key"] == bucket and "public" in str(row["rule_id"])


def _finding_line(row: dict[str, Any], events: dict[str, str]) -> str:
    opened = events.get(row["opened_by_event_id"] or "", "an event")
    text = (
        f"finding {row['rule_id']} ({row['severity']}, {row['status']}): opened by {opened} "
        f"(event {row['opened_by_event_id']})"
    )
    if row["status"] == "resolved":
        resolved = events.get(row["resolved_by_event_id"] or "", "an event")
        minutes = (row["resolved_at"] - row["opened_at"]).total_seconds() / 60
        text += (
            f", resolved {minutes:.0f} minutes later by {resolved} "
            f"(event {row['resolved_by_event_id']})"
        )
    return text
