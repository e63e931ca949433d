"""A moto server for the scanner's tests and the bench: start, reset, seed, stop.

:class:`MotoServer` runs ``moto.server`` in its own process group on a free 127.0.0.1 port
(never a machine-wide one) and stops it on exit. :func:`seed_core` creates one asset or more of
every core type in one account and region; :func:`seed_bulk` creates many cheap ones (for the
cost model). moto is a dev dependency: nothing imports this module at run time.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resolvers.aws.types.session import AccountReader

STARTUP_SECONDS = 30.0
LAMBDA = {"Service": "lambda.amazonaws.com"}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": LAMBDA, "Action": "sts:AssumeRole"}],
}
PUBLIC_AMI = {
    "ami_id": "ami-0abcdef1234567890", "state": "available", "public": True,
    "owner_id": "137112412989", "image_location": "amazon/al2023", "sriov": "simple",
    "root_device_type": "ebs", "root_device_name": "/dev/xvda", "description": "Amazon Linux",
    "image_type": "machine", "platform": None, "architecture": "x86_64",
    "name": "al2023-ami-minimal", "virtualization_type": "hvm", "hypervisor": "xen",
}  # fmt: skip
ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
SSH_OPEN = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    """A moto server process on 127.0.0.1 and its endpoint URL."""

    process: subprocess.Popen[bytes]
    endpoint: str
    scratch: Path | None = None  # the AMI file's folder, removed on stop

    @classmethod
    def start(cls, port: int | None = None) -> MotoServer:
        """Start moto and wait until it answers.

        moto's EC2 backend loads about 1,300 public AMIs (and their snapshots) per region on its
        first call, which costs seconds; the server here knows one public AMI only.
        """
        port = port or free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        amis = Path(tempfile.mkdtemp(prefix="assetlake-moto-")) / "amis.json"
        amis.write_text(json.dumps([PUBLIC_AMI]), encoding="utf-8")
        env = {**os.environ, "MOTO_AMIS_PATH": str(amis)}
        process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env=env,
        )  # fmt: skip
        server = cls(process, f"http://127.0.0.1:{port}", amis.parent)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"moto did not start on port {port}")
            time.sleep(0.05)
        return server

    def ready(self) -> bool:
        """Whether the server answers its reset endpoint."""
        try:
            self.reset()
        except OSError:
            return False
        return True

    def reset(self) -> None:
        """Forget every resource of every account (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()

    def stop(self) -> None:
        """Stop the server's whole process group (moto keeps nothing worth a clean exit)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


_SHARED: list[MotoServer] = []


def shared_server() -> MotoServer:
    """One moto server per process, started on first use and stopped when the process exits
    (moto loads each service's backend on its first call: sharing a warm server saves tens of
    seconds across test modules). Reset it before use."""
    if not _SHARED or _SHARED[0].process.poll() is not None:
        _SHARED[:] = [MotoServer.start()]
        atexit.register(_SHARED[0].stop)
    return _SHARED[0]


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """A moto server for the duration of a block."""
    server = MotoServer.start()
    try:
        yield server
    finally:
        server.stop()


def moto_env() -> dict[str, str]:
    """Dummy credentials for moto (its default account is 123456789012)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def seed_network(reader: AccountReader, region: str) -> dict[str, Any]:
    """A VPC with two subnets, a security group, an instance, a volume, a snapshot, an AMI."""
    ec2 = reader.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=zones[i])[
            "Subnet"
        ]["SubnetId"]
        for i in range(2)
    ]
    group = ec2.create_security_group(GroupName="ssh-open", Description="ssh", VpcId=vpc)
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[SSH_OPEN],
    )
    reader.client("s3", region).create_bucket(Bucket=f"flow-logs-{reader.account_id}")
    ec2.create_flow_logs(
        ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL",
        LogDestinationType="s3", LogDestination=f"arn:aws:s3:::flow-logs-{reader.account_id}",
    )  # fmt: skip
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnets[0], UserData="echo hello",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    volume = ec2.create_volume(AvailabilityZone=zones[0], Size=8)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add",
        GroupNames=["all"],
    )  # fmt: skip
    ami = ec2.create_image(InstanceId=instance, Name="golden")["ImageId"]
    return {"vpc": vpc, "subnets": subnets, "group": group["GroupId"], "instance": instance,
            "volume": volume, "snapshot": snapshot, "image": ami}  # fmt: skip


