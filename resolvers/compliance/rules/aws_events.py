"""AWS event rules: acts whose danger is in the act itself, judged from the CloudTrail record.

Each rule reads the request (and, where needed, the whole record) of one change event and says
whether it opens a finding (``failed=True``), reverses an earlier one (``failed=False``) or is
irrelevant (None). Failed calls (``errorCode``) changed nothing and are never judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import base_name, ec2_items, get, items, mappings
from resolvers.compliance.rules._policy import (
    ADMIN_PORTS,
    PUBLIC_ACL_GROUPS,
    public_statements,
    sg_world_ports,
    statement_ids,
)
from resolvers.compliance.spec import PASS, Event, Verdict, event_rule, fail

PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")
ADMIN_POLICY_ARNS = ("arn:aws:iam::aws:policy/AdministratorAccess",)


def _req(event: Event, *path: str) -> Any:
    return get(event.request, *path)


@event_rule(
    id="aws-event-s3-bucket-policy-made-public",
    title="A bucket policy granting access to anyone was put",
    severity="critical",
    resource_types=("AWS::S3::Bucket",),
    rationale="Public bucket policies are how most S3 data leaks happen; the moment of the change "
    "matters even if a later scan finds it fixed.",
    remediation="Remove the public statement; check the access logs for the exposure window.",
    events=("s3.amazonaws.com:PutBucketPolicy", "s3.amazonaws.com:DeleteBucketPolicy"),
    fixed_by=("aws-s3-bucket-public-policy",),
)
def s3_policy_made_public(event: Event) -> Verdict | None:
    """Opens on PutBucketPolicy with an unconditioned Principal * Allow; a non-public policy or
    DeleteBucketPolicy reverses it."""
    if event.event_name == "DeleteBucketPolicy":
        return PASS
    policy = _req(event, "bucketPolicy")
    if not isinstance(policy, dict):
        return None
    found = public_statements(policy)
    return fail(statements=statement_ids(found)) if found else PASS


def _acl_public(event: Event) -> bool | None:
    canned = [str(v) for v in items(_req(event, "x-amz-acl"))]
    grants = ec2_items(_req(event, "AccessControlPolicy", "AccessControlList", "Grant"))
    uris = [get(g, "Grantee", "URI") for g in grants]
    if not canned and not grants:
        return None
    return any(c in PUBLIC_CANNED_ACLS for c in canned) or any(u in PUBLIC_ACL_GROUPS for u in uris)


@event_rule(
    id="aws-event-s3-bucket-acl-made-public",
    title="A bucket ACL granting access to all users was set",
    severity="critical",
    resource_types=("AWS::S3::Bucket",),
    rationale="A public-read ACL exposes the bucket listing and objects to anyone.",
    remediation="Set the ACL back to private and disable ACLs (bucket owner enforced).",
    events=("s3.amazonaws.com:PutBucketAcl", "s3.amazonaws.com:CreateBucket"),
    fixed_by=("aws-s3-bucket-public-acl",),
)
def s3_acl_made_public(event: Event) -> Verdict | None:
    """Opens on PutBucketAcl/CreateBucket with a public canned ACL or an AllUsers /
    AuthenticatedUsers grant; a private ACL reverses it."""
    public = _acl_public(event)
    if public is None:
        return None
    return fail(acl=items(_req(event, "x-amz-acl"))) if public else PASS


BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@event_rule(
    id="aws-event-s3-public-access-block-removed",
    title="A bucket's public access block was removed or weakened",
    severity="high",
    resource_types=("AWS::S3::Bucket",),
    rationale="Removing the block is the step before making a bucket public.",
    remediation="Put the public access block back with all four settings on.",
    events=(
        "s3.amazonaws.com:DeleteBucketPublicAccessBlock",
        "s3.amazonaws.com:PutBucketPublicAccessBlock",
    ),
    fixed_by=("aws-s3-bucket-public-access-block-off",),
)
def s3_block_removed(event: Event) -> Verdict | None:
    """Opens on DeleteBucketPublicAccessBlock, or a Put with any flag false; a Put with all
    four flags true reverses it."""
    if event.event_name == "DeleteBucketPublicAccessBlock":
        return fail(block="deleted")
    block = _req(event, "PublicAccessBlockConfiguration")
    if not isinstance(block, dict):
        return None
    off = [name for name in BLOCK_FLAGS if str(block.get(name)).lower() != "true"]
    return fail(off=off) if off else PASS


def _sg_request_permissions(event: Event) -> list[Mapping[str, Any]]:
    permissions: list[Mapping[str, Any]] = list(mappings(ec2_items(_req(event, "ipPermissions"))))
    if _req(event, "cidrIp") or _req(event, "cidrIpv6"):  # the flat, single-rule form
        permissions.append(dict(event.request))
    return permissions


@event_rule(
    id="aws-event-sg-admin-port-opened",
    title="SSH or RDP was opened to the internet on a security group",
    severity="high",
    resource_types=("AWS::EC2::SecurityGroup",),
    rationale="Administration ports opened to 0.0.0.0/0, even for minutes, are found by "
    "scanners within minutes.",
    remediation="Revoke the rule; use Session Manager or a restricted bastion.",
    events=(
        "ec2.amazonaws.com:AuthorizeSecurityGroupIngress",
        "ec2.amazonaws.com:RevokeSecurityGroupIngress",
    ),
    fixed_by=("aws-ec2-sg-admin-ports-open-ipv4", "aws-ec2-sg-admin-ports-open-ipv6"),
)
def sg_admin_port_opened(event: Event) -> Verdict | None:
    """Opens on an ingress authorization from 0.0.0.0/0 or ::/0 covering 22 or 3389 (or all
    ports); revoking such a rule reverses it."""
    found = sg_world_ports(_sg_request_permissions(event), ADMIN_PORTS)
    if not found:
        return None
    if event.event_name == "RevokeSecurityGroupIngress":
        return PASS
    return fail(permissions=found)


def _root(event: Event) -> tuple[str, str] | None:
    if event.principal_type != "Root" or not event.account_id or _req(event, "userName"):
        return None
    return f"arn:aws:iam::{event.account_id}:root", "AWS::IAM::AccountSummary"


@event_rule(
    id="aws-event-root-access-key-created",
    title="An access key was created for the root user",
    severity="critical",
    resource_types=("AWS::IAM::AccountSummary",),
    rationale="Root keys cannot be restricted by any policy.",
    remediation="Delete the root access key immediately.",
    events=("iam.amazonaws.com:CreateAccessKey", "iam.amazonaws.com:DeleteAccessKey"),
    fixed_by=("aws-iam-root-access-keys",),
    target=_root,
)
def root_access_key_created(event: Event) -> Verdict | None:
    """Opens on CreateAccessKey by the root user for itself; the root user deleting a key
    reverses it."""
    if _root(event) is None:
        return None
    if event.event_name == "DeleteAccessKey":
        return PASS
    return fail(access_key_id=get(event.response, "accessKey", "accessKeyId"))


def _signed_in(event: Event) -> tuple[str, str] | None:
    identity = get(event.record, "userIdentity") or {}
    kind, arn = identity.get("type"), identity.get("arn")
    if kind == "Root" and event.account_id:
        return f"arn:aws:iam::{event.account_id}:root", "AWS::IAM::AccountSummary"
    if kind == "IAMUser" and isinstance(arn, str):
        return arn, "AWS::IAM::User"
    return None


@event_rule(
    id="aws-event-console-login-without-mfa",
    title="A console sign-in succeeded without MFA",
    severity="high",
    resource_types=("AWS::IAM::User", "AWS::IAM::AccountSummary"),
    rationale="A password-only sign-in is what a phished or reused password looks like.",
    remediation="Enforce MFA for the user (or root); check the session's activity.",
    events=("signin.amazonaws.com:ConsoleLogin",),
    fixed_by=("aws-iam-user-console-without-mfa", "aws-iam-root-mfa-off"),
    target=_signed_in,
)
def console_login_without_mfa(event: Event) -> Verdict | None:
    """Opens on a successful ConsoleLogin of an IAM user or root with MFAUsed 'No' (needs the
    whole record: additionalEventData); the user's state with MFA resolves it."""
    if _signed_in(event) is None or event.record is None:
        return None
    success = get(event.record, "responseElements", "ConsoleLogin") == "Success"
    mfa = get(event.record, "additionalEventData", "MFAUsed")
    if not success or mfa != "No":
        return None
    return fail(source_ip=get(event.record, "sourceIPAddress"), mfa_used="No")


