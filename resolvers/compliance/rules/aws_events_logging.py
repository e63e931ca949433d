"""AWS event rules on detection and key management: CloudTrail, GuardDuty, Config, KMS.

Turning the lights off is the act: these rules open a finding on the call itself, and the
opposite call (or the state showing it undone) resolves it.
"""

from __future__ import annotations

from typing import Any

from resolvers.compliance.rules._docs import get
from resolvers.compliance.spec import PASS, Event, Verdict, event_rule, fail


def _req(event: Event, *path: str) -> Any:
    return get(event.request, *path)


@event_rule(
    id="aws-event-cloudtrail-logging-stopped",
    title="CloudTrail logging was stopped",
    severity="critical",
    resource_types=("AWS::CloudTrail::Trail",),
    rationale="Stopping a trail blinds the account's audit log; it is a classic first step of "
    "an intrusion.",
    remediation="Start logging again and find out who stopped it and why.",
    events=("cloudtrail.amazonaws.com:StopLogging", "cloudtrail.amazonaws.com:StartLogging"),
    fixed_by=("aws-cloudtrail-not-logging",),
)
def trail_stopped(event: Event) -> Verdict | None:
    """Opens on StopLogging; StartLogging reverses it."""
    return fail(action="StopLogging") if event.event_name == "StopLogging" else PASS


@event_rule(
    id="aws-event-cloudtrail-deleted",
    title="A CloudTrail trail was deleted",
    severity="critical",
    resource_types=("AWS::CloudTrail::Trail",),
    rationale="Deleting a trail ends the account's audit log for the regions it covered.",
    remediation="Recreate the trail and investigate the deletion.",
    events=("cloudtrail.amazonaws.com:DeleteTrail", "cloudtrail.amazonaws.com:CreateTrail"),
    deletion_resolves=False,
)
def trail_deleted(event: Event) -> Verdict | None:
    """Opens on DeleteTrail; creating a trail of the same name reverses it."""
    return fail(action="DeleteTrail") if event.event_name == "DeleteTrail" else PASS


@event_rule(
    id="aws-event-cloudtrail-weakened",
    title="A CloudTrail trail was made single-region or lost log file validation",
    severity="high",
    resource_types=("AWS::CloudTrail::Trail",),
    rationale="Narrowing a trail or dropping validation weakens the audit log quietly.",
    remediation="Make the trail multi-region with log file validation again.",
    events=("cloudtrail.amazonaws.com:UpdateTrail",),
    fixed_by=("aws-cloudtrail-not-multi-region", "aws-cloudtrail-log-validation-off"),
)
def trail_weakened(event: Event) -> Verdict | None:
    """Opens on UpdateTrail setting isMultiRegionTrail or enableLogFileValidation to false;
    setting them true reverses it."""
    settings = {k: _req(event, k) for k in ("isMultiRegionTrail", "enableLogFileValidation")}
    known = {k: v for k, v in settings.items() if isinstance(v, bool)}
    if not known:
        return None
    off = sorted(k for k, v in known.items() if v is False)
    return fail(off=off) if off else PASS


@event_rule(
    id="aws-event-guardduty-detector-deleted",
    title="A GuardDuty detector was deleted",
    severity="critical",
    resource_types=("AWS::GuardDuty::Detector",),
    rationale="Deleting the detector turns threat detection off in the region.",
    remediation="Create a detector again (and check what happened while it was off).",
    events=("guardduty.amazonaws.com:DeleteDetector", "guardduty.amazonaws.com:CreateDetector"),
    deletion_resolves=False,
    scope="region",
)
def guardduty_deleted(event: Event) -> Verdict | None:
    """Opens on DeleteDetector; CreateDetector in the same account and region reverses it."""
    return fail(action="DeleteDetector") if event.event_name == "DeleteDetector" else PASS


