"""The story the demo's team plays on the emulated AWS account, act by act (see demo_aws).

Every call here is a real boto3 call against moto, made by a named principal through a client
whose calls are recorded as CloudTrail events; :class:`Team` hands out those clients, lets time
pass between acts and tells which event the last call made (the moments the summary names).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from resolvers.demo_trail import Principal, SimClock, TrailRecorder
from resolvers.embedded import DEMO_AMI_ID

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                   "Principal": {"Service": "lambda.amazonaws.com"}}],
}  # fmt: skip
LAMBDA_LOGS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]}],
}  # fmt: skip
ClientFactory = Callable[[str, Principal], Any]
Checkpoint = Callable[[str], None]  # called between acts with what just happened


@dataclass(frozen=True, slots=True)
class Moment:
    """One call of the story: its event, when, by whom."""

    event_id: str
    event_name: str
    time: dt.datetime
    principal: str


@dataclass(slots=True)
class Story:
    """What the story made, and its moments (the summary and the tests point at them)."""

    ids: dict[str, str] = field(default_factory=dict)  # role in the story -> AWS id or name
    moments: dict[str, Moment] = field(default_factory=dict)

    def arn(self, role: str) -> str:
        """The asset key (ARN) of one asset of the story."""
        value = self.ids[role]
        if role.endswith("bucket"):
            return f"arn:aws:s3:::{value}"
        if role.endswith("group"):
            return f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:security-group/{value}"
        if role.endswith("key"):
            return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{value}"
        return value


class Team:
    """The principals' recorded clients, the clock, and the moments of the story."""

    def __init__(
        self,
        make: ClientFactory,
        principals: Mapping[str, Principal],
        recorder: TrailRecorder,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.make, self.principals, self.recorder = make, principals, recorder
        self.checkpoint: Checkpoint = checkpoint or (lambda _: None)
        self.clients: dict[tuple[str, str], Any] = {}
        self.story = Story()

    def __call__(self, who: str, service: str) -> Any:
        """The client of ``service`` that ``who`` uses (its calls are recorded)."""
        key = (who, service)
        if key not in self.clients:
            self.clients[key] = self.make(service, self.principals[who])
        return self.clients[key]

    def pause(self, minutes: float) -> None:
        """Time passes before the next act."""
        self.recorder.clock.pause(minutes)

    def mark(self, name: str) -> None:
        """Remember the last call's event as a moment of the story."""
        detail = self.recorder.events[-1]["detail"]
        self.story.moments[name] = Moment(
            detail["eventID"],
            detail["eventName"],
            dt.datetime.fromisoformat(detail["eventTime"]),
            self.principals_by_arn().get(detail["userIdentity"]["arn"], "?"),
        )

    def principals_by_arn(self) -> dict[str, str]:
        """Principal names by the ARN CloudTrail gives them."""
        return {principal.arn: name for name, principal in self.principals.items()}


def _tags(kind: str, **tags: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def _ingress(port: int, cidr: str, description: str) -> list[dict[str, Any]]:
    ranges = [{"CidrIp": cidr, "Description": description}]
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": ranges}]


def network(team: Team) -> None:
    """ci-deployer applies the network: a VPC, two subnets, web and database groups."""
    ec2, ids = team("ci-deployer", "ec2"), team.story.ids
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16", TagSpecifications=_tags("vpc", Name="prod-core"))
    ids["vpc"] = vpc["Vpc"]["VpcId"]
    for index, zone in enumerate("ab"):
        subnet = ec2.create_subnet(
            VpcId=ids["vpc"], CidrBlock=f"10.40.{index}.0/24", AvailabilityZone=f"{REGION}{zone}",
            TagSpecifications=_tags("subnet", Name=f"prod-app-{zone}"),
        )  # fmt: skip
        ids[f"subnet_{zone}"] = subnet["Subnet"]["SubnetId"]
    ids["web_group"] = ec2.create_security_group(
        GroupName="prod-web", Description="Web tier", VpcId=ids["vpc"],
        TagSpecifications=_tags("security-group", Name="prod-web"),
    )["GroupId"]  # fmt: skip
    ec2.authorize_security_group_ingress(
        GroupId=ids["web_group"], IpPermissions=_ingress(443, "0.0.0.0/0", "HTTPS from anywhere")
    )
    ids["db_group"] = ec2.create_security_group(
        GroupName="prod-db", Description="Database tier", VpcId=ids["vpc"]
    )["GroupId"]
    pair = [{"GroupId": ids["web_group"], "Description": "web tier"}]
    ec2.authorize_security_group_ingress(
        GroupId=ids["db_group"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                        "UserIdGroupPairs": pair}],
    )  # fmt: skip


def storage(team: Team) -> None:
    """ci-deployer: a KMS key with rotation, an encrypted versioned bucket, a web bucket."""
    kms, s3, ids = team("ci-deployer", "kms"), team("ci-deployer", "s3"), team.story.ids
    key = kms.create_key(
        Description="orders data at rest", Tags=[{"TagKey": "team", "TagValue": "orders"}]
    )
    ids["orders_key"] = key["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=ids["orders_key"])
    ids["orders_bucket"] = orders = f"acme-orders-data-{ACCOUNT_ID}"
    s3.create_bucket(Bucket=orders)
    tags = [{"Key": "team", "Value": "orders"}, {"Key": "data-class", "Value": "confidential"}]
    s3.put_bucket_tagging(Bucket=orders, Tagging={"TagSet": tags})
    s3.put_bucket_versioning(Bucket=orders, VersioningConfiguration={"Status": "Enabled"})
    encryption = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ids["orders_key"]}
    rule = {"ApplyServerSideEncryptionByDefault": encryption, "BucketKeyEnabled": True}
    s3.put_bucket_encryption(Bucket=orders, ServerSideEncryptionConfiguration={"Rules": [rule]})
    s3.put_public_access_block(Bucket=orders, PublicAccessBlockConfiguration=BLOCK_ALL)
    ids["public_bucket"] = web = f"acme-web-assets-{ACCOUNT_ID}"
    s3.create_bucket(Bucket=web)
    s3.put_bucket_tagging(Bucket=web, Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})
    s3.put_public_access_block(Bucket=web, PublicAccessBlockConfiguration=BLOCK_ALL)


