"""The CloudTrail resolver on bad input and for attribution: envelopes, redaction, omitted and
hidden values, errors, invariant 5 on the corpus, batch independence."""

from __future__ import annotations

import json

from test_aws_resolve import ACCOUNT, IAM, SALT, corpus_lines, event, keys, resolve

from resolvers.aws.cloudtrail import unwrap
from resolvers.aws.resolve import resolve_cloudtrail_record
from resolvers.model import ResolvedBatch

__all__ = ["corpus_lines"]  # the fixture, shared with test_aws_resolve


# -- attribution, envelopes, bad input ------------------------------------------------------
def test_assumed_role_attribution() -> None:
    """The session ARN is the principal; the role, session, source identity and MFA are kept."""
    identity = {
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:alice@example.com",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice@example.com",
        "accountId": ACCOUNT, "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": f"{IAM}:role/aws-reserved/sso/Admin",
                              "userName": "Admin"},
            "attributes": {"creationDate": "2024-05-01T09:00:00Z", "mfaAuthenticated": "true"},
            "sourceIdentity": "alice",
        },
    }  # fmt: skip
    batch = resolve(event("DeleteVolume", userIdentity=identity,
                          requestParameters={"volumeId": "vol-1"}))  # fmt: skip
    (change,) = batch.changes
    assert change.principal == identity["arn"] and change.principal_type == "AssumedRole"
    assert change.session_issuer == f"{IAM}:role/aws-reserved/sso/Admin"
    assert change.session_name == "alice@example.com" and change.source_identity == "alice"
    assert change.access_key_id == "ASIAEXAMPLE" and change.mfa_authenticated is True
    assert (change.source_ip, change.user_agent) == ("198.51.100.7", "aws-cli/2.15")
    assert batch.observations[0].principal == identity["arn"]


def test_service_and_root_principals() -> None:
    """An AWS service is named by invokedBy; the root user by the account's root ARN."""
    service = {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}
    batch = resolve(
        event(
            "TerminateInstances",
            userIdentity=service,
            requestParameters={"instancesSet": {"items": [{"instanceId": "i-1"}]}},
        )
    )
    assert batch.changes[0].principal == "autoscaling.amazonaws.com"
    assert batch.changes[0].invoked_by == "autoscaling.amazonaws.com"
    root = resolve(event("DeleteVolume", userIdentity={"type": "Root", "accountId": ACCOUNT},
                         requestParameters={"volumeId": "vol-1"}))  # fmt: skip
    assert root.changes[0].principal == f"{IAM}:root"


def test_eventbridge_envelope_resolves_like_the_bare_record() -> None:
    """The same CloudTrail record, bare or in an EventBridge envelope, gives the same rows."""
    bare = event("AttachVolume", requestParameters={"volumeId": "vol-1", "instanceId": "i-1"})
    wrapped = {"version": "0", "id": "eb-1", "detail-type": "AWS API Call via CloudTrail",
               "source": "aws.ec2", "account": ACCOUNT, "time": "2024-05-01T10:00:00Z",
               "region": "eu-west-1", "resources": [], "detail": bare}  # fmt: skip
    assert resolve(bare).changes == resolve(wrapped).changes
    assert resolve(wrapped).raw[0].event_id == bare["eventID"]


