"""The resolver's curated rules, as data: related assets, id-prefix events, account settings.

Kept apart from the code that applies them (:mod:`resolvers.aws.resolve_targets`) so that a
new rule is a line here and a sample event in tests/test_aws_resolve_core.py.
"""

from __future__ import annotations

from collections import Counter

from resolvers.aws.catalog import CatalogEntry, Registry
from resolvers.aws.catalog_arn import arn_service

Path = tuple[str, str]  # (JMESPath into the record, identifier kind)

_VPC = (("requestParameters.vpcId", "ec2"),)
_POLICY = (("requestParameters.policyArn", "arn"),)

# The other side of attach/detach events, and the parents a creation changes: these assets get
# an asset_changes row with relation 'related' and action 'update'.
RELATED: dict[tuple[str, str], tuple[Path, ...]] = {
    ("ec2.amazonaws.com", "AttachVolume"): (("requestParameters.instanceId", "ec2"),),
    ("ec2.amazonaws.com", "DetachVolume"): (("requestParameters.instanceId", "ec2"),
                                            ("responseElements.instanceId", "ec2")),
    ("ec2.amazonaws.com", "AttachInternetGateway"): _VPC,
    ("ec2.amazonaws.com", "DetachInternetGateway"): _VPC,
    ("ec2.amazonaws.com", "AttachVpnGateway"): _VPC,
    ("ec2.amazonaws.com", "DetachVpnGateway"): _VPC,
    ("ec2.amazonaws.com", "AttachNetworkInterface"): (("requestParameters.instanceId", "ec2"),),
    ("ec2.amazonaws.com", "AssociateRouteTable"): (("requestParameters.routeTableId", "ec2"),
                                                   ("requestParameters.subnetId", "ec2"),
                                                   ("requestParameters.gatewayId", "ec2")),
    ("ec2.amazonaws.com", "AssociateAddress"): (("requestParameters.instanceId", "ec2"),
                                                ("requestParameters.networkInterfaceId", "ec2"),
                                                ("requestParameters.allocationId", "ec2")),
    ("ec2.amazonaws.com", "AssociateDhcpOptions"): (*_VPC,
                                                    ("requestParameters.dhcpOptionsId", "ec2")),
    ("ec2.amazonaws.com", "CreateSecurityGroup"): _VPC,
    ("ec2.amazonaws.com", "CreateSubnet"): _VPC,
    ("ec2.amazonaws.com", "CreateRouteTable"): _VPC,
    ("ec2.amazonaws.com", "CreateNetworkAcl"): _VPC,
    ("iam.amazonaws.com", "AttachRolePolicy"): _POLICY,
    ("iam.amazonaws.com", "DetachRolePolicy"): _POLICY,
    ("iam.amazonaws.com", "AttachUserPolicy"): _POLICY,
    ("iam.amazonaws.com", "DetachUserPolicy"): _POLICY,
    ("iam.amazonaws.com", "AttachGroupPolicy"): _POLICY,
    ("iam.amazonaws.com", "DetachGroupPolicy"): _POLICY,
    ("iam.amazonaws.com", "AddUserToGroup"): (("requestParameters.groupName", "iam-group"),),
    ("iam.amazonaws.com", "RemoveUserFromGroup"): (("requestParameters.groupName", "iam-group"),),
    ("iam.amazonaws.com", "AddRoleToInstanceProfile"): (
        ("requestParameters.roleName", "iam-role"),),
    ("iam.amazonaws.com", "RemoveRoleFromInstanceProfile"): (
        ("requestParameters.roleName", "iam-role"),),
    ("iam.amazonaws.com", "CreateAccessKey"): (("requestParameters.userName", "iam-user"),
                                               ("responseElements.accessKey.userName", "iam-user")),
    ("iam.amazonaws.com", "DeleteAccessKey"): (("requestParameters.userName", "iam-user"),),
    ("iam.amazonaws.com", "UpdateAccessKey"): (("requestParameters.userName", "iam-user"),),
    ("iam.amazonaws.com", "EnableMFADevice"): (("requestParameters.serialNumber", "arn"),),
    ("iam.amazonaws.com", "DeactivateMFADevice"): (("requestParameters.serialNumber", "arn"),),
    ("kms.amazonaws.com", "CreateAlias"): (("requestParameters.targetKeyId", "kms-key"),),
    ("kms.amazonaws.com", "UpdateAlias"): (("requestParameters.targetKeyId", "kms-key"),),
    ("lambda.amazonaws.com", "CreateEventSourceMapping"): (
        ("requestParameters.functionName", "lambda"),),
    ("elasticloadbalancing.amazonaws.com", "CreateListener"): (
        ("requestParameters.loadBalancerArn", "arn"),),
    ("elasticloadbalancing.amazonaws.com", "CreateRule"): (
        ("requestParameters.listenerArn", "arn"),),
}  # fmt: skip

