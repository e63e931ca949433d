"""Findings as intervals, as pure functions of version chains and judged events."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import orjson

from resolvers.compliance.catalog import registry
from resolvers.compliance.intervals import (
    ChainVersion,
    Finding,
    Judge,
    Judged,
    Outcome,
    event_findings,
    finding_id,
    state_findings,
)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
BUCKET = "//storage.googleapis.com/shared-reports"
PRIVATE = {
    "iamPolicy": {"bindings": [{"role": "roles/storage.objectViewer", "members": ["group:a@x.io"]}]}
}
PUBLIC = {
    "iamPolicy": {"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]}
}
WIDER = {"iamPolicy": {"bindings": [{"role": "roles/storage.admin", "members": ["allUsers"]}]}}


def chain(
    states: list[tuple[int, Any]], key: str = BUCKET, kind: str = "storage.googleapis.com/Bucket"
):
    """Versions at T0 + minutes; a state of None is a deletion."""
    versions = []
    for index, (minutes, config) in enumerate(states):
        start = T0 + dt.timedelta(minutes=minutes)
        end = T0 + dt.timedelta(minutes=states[index + 1][0]) if index + 1 < len(states) else None
        versions.append(
            ChainVersion(
                asset_key=key,
                resource_type=kind,
                account_id="p-1",
                region="us",
                name=key.rsplit("/", 1)[-1],
                version=index + 1,
                valid_from=start,
                valid_to=end,
                is_deleted=config is None,
                change_event_ids=(f"ev-{minutes}",),
                config=orjson.dumps(config or {}).decode(),
            )
        )
    return versions


def findings(versions: list[ChainVersion], now: dt.datetime = NOW) -> list[Finding]:
    judge = Judge(registry(), Outcome())
    return [f for f in state_findings(versions, judge, now) if f.rule_id.endswith("public-iam")]


def test_public_then_reverted_is_one_resolved_finding_naming_both_events() -> None:
    [finding] = findings(chain([(0, PRIVATE), (10, PUBLIC), (13, PRIVATE)]))
    assert finding.status == "resolved"
    assert finding.opened_at == T0 + dt.timedelta(minutes=10)
    assert finding.resolved_at == T0 + dt.timedelta(minutes=13)
    assert (finding.opened_by_event_id, finding.resolved_by_event_id) == ("ev-10", "ev-13")
    assert finding.finding_id == finding_id(finding.rule_id, BUCKET, finding.opened_at)
    assert "cis-gcp-3.0:5.1" in finding.frameworks
    assert orjson.loads(finding.evidence)["bindings"] == {
        "roles/storage.objectViewer": ["allUsers"]
    }


def test_consecutive_failing_versions_make_one_finding_still_open() -> None:
    [finding] = findings(chain([(0, PUBLIC), (5, WIDER)]))
    assert (finding.status, finding.opened_at, finding.resolved_at) == ("open", T0, None)
    assert orjson.loads(finding.evidence)["version"] == 1


def test_deletion_resolves_and_recreation_opens_again() -> None:
    first, second = sorted(
        findings(chain([(0, PUBLIC), (7, None), (9, PUBLIC)])), key=lambda f: f.opened_at
    )
    assert (first.status, first.resolved_by_event_id) == ("resolved", "ev-7")
    assert (second.status, second.opened_by_event_id) == ("open", "ev-9")


def test_same_chain_same_rows() -> None:
    versions = chain([(0, PRIVATE), (10, PUBLIC), (13, PRIVATE), (20, PUBLIC)])
    assert findings(versions) == findings(list(versions))


def _user(created: str) -> dict[str, Any]:
    key = {"AccessKeyId": "AKIA1", "Status": "Active", "CreateDate": created}
    return {"UserName": "bob", "AccessKeys": [{**key, "LastUsedDate": "2026-11-29T00:00:00Z"}]}


def test_clock_rule_opens_when_the_key_turns_90_days_old() -> None:
    versions = chain(
        [(0, _user("2026-01-15T00:00:00Z"))], "arn:aws:iam::1:user/bob", "AWS::IAM::User"
    )
    outcome = Outcome()
    rows = state_findings(versions, Judge(registry(), outcome), NOW)
    [old] = [f for f in rows if f.rule_id == "aws-iam-user-access-key-not-rotated"]
    assert old.opened_at == dt.datetime(2026, 4, 15, tzinfo=dt.UTC)  # created + 90 days
    assert old.opened_by_event_id is None  # no event made it old
    assert orjson.loads(old.evidence)["failing_since"].startswith("2026-04-15")
    early = Outcome()
    rows = state_findings(
        versions, Judge(registry(), early), dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    )
    assert not [f for f in rows if f.rule_id == "aws-iam-user-access-key-not-rotated"]
    assert early.due == dt.datetime(2026, 4, 15, tzinfo=dt.UTC)


def _judged(rule: str, event: str, minutes: int, failed: bool, **extra: Any) -> Judged:
    key = extra.pop("asset_key", "arn:aws:cloudtrail:us-east-1:1:trail/main")
    return Judged(
        rule_id=rule,
        match_key=extra.pop("match_key", key),
        asset_key=key,
        resource_type=extra.pop("resource_type", "AWS::CloudTrail::Trail"),
        account_id="1",
        event_id=event,
        event_time=T0 + dt.timedelta(minutes=minutes),
        failed=failed,
    )


def events(judged: list[Judged], chains: dict | None = None) -> list[Finding]:
    return sorted(
        event_findings(judged, chains or {}, Judge(registry(), Outcome())),
        key=lambda f: f.opened_at,
    )


STOP = "aws-event-cloudtrail-logging-stopped"


def test_event_finding_resolved_by_the_reversing_event_in_any_order() -> None:
    judged = [_judged(STOP, "stop", 0, True), _judged(STOP, "start", 4, False)]
    results = [events(list(order)) for order in itertools.permutations(judged)]
    assert all(result == results[0] for result in results)
    [finding] = results[0]
    assert (finding.opened_by_event_id, finding.resolved_by_event_id) == ("stop", "start")
    assert orjson.loads(finding.evidence)["resolved_by"] == "event"


def test_event_finding_resolved_by_the_state_or_left_open() -> None:
    trail = {"Name": "main", "Status": {"IsLogging": True}}
    stopped = {"Name": "main", "Status": {"IsLogging": False}}
    key = "arn:aws:cloudtrail:us-east-1:1:trail/main"
    versions = chain([(0, stopped), (6, trail)], key, "AWS::CloudTrail::Trail")
    [fixed] = events([_judged(STOP, "stop", 0, True)], {key: versions})
    assert (fixed.resolved_at, fixed.resolved_by_event_id) == (T0 + dt.timedelta(minutes=6), "ev-6")
    [still] = events([_judged(STOP, "stop", 0, True)])
    assert still.status == "open"


def test_deleting_is_the_act_for_delete_trail() -> None:
    key = "arn:aws:cloudtrail:us-east-1:1:trail/main"
    deleted = chain([(0, {"Name": "main"}), (1, None)], key, "AWS::CloudTrail::Trail")
    rule = "aws-event-cloudtrail-deleted"
    [finding] = events([_judged(rule, "del", 1, True)], {key: deleted})
    assert finding.status == "open"
    [recreated] = events([_judged(rule, "del", 1, True), _judged(rule, "create", 30, False)])
    assert recreated.resolved_by_event_id == "create"


def test_region_scoped_reversal_on_another_asset() -> None:
    rule = "aws-event-guardduty-detector-deleted"
    common = {"match_key": "1/us-east-1", "resource_type": "AWS::GuardDuty::Detector"}
    old = _judged(
        rule, "delete", 0, True, asset_key="arn:aws:guardduty:us-east-1:1:detector/a", **common
    )
    new = _judged(
        rule, "create", 9, False, asset_key="arn:aws:guardduty:us-east-1:1:detector/b", **common
    )
    [finding] = events([old, new])
    assert (finding.asset_key, finding.resolved_by_event_id) == (old.asset_key, "create")
