"""S3 bucket rules, on the ``AWS::S3::Bucket`` document of docs/aws-config-shapes.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, mappings
from resolvers.compliance.rules._policy import (
    PUBLIC_ACL_GROUPS,
    denies_insecure_transport,
    public_statements,
    statement_ids,
)
from resolvers.compliance.spec import PASS, Verdict, VersionView, fail, state_rule, verdict

BUCKET = ("AWS::S3::Bucket",)
BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@state_rule(
    id="aws-s3-bucket-public-policy",
    title="S3 bucket policy grants access to anyone",
    severity="critical",
    resource_types=BUCKET,
    rationale="A policy statement allowing Principal * without a condition that pins the caller "
    "(source VPC, account, organisation) exposes the bucket to the whole internet.",
    remediation="Remove the public statement or add a condition (aws:PrincipalOrgID, "
    "aws:SourceVpce, ...); keep the public access block on.",
)
def s3_public_policy(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the bucket policy has an unconditioned Allow for Principal * (or S3 itself
    reports the policy public through PolicyStatus.IsPublic)."""
    found = public_statements(config.get("Policy"))
    if found:
        return fail(statements=statement_ids(found))
    return verdict(get(config, "PolicyStatus", "IsPublic") is True, policy_status_public=True)


@state_rule(
    id="aws-s3-bucket-public-acl",
    title="S3 bucket ACL grants access to all users or all authenticated users",
    severity="critical",
    resource_types=BUCKET,
    rationale="Grants to the AllUsers or AuthenticatedUsers groups make the bucket readable "
    "(or writable) by anyone with an AWS account or none.",
    remediation="Set the bucket ACL to private and enforce bucket-owner object ownership "
    "(ACLs disabled).",
)
def s3_public_acl(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when an ACL grant names the AllUsers or AuthenticatedUsers group."""
    grants = [
        {"grantee": get(grant, "Grantee", "URI"), "permission": grant.get("Permission")}
        for grant in mappings(get(config, "Acl", "Grants"))
        if get(grant, "Grantee", "URI") in PUBLIC_ACL_GROUPS
    ]
    return verdict(bool(grants), grants=grants)


@state_rule(
    id="aws-s3-bucket-public-access-block-off",
    title="S3 bucket public access block is not fully on",
    severity="high",
    resource_types=BUCKET,
    rationale="The four public access block settings stop any ACL or policy from making the "
    "bucket public by mistake; a bucket without them relies on every later change being right.",
    remediation="Turn on BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy and "
    "RestrictPublicBuckets on the bucket (and on the account).",
)
def s3_public_access_block_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when PublicAccessBlockConfiguration is absent or any of its four flags is not
    true (no configuration means the block is off)."""
    block = config.get("PublicAccessBlockConfiguration")
    if not isinstance(block, dict):
        return fail(missing=True)
    off = [name for name in BLOCK_FLAGS if block.get(name) is not True]
    return verdict(bool(off), off=off)


@state_rule(
    id="aws-s3-bucket-default-encryption-off",
    title="S3 bucket has no default encryption configuration",
    severity="medium",
    resource_types=BUCKET,
    rationale="Default encryption guarantees that every object is encrypted at rest, with a key "
    "the account controls when SSE-KMS is used.",
    remediation="Configure default encryption (SSE-KMS with a customer managed key, or SSE-S3).",
)
def s3_default_encryption_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when ServerSideEncryptionConfiguration is null or has no rule (a missing key is
    unknown and passes)."""
    if "ServerSideEncryptionConfiguration" not in config:
        return PASS
    rules = list(mappings(get(config, "ServerSideEncryptionConfiguration", "Rules")))
    return verdict(not rules, encryption="none")


@state_rule(
    id="aws-s3-bucket-secure-transport-not-enforced",
    title="S3 bucket policy does not deny HTTP requests",
    severity="medium",
    resource_types=BUCKET,
    rationale="Without a Deny on aws:SecureTransport=false, clients may read and write the bucket "
    "over plain HTTP.",
    remediation="Add a Deny statement for all principals and actions with condition "
    'Bool {"aws:SecureTransport": "false"}.',
)
def s3_secure_transport(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the bucket policy (or its absence) does not deny non-TLS requests."""
    if "Policy" not in config:
        return PASS
    return verdict(not denies_insecure_transport(config.get("Policy")), secure_transport=False)


@state_rule(
    id="aws-s3-bucket-mfa-delete-off",
    title="S3 bucket MFA delete is not enabled",
    severity="low",
    resource_types=BUCKET,
    rationale="MFA delete requires a second factor to change versioning or delete object "
    "versions, protecting data against a stolen credential.",
    remediation="Enable versioning with MFA delete (root credentials and an MFA device needed).",
)
def s3_mfa_delete_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Versioning.MFADelete is known and not Enabled."""
    versioning = config.get("Versioning")
    if not isinstance(versioning, dict):
        return PASS
    return verdict(versioning.get("MFADelete") != "Enabled", mfa_delete=versioning.get("MFADelete"))


@state_rule(
    id="aws-s3-bucket-versioning-off",
    title="S3 bucket versioning is not enabled",
    severity="low",
    resource_types=BUCKET,
    rationale="Versioning keeps overwritten and deleted objects recoverable (ransomware, "
    "mistakes).",
    remediation="Enable versioning and a lifecycle rule that expires noncurrent versions.",
)
def s3_versioning_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Versioning is known and its Status is not Enabled."""
    versioning = config.get("Versioning")
    if not isinstance(versioning, dict):
        return PASS
    return verdict(versioning.get("Status") != "Enabled", status=versioning.get("Status"))


@state_rule(
    id="aws-s3-bucket-access-logging-off",
    title="S3 bucket server access logging is off",
    severity="low",
    resource_types=BUCKET,
    rationale="Access logs record every request to the bucket, for investigations.",
    remediation="Enable server access logging to a dedicated log bucket.",
)
def s3_access_logging_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Logging is known and has no LoggingEnabled target."""
    if "Logging" not in config:
        return PASS
    return verdict(not get(config, "Logging", "LoggingEnabled"), logging="off")


RULES = (
    s3_public_policy,
    s3_public_acl,
    s3_public_access_block_off,
    s3_default_encryption_off,
    s3_secure_transport,
    s3_mfa_delete_off,
    s3_versioning_off,
    s3_access_logging_off,
)
