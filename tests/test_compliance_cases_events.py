"""Event-rule cases: real CloudTrail records (Panther rule tests, Invictus' Stratus Red Team
capture) and audit entries (Panther's GCP tests); hand-written records where the corpus has
none of the event."""

from __future__ import annotations

from test_compliance_cases import Case, audit, event, invictus, panther, setitem

GUARDDUTY = "guardduty.amazonaws.com"
CONFIG = "config.amazonaws.com"
KMS = "kms.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
DETECTOR = {"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}
KEY = {"keyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
ROOT = {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}


def _firewall_open(entry: dict) -> None:
    entry["protoPayload"]["request"]["alloweds"] = [{"IPProtocol": "tcp", "ports": ["22"]}]
    entry["protoPayload"]["request"]["sourceRanges"] = ["0.0.0.0/0"]


EVENT_CASES: dict[str, tuple[Case, Case]] = {
    # Panther: 268 policy for cloudtrail.amazonaws.com only / 267 Principal {"AWS": "*"}
    "aws-event-s3-bucket-policy-made-public": (panther(268), panther(267)),
    # Panther 284: x-amz-acl private / the same call with public-read
    "aws-event-s3-bucket-acl-made-public": (
        panther(284),
        panther(284, setitem("requestParameters", "x-amz-acl", value=["public-read"])),
    ),
    # Panther 304: PutBucketPublicAccessBlock / 302: DeleteBucketPublicAccessBlock
    "aws-event-s3-public-access-block-removed": (panther(304), panther(302)),
    # Invictus (Stratus ec2-security-group-open-port-22-ingress): 443 from the world / 22
    "aws-event-sg-admin-port-opened": (invictus(1663), invictus(1664)),
    # Panther: StartLogging / StopLogging
    "aws-event-cloudtrail-logging-stopped": (panther(43), panther(42)),
    "aws-event-cloudtrail-deleted": (panther(23), panther(340)),
    # Panther 379: UpdateTrail isMultiRegionTrail false
    "aws-event-cloudtrail-weakened": (
        panther(379, setitem("requestParameters", "isMultiRegionTrail", value=True)),
        panther(379),
    ),
    "aws-event-guardduty-detector-deleted": (
        event("CreateDetector", GUARDDUTY, {"enable": True}, response=DETECTOR),
        event("DeleteDetector", GUARDDUTY, DETECTOR),
    ),
    "aws-event-guardduty-detector-disabled": (
        event("UpdateDetector", GUARDDUTY, {**DETECTOR, "enable": True}),
        event("UpdateDetector", GUARDDUTY, {**DETECTOR, "enable": False}),
    ),
    "aws-event-config-recorder-stopped": (
        event("StartConfigurationRecorder", CONFIG, {"configurationRecorderName": "default"}),
        event("StopConfigurationRecorder", CONFIG, {"configurationRecorderName": "default"}),
    ),
    "aws-event-kms-rotation-disabled": (
        event("EnableKeyRotation", KMS, KEY),
        event("DisableKeyRotation", KMS, KEY),
    ),
    # Panther 171: ScheduleKeyDeletion
    "aws-event-kms-key-deletion-scheduled": (event("CancelKeyDeletion", KMS, KEY), panther(171)),
    # Panther 170: DisableKey
    "aws-event-kms-key-disabled": (event("EnableKey", KMS, KEY), panther(170)),
    # Panther: 275 root creates a key for example-user / 274 root creates its own key
    "aws-event-root-access-key-created": (panther(275), panther(274)),
    # Panther: 45 IAM user signs in with MFA / 58 without
    "aws-event-console-login-without-mfa": (panther(45), panther(58)),
    # Panther: 349 group "none" / 348 group "all"
    "aws-event-ebs-snapshot-made-public": (panther(349), panther(348)),
    # Panther: 7 group "not-all" / 6 group "all"
    "aws-event-ami-made-public": (panther(7), panther(6)),
    # Panther 264: restore shared with one account (Stratus rds-share-snapshot) / with "all"
    "aws-event-rds-snapshot-made-public": (
        panther(264),
        panther(264, setitem("requestParameters", "valuesToAdd", value=["all"])),
    ),
    "aws-event-lambda-url-made-public": (
        event(
            "CreateFunctionUrlConfig20211031", LAMBDA, {"functionName": "f", "authType": "AWS_IAM"}
        ),
        event("CreateFunctionUrlConfig20211031", LAMBDA, {"functionName": "f", "authType": "NONE"}),
    ),
    # Panther: 136 ReadOnlyAccess / 135 AdministratorAccess attached to new-user
    "aws-event-admin-policy-attached": (panther(136), panther(135)),
    # Panther GCP: 47 SetIamPolicy adding a user / 38 storage.setIamPermissions adding allUsers
    "gcp-event-iam-policy-made-public": (audit(47), audit(38)),
    # Panther GCP 32: firewalls.insert of a deny rule / the same insert allowing tcp/22 from
    # 0.0.0.0/0
    "gcp-event-firewall-admin-port-opened": (audit(32), audit(32, _firewall_open)),
}