def messaging(team: Team) -> None:
    """ci-deployer: an alerts topic and an events queue subscribed to it."""
    sns, sqs = team("ci-deployer", "sns"), team("ci-deployer", "sqs")
    topic = sns.create_topic(Name="orders-alerts", Tags=[{"Key": "team", "Value": "orders"}])
    url = sqs.create_queue(
        QueueName="orders-events", Attributes={"MessageRetentionPeriod": "345600"}
    )
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:orders-events"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic["TopicArn"]}}}]}  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=url["QueueUrl"], Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=queue_arn)


def identity(team: Team) -> None:
    """alice (console): a reporting service user with a key and a policy, a Lambda role."""
    iam, ids = team("alice", "iam"), team.story.ids
    iam.create_user(UserName="svc-reporting", Path="/service/",
                    Tags=[{"Key": "team", "Value": "finance"}])  # fmt: skip
    document = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{ids['orders_bucket']}",
                     f"arn:aws:s3:::{ids['orders_bucket']}/*"]}]}  # fmt: skip
    policy = iam.create_policy(
        PolicyName="reporting-read", PolicyDocument=json.dumps(document),
        Description="Read the orders data for the monthly reports",
    )["Policy"]["Arn"]  # fmt: skip
    iam.attach_user_policy(UserName="svc-reporting", PolicyArn=policy)
    iam.create_access_key(UserName="svc-reporting")
    role = iam.create_role(
        RoleName="thumbnailer-lambda", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )
    ids["lambda_role"] = role["Role"]["Arn"]
    logs = iam.create_policy(PolicyName="thumbnailer-logs", PolicyDocument=json.dumps(LAMBDA_LOGS))
    iam.attach_role_policy(RoleName="thumbnailer-lambda", PolicyArn=logs["Policy"]["Arn"])


def compute(team: Team) -> None:
    """bob (CLI): a web instance and a scratch one, tags; a failed attempt to delete a user."""
    ec2, ids = team("bob", "ec2"), team.story.ids
    web = ec2.run_instances(
        ImageId=DEMO_AMI_ID, InstanceType="t3.small", MinCount=1, MaxCount=1,
        SubnetId=ids["subnet_a"], SecurityGroupIds=[ids["web_group"]],
        MetadataOptions={"HttpTokens": "required"},
        TagSpecifications=_tags("instance", Name="web-1", env="prod"),
    )  # fmt: skip
    ids["web_instance"] = web["Instances"][0]["InstanceId"]
    scratch = ec2.run_instances(
        ImageId=DEMO_AMI_ID, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        SubnetId=ids["subnet_b"], TagSpecifications=_tags("instance", Name="scratch-bob"),
    )  # fmt: skip
    ids["scratch_instance"] = scratch["Instances"][0]["InstanceId"]
    ec2.create_tags(
        Resources=[ids["web_instance"]],
        Tags=[{"Key": "owner", "Value": "bob"}, {"Key": "cost-center", "Value": "cc-1042"}],
    )
    try:  # the user still has a key and a policy: AWS refuses, CloudTrail records the error
        team("bob", "iam").delete_user(UserName="svc-reporting")
    except ClientError:
        team.mark("delete_refused")


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buffer.getvalue()


