"""Every rule, one passing and one failing case, from real configurations and records.

The cases are in test_compliance_cases_*.py (see test_compliance_cases.py for where each kind
comes from); this module checks that every registered rule has a pair, and runs them.
"""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from test_compliance_cases import Case
from test_compliance_cases_aws import AWS_CASES
from test_compliance_cases_aws_data import AWS_DATA_CASES
from test_compliance_cases_events import EVENT_CASES
from test_compliance_cases_gcp import GCP_CASES

from resolvers.compliance.catalog import registry
from resolvers.compliance.spec import Rule, Verdict, VersionView

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
CASES = {**AWS_CASES, **AWS_DATA_CASES, **GCP_CASES, **EVENT_CASES}


def _judge(rule: Rule, case: Case) -> Verdict | None:
    value = case()
    if rule.kind == "event":
        return rule.check(value)
    verdict = rule.check(value, VersionView("asset", rule.resource_types[0]))
    if verdict.failed and verdict.since is not None and verdict.since > NOW:
        return Verdict(False)
    return verdict


def test_every_rule_has_cases() -> None:
    assert set(CASES) == set(registry().rules), set(CASES) ^ set(registry().rules)


@pytest.mark.parametrize("rule_id", sorted(registry().rules))
def test_rule_passes_and_fails(rule_id: str) -> None:
    rule = registry()[rule_id]
    passing, failing = CASES[rule_id]
    good = _judge(rule, passing)
    bad = _judge(rule, failing)
    assert good is None or not good.failed, f"{rule_id} fails its passing case: {good}"
    assert bad is not None and bad.failed, f"{rule_id} passes its failing case"
    orjson.dumps(dict(bad.evidence))  # evidence is JSON
