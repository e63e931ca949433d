"""What an AWS scan covers: options, the config file, accounts, regions, and its scopes.

A scope is one listing: account x region x type (``global`` types once per account). Scopes
are the unit of concurrency, of failure (a denied scope is reported and deletes nothing) and
of scoped deletion (see ``resolvers.scan_scope``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from resolvers.aws.types.catalog import select
from resolvers.aws.types.session import DEFAULT_ROLE, AccountReader, Sessions
from resolvers.aws.types.spec import GLOBAL_REGION, TypeSpec
from resolvers.errors import InputError
from resolvers.scan_scope import Scope

SCAN_CALLS = (("ec2", "DescribeRegions"), ("organizations", "ListAccounts"))


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Everything that decides what a scan reads and how hard it pushes the APIs."""

    accounts: tuple[str, ...] = ()  # empty: the current credentials' account (or --organizations)
    regions: tuple[str, ...] = ()  # empty: every region enabled in each account
    types: tuple[str, ...] = ()  # empty: every registered type
    role_name: str | None = DEFAULT_ROLE
    organizations: bool = False  # add every ACTIVE account of the organization
    max_per_account: int = 8  # scopes read at once in one account
    max_per_service: int = 3  # scopes read at once per (account, service)
    workers: int = 16
    max_attempts: int = 10  # botocore adaptive retries
    endpoint_url: str | None = None
    commit_every: int = 5000  # observations per lake commit
    read_margin: float = 1.0  # seconds the read time stays before the scan's first call

    def merged(self, overrides: dict[str, Any]) -> ScanOptions:
        """These options with the non-empty values of ``overrides`` (CLI over config file)."""
        known = {f.name for f in fields(self)}
        chosen = {k: v for k, v in overrides.items() if k in known and v not in (None, (), [])}
        for name in ("accounts", "regions", "types"):
            if name in chosen:
                chosen[name] = tuple(str(v) for v in chosen[name])
        return replace(self, **chosen)


def load_config(path: Path) -> dict[str, Any]:
    """A scan config file (TOML, or JSON by extension) as a mapping of option values."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable scan config ({error})") from error
    if not isinstance(data, dict):
        raise InputError(f"{path}: a scan config is a table of options")
    known = {f.name for f in fields(ScanOptions)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{path}: unknown option(s) {', '.join(unknown)}")
    return data


@dataclass(frozen=True, slots=True)
class ScopeTask:
    """One listing to run: a spec in one account and region, and its deletion scope."""

    account: str
    region: str
    spec: TypeSpec
    scope: Scope = field(compare=False)

    @property
    def service(self) -> str:
        """The API the scope calls (the per-service concurrency cap's key)."""
        return self.spec.service


def organization_accounts(sessions: Sessions) -> list[str]:
    """Every ACTIVE account of the organization (called from its management account)."""
    client = sessions.base.client(
        "organizations",
        endpoint_url=sessions.options.endpoint_url,
        config=sessions.options.config(),
    )
    for hook in sessions.options.client_hooks:
        hook(client)
    found = []
    for page in client.get_paginator("list_accounts").paginate():
        found += [a["Id"] for a in page.get("Accounts", []) if a.get("Status") == "ACTIVE"]
    return found


def accounts_of(options: ScanOptions, sessions: Sessions) -> list[str]:
    """The accounts to scan: options, plus the organization's, else the local account."""
    found = list(options.accounts)
    if options.organizations:
        found += organization_accounts(sessions)
    return list(dict.fromkeys(found)) or [sessions.local_account()]


def enabled_regions(reader: AccountReader) -> list[str]:
    """The regions enabled in one account (opt-in regions only once opted in)."""
    answer = reader.client("ec2", GLOBAL_REGION).describe_regions(AllRegions=False)
    return sorted(r["RegionName"] for r in answer.get("Regions", []))


def scope_tasks(account: str, regions: Sequence[str], specs: Iterable[TypeSpec]) -> list[ScopeTask]:
    """One task per regional type per region, and one per global type."""
    tasks = []
    for spec in specs:
        where = [GLOBAL_REGION] if spec.is_global else list(regions)
        for region in where:
            label = f"{account}/{'global' if spec.is_global else region}/{spec.type_name}"
            scope = Scope(
                cloud="aws", account_id=account, label=label,
                region=None if spec.is_global else region, resource_types=(spec.type_name,),
            )  # fmt: skip
            tasks.append(ScopeTask(account, region, spec, scope))
    return tasks


def chosen_specs(options: ScanOptions) -> list[TypeSpec]:
    """The specs of the requested types (all when none were named)."""
    try:
        return select(options.types or None)
    except ValueError as error:
        raise InputError(str(error)) from error
