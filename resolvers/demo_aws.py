"""The demo's AWS account: a simulated team at work on moto, every call's CloudTrail on SQS.

:func:`run_team` bootstraps the account as it was before the story (the team's IAM users and
deploy role, the EventBridge target queue: no events for those), then plays the story through
real boto3 calls against the moto server, as three principals:

* ``alice``, an IAM user working in the console (MFA-authenticated console session);
* ``ci-deployer``, a role assumed by the CI pipeline (Terraform);
* ``bob``, an IAM user on the AWS CLI.

The story: a VPC with subnets and security groups, a KMS key, buckets (tags, versioning,
encryption, public access blocks), a topic and a queue, a reporting user with an access key and
a policy, a Lambda role and function, an unencrypted RDS instance, instances launched, tagged,
stopped and terminated; then alice makes the web-assets bucket public (public access block
removed, a policy for Principal "*") and bob reverts it 7 minutes later; bob opens SSH to the
world on a security group and revokes it 12 minutes later; alice turns key rotation off and the
pipeline turns it back on. Each call's event goes onto the SQS queue as it happens
(:mod:`resolvers.demo_trail`), timed over the past two hours in the order of the calls; between
acts, a ``checkpoint`` callback lets the pipeline drain what arrived (as a stream would, while
the account is in that state).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
from botocore.config import Config

from resolvers.demo_aws_story import ACCOUNT_ID, REGION, Checkpoint, Story, play
from resolvers.demo_trail import Event, Principal, SimClock, TrailRecorder

QUEUE_NAME = "assetlake-cloudtrail-events"
STORY_SPAN = dt.timedelta(hours=2)
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5)
CONSOLE_AGENT = "AWS Internal"
TERRAFORM_AGENT = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) "
    "terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.32.6 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/{service}"
)
CLI_AGENT = (
    "aws-cli/2.22.10 md/awscrt#0.23.4 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6"
)


@dataclass(slots=True)
class AwsDemoResult:
    """What the team did in the emulated account."""

    endpoint: str
    account_id: str
    region: str
    queue_url: str
    started: dt.datetime  # the first event's time
    events: list[Event] = field(default_factory=list)
    story: Story | None = None

    @property
    def errors(self) -> int:
        """Calls that failed (their events carry an errorCode)."""
        return sum(1 for event in self.events if "errorCode" in event["detail"])


class Account:
    """Clients on the moto server: the silent bootstrap ones, and the team's recorded ones."""

    def __init__(self, endpoint: str, recorder: TrailRecorder | None = None) -> None:
        self.endpoint = endpoint
        self.recorder = recorder
        self.session = boto3.Session(region_name=REGION, **CREDENTIALS)

    def client(self, service: str, principal: Principal | None = None) -> Any:
        """A client of ``service``; recorded in CloudTrail when a principal makes the calls."""
        client = self.session.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=REGION,
            config=CLIENT_CONFIG,
        )
        if principal is not None and self.recorder is not None:
            self.recorder.attach(client, principal)
        return client


def create_event_queue(endpoint: str) -> str:
    """The SQS queue EventBridge delivers the account's CloudTrail events to (its URL)."""
    return Account(endpoint).client("sqs").create_queue(QueueName=QUEUE_NAME)["QueueUrl"]


def sqs_sink(sqs: Any, queue_url: str) -> Callable[[Event], None]:
    """Send each event onto the queue as it happens."""

    def send(event: Event) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=orjson.dumps(event).decode())

    return send


def bootstrap_team(account: Account) -> dict[str, Principal]:
    """The team's identities, made before the story (no events): who is who in CloudTrail."""
    iam = account.client("iam")
    alice = _user(iam, "alice", "/people/")
    bob = _user(iam, "bob", "/people/")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}}],
    }  # fmt: skip
    role = iam.create_role(
        RoleName="ci-deployer", Path="/", AssumeRolePolicyDocument=json.dumps(trust),
        Description="Assumed by the CI pipeline to apply Terraform",
    )["Role"]  # fmt: skip
    session = "gha-deploy-7f3c2e"
    assumed = account.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName=session)
    return {
        "alice": _iam_user("alice", alice, CONSOLE_AGENT, "203.0.113.24", console=True),
        "bob": _iam_user("bob", bob, CLI_AGENT, "198.51.100.7"),
        "ci-deployer": _assumed_role(role, session, assumed["Credentials"]["AccessKeyId"]),
    }


def _user(iam: Any, name: str, path: str) -> dict[str, Any]:
    user = iam.create_user(UserName=name, Path=path, Tags=[{"Key": "team", "Value": "platform"}])
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    return {**user["User"], "AccessKeyId": key}


def _iam_user(
    name: str, user: dict[str, Any], agent: str, ip: str, console: bool = False
) -> Principal:
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": user["UserId"],
        "arn": user["Arn"],
        "accountId": ACCOUNT_ID,
        "accessKeyId": "ASIA" + user["AccessKeyId"][4:] if console else user["AccessKeyId"],
        "userName": name,
    }
    if console:
        identity["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": "", "mfaAuthenticated": "true"},
        }
    return Principal(name, identity, agent, ip, console=console)


def _assumed_role(role: dict[str, Any], session: str, key_id: str) -> Principal:
    identity = {
        "type": "AssumedRole",
        "principalId": f"{role['RoleId']}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role['RoleName']}/{session}",
        "accountId": ACCOUNT_ID,
        "accessKeyId": key_id,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role["RoleId"],
                "arn": role["Arn"],
                "accountId": ACCOUNT_ID,
                "userName": role["RoleName"],
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "", "mfaAuthenticated": "false"},
        },
    }
    agent = TERRAFORM_AGENT.replace("api/{service}", "")
    return Principal("ci-deployer", identity, agent.strip(), "192.0.2.40")


def run_team(
    endpoint: str,
    queue_url: str,
    checkpoint: Checkpoint | None = None,
    now: dt.datetime | None = None,
) -> AwsDemoResult:
    """Bootstrap the account, play the story (``checkpoint`` called between its acts), and
    return what was sent onto the queue."""
    now = now or dt.datetime.now(dt.UTC)
    silent = Account(endpoint)
    principals = bootstrap_team(silent)
    clock = SimClock(now - STORY_SPAN)
    recorder = TrailRecorder(clock, ACCOUNT_ID, sqs_sink(silent.client("sqs"), queue_url))
    team = Account(endpoint, recorder)
    story = play(team.client, principals, recorder, checkpoint)
    events = recorder.events
    started = dt.datetime.fromisoformat(events[0]["time"]) if events else now
    return AwsDemoResult(endpoint, ACCOUNT_ID, REGION, queue_url, started, events, story)
