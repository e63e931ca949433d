"""EC2 compute and storage types: instance, EBS volume, EBS snapshot, AMI.

Documents per docs/aws-config-shapes.md: the Describe item, plus ``UserData`` (instances,
redacted downstream), ``CreateVolumePermissions`` (snapshots) and ``LaunchPermissions`` (images).
A terminated instance is gone: neither listed nor described (it lingers in DescribeInstances for
about an hour after termination).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from resolvers.aws.ids import ec2_arn
from resolvers.aws.types.api import is_gone, jsonable, pages, require
from resolvers.aws.types.ec2_network import ec2_name, ec2_tags, last_segment, simple_spec
from resolvers.aws.types.spec import NOT_FOUND, Listed, NotFoundType, Reader, TypeSpec, calls

GONE_STATES = frozenset({"terminated"})


def _user_data(reader: Reader, region: str, instance_id: str) -> str | None:
    """The instance's user data (base64), None when it has none."""
    client = reader.client("ec2", region)
    answer = client.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    value = (answer.get("UserData") or {}).get("Value")
    return value or None


def normalize_instance(item: Mapping[str, Any], user_data: str | None) -> dict[str, Any]:
    """One ``Reservations[].Instances[]`` item plus ``UserData``."""
    config = jsonable(item)
    config["UserData"] = user_data
    return config


def _live(item: Mapping[str, Any]) -> bool:
    state = item.get("State") or {}
    return isinstance(state, Mapping) and state.get("Name") not in GONE_STATES


def _instance(reader: Reader, account: str, region: str, item: Mapping[str, Any]) -> Listed:
    instance_id = str(require(item, "InstanceId", "DescribeInstances"))
    config = normalize_instance(item, _user_data(reader, region, instance_id))
    return Listed(str(ec2_arn(instance_id, region, account)), config, region)


def _reservation_items(reservations: list[Any]) -> Iterator[Mapping[str, Any]]:
    for reservation in reservations:
        for item in require(reservation, "Instances", "DescribeInstances"):
            if _live(item):
                yield item


def list_instances(reader: Reader, account: str, region: str) -> Iterator[Listed]:
    """Every instance in one region that is not terminated."""
    client = reader.client("ec2", region)
    for page in pages(client, "DescribeInstances", "Reservations"):
        for item in _reservation_items(page):
            yield _instance(reader, account, region, item)


def describe_instance(
    reader: Reader, account: str, region: str, identifier: str
) -> Listed | NotFoundType:
    """One instance by id (NOT_FOUND once terminated)."""
    client = reader.client("ec2", region)
    try:
        answer = client.describe_instances(InstanceIds=[identifier])
    except ClientError as error:
        if is_gone(error):
            return NOT_FOUND
        raise
    items = list(_reservation_items(answer.get("Reservations") or []))
    return _instance(reader, account, region, items[0]) if items else NOT_FOUND


INSTANCE = TypeSpec(
    type_name="AWS::EC2::Instance",
    service="ec2",
    scope="regional",
    list=list_instances,
    describe=describe_instance,
    identifier=last_segment,
    normalize=normalize_instance,
    calls=calls("ec2", "DescribeInstances", "DescribeInstanceAttribute"),
    name=ec2_name,
    tags=ec2_tags,
    description="an EC2 instance and its user data",
)


def _owned_by(item: Mapping[str, Any], account: str) -> bool:
    """Snapshots and images the account owns (``self`` also returns public ones in emulators)."""
    return str(item.get("OwnerId", account)) == account


def add_volume_permissions(reader: Reader, region: str, snapshots: list[dict[str, Any]]) -> None:
    """``CreateVolumePermissions`` of each snapshot (``[{"Group": "all"}]`` when public)."""
    client = reader.client("ec2", region)
    for snapshot in snapshots:
        answer = client.describe_snapshot_attribute(
            SnapshotId=snapshot["SnapshotId"], Attribute="createVolumePermission"
        )
        snapshot["CreateVolumePermissions"] = jsonable(answer.get("CreateVolumePermissions", []))


def add_launch_permissions(reader: Reader, region: str, images: list[dict[str, Any]]) -> None:
    """``LaunchPermissions`` of each image (``[{"Group": "all"}]`` when public)."""
    client = reader.client("ec2", region)
    for image in images:
        answer = client.describe_image_attribute(
            ImageId=image["ImageId"], Attribute="launchPermission"
        )
        image["LaunchPermissions"] = jsonable(answer.get("LaunchPermissions", []))


def _image_name(config: Mapping[str, Any]) -> str | None:
    return config.get("Name") or ec2_name(config)


VOLUME = simple_spec(
    "AWS::EC2::Volume", "DescribeVolumes", "Volumes", "VolumeId", "VolumeIds",
    description="an EBS volume",
)  # fmt: skip
SNAPSHOT = simple_spec(
    "AWS::EC2::Snapshot", "DescribeSnapshots", "Snapshots", "SnapshotId", "SnapshotIds",
    extra=add_volume_permissions, extra_calls=calls("ec2", "DescribeSnapshotAttribute"),
    list_params={"OwnerIds": ["self"]}, owned=_owned_by,
    description="an EBS snapshot the account owns, and who may create volumes from it",
)  # fmt: skip
IMAGE = simple_spec(
    "AWS::EC2::Image", "DescribeImages", "Images", "ImageId", "ImageIds",
    extra=add_launch_permissions, extra_calls=calls("ec2", "DescribeImageAttribute"),
    list_params={"Owners": ["self"]}, owned=_owned_by, name=_image_name,
    description="an AMI the account owns, and who may launch it",
)  # fmt: skip

SPECS: tuple[TypeSpec, ...] = (INSTANCE, VOLUME, SNAPSHOT, IMAGE)
