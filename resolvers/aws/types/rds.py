"""RDS: DB instances, clusters, snapshots and cluster snapshots.

Documents per docs/aws-config-shapes.md: the Describe item; snapshots add ``SnapshotAttributes``
(who may restore them: ``AttributeValues`` of ``restore`` holds ``all`` when public). Keys are
the ARNs AWS returns, canonicalised (RDS identifiers are lower case).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore import xform_name

from resolvers.aws.arns import canonical_arn
from resolvers.aws.types.api import jsonable, require
from resolvers.aws.types.generic import ExtraFn, KeyFn, items_spec
from resolvers.aws.types.spec import Reader, TypeSpec, calls, field_of, tag_map


def rds_identifier(asset_key: str) -> str:
    """The identifier at the end of an RDS ARN (automated snapshot names hold a colon)."""
    return asset_key.split(":", 6)[-1]


def _arn_key(field: str, operation: str) -> KeyFn:
    """A key function reading the ARN AWS returns in ``field``."""

    def key(config: Mapping[str, Any], account: str, region: str) -> str:
        return canonical_arn(str(require(config, field, operation)))

    return key


def _tags(config: Mapping[str, Any]) -> dict[str, str]:
    return tag_map(config.get("TagList"))


def snapshot_attributes(kind: str) -> ExtraFn:
    """An ``extra`` adding ``SnapshotAttributes`` to each (cluster) snapshot of a page."""
    operation = f"Describe{kind}SnapshotAttributes"
    result = f"{kind}SnapshotAttributesResult"
    id_param = f"{kind}SnapshotIdentifier"

    def extra(reader: Reader, region: str, snapshots: list[dict[str, Any]]) -> None:
        client = reader.client("rds", region)
        method = getattr(client, xform_name(operation))
        for snapshot in snapshots:
            answer = method(**{id_param: snapshot[id_param]})
            found = require(answer, result, operation)
            snapshot["SnapshotAttributes"] = jsonable(found.get(f"{kind}SnapshotAttributes", []))

    return extra


DB_INSTANCE = items_spec(
    type_name="AWS::RDS::DBInstance", service="rds", operation="DescribeDBInstances",
    result_key="DBInstances", key=_arn_key("DBInstanceArn", "DescribeDBInstances"),
    id_param="DBInstanceIdentifier", ids_as_list=False,
    calls=calls("rds", "DescribeDBInstances"), identifier=rds_identifier,
    name=field_of("DBInstanceIdentifier"), tags=_tags, description="an RDS DB instance",
)  # fmt: skip
DB_CLUSTER = items_spec(
    type_name="AWS::RDS::DBCluster", service="rds", operation="DescribeDBClusters",
    result_key="DBClusters", key=_arn_key("DBClusterArn", "DescribeDBClusters"),
    id_param="DBClusterIdentifier", ids_as_list=False,
    calls=calls("rds", "DescribeDBClusters"), identifier=rds_identifier,
    name=field_of("DBClusterIdentifier"), tags=_tags, description="an RDS (Aurora) DB cluster",
)  # fmt: skip
DB_SNAPSHOT = items_spec(
    type_name="AWS::RDS::DBSnapshot", service="rds", operation="DescribeDBSnapshots",
    result_key="DBSnapshots", key=_arn_key("DBSnapshotArn", "DescribeDBSnapshots"),
    id_param="DBSnapshotIdentifier", ids_as_list=False, extra=snapshot_attributes("DB"),
    calls=calls("rds", "DescribeDBSnapshots", "DescribeDBSnapshotAttributes"),
    identifier=rds_identifier, name=field_of("DBSnapshotIdentifier"), tags=_tags,
    description="an RDS DB snapshot and who may restore it",
)  # fmt: skip
DB_CLUSTER_SNAPSHOT = items_spec(
    type_name="AWS::RDS::DBClusterSnapshot", service="rds",
    operation="DescribeDBClusterSnapshots", result_key="DBClusterSnapshots",
    key=_arn_key("DBClusterSnapshotArn", "DescribeDBClusterSnapshots"),
    id_param="DBClusterSnapshotIdentifier", ids_as_list=False,
    extra=snapshot_attributes("DBCluster"),
    calls=calls("rds", "DescribeDBClusterSnapshots", "DescribeDBClusterSnapshotAttributes"),
    identifier=rds_identifier, name=field_of("DBClusterSnapshotIdentifier"), tags=_tags,
    description="an RDS DB cluster snapshot and who may restore it",
)  # fmt: skip

SPECS: tuple[TypeSpec, ...] = (DB_INSTANCE, DB_CLUSTER, DB_SNAPSHOT, DB_CLUSTER_SNAPSHOT)
