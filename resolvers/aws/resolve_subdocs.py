"""Sub-documents written whole by one event, as data: (eventSource, eventName) -> fragment.

A sub-document (a bucket policy, a public access block, an inline IAM policy, a Lambda
permission statement, one queue attribute) is observed under the key ``PARENT#fragment`` or
``PARENT#fragment/name`` (docs/resolution.md). Fragments are named after the key that holds the
same document in the parent's described config (docs/aws-config-shapes.md: ``Policy``,
``PublicAccessBlockConfiguration``, ``InlinePolicies``, ...), so that the two can be put side by
side. Each extractor returns ``(suffix, value)`` pairs, ``value`` being the whole sub-document,
:data:`DELETED`, or None when the event does not carry it (then nothing is observed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

import orjson

DELETED = object()  # a sub-document value: the sub-document was removed
BOOKKEEPING = frozenset(
    {"requestId", "_return", "xmlns", "ResponseMetadata", "Host", "host", "bucketName"}
)
Parts = list[tuple[str, Any]]  # (key suffix, value or DELETED)
Extractor = Callable[[Mapping[str, Any]], Parts]


JSON_SCALARS = frozenset({str, int, float, bool, type(None)})  # the types of JSON's leaves


def is_mapping(value: Any) -> TypeGuard[Mapping[Any, Any]]:
    """``isinstance(value, Mapping)``, fast for what JSON gives (dicts and scalars)."""
    kind = type(value)
    return kind is dict or (kind not in JSON_SCALARS and isinstance(value, Mapping))


def request_of(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    """``requestParameters`` ({} when absent or not an object)."""
    value = detail.get("requestParameters")
    return value if is_mapping(value) else {}


def response_of(detail: Mapping[str, Any]) -> Mapping[str, Any]:
    """``responseElements`` ({} when absent or not an object)."""
    value = detail.get("responseElements")
    return value if is_mapping(value) else {}


def _parsed(value: Any) -> Any:
    """A JSON document CloudTrail wrote as a string (IAM and KMS policies), parsed; the XML
    namespace S3 requests carry, dropped."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    if is_mapping(value) and "xmlns" in value:
        return {k: v for k, v in value.items() if k != "xmlns"}
    return value


