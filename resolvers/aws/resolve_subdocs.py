"""Sub-documents written whole by one event, as data: (eventSource, eventName) -> fragment.

A sub-document (a bucket policy, a public access block, an inline IAM policy, a Lambda
permission statement, one queue attribute) is observed under the key ``PARENT#fragment`` or
``PARENT#fragment/name`` (docs/resolution.md). Each extractor returns ``(suffix, value)`` pairs,
``value`` being the whole sub-document or :data:`DELETED`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

DELETED = object()  # a sub-document value: the sub-document was removed
BOOKKEEPING = frozenset({"requestId", "_return", "xmlns", "ResponseMetadata", "Host", "bucketName"})
Parts = list[tuple[str, Any]]  # (key suffix, value or DELETED)
Extractor = Callable[[Mapping[str, Any]], Parts]


def request_of(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    value = detail.get("requestParameters")
    return value if isinstance(value, Mapping) else {}


def response_of(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    value = detail.get("responseElements")
    return value if isinstance(value, Mapping) else {}


def _parsed(value: Any) -> Any:
    """A JSON document CloudTrail wrote as a string (IAM and KMS policies), parsed."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def without(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    drop = BOOKKEEPING.union(keys)
    return {k: _parsed(v) for k, v in mapping.items() if k not in drop}


# -- sub-document extractors ------------------------------------------------------------------
def whole_request(*ids: str) -> Extractor:
    """The request minus the parent's identifiers is the whole sub-document."""
    return lambda detail: [("", without(request_of(detail), *ids))]


def field(name: str) -> Extractor:
    """One request field is the whole sub-document."""
    return lambda detail: [("", _parsed(request_of(detail).get(name)))]


def removed() -> Extractor:
    """The sub-document was deleted."""
    return lambda detail: [("", DELETED)]


def named(name_field: str, value: Extractor | None) -> Extractor:
    """One named item of a collection (an inline policy, a permission statement)."""

    def extract(detail: Mapping[str, Any]) -> Parts:
        name = request_of(detail).get(name_field)
        if not isinstance(name, str) or not name:
            return []
        inner = value(detail)[0][1] if value else DELETED
        return [(f"/{name}", inner)]

    return extract


def constant(document: Any, *kept: str) -> Extractor:
    """A setting the event sets to a known value, plus the request fields ``kept``."""

    def extract(detail: Mapping[str, Any]) -> Parts:
        request = request_of(detail)
        return [("", {**{k: request[k] for k in kept if k in request}, **document})]

    return extract


def attributes(map_field: str) -> Extractor:
    """Each attribute set is a sub-document of its own (SetQueueAttributes)."""

    def extract(detail: Mapping[str, Any]) -> Parts:
        values = request_of(detail).get(map_field)
        if not isinstance(values, Mapping):
            return []
        return [(f"/{name}", _parsed(value)) for name, value in sorted(values.items())]

    return extract


def single_attribute(name_field: str, value_field: str) -> Extractor:
    """One attribute set by name (SetTopicAttributes)."""
    return named(name_field, field(value_field))


def membership(name_field: str, present: bool) -> Extractor:
    """A membership (an attached policy, a group): present or not."""
    value = (
        (lambda detail: [("", {name_field: request_of(detail).get(name_field)})])
        if present
        else None
    )
    return named(name_field, value)


def _s3(fragment: str, puts: tuple[str, ...], deletes: tuple[str, ...]) -> dict:
    spec: dict[tuple[str, str], tuple[str, Extractor]] = {}
    for name in puts:
        spec[("s3.amazonaws.com", name)] = (fragment, whole_request())
    for name in deletes:
        spec[("s3.amazonaws.com", name)] = (fragment, removed())
    return spec


def _pair(source: str, fragment: str, put: str, delete: str | None, value: Extractor) -> dict:
    spec = {(source, put): (fragment, value)}
    if delete:
        spec[(source, delete)] = (fragment, removed())
    return spec


def _named_pair(
    source: str, fragment: str, put: str, delete: str, name: str, value: Extractor
) -> dict:
    return {
        (source, put): (fragment, named(name, value)),
        (source, delete): (fragment, named(name, None)),
    }


_IAM = "iam.amazonaws.com"
_KMS = "kms.amazonaws.com"
_LAMBDA = "lambda.amazonaws.com"
_EC2 = "ec2.amazonaws.com"
_ECR = "ecr.amazonaws.com"
_DOC = field("policyDocument")