def services(team: Team) -> None:
    """ci-deployer: the thumbnailer function and an (unencrypted) reporting database."""
    ids = team.story.ids
    team("ci-deployer", "lambda").create_function(
        FunctionName="thumbnailer", Runtime="python3.12", Role=ids["lambda_role"],
        Handler="app.handler", Code={"ZipFile": _function_zip()}, MemorySize=256, Timeout=30,
        Environment={"Variables": {"ASSET_BUCKET": ids["public_bucket"]}}, Tags={"team": "web"},
    )  # fmt: skip
    team("ci-deployer", "rds").create_db_instance(
        DBInstanceIdentifier="reports-db", DBInstanceClass="db.t3.medium", Engine="postgres",
        EngineVersion="16.4", MasterUsername="reports", MasterUserPassword="demo-Passw0rd",
        AllocatedStorage=50, StorageEncrypted=False, PubliclyAccessible=False,
        VpcSecurityGroupIds=[ids["db_group"]], Tags=[{"Key": "team", "Value": "finance"}],
    )  # fmt: skip
    ids["db_instance"] = "reports-db"
    team.checkpoint("the build-up")


def incident(team: Team) -> None:
    """alice makes the web bucket public; bob reverts it 7 minutes later."""
    bucket = team.story.ids["public_bucket"]
    team.pause(15)
    s3 = team("alice", "s3")
    s3.delete_public_access_block(Bucket=bucket)
    team.mark("block_removed")
    public = {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}  # fmt: skip
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    team.mark("made_public")
    team.checkpoint("alice made the web bucket public")
    team.pause(7)
    s3 = team("bob", "s3")
    s3.delete_bucket_policy(Bucket=bucket)
    team.mark("reverted")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
    team.mark("block_restored")
    team.checkpoint("bob reverted it")


def ssh_and_rotation(team: Team) -> None:
    """bob opens SSH to the world and revokes it; alice turns key rotation off, CI back on."""
    ec2, ids = team("bob", "ec2"), team.story.ids
    team.pause(20)
    rule = _ingress(22, "0.0.0.0/0", "debugging web-1")
    ec2.authorize_security_group_ingress(GroupId=ids["web_group"], IpPermissions=rule)
    team.mark("ssh_opened")
    team.checkpoint("SSH open to the world")
    team.pause(12)
    ec2.revoke_security_group_ingress(GroupId=ids["web_group"], IpPermissions=rule)
    team.mark("ssh_revoked")
    team.checkpoint("SSH revoked")
    team.pause(6)
    team("alice", "kms").disable_key_rotation(KeyId=ids["orders_key"])
    team.mark("rotation_off")
    team.checkpoint("key rotation off")
    team.pause(25)
    team("ci-deployer", "kms").enable_key_rotation(KeyId=ids["orders_key"])
    team.mark("rotation_on")


def cleanup(team: Team) -> None:
    """bob stops the web instance for maintenance and terminates his scratch instance."""
    ec2, ids = team("bob", "ec2"), team.story.ids
    ec2.stop_instances(InstanceIds=[ids["web_instance"]])
    ec2.terminate_instances(InstanceIds=[ids["scratch_instance"]])
    team.mark("terminated")
    team.checkpoint("rotation back on, instances stopped and terminated")


ACTS = (network, storage, messaging, identity, compute, services, incident, ssh_and_rotation,
        cleanup)  # fmt: skip


def play(
    make: ClientFactory,
    principals: Mapping[str, Principal],
    recorder: TrailRecorder,
    checkpoint: Checkpoint | None = None,
) -> Story:
    """Play every act in order; return what the story made and its moments."""
    team = Team(make, principals, recorder, checkpoint)
    for act in ACTS:
        act(team)
    return team.story


__all__ = ["ACTS", "Checkpoint", "Moment", "SimClock", "Story", "Team", "play"]