def without(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A mapping minus bookkeeping keys and ``keys``, JSON strings parsed."""
    drop = BOOKKEEPING.union(keys) if keys else BOOKKEEPING
    return {k: _parsed(v) for k, v in mapping.items() if k not in drop}


# -- sub-document extractors ------------------------------------------------------------------
def field(*names: str) -> Extractor:
    """The first of these request fields present is the whole sub-document."""

    def extract(detail: Mapping[str, Any]) -> Parts:
        request = request_of(detail)
        found = next((request[n] for n in names if request.get(n) is not None), None)
        return [("", _parsed(found))]

    return extract


def fields(*names: str) -> Extractor:
    """These request fields together are the whole sub-document (None if none is present)."""

    def extract(detail: Mapping[str, Any]) -> Parts:
        request = request_of(detail)
        found = {n: _parsed(request[n]) for n in names if n in request}
        return [("", found or None)]

    return extract


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


def membership(name_field: str, present: bool) -> Extractor:
    """A membership (an attached policy, a group): present or not."""

    def value(detail: Mapping[str, Any]) -> Parts:
        return [("", {name_field: request_of(detail).get(name_field)})]

    return named(name_field, value if present else None)


def _s3(fragment: str, key: str, puts: tuple[str, ...], deletes: tuple[str, ...] = ()) -> dict:
    spec: dict[tuple[str, str], tuple[str, Extractor]] = {}
    for name in puts:
        spec[("s3.amazonaws.com", name)] = (fragment, field(key))
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
_TRAIL = "cloudtrail.amazonaws.com"
_DOC = field("policyDocument")
_PAB = "PublicAccessBlockConfiguration"

# (eventSource, eventName or operation) -> (fragment, extractor)
SUBDOCS: dict[tuple[str, str], tuple[str, Extractor]] = {
    **_s3("Policy", "bucketPolicy", ("PutBucketPolicy",), ("DeleteBucketPolicy",)),
    **_s3("Acl", "AccessControlPolicy", ("PutBucketAcl",)),
    **_s3(_PAB, _PAB, ("PutBucketPublicAccessBlock",), ("DeleteBucketPublicAccessBlock",)),
    **_s3("ServerSideEncryptionConfiguration", "ServerSideEncryptionConfiguration",
          ("PutBucketEncryption",), ("DeleteBucketEncryption",)),
    **_s3("Versioning", "VersioningConfiguration", ("PutBucketVersioning",)),
    **_s3("Logging", "BucketLoggingStatus", ("PutBucketLogging",)),
    **_s3("LifecycleConfiguration", "LifecycleConfiguration",
          ("PutBucketLifecycle", "PutBucketLifecycleConfiguration"), ("DeleteBucketLifecycle",)),
    **_s3("Tags", "Tagging", ("PutBucketTagging",), ("DeleteBucketTagging",)),
    **_s3("Cors", "CORSConfiguration", ("PutBucketCors",), ("DeleteBucketCors",)),
    **_s3("Website", "WebsiteConfiguration", ("PutBucketWebsite",), ("DeleteBucketWebsite",)),
    **_s3("ReplicationConfiguration", "ReplicationConfiguration", ("PutBucketReplication",),
          ("DeleteBucketReplication",)),
    **_s3("OwnershipControls", "OwnershipControls", ("PutBucketOwnershipControls",),
          ("DeleteBucketOwnershipControls",)),
    **_s3("NotificationConfiguration", "NotificationConfiguration",
          ("PutBucketNotification", "PutBucketNotificationConfiguration")),
    **_s3("ObjectLockConfiguration", "ObjectLockConfiguration", ("PutObjectLockConfiguration",)),
    **_s3(_PAB, _PAB, ("PutAccountPublicAccessBlock", "PutPublicAccessBlock"),
          ("DeleteAccountPublicAccessBlock", "DeletePublicAccessBlock")),
    **_named_pair(_IAM, "InlinePolicies", "PutRolePolicy", "DeleteRolePolicy", "policyName",
                  _DOC),
    **_named_pair(_IAM, "InlinePolicies", "PutUserPolicy", "DeleteUserPolicy", "policyName",
                  _DOC),
    **_named_pair(_IAM, "InlinePolicies", "PutGroupPolicy", "DeleteGroupPolicy", "policyName",
                  _DOC),
    (_IAM, "UpdateAssumeRolePolicy"): ("AssumeRolePolicyDocument", _DOC),
    **_pair(_IAM, "PermissionsBoundary", "PutRolePermissionsBoundary",
            "DeleteRolePermissionsBoundary", field("permissionsBoundary")),
    **_pair(_IAM, "PermissionsBoundary", "PutUserPermissionsBoundary",
            "DeleteUserPermissionsBoundary", field("permissionsBoundary")),
    **{(_IAM, f"{verb}{kind}Policy"): ("AttachedPolicies",
                                       membership("policyArn", verb == "Attach"))
       for verb in ("Attach", "Detach") for kind in ("Role", "User", "Group")},
    (_IAM, "AddUserToGroup"): ("Groups", membership("groupName", True)),
    (_IAM, "RemoveUserFromGroup"): ("Groups", membership("groupName", False)),
    **_pair(_IAM, "LoginProfile", "CreateLoginProfile", "DeleteLoginProfile",
            fields("passwordResetRequired")),
    (_IAM, "UpdateLoginProfile"): ("LoginProfile", fields("passwordResetRequired")),
    (_KMS, "PutKeyPolicy"): ("Policy", field("policy")),
    (_KMS, "EnableKeyRotation"): ("KeyRotationEnabled",
                                  constant({"enabled": True}, "rotationPeriodInDays")),
    (_KMS, "DisableKeyRotation"): ("KeyRotationEnabled", constant({"enabled": False})),
    **_named_pair(_LAMBDA, "Policy", "AddPermission", "RemovePermission", "statementId",
                  fields("action", "principal", "sourceArn", "sourceAccount", "principalOrgID",
                         "functionUrlAuthType", "eventSourceToken", "qualifier")),
    **_pair(_LAMBDA, "Concurrency", "PutFunctionConcurrency", "DeleteFunctionConcurrency",
            fields("reservedConcurrentExecutions")),
    **_pair(_LAMBDA, "UrlConfig", "CreateFunctionUrlConfig", "DeleteFunctionUrlConfig",
            fields("authType", "cors", "invokeMode", "qualifier")),
    ("sns.amazonaws.com", "SetTopicAttributes"): (
        "Attributes", named("attributeName", field("attributeValue"))),
    ("sqs.amazonaws.com", "SetQueueAttributes"): ("Attributes", attributes("attributes")),
    **_pair("secretsmanager.amazonaws.com", "ResourcePolicy", "PutResourcePolicy",
            "DeleteResourcePolicy", field("resourcePolicy")),
    **_pair(_ECR, "Policy", "SetRepositoryPolicy", "DeleteRepositoryPolicy", field("policyText")),
    **_pair(_ECR, "LifecyclePolicy", "PutLifecyclePolicy", "DeleteLifecyclePolicy",
            field("lifecyclePolicyText")),
    (_ECR, "PutImageScanningConfiguration"): (
        "ImageScanningConfiguration", field("imageScanningConfiguration")),
    (_ECR, "PutImageTagMutability"): ("ImageTagMutability", fields("imageTagMutability")),
    (_TRAIL, "StartLogging"): ("Status", constant({"IsLogging": True})),
    (_TRAIL, "StopLogging"): ("Status", constant({"IsLogging": False})),
    (_TRAIL, "PutEventSelectors"): ("EventSelectors",
                                    fields("eventSelectors", "advancedEventSelectors")),
    (_EC2, "EnableEbsEncryptionByDefault"): ("EbsEncryptionByDefault",
                                             constant({"enabled": True})),
    (_EC2, "DisableEbsEncryptionByDefault"): ("EbsEncryptionByDefault",
                                              constant({"enabled": False})),
    (_EC2, "EnableSerialConsoleAccess"): ("SerialConsoleAccess", constant({"enabled": True})),
    (_EC2, "DisableSerialConsoleAccess"): ("SerialConsoleAccess", constant({"enabled": False})),
    (_EC2, "EnableImageBlockPublicAccess"): ("ImageBlockPublicAccess",
                                             fields("imageBlockPublicAccessState")),
    (_EC2, "DisableImageBlockPublicAccess"): ("ImageBlockPublicAccess", removed()),
    (_EC2, "EnableSnapshotBlockPublicAccess"): ("SnapshotBlockPublicAccess", fields("state")),
    (_EC2, "DisableSnapshotBlockPublicAccess"): ("SnapshotBlockPublicAccess", removed()),
}  # fmt: skip