@event_rule(
    id="aws-event-guardduty-detector-disabled",
    title="A GuardDuty detector was disabled",
    severity="high",
    resource_types=("AWS::GuardDuty::Detector",),
    rationale="A disabled detector produces no findings.",
    remediation="Enable the detector again.",
    events=("guardduty.amazonaws.com:UpdateDetector",),
    fixed_by=("aws-guardduty-detector-disabled",),
)
def guardduty_disabled(event: Event) -> Verdict | None:
    """Opens on UpdateDetector with enable false; enable true reverses it."""
    enable = _req(event, "enable")
    if not isinstance(enable, bool):
        return None
    return PASS if enable else fail(enable=False)


@event_rule(
    id="aws-event-config-recorder-stopped",
    title="The AWS Config recorder was stopped or deleted",
    severity="high",
    resource_types=("AWS::Config::ConfigurationRecorder",),
    rationale="Without the recorder, configuration changes go unrecorded.",
    remediation="Put and start the configuration recorder again.",
    events=(
        "config.amazonaws.com:StopConfigurationRecorder",
        "config.amazonaws.com:DeleteConfigurationRecorder",
        "config.amazonaws.com:StartConfigurationRecorder",
    ),
    fixed_by=("aws-config-recorder-off",),
    scope="region",
    deletion_resolves=False,
)
def config_stopped(event: Event) -> Verdict | None:
    """Opens on StopConfigurationRecorder or DeleteConfigurationRecorder;
    StartConfigurationRecorder in the same account and region reverses it."""
    if event.event_name == "StartConfigurationRecorder":
        return PASS
    return fail(action=event.event_name)


@event_rule(
    id="aws-event-kms-rotation-disabled",
    title="Automatic rotation was disabled on a KMS key",
    severity="medium",
    resource_types=("AWS::KMS::Key",),
    rationale="Turning rotation off is rarely needed and easily forgotten.",
    remediation="Enable key rotation again.",
    events=("kms.amazonaws.com:DisableKeyRotation", "kms.amazonaws.com:EnableKeyRotation"),
    fixed_by=("aws-kms-key-rotation-off",),
)
def kms_rotation_disabled(event: Event) -> Verdict | None:
    """Opens on DisableKeyRotation; EnableKeyRotation reverses it."""
    return fail(action="DisableKeyRotation") if event.event_name == "DisableKeyRotation" else PASS


@event_rule(
    id="aws-event-kms-key-deletion-scheduled",
    title="A KMS key was scheduled for deletion",
    severity="high",
    resource_types=("AWS::KMS::Key",),
    rationale="A deleted key makes its data unreadable forever; scheduling deletion is a known "
    "ransom and sabotage technique.",
    remediation="Cancel the deletion unless it was planned.",
    events=("kms.amazonaws.com:ScheduleKeyDeletion", "kms.amazonaws.com:CancelKeyDeletion"),
    fixed_by=("aws-kms-key-pending-deletion",),
    deletion_resolves=False,
)
def kms_deletion_scheduled(event: Event) -> Verdict | None:
    """Opens on ScheduleKeyDeletion; CancelKeyDeletion reverses it."""
    if event.event_name == "CancelKeyDeletion":
        return PASS
    return fail(pending_window_days=_req(event, "pendingWindowInDays"))


@event_rule(
    id="aws-event-kms-key-disabled",
    title="A KMS key was disabled",
    severity="medium",
    resource_types=("AWS::KMS::Key",),
    rationale="Disabling a key stops everything that decrypts with it.",
    remediation="Enable the key again unless it was planned.",
    events=("kms.amazonaws.com:DisableKey", "kms.amazonaws.com:EnableKey"),
)
def kms_key_disabled(event: Event) -> Verdict | None:
    """Opens on DisableKey; EnableKey reverses it."""
    return fail(action="DisableKey") if event.event_name == "DisableKey" else PASS


RULES = (
    trail_stopped,
    trail_deleted,
    trail_weakened,
    guardduty_deleted,
    guardduty_disabled,
    config_stopped,
    kms_rotation_disabled,
    kms_deletion_scheduled,
    kms_key_disabled,
)
