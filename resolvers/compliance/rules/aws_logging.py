"""Detection and key-management rules: CloudTrail, GuardDuty, AWS Config, KMS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get
from resolvers.compliance.rules._policy import public_statements, statement_ids
from resolvers.compliance.spec import PASS, Verdict, VersionView, state_rule, verdict

TRAIL = ("AWS::CloudTrail::Trail",)
KEY = ("AWS::KMS::Key",)
RECORDER = ("AWS::Config::ConfigurationRecorder",)


def _described_trail(config: Mapping[str, Any]) -> bool:
    return bool(config.get("Name") or config.get("TrailARN"))


@state_rule(
    id="aws-cloudtrail-not-logging",
    title="CloudTrail trail is not logging",
    severity="high",
    resource_types=TRAIL,
    rationale="A stopped trail records nothing: the first move of an intruder is often "
    "StopLogging.",
    remediation="Start logging (start-logging) and alert on StopLogging.",
)
def trail_not_logging(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Status.IsLogging is false."""
    return verdict(get(config, "Status", "IsLogging") is False, is_logging=False)


@state_rule(
    id="aws-cloudtrail-not-multi-region",
    title="CloudTrail trail is not multi-region",
    severity="medium",
    resource_types=TRAIL,
    rationale="Activity in regions the trail does not cover goes unrecorded; attackers use "
    "unused regions.",
    remediation="Make the trail multi-region (update-trail --is-multi-region-trail).",
)
def trail_not_multi_region(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when IsMultiRegionTrail is false."""
    return verdict(config.get("IsMultiRegionTrail") is False, is_multi_region=False)


@state_rule(
    id="aws-cloudtrail-log-validation-off",
    title="CloudTrail log file validation is not enabled",
    severity="medium",
    resource_types=TRAIL,
    rationale="Digest files let an investigator prove that log files were not altered or deleted.",
    remediation="Enable log file validation on the trail.",
)
def trail_log_validation_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when LogFileValidationEnabled is false."""
    return verdict(config.get("LogFileValidationEnabled") is False, log_file_validation=False)


@state_rule(
    id="aws-cloudtrail-not-kms-encrypted",
    title="CloudTrail logs are not encrypted with a KMS key",
    severity="medium",
    resource_types=TRAIL,
    rationale="SSE-KMS adds a key policy between the log files and anyone who can read the bucket.",
    remediation="Set a customer managed KMS key on the trail (update-trail --kms-key-id).",
)
def trail_not_kms(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when a described trail has no KmsKeyId (DescribeTrails omits it when unset)."""
    if not _described_trail(config):
        return PASS
    return verdict(not config.get("KmsKeyId"), kms_key_id=None)


@state_rule(
    id="aws-guardduty-detector-disabled",
    title="GuardDuty detector is disabled",
    severity="high",
    resource_types=("AWS::GuardDuty::Detector",),
    rationale="GuardDuty is the account's threat detection; a disabled detector finds nothing.",
    remediation="Enable the detector (update-detector --enable) in every region.",
)
def guardduty_disabled(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Status is known and not ENABLED."""
    status = config.get("Status")
    return verdict(status is not None and status != "ENABLED", status=status)


@state_rule(
    id="aws-config-recorder-off",
    title="AWS Config recorder is not recording",
    severity="medium",
    resource_types=RECORDER,
    rationale="Config's history is what auditors and incident responders fall back on.",
    remediation="Start the configuration recorder (start-configuration-recorder).",
)
def config_recorder_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Status.recording is false."""
    return verdict(get(config, "Status", "recording") is False, recording=False)


@state_rule(
    id="aws-config-recorder-partial",
    title="AWS Config recorder does not record all resource types",
    severity="low",
    resource_types=RECORDER,
    rationale="A recorder limited to some types leaves the others without history.",
    remediation="Set recordingGroup.allSupported (and includeGlobalResourceTypes in one region).",
)
def config_recorder_partial(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when recordingGroup.allSupported is false."""
    return verdict(get(config, "recordingGroup", "allSupported") is False, all_supported=False)


def _customer_symmetric(config: Mapping[str, Any]) -> bool:
    return (
        config.get("KeyManager") == "CUSTOMER"
        and config.get("KeySpec", config.get("CustomerMasterKeySpec")) == "SYMMETRIC_DEFAULT"
        and config.get("Origin", "AWS_KMS") == "AWS_KMS"
    )


@state_rule(
    id="aws-kms-key-rotation-off",
    title="Customer managed KMS key does not rotate",
    severity="medium",
    resource_types=KEY,
    rationale="Automatic rotation limits how much data one key version protects.",
    remediation="Enable automatic key rotation (enable-key-rotation).",
)
def kms_rotation_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for an enabled customer managed symmetric key with KeyRotationEnabled false."""
    if not _customer_symmetric(config) or config.get("KeyState") != "Enabled":
        return PASS
    return verdict(config.get("KeyRotationEnabled") is False, rotation=False)


@state_rule(
    id="aws-kms-key-pending-deletion",
    title="KMS key is scheduled for deletion",
    severity="medium",
    resource_types=KEY,
    rationale="Once deleted, a key makes everything encrypted under it unreadable; a scheduled "
    "deletion is either cleanup or sabotage.",
    remediation="Cancel the deletion (cancel-key-deletion) unless it is intended.",
)
def kms_pending_deletion(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when KeyState is PendingDeletion."""
    pending = config.get("KeyState") == "PendingDeletion"
    return verdict(pending, deletion_date=config.get("DeletionDate"))


@state_rule(
    id="aws-kms-key-public-policy",
    title="KMS key policy allows anyone",
    severity="critical",
    resource_types=KEY,
    rationale="A key policy with Principal * and no condition lets any AWS account use the key.",
    remediation="Restrict the key policy to the account and the roles that need the key.",
)
def kms_public_policy(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the key policy has an unconditioned Allow for Principal *."""
    found = public_statements(config.get("Policy"))
    return verdict(bool(found), statements=statement_ids(found))


RULES = (
    trail_not_logging,
    trail_not_multi_region,
    trail_log_validation_off,
    trail_not_kms,
    guardduty_disabled,
    config_recorder_off,
    config_recorder_partial,
    kms_rotation_off,
    kms_pending_deletion,
    kms_public_policy,
)