def seed_s3_iam(reader: AccountReader, region: str) -> dict[str, Any]:
    """Two buckets (one public, one locked down), users, a group, a role, a managed policy."""
    s3 = reader.client("s3", region)
    s3.create_bucket(Bucket=f"open-{reader.account_id}")
    s3.put_bucket_policy(
        Bucket=f"open-{reader.account_id}",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::open-{reader.account_id}/*"}]}),
    )  # fmt: skip
    locked = f"locked-{reader.account_id}"
    s3.create_bucket(Bucket=locked, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_public_access_block(
        Bucket=locked,
        PublicAccessBlockConfiguration={k: True for k in (
            "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")},
    )  # fmt: skip
    s3.put_bucket_encryption(
        Bucket=locked,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_versioning(Bucket=locked, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=locked, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    iam = reader.client("iam", "us-east-1")
    policy = iam.create_policy(PolicyName="FullAdminStar", PolicyDocument=json.dumps(ADMIN))
    iam.create_user(UserName="alice", Path="/people/", Tags=[{"Key": "team", "Value": "ops"}])
    iam.create_login_profile(UserName="alice", Password="Sup3r-secret!")
    iam.attach_user_policy(UserName="alice", PolicyArn=policy["Policy"]["Arn"])
    iam.put_user_policy(UserName="alice", PolicyName="inline", PolicyDocument=json.dumps(ADMIN))
    iam.create_access_key(UserName="alice")
    iam.create_group(GroupName="readers")
    iam.add_user_to_group(GroupName="readers", UserName="alice")
    role = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.update_account_password_policy(MinimumPasswordLength=14)
    return {"role_arn": role["Role"]["Arn"], "policy_arn": policy["Policy"]["Arn"]}


def seed_services(reader: AccountReader, region: str, role_arn: str, subnets: list[str]) -> None:
    """RDS, Lambda, KMS, CloudTrail, DynamoDB, SNS, SQS, ECR, EKS, secrets, ELBv2, Config,
    GuardDuty and CloudFront: one each (two RDS snapshots)."""
    client: Callable[[str], Any] = lambda service: reader.client(service, region)  # noqa: E731
    rds = client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=20,
        PubliclyAccessible=True,
    )  # fmt: skip
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="orders-snap")
    rds.create_db_cluster(
        DBClusterIdentifier="billing", Engine="aurora-postgresql", MasterUsername="admin",
        MasterUserPassword="password123",
    )  # fmt: skip
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="billing", DBClusterSnapshotIdentifier="billing-snap"
    )
    client("lambda").create_function(
        FunctionName="thumbnailer", Runtime="python3.12", Role=role_arn,
        Handler="handler.handler", Code={"ZipFile": _zip()},
        Environment={"Variables": {"DB_PASSWORD": "hunter2"}},
    )  # fmt: skip
    key = client("kms").create_key(Description="data key")["KeyMetadata"]["KeyId"]
    client("kms").enable_key_rotation(KeyId=key)
    trail_bucket = f"trail-{reader.account_id}-{region}"
    client("s3").create_bucket(
        Bucket=trail_bucket,
        **({} if region == "us-east-1" else
           {"CreateBucketConfiguration": {"LocationConstraint": region}}),
    )  # fmt: skip
    client("cloudtrail").create_trail(Name="main-trail", S3BucketName=trail_bucket)
    client("cloudtrail").start_logging(Name="main-trail")
    client("dynamodb").create_table(
        TableName="orders", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )  # fmt: skip
    client("sns").create_topic(Name="alerts")
    client("sqs").create_queue(QueueName="orders-events")
    client("ecr").create_repository(repositoryName="app")
    client("eks").create_cluster(
        name="prod", roleArn=role_arn, resourcesVpcConfig={"subnetIds": subnets}
    )
    client("secretsmanager").create_secret(Name="db-password", SecretString="hunter2")
    seed_load_balancer(reader, region, subnets)
    client("config").put_configuration_recorder(
        ConfigurationRecorder={"name": "default", "roleARN": role_arn}
    )
    client("guardduty").create_detector(Enable=True)


def seed_load_balancer(reader: AccountReader, region: str, subnets: list[str]) -> None:
    """An application load balancer with an HTTP listener."""
    elb = reader.client("elbv2", region)
    balancer = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]
    ec2 = reader.client("ec2", region)
    vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    group = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc)
    elb.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward",
                         "TargetGroupArn": group["TargetGroups"][0]["TargetGroupArn"]}],
    )  # fmt: skip


def seed_cloudfront(reader: AccountReader) -> None:
    """A CloudFront distribution in front of an S3 origin."""
    reader.client("cloudfront", "us-east-1").create_distribution(
        DistributionConfig={
            "CallerReference": "seed", "Comment": "site", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{
                "Id": "origin", "DomainName": "site.s3.amazonaws.com",
                "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "origin",
                                     "ViewerProtocolPolicy": "allow-all"},
        }
    )  # fmt: skip


def seed_core(reader: AccountReader, region: str = "us-east-1") -> dict[str, Any]:
    """One asset or more of every core type in one account and region."""
    network = seed_network(reader, region)
    identity = seed_s3_iam(reader, region)
    seed_services(reader, region, identity["role_arn"], network["subnets"])
    seed_cloudfront(reader)
    return {**network, **identity}


def seed_bulk(reader: AccountReader, region: str, count: int) -> int:
    """``count`` cheap assets spread over a few types (security groups, SQS queues, SNS
    topics, DynamoDB tables, IAM roles): an estate of a given size for the cost model."""
    ec2, sqs = reader.client("ec2", region), reader.client("sqs", region)
    sns, iam = reader.client("sns", region), reader.client("iam", "us-east-1")
    makers = (
        lambda i: ec2.create_security_group(GroupName=f"bulk-{i}", Description="bulk"),
        lambda i: sqs.create_queue(QueueName=f"bulk-{i}"),
        lambda i: sns.create_topic(Name=f"bulk-{i}"),
        lambda i: iam.create_role(RoleName=f"bulk-{i}", AssumeRolePolicyDocument=json.dumps(TRUST)),
    )  # fmt: skip
    for index in range(count):
        makers[index % len(makers)](index)
    return count