def _shares_with_all(event: Event, attribute: str) -> bool | None:
    """True when 'all' is added, False when removed, None when neither."""
    change = _req(event, attribute)
    added = [get(i, "group") for i in ec2_items(get(change, "add"))]
    removed = [get(i, "group") for i in ec2_items(get(change, "remove"))]
    if "all" in added:
        return True
    return False if "all" in removed else None


@event_rule(
    id="aws-event-ebs-snapshot-made-public",
    title="An EBS snapshot was shared publicly",
    severity="critical",
    resource_types=("AWS::EC2::Snapshot",),
    rationale="A public snapshot can be copied by anyone within seconds.",
    remediation="Remove the 'all' create-volume permission.",
    events=("ec2.amazonaws.com:ModifySnapshotAttribute",),
    fixed_by=("aws-ec2-snapshot-public",),
)
def snapshot_made_public(event: Event) -> Verdict | None:
    """Opens when ModifySnapshotAttribute adds group 'all'; removing it reverses it."""
    shared = _shares_with_all(event, "createVolumePermission")
    return None if shared is None else fail(group="all") if shared else PASS


@event_rule(
    id="aws-event-ami-made-public",
    title="An AMI was made public",
    severity="high",
    resource_types=("AWS::EC2::Image",),
    rationale="A public image can be launched (and inspected) by anyone.",
    remediation="Remove the 'all' launch permission.",
    events=("ec2.amazonaws.com:ModifyImageAttribute",),
    fixed_by=("aws-ec2-ami-public",),
)
def ami_made_public(event: Event) -> Verdict | None:
    """Opens when ModifyImageAttribute adds launch permission group 'all'; removing it reverses
    it."""
    shared = _shares_with_all(event, "launchPermission")
    return None if shared is None else fail(group="all") if shared else PASS