# kind -> (key template, CloudFormation type); {p} partition, {r} region, {a} account, {v} value
KEY_TEMPLATES: dict[str, tuple[str, str]] = {
    "iam-user": ("arn:{p}:iam::{a}:user/{v}", "AWS::IAM::User"),
    "iam-role": ("arn:{p}:iam::{a}:role/{v}", "AWS::IAM::Role"),
    "iam-group": ("arn:{p}:iam::{a}:group/{v}", "AWS::IAM::Group"),
    "iam-instance-profile": ("arn:{p}:iam::{a}:instance-profile/{v}", "AWS::IAM::InstanceProfile"),
    "kms-key": ("arn:{p}:kms:{r}:{a}:key/{v}", "AWS::KMS::Key"),
    "lambda": ("arn:{p}:lambda:{r}:{a}:function:{v}", "AWS::Lambda::Function"),
    "org-policy": ("arn:{p}:organizations::{a}:policy/{v}", "AWS::Organizations::Policy"),
}

# EC2 operations over ids of any type: the id prefix tells the type (resolvers.aws.ids).
EC2_BY_PREFIX: dict[str, tuple[str, ...]] = {
    name: (
        "requestParameters.resourcesSet.items[].resourceId",
        f"requestParameters.{name}Request.ResourceId",
    )
    for name in ("CreateTags", "DeleteTags")
}
# EC2 associations are assets of their own (no ARN: keys per resolvers.aws.ids).
EC2_ASSOCIATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "AssociateRouteTable": (("responseElements.associationId", "create"),),
    "DisassociateRouteTable": (("requestParameters.associationId", "delete"),),
    "ReplaceRouteTableAssociation": (("requestParameters.associationId", "delete"),
                                     ("responseElements.newAssociationId", "create")),
    "ReplaceNetworkAclAssociation": (("requestParameters.associationId", "delete"),
                                     ("responseElements.newAssociationId", "create")),
    "AssociateAddress": (("responseElements.associationId", "create"),),
    "DisassociateAddress": (("requestParameters.associationId", "delete"),),
}  # fmt: skip

# Secrets Manager: where a secret is named (ARNs first: they carry the region and account).
SECRET_PATHS = (
    "responseElements.arn",
    "additionalEventData.ARN",
    "resources[].ARN",
    "requestParameters.secretId",
    "requestParameters.name",
    "responseElements.name",
)
SECRET_EVENTS = frozenset({"PutResourcePolicy", "DeleteResourcePolicy", "ValidateResourcePolicy"})

# Account-level settings with a key and type of their own (the describers use the same ones,
# resolvers/aws/types/iam_account.py); IAM's other account settings are the account root's.
ACCOUNT_ASSETS: dict[tuple[str, str], tuple[str, str]] = {
    ("iam.amazonaws.com", "UpdateAccountPasswordPolicy"): (
        "password-policy", "AWS::IAM::AccountPasswordPolicy"),
    ("iam.amazonaws.com", "DeleteAccountPasswordPolicy"): (
        "password-policy", "AWS::IAM::AccountPasswordPolicy"),
}  # fmt: skip
IAM_ACCOUNT_TYPE = "AWS::IAM::AccountSummary"
# Events whose ARN may name a resource of any type (the type comes from the ARN).
GENERIC_ARN_EVENTS = frozenset({"TagResource", "UntagResource", "AddTags", "RemoveTags"})
# Sub-resource types whose events change their parent (PutBucketPolicy changes the bucket).
PARENT_TYPES: dict[str, str] = {
    "AWS::S3::BucketPolicy": "AWS::S3::Bucket",
    "AWS::SQS::QueuePolicy": "AWS::SQS::Queue",
    "AWS::SNS::TopicPolicy": "AWS::SNS::Topic",
    "AWS::Lambda::Permission": "AWS::Lambda::Function",
    "AWS::Lambda::Url": "AWS::Lambda::Function",
    "AWS::SecretsManager::ResourcePolicy": "AWS::SecretsManager::Secret",
    "AWS::IAM::RolePolicy": "AWS::IAM::Role",
    "AWS::IAM::UserPolicy": "AWS::IAM::User",
    "AWS::IAM::GroupPolicy": "AWS::IAM::Group",
    "AWS::EC2::SecurityGroupIngress": "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupEgress": "AWS::EC2::SecurityGroup",
}
# Services whose account-level settings hold for every region.
GLOBAL_SERVICES = frozenset(
    {"iam", "s3", "organizations", "cloudfront", "route53", "account", "billingconsole", "ce"}
)
_SOURCE_TO_ARN_SERVICE = {"monitoring": "cloudwatch", "email": "ses"}


def arn_service_of(entry: CatalogEntry) -> str:
    """The ARN service field for an event's service (``monitoring`` -> ``cloudwatch``)."""
    prefix = entry.event_source.split(".", 1)[0]
    return _SOURCE_TO_ARN_SERVICE.get(prefix, prefix)


_NAMESPACES: dict[int, dict[str, str]] = {}


def namespace(catalog: Registry, service: str) -> str:
    """The CloudFormation namespace most types of an ARN service use (``ec2`` -> ``EC2``)."""
    index = _NAMESPACES.get(id(catalog))
    if index is None:
        counts: dict[str, Counter[str]] = {}
        for spec in catalog.types.values():
            parts = spec.type_name.split("::")
            if len(parts) == 3 and spec.arn_template:
                counts.setdefault(arn_service(spec.arn_template), Counter())[parts[1]] += 1
        index = {svc: c.most_common(1)[0][0] for svc, c in counts.items()}
        _NAMESPACES[id(catalog)] = index
    return index.get(service) or service.replace("-", " ").title().replace(" ", "")