# (eventSource, eventName or operation) -> (fragment, extractor)
SUBDOCS: dict[tuple[str, str], tuple[str, Extractor]] = {
    **_s3("policy", ("PutBucketPolicy",), ("DeleteBucketPolicy",)),
    **_s3("acl", ("PutBucketAcl",), ()),
    **_s3("public-access-block", ("PutBucketPublicAccessBlock",),
          ("DeleteBucketPublicAccessBlock",)),
    **_s3("encryption", ("PutBucketEncryption",), ("DeleteBucketEncryption",)),
    **_s3("versioning", ("PutBucketVersioning",), ()),
    **_s3("logging", ("PutBucketLogging",), ()),
    **_s3("lifecycle", ("PutBucketLifecycle", "PutBucketLifecycleConfiguration"),
          ("DeleteBucketLifecycle",)),
    **_s3("tagging", ("PutBucketTagging",), ("DeleteBucketTagging",)),
    **_s3("cors", ("PutBucketCors",), ("DeleteBucketCors",)),
    **_s3("website", ("PutBucketWebsite",), ("DeleteBucketWebsite",)),
    **_s3("replication", ("PutBucketReplication",), ("DeleteBucketReplication",)),
    **_s3("ownership-controls", ("PutBucketOwnershipControls",),
          ("DeleteBucketOwnershipControls",)),
    **_s3("notification", ("PutBucketNotification", "PutBucketNotificationConfiguration"), ()),
    **_s3("request-payment", ("PutBucketRequestPayment",), ()),
    **_s3("accelerate", ("PutBucketAccelerateConfiguration", "PutAccelerateConfiguration"), ()),
    **_s3("object-lock", ("PutObjectLockConfiguration",), ()),
    **_s3("public-access-block", ("PutAccountPublicAccessBlock", "PutPublicAccessBlock"),
          ("DeleteAccountPublicAccessBlock", "DeletePublicAccessBlock")),
    **_named_pair(_IAM, "inline-policy", "PutRolePolicy", "DeleteRolePolicy", "policyName", _DOC),
    **_named_pair(_IAM, "inline-policy", "PutUserPolicy", "DeleteUserPolicy", "policyName", _DOC),
    **_named_pair(_IAM, "inline-policy", "PutGroupPolicy", "DeleteGroupPolicy", "policyName",
                  _DOC),
    (_IAM, "UpdateAssumeRolePolicy"): ("trust-policy", _DOC),
    **_pair(_IAM, "permissions-boundary", "PutRolePermissionsBoundary",
            "DeleteRolePermissionsBoundary", field("permissionsBoundary")),
    **_pair(_IAM, "permissions-boundary", "PutUserPermissionsBoundary",
            "DeleteUserPermissionsBoundary", field("permissionsBoundary")),
    **{(_IAM, f"{verb}{kind}Policy"): ("attached-policy", membership("policyArn", verb == "Attach"))
       for verb in ("Attach", "Detach") for kind in ("Role", "User", "Group")},
    (_IAM, "AddUserToGroup"): ("group", membership("groupName", True)),
    (_IAM, "RemoveUserFromGroup"): ("group", membership("groupName", False)),
    **_pair(_IAM, "login-profile", "CreateLoginProfile", "DeleteLoginProfile",
            whole_request("userName", "password")),
    (_IAM, "UpdateLoginProfile"): ("login-profile", whole_request("userName", "password")),
    (_KMS, "PutKeyPolicy"): ("policy", field("policy")),
    (_KMS, "EnableKeyRotation"): ("rotation", constant({"enabled": True}, "rotationPeriodInDays")),
    (_KMS, "DisableKeyRotation"): ("rotation", constant({"enabled": False})),
    (_KMS, "EnableKey"): ("enabled", constant({"enabled": True})),
    (_KMS, "DisableKey"): ("enabled", constant({"enabled": False})),
    **_named_pair(_LAMBDA, "permission", "AddPermission", "RemovePermission", "statementId",
                  whole_request("functionName", "statementId")),
    **_pair(_LAMBDA, "concurrency", "PutFunctionConcurrency", "DeleteFunctionConcurrency",
            whole_request("functionName")),
    **_pair(_LAMBDA, "url-config", "CreateFunctionUrlConfig", "DeleteFunctionUrlConfig",
            whole_request("functionName")),
    ("sns.amazonaws.com", "SetTopicAttributes"): (
        "attribute", single_attribute("attributeName", "attributeValue")),
    ("sqs.amazonaws.com", "SetQueueAttributes"): ("attribute", attributes("attributes")),
    **_pair("secretsmanager.amazonaws.com", "policy", "PutResourcePolicy", "DeleteResourcePolicy",
            field("resourcePolicy")),
    **_pair(_ECR, "policy", "SetRepositoryPolicy", "DeleteRepositoryPolicy", field("policyText")),
    **_pair(_ECR, "lifecycle-policy", "PutLifecyclePolicy", "DeleteLifecyclePolicy",
            field("lifecyclePolicyText")),
    (_ECR, "PutImageScanningConfiguration"): (
        "image-scanning", field("imageScanningConfiguration")),
    (_ECR, "PutImageTagMutability"): ("image-tag-mutability", whole_request("repositoryName")),
    ("cloudtrail.amazonaws.com", "StartLogging"): ("logging", constant({"isLogging": True})),
    ("cloudtrail.amazonaws.com", "StopLogging"): ("logging", constant({"isLogging": False})),
    ("cloudtrail.amazonaws.com", "PutEventSelectors"): (
        "event-selectors", whole_request("trailName")),
    (_EC2, "EnableEbsEncryptionByDefault"): ("ebs-encryption-by-default",
                                             constant({"enabled": True})),
    (_EC2, "DisableEbsEncryptionByDefault"): ("ebs-encryption-by-default",
                                              constant({"enabled": False})),
    (_EC2, "EnableSerialConsoleAccess"): ("serial-console-access", constant({"enabled": True})),
    (_EC2, "DisableSerialConsoleAccess"): ("serial-console-access", constant({"enabled": False})),
    (_EC2, "EnableImageBlockPublicAccess"): ("image-block-public-access",
                                             constant({"enabled": True})),
    (_EC2, "DisableImageBlockPublicAccess"): ("image-block-public-access",
                                              constant({"enabled": False})),
    (_EC2, "EnableSnapshotBlockPublicAccess"): ("snapshot-block-public-access",
                                                whole_request()),
    (_EC2, "DisableSnapshotBlockPublicAccess"): ("snapshot-block-public-access", removed()),
}  # fmt: skip