@event_rule(
    id="aws-event-rds-snapshot-made-public",
    title="An RDS snapshot was made public",
    severity="critical",
    resource_types=("AWS::RDS::DBSnapshot", "AWS::RDS::DBClusterSnapshot"),
    rationale="Any AWS account can restore a public snapshot.",
    remediation="Remove 'all' from the snapshot's restore attribute.",
    events=(
        "rds.amazonaws.com:ModifyDBSnapshotAttribute",
        "rds.amazonaws.com:ModifyDBClusterSnapshotAttribute",
    ),
    fixed_by=("aws-rds-snapshot-public",),
)
def rds_snapshot_made_public(event: Event) -> Verdict | None:
    """Opens when the restore attribute gains 'all'; removing 'all' reverses it."""
    if _req(event, "attributeName") != "restore":
        return None
    if "all" in items(_req(event, "valuesToAdd")):
        return fail(restore="all")
    return PASS if "all" in items(_req(event, "valuesToRemove")) else None


@event_rule(
    id="aws-event-lambda-url-made-public",
    title="A Lambda function URL without authentication was created",
    severity="high",
    resource_types=("AWS::Lambda::Function",),
    rationale="AuthType NONE lets anyone on the internet invoke the function.",
    remediation="Set AuthType AWS_IAM or delete the URL.",
    events=(
        "lambda.amazonaws.com:CreateFunctionUrlConfig",
        "lambda.amazonaws.com:UpdateFunctionUrlConfig",
        "lambda.amazonaws.com:DeleteFunctionUrlConfig",
    ),
    fixed_by=("aws-lambda-public-url",),
)
def lambda_url_public(event: Event) -> Verdict | None:
    """Opens when a function URL is created or updated with authType NONE; AWS_IAM or deleting
    the URL reverses it."""
    if base_name(event.event_name) == "DeleteFunctionUrlConfig":
        return PASS
    auth = _req(event, "authType")
    if auth is None:
        return None
    return fail(auth_type="NONE") if auth == "NONE" else PASS


@event_rule(
    id="aws-event-admin-policy-attached",
    title="AdministratorAccess was attached to a user, group or role",
    severity="high",
    resource_types=("AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::Role"),
    rationale="Granting full administrator rights is the most powerful change in an account and "
    "a common persistence step.",
    remediation="Detach the policy unless the grant was approved; grant scoped roles instead.",
    events=(
        "iam.amazonaws.com:AttachUserPolicy",
        "iam.amazonaws.com:AttachGroupPolicy",
        "iam.amazonaws.com:AttachRolePolicy",
        "iam.amazonaws.com:DetachUserPolicy",
        "iam.amazonaws.com:DetachGroupPolicy",
        "iam.amazonaws.com:DetachRolePolicy",
    ),
)
def admin_policy_attached(event: Event) -> Verdict | None:
    """Opens when AdministratorAccess is attached; detaching it reverses it."""
    if _req(event, "policyArn") not in ADMIN_POLICY_ARNS:
        return None
    if event.event_name.startswith("Detach"):
        return PASS
    return fail(policy_arn=_req(event, "policyArn"))


RULES = (
    s3_policy_made_public,
    s3_acl_made_public,
    s3_block_removed,
    sg_admin_port_opened,
    root_access_key_created,
    console_login_without_mfa,
    snapshot_made_public,
    ami_made_public,
    rds_snapshot_made_public,
    lambda_url_public,
    admin_policy_attached,
)
