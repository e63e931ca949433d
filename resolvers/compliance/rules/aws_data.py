"""Data and application service rules: RDS, Lambda, SNS, SQS, ECR, EKS, Secrets Manager,
load balancer listeners, CloudFront."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resolvers.compliance.rules._docs import get, items, mappings
from resolvers.compliance.rules._policy import WORLD_V4, public_statements, statement_ids
from resolvers.compliance.spec import PASS, Verdict, VersionView, state_rule, verdict

DB_INSTANCE = ("AWS::RDS::DBInstance",)
DB_SNAPSHOT = ("AWS::RDS::DBSnapshot",)
FUNCTION = ("AWS::Lambda::Function",)
DEPRECATED_RUNTIMES = frozenset(
    {
        "python2.7", "python3.6", "python3.7", "python3.8",
        "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x",
        "nodejs14.x", "nodejs16.x", "ruby2.5", "ruby2.7", "java8", "go1.x",
        "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet5.0",
        "dotnet6",
    }
)  # fmt: skip


@state_rule(
    id="aws-rds-instance-unencrypted",
    title="RDS instance storage is not encrypted",
    severity="high",
    resource_types=DB_INSTANCE,
    rationale="Database storage, its snapshots and replicas hold the data in the clear.",
    remediation="Restore an encrypted copy from a snapshot and switch over (encryption cannot be "
    "turned on in place).",
)
def rds_instance_unencrypted(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when StorageEncrypted is false."""
    return verdict(config.get("StorageEncrypted") is False, storage_encrypted=False)


@state_rule(
    id="aws-rds-instance-public",
    title="RDS instance is publicly accessible",
    severity="high",
    resource_types=DB_INSTANCE,
    rationale="A publicly accessible instance gets a public DNS address; only its security group "
    "stands between the database and the internet.",
    remediation="Set PubliclyAccessible to false (modify-db-instance --no-publicly-accessible).",
)
def rds_instance_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when PubliclyAccessible is true."""
    return verdict(config.get("PubliclyAccessible") is True, publicly_accessible=True)


@state_rule(
    id="aws-rds-instance-minor-upgrade-off",
    title="RDS instance does not apply minor version upgrades automatically",
    severity="low",
    resource_types=DB_INSTANCE,
    rationale="Minor versions carry security fixes.",
    remediation="Enable AutoMinorVersionUpgrade.",
)
def rds_minor_upgrade_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when AutoMinorVersionUpgrade is false."""
    return verdict(config.get("AutoMinorVersionUpgrade") is False, auto_minor_version_upgrade=False)