def test_request_and_response_are_redacted_and_hidden_values_kept() -> None:
    """Secrets never reach asset_changes; CloudTrail's hidden markers stay as markers."""
    batch = resolve(
        event(
            "ModifyInstanceAttribute",
            requestParameters={
                "instanceId": "i-1",
                "userData": "c2VjcmV0",
                "note": "HIDDEN_DUE_TO_SECURITY_REASONS",
            },
        )
    )
    request = json.loads(batch.changes[0].request or "{}")
    assert request["userData"].startswith("<redacted>")
    assert request["note"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    hidden = resolve(
        event(
            "PutBucketPolicy",
            "s3.amazonaws.com",
            requestParameters={"bucketName": "b", "bucketPolicy": "HIDDEN_DUE_TO_SECURITY_REASONS"},
        )
    )
    assert keys(hidden) == ["arn:aws:s3:::b"]  # the bucket changed, to what is not known
    assert hidden.observations == []


def test_omitted_parameters_are_unresolved_with_their_reason() -> None:
    """An oversized request CloudTrail omitted names no asset: unresolved, not lost."""
    batch = resolve(
        event("ModifyVolume", requestParameters={"omitted": True, "originalSize": 204800})
    )
    assert batch.raw[0].classification == "change" and batch.changes == []
    assert [u.reason for u in batch.unresolved] == ["parameters_omitted"]


def test_errors_reads_and_unknown_events() -> None:
    """errorCode: error, no change; reads and data: raw only; unknown: unresolved."""
    failed = resolve(event("DeleteVolume", errorCode="AccessDenied",
                           requestParameters={"volumeId": "vol-1"}))  # fmt: skip
    assert failed.raw[0].classification == "error" and not failed.changes
    assert not failed.unresolved
    assert resolve(event("DescribeVolumes")).raw[0].classification == "read"
    assert resolve(event("PutObject", "s3.amazonaws.com")).raw[0].classification == "data"
    unknown = resolve(event("FrobnicateWidget", "widgets.amazonaws.com"))
    assert unknown.raw[0].classification == "unknown"
    assert [u.reason for u in unknown.unresolved] == ["unknown_event"]


def test_every_corpus_change_is_in_changes_or_unresolved(corpus_lines: list) -> None:
    """Invariant 5 on the corpus: a change record is never silently dropped."""
    for line, record in corpus_lines:
        batch = resolve_cloudtrail_record(record, line, "fallback", SALT)
        assert len(batch.raw) == 1
        if batch.raw[0].classification in ("change", "unknown"):
            assert batch.changes or batch.unresolved, line[:200]
        assert {c.event_id for c in batch.changes} <= {batch.raw[0].event_id}


def test_offline_state_does_not_depend_on_batching(corpus_lines: list) -> None:
    """Each record's observations are its own: resolving in one batch or one by one is equal."""
    together = ResolvedBatch()
    for line, record in corpus_lines:
        together.extend(resolve_cloudtrail_record(record, line, "fallback", SALT))
    reversed_order = ResolvedBatch()
    for line, record in reversed(corpus_lines):
        reversed_order.extend(resolve_cloudtrail_record(record, line, "fallback", SALT))
    assert sorted(map(repr, together.observations)) == sorted(
        map(repr, reversed_order.observations)
    )
    assert len(together.observations) > 100


def test_fast_paths_agree_with_jmespath(corpus_lines: list) -> None:
    """The fast evaluation of simple paths finds what JMESPath finds, on every corpus record."""
    from resolvers.aws.catalog import catalog_arn, registry

    compared = 0
    for _, record in corpus_lines:
        detail = unwrap(record)
        entry = registry().lookup(str(detail.get("eventSource")), str(detail.get("eventName")))
        for extractor in entry.extractors if entry else ():
            slow = catalog_arn.scalar_values(extractor.expression.search(detail))
            assert extractor.values(detail) == slow, extractor.path
            compared += extractor.steps is not None
    assert compared > 1000


def test_sub_documents_the_event_does_not_carry_are_not_invented(corpus_lines: list) -> None:
    """A PutBucketEncryption whose configuration was stripped changes the bucket, no state."""
    stripped = resolve(
        event(
            "PutBucketEncryption",
            "s3.amazonaws.com",
            requestParameters={"bucketName": "b", "host": "b.s3.amazonaws.com"},
        )
    )
    assert keys(stripped) == ["arn:aws:s3:::b"] and stripped.observations == []
    logging_off = resolve(
        event(
            "PutBucketLogging",
            "s3.amazonaws.com",
            requestParameters={
                "bucketName": "b",
                "BucketLoggingStatus": {"xmlns": "http://s3.amazonaws.com/doc/"},
            },
        )
    )
    (observed,) = logging_off.observations  # an empty status is a state: logging disabled
    assert (observed.asset_key, json.loads(observed.config)) == ("arn:aws:s3:::b#Logging", {})
