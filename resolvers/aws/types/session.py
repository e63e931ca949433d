"""Clients per account: the local credentials, or a named read-only role assumed per account.

One :class:`Sessions` per scan or describer process; ``reader(account)`` gives the
:class:`AccountReader` (the ``Reader`` the type specs call) of one account, made on first use.
Every client gets botocore's adaptive retries (client-side rate limiting plus backoff on
throttling), and the hooks of :class:`AwsOptions` (call counting, test fault injection).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from resolvers.aws.catalog_arn import partition

ClientHook = Callable[[Any], None]
DEFAULT_ROLE = "AssetlakeReadOnly"


@dataclass(frozen=True, slots=True)
class AwsOptions:
    """How to reach AWS: role to assume in other accounts, retries, endpoint, client hooks."""

    role_name: str | None = DEFAULT_ROLE
    max_attempts: int = 10
    endpoint_url: str | None = None
    session_name: str = "assetlake-read"
    max_pool_connections: int = 20
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    client_hooks: Sequence[ClientHook] = ()

    def config(self) -> Config:
        """The botocore client config: adaptive retries, pool size, timeouts."""
        return Config(
            retries={"mode": "adaptive", "max_attempts": self.max_attempts},
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )


class CallCounter:
    """Counts API calls and HTTP attempts per (service, operation): a client hook."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, client: Any) -> None:
        """Register the counting handlers on one client."""
        service = client.meta.service_model.service_name

        def on_call(model: Any, **_: Any) -> None:
            self._count(self.calls, (service, model.name))

        def on_send(event_name: str, **_: Any) -> None:
            self._count(self.attempts, (service, event_name.rsplit(".", 1)[-1]))

        client.meta.events.register("before-call", on_call)
        client.meta.events.register("before-send", on_send)

    def _count(self, counter: Counter[tuple[str, str]], key: tuple[str, str]) -> None:
        with self._lock:
            counter[key] += 1

    @property
    def total_calls(self) -> int:
        """API calls made (retries not counted)."""
        return sum(self.calls.values())

    @property
    def total_attempts(self) -> int:
        """HTTP requests sent (retries counted)."""
        return sum(self.attempts.values())

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self.calls.clear()
            self.attempts.clear()


@dataclass
class AccountReader:
    """The clients of one account (the ``Reader`` of the type specs); thread-safe."""

    account_id: str
    session: boto3.Session
    options: AwsOptions
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str, region: str) -> Any:
        """A client of ``service`` in ``region``, made once (sessions are not thread-safe)."""
        key = (service, region)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self.session.client(
                    service,  # type: ignore[call-overload]
                    region_name=region,
                    endpoint_url=self.options.endpoint_url,
                    config=self.options.config(),
                )
                for hook in self.options.client_hooks:
                    hook(found)
                self._clients[key] = found
        return found


class Sessions:
    """Readers per account: the base credentials for the local account, a role for others."""

    def __init__(self, options: AwsOptions, base: boto3.Session | None = None) -> None:
        self.options = options
        self.base = base or boto3.Session()
        self._readers: dict[str, AccountReader] = {}
        self._refused: dict[str, Exception] = {}  # accounts whose role could not be assumed
        self._local: str | None = None
        self._local_error: Exception | None = None  # a failed lookup is not asked again
        self._lock = threading.Lock()

    def local_account(self) -> str:
        """The account of the base credentials (``sts:GetCallerIdentity``, asked once)."""
        with self._lock:
            if self._local_error is not None:
                raise self._local_error
            if self._local is None:
                try:
                    identity = self._sts().get_caller_identity()
                except Exception as error:  # no credentials, no network: every describe of
                    self._local_error = error  # this process fails at once, with this reason
                    raise
                self._local = str(identity["Account"])
            return self._local

    def reader(self, account_id: str) -> AccountReader:
        """The reader of one account (assumes the role on first use for another account; a
        refusal is remembered and raised again without asking STS twice)."""
        local = self.local_account()
        with self._lock:
            found = self._readers.get(account_id)
            if found is not None:
                return found
            if account_id in self._refused:
                raise self._refused[account_id]
            try:
                session = self.base if account_id == local else self._assumed(account_id)
            except Exception as error:
                self._refused[account_id] = error
                raise
            found = self._readers[account_id] = AccountReader(account_id, session, self.options)
        return found

    def role_arn(self, account_id: str, region: str = "us-east-1") -> str:
        """The ARN of the read-only role in one account."""
        return f"arn:{partition(region)}:iam::{account_id}:role/{self.options.role_name}"

    def _sts(self) -> Any:
        client = self.base.client(
            "sts",
            region_name=self.base.region_name or "us-east-1",
            endpoint_url=self.options.endpoint_url,
            config=self.options.config(),
        )
        for hook in self.options.client_hooks:
            hook(client)
        return client

    def _assumed(self, account_id: str) -> boto3.Session:
        """A session on the role's credentials, refreshed before they expire."""
        if not self.options.role_name:
            raise PermissionError(f"account {account_id}: no role name to assume (--role-name)")
        sts = self._sts()
        role_arn = self.role_arn(account_id)

        def refresh() -> dict[str, str]:
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=self.options.session_name)
            creds = creds["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
        )  # assumed now: a denied role fails here, once for the whole account
        core = botocore.session.get_session()
        core._credentials = credentials  # type: ignore[attr-defined]  # no public setter
        region = self.base.region_name or "us-east-1"
        return boto3.Session(botocore_session=core, region_name=region)