@state_rule(
    id="aws-rds-cluster-unencrypted",
    title="RDS cluster storage is not encrypted",
    severity="high",
    resource_types=("AWS::RDS::DBCluster",),
    rationale="Cluster volumes and their snapshots hold the data in the clear.",
    remediation="Restore an encrypted cluster from a snapshot and switch over.",
)
def rds_cluster_unencrypted(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when StorageEncrypted is false."""
    return verdict(config.get("StorageEncrypted") is False, storage_encrypted=False)


def _restore_values(config: Mapping[str, Any]) -> list[str]:
    attributes = config.get("SnapshotAttributes")
    if isinstance(attributes, dict):  # the whole DBSnapshotAttributesResult
        attributes = attributes.get("DBSnapshotAttributes")
    values: list[str] = []
    for attribute in mappings(attributes):
        if attribute.get("AttributeName") == "restore":
            values.extend(str(v) for v in items(attribute.get("AttributeValues")))
    return values


@state_rule(
    id="aws-rds-snapshot-public",
    title="RDS snapshot is public",
    severity="critical",
    resource_types=DB_SNAPSHOT,
    rationale="Any AWS account can restore a public snapshot and read the database.",
    remediation="Remove 'all' from the snapshot's restore attribute.",
)
def rds_snapshot_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the restore attribute includes 'all'."""
    return verdict("all" in _restore_values(config), restore="all")


@state_rule(
    id="aws-rds-snapshot-unencrypted",
    title="RDS snapshot is not encrypted",
    severity="medium",
    resource_types=DB_SNAPSHOT,
    rationale="An unencrypted snapshot can be copied or shared with its data readable.",
    remediation="Copy the snapshot with a KMS key and delete the unencrypted one.",
)
def rds_snapshot_unencrypted(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Encrypted is false."""
    return verdict(config.get("Encrypted") is False, encrypted=False)


@state_rule(
    id="aws-lambda-public-url",
    title="Lambda function URL requires no authentication",
    severity="high",
    resource_types=FUNCTION,
    rationale="A function URL with AuthType NONE lets anyone on the internet invoke the function.",
    remediation="Set the URL's AuthType to AWS_IAM, or delete the URL.",
)
def lambda_public_url(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when UrlConfig.AuthType is NONE."""
    return verdict(get(config, "UrlConfig", "AuthType") == "NONE", auth_type="NONE")


@state_rule(
    id="aws-lambda-public-policy",
    title="Lambda function policy allows anyone to invoke it",
    severity="high",
    resource_types=FUNCTION,
    rationale="A resource policy with Principal * and no source condition lets any account "
    "invoke the function.",
    remediation="Remove the statement or pin it with aws:SourceArn / aws:SourceAccount.",
)
def lambda_public_policy(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the resource policy has an unconditioned Allow for Principal *."""
    found = public_statements(config.get("Policy"))
    return verdict(bool(found), statements=statement_ids(found))


@state_rule(
    id="aws-lambda-deprecated-runtime",
    title="Lambda function uses a deprecated runtime",
    severity="medium",
    resource_types=FUNCTION,
    rationale="Deprecated runtimes no longer get security patches.",
    remediation="Move the function to a supported runtime.",
)
def lambda_deprecated_runtime(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when Runtime is in the list of deprecated Lambda runtimes."""
    runtime = config.get("Runtime")
    return verdict(runtime in DEPRECATED_RUNTIMES, runtime=runtime)


def _public_attribute_policy(config: Mapping[str, Any]) -> Verdict:
    policy = get(config, "Attributes", "Policy")
    found = public_statements(policy if policy is not None else config.get("Policy"))
    return verdict(bool(found), statements=statement_ids(found))


@state_rule(
    id="aws-sns-topic-public",
    title="SNS topic policy allows anyone",
    severity="high",
    resource_types=("AWS::SNS::Topic",),
    rationale="Anyone could publish to (or subscribe to) a topic whose policy allows Principal *.",
    remediation="Restrict the topic policy to known accounts or services with conditions.",
)
def sns_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the topic policy has an unconditioned Allow for Principal *."""
    return _public_attribute_policy(config)


@state_rule(
    id="aws-sqs-queue-public",
    title="SQS queue policy allows anyone",
    severity="high",
    resource_types=("AWS::SQS::Queue",),
    rationale="Anyone could send, read or delete messages of a queue open to Principal *.",
    remediation="Restrict the queue policy to known accounts or services with conditions.",
)
def sqs_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the queue policy has an unconditioned Allow for Principal *."""
    return _public_attribute_policy(config)


@state_rule(
    id="aws-ecr-repository-public",
    title="ECR repository policy allows anyone",
    severity="high",
    resource_types=("AWS::ECR::Repository",),
    rationale="Public pull exposes images (and whatever they contain); public push is worse.",
    remediation="Restrict the repository policy to the accounts that pull from it.",
)
def ecr_public(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the repository policy has an unconditioned Allow for Principal *."""
    found = public_statements(config.get("Policy"))
    return verdict(bool(found), statements=statement_ids(found))


@state_rule(
    id="aws-ecr-scan-on-push-off",
    title="ECR repository does not scan images on push",
    severity="low",
    resource_types=("AWS::ECR::Repository",),
    rationale="Scanning on push finds known vulnerabilities before images are deployed.",
    remediation="Enable scanOnPush (or registry-level enhanced scanning).",
)
def ecr_scan_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the image scanning configuration has scanOnPush false."""
    scanning = config.get("ImageScanningConfiguration", config.get("imageScanningConfiguration"))
    return verdict(get(scanning, "scanOnPush") is False, scan_on_push=False)


@state_rule(
    id="aws-eks-endpoint-public",
    title="EKS API endpoint is open to the internet",
    severity="high",
    resource_types=("AWS::EKS::Cluster",),
    rationale="A public Kubernetes API endpoint open to 0.0.0.0/0 is one credential away from "
    "the cluster.",
    remediation="Disable public endpoint access, or restrict publicAccessCidrs to known ranges.",
)
def eks_public_endpoint(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the public endpoint is on and publicAccessCidrs includes 0.0.0.0/0."""
    vpc = config.get("resourcesVpcConfig")
    if not isinstance(vpc, dict) or vpc.get("endpointPublicAccess") is not True:
        return PASS
    cidrs = items(vpc.get("publicAccessCidrs")) or [WORLD_V4]
    return verdict(WORLD_V4 in cidrs, public_access_cidrs=cidrs)


@state_rule(
    id="aws-secretsmanager-rotation-off",
    title="Secrets Manager secret does not rotate",
    severity="medium",
    resource_types=("AWS::SecretsManager::Secret",),
    rationale="Rotation limits how long a leaked secret stays valid.",
    remediation="Configure a rotation function and schedule for the secret.",
)
def secret_rotation_off(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for a described secret whose RotationEnabled is false or absent (DescribeSecret
    omits it when rotation was never set)."""
    if not (config.get("ARN") or config.get("Name")):
        return PASS
    return verdict(config.get("RotationEnabled") is not True, rotation_enabled=False)


@state_rule(
    id="aws-elbv2-listener-http",
    title="Load balancer listener serves plain HTTP",
    severity="medium",
    resource_types=("AWS::ElasticLoadBalancingV2::Listener",),
    rationale="Plain HTTP exposes sessions and credentials to anyone on the path.",
    remediation="Serve HTTPS, and make the HTTP listener redirect to it.",
)
def elbv2_http_listener(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails for an HTTP listener whose default actions are not all redirects to HTTPS."""
    if config.get("Protocol") != "HTTP":
        return PASS
    actions = list(mappings(config.get("DefaultActions")))
    redirects = all(
        action.get("Type") == "redirect" and get(action, "RedirectConfig", "Protocol") == "HTTPS"
        for action in actions
    )
    return verdict(not (actions and redirects), protocol="HTTP")


@state_rule(
    id="aws-cloudfront-viewer-http",
    title="CloudFront distribution allows viewers over plain HTTP",
    severity="medium",
    resource_types=("AWS::CloudFront::Distribution",),
    rationale="With ViewerProtocolPolicy allow-all, viewers can be served (and send cookies) "
    "over HTTP.",
    remediation="Set ViewerProtocolPolicy to redirect-to-https or https-only on every behavior.",
)
def cloudfront_viewer_http(config: Mapping[str, Any], version: VersionView) -> Verdict:
    """Fails when the default or any cache behavior has ViewerProtocolPolicy allow-all."""
    behaviors = [config.get("DefaultCacheBehavior"), *items(get(config, "CacheBehaviors", "Items"))]
    loose = [
        get(b, "PathPattern") or "default"
        for b in behaviors
        if get(b, "ViewerProtocolPolicy") == "allow-all"
    ]
    return verdict(bool(loose), behaviors=loose)


RULES = (
    rds_instance_unencrypted,
    rds_instance_public,
    rds_minor_upgrade_off,
    rds_cluster_unencrypted,
    rds_snapshot_public,
    rds_snapshot_unencrypted,
    lambda_public_url,
    lambda_public_policy,
    lambda_deprecated_runtime,
    sns_public,
    sqs_public,
    ecr_public,
    ecr_scan_off,
    eks_public_endpoint,
    secret_rotation_off,
    elbv2_http_listener,
    cloudfront_viewer_http,
)
