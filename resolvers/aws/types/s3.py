"""S3 buckets: listed once per account, each bucket read in its own region.

Document per docs/aws-config-shapes.md: ``Name``, ``CreationDate`` and one key per sub-resource
call. A sub-resource the bucket does not have is ``null`` (no policy, no encryption, no public
access block, no logging, no lifecycle); ``Tags`` is ``[]`` without a tag set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from resolvers.aws.catalog_arn import partition
from resolvers.aws.types.api import (
    is_gone,
    jsonable,
    optional,
    parse_policy,
    read_item,
    require,
)
from resolvers.aws.types.spec import (
    GLOBAL_REGION,
    NOT_FOUND,
    Listed,
    NotFoundType,
    Reader,
    TypeSpec,
    Unreadable,
    calls,
    field_of,
    tag_map,
)

# location constraints that are not region names
LEGACY_LOCATIONS = {"": "us-east-1", "EU": "eu-west-1"}


def bucket_region(reader: Reader, name: str, home: str = GLOBAL_REGION) -> str:
    """The bucket's region, from GetBucketLocation (asked from ``home``)."""
    answer = reader.client("s3", home).get_bucket_location(Bucket=name)
    location = answer.get("LocationConstraint") or ""
    return LEGACY_LOCATIONS.get(location, location)


def _policy(client: Any, name: str) -> Any:
    answer = optional(lambda: client.get_bucket_policy(Bucket=name), "NoSuchBucketPolicy")
    return parse_policy(answer.get("Policy")) if answer else None


def _policy_status(client: Any, name: str) -> Any:
    answer = optional(lambda: client.get_bucket_policy_status(Bucket=name), "NoSuchBucketPolicy")
    return jsonable(answer.get("PolicyStatus")) if answer else None


def _acl(client: Any, name: str) -> Any:
    answer = client.get_bucket_acl(Bucket=name)
    return {"Owner": jsonable(answer.get("Owner")), "Grants": jsonable(answer.get("Grants", []))}


def _public_access_block(client: Any, name: str) -> Any:
    read = lambda: client.get_public_access_block(Bucket=name)  # noqa: E731
    answer = optional(read, "NoSuchPublicAccessBlockConfiguration")
    return jsonable(answer.get("PublicAccessBlockConfiguration")) if answer else None


def _encryption(client: Any, name: str) -> Any:
    read = lambda: client.get_bucket_encryption(Bucket=name)  # noqa: E731
    answer = optional(read, "ServerSideEncryptionConfigurationNotFoundError")
    return jsonable(answer.get("ServerSideEncryptionConfiguration")) if answer else None


def _versioning(client: Any, name: str) -> Any:
    return jsonable(client.get_bucket_versioning(Bucket=name))


def _logging(client: Any, name: str) -> Any:
    answer = jsonable(client.get_bucket_logging(Bucket=name))
    return answer if answer.get("LoggingEnabled") else None


def _lifecycle(client: Any, name: str) -> Any:
    read = lambda: client.get_bucket_lifecycle_configuration(Bucket=name)  # noqa: E731
    answer = optional(read, "NoSuchLifecycleConfiguration")
    return {"Rules": jsonable(answer.get("Rules", []))} if answer else None


def _tags(client: Any, name: str) -> Any:
    answer = optional(lambda: client.get_bucket_tagging(Bucket=name), "NoSuchTagSet")
    return jsonable(answer.get("TagSet", [])) if answer else []


SUBRESOURCES: Mapping[str, Callable[[Any, str], Any]] = {
    "Policy": _policy,
    "PolicyStatus": _policy_status,
    "Acl": _acl,
    "PublicAccessBlockConfiguration": _public_access_block,
    "ServerSideEncryptionConfiguration": _encryption,
    "Versioning": _versioning,
    "Logging": _logging,
    "LifecycleConfiguration": _lifecycle,
    "Tags": _tags,
}


def normalize_bucket(summary: Mapping[str, Any], parts: Mapping[str, Any]) -> dict[str, Any]:
    """``Name`` and ``CreationDate`` from ListBuckets, plus each sub-resource's answer."""
    config = {
        "Name": require(summary, "Name", "ListBuckets"),
        "CreationDate": jsonable(summary.get("CreationDate")),
    }
    config.update(parts)
    return config


def bucket_arn(name: str, region: str) -> str:
    """The bucket's ARN (as AWS writes it: no region, no account)."""
    return f"arn:{partition(region)}:s3:::{name}"


def read_bucket(reader: Reader, summary: Mapping[str, Any]) -> Listed | NotFoundType:
    """Every documented sub-resource of one bucket, in the bucket's region."""
    name = str(require(summary, "Name", "ListBuckets"))
    try:
        region = bucket_region(reader, name)
        client = reader.client("s3", region)
        parts = {key: read(client, name) for key, read in SUBRESOURCES.items()}
    except ClientError as error:
        if is_gone(error):  # NoSuchBucket: deleted since it was listed
            return NOT_FOUND
        raise
    return Listed(bucket_arn(name, region), normalize_bucket(summary, parts), region)


def list_buckets(reader: Reader, account: str, region: str) -> Iterator[Listed | Unreadable]:
    """Every bucket of the account (ListBuckets is global; ``region`` only picks the endpoint)."""
    client = reader.client("s3", region)
    params: dict[str, Any] = {"MaxBuckets": 1000}
    while True:
        answer = client.list_buckets(**params)
        for summary in require(answer, "Buckets", "ListBuckets"):
            name = str(summary.get("Name"))
            found = read_item(name, lambda: read_bucket(reader, summary))  # noqa: B023
            if not isinstance(found, NotFoundType):
                yield found
        token = answer.get("ContinuationToken")
        if not token:
            return
        params["ContinuationToken"] = token


def describe_bucket(
    reader: Reader, account: str, region: str, identifier: str
) -> Listed | NotFoundType:
    """One bucket by name (its ListBuckets entry gives the creation date)."""
    client = reader.client("s3", region)
    answer = client.list_buckets(Prefix=identifier, MaxBuckets=1000)
    summaries = [b for b in answer.get("Buckets") or [] if b.get("Name") == identifier]
    if not summaries:
        return NOT_FOUND
    return read_bucket(reader, summaries[0])


def bucket_name(asset_key: str) -> str:
    """The bucket name of an S3 bucket ARN."""
    return asset_key.rsplit(":", 1)[-1]


BUCKET = TypeSpec(
    type_name="AWS::S3::Bucket",
    service="s3",
    scope="bucket",
    list=list_buckets,
    describe=describe_bucket,
    identifier=bucket_name,
    normalize=normalize_bucket,
    calls=calls(
        "s3",
        "GetBucketLocation",
        "GetBucketPolicy",
        "GetBucketPolicyStatus",
        "GetBucketAcl",
        "GetBucketVersioning",
        "GetBucketLogging",
        "GetBucketTagging",
        ListBuckets="ListAllMyBuckets",
        GetPublicAccessBlock="GetBucketPublicAccessBlock",
        GetBucketEncryption="GetEncryptionConfiguration",
        GetBucketLifecycleConfiguration="GetLifecycleConfiguration",
    ),
    name=field_of("Name"),
    tags=lambda config: tag_map(config.get("Tags")),
    description="an S3 bucket with its policy, ACL, public access block, encryption, ...",
)

SPECS: tuple[TypeSpec, ...] = (BUCKET,)
