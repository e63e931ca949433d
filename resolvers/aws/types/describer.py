"""The boto3 describer: the event path's :class:`~resolvers.aws.describe.Describer`.

A describe climbs a ladder and stops at the first rung that can answer:

1. the hand-written spec of the type (``resolvers.aws.types.catalog``), the same code the
   scanner runs, so an event and a scan give one document for one state;
2. the generated describe call of the type from the event catalog (``catalog.json``);
3. Cloud Control ``GetResource`` for types with a CloudFormation read handler;
4. else ``failed("needs rescan ...")``: the next scan of the type settles it.

"Not found" may be eventual consistency right after a create: it is asked again after a delay
(``not_found_delay`` seconds, ``not_found_retries`` times) before the asset is called gone.
Expected cloud errors are results, never exceptions: access denied, throttled after the
adaptive retries, a malformed answer each become ``failed`` with the reason.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ParamValidationError,
    UnknownServiceError,
)
from botocore.parsers import ResponseParserError

from resolvers.aws import catalog_arn
from resolvers.aws.catalog import ARN_VAR, Registry, ResourceSpec
from resolvers.aws.catalog import registry as event_catalog
from resolvers.aws.describe import DescribeResult
from resolvers.aws.types.api import error_code, is_denied, is_gone, jsonable
from resolvers.aws.types.catalog import spec_for
from resolvers.aws.types.session import AccountReader, AwsOptions, Sessions
from resolvers.aws.types.spec import GLOBAL_REGION, Listed, MalformedResponse, TypeSpec

Rung = Callable[[AccountReader, str, str, str, str], "DescribeResult | None"]
_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True, slots=True)
class DescriberOptions:
    """Ladder settings: the not-found retry, and whether Cloud Control is tried."""

    not_found_retries: int = 1
    not_found_delay: float = 2.0
    cloud_control: bool = True


class Boto3Describer:
    """Describes one AWS asset through the ladder (implements the ``Describer`` protocol)."""

    def __init__(
        self,
        sessions: Sessions,
        options: DescriberOptions | None = None,
        catalog: Registry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sessions = sessions
        self.options = options or DescriberOptions()
        self._catalog = catalog
        self._sleep = sleep

    @property
    def catalog(self) -> Registry:
        """The event catalog (loaded on first use)."""
        if self._catalog is None:
            self._catalog = event_catalog()
        return self._catalog

    def describe(
        self, asset_key: str, resource_type: str, account_id: str, region: str
    ) -> DescribeResult:
        """The asset's state now: found, not found, or failed with the reason."""
        try:
            reader = self.sessions.reader(account_id)
        except (ClientError, BotoCoreError, PermissionError) as error:
            return DescribeResult.failed(f"no session for account {account_id}: {error}")
        reasons: list[str] = []
        for rung in (self._hand_written, self._generated, self._cloud_control):
            try:
                result = rung(reader, asset_key, resource_type, account_id, region)
            except _Skip as skip:
                reasons.append(str(skip))
                continue
            if result is not None:
                return result
        tried = "; ".join(reasons) or "no describe path"
        return DescribeResult.failed(f"needs rescan: {resource_type} ({tried})")

    # -- rungs ----------------------------------------------------------------------------
    def _hand_written(
        self, reader: AccountReader, key: str, kind: str, account: str, region: str
    ) -> DescribeResult | None:
        """Rung 1: the type's spec (None when there is none)."""
        spec = spec_for(kind)
        if spec is None:
            return None
        where = GLOBAL_REGION if spec.scope == "global" else region
        identifier = spec.identifier(key)
        return self._retrying(
            f"{kind} describe", lambda: _spec_result(spec, reader, account, where, identifier)
        )

    def _generated(
        self, reader: AccountReader, key: str, kind: str, account: str, region: str
    ) -> DescribeResult | None:
        """Rung 2: the event catalog's describe call for the type."""
        resource = self.catalog.types.get(kind)
        if resource is None or resource.describe is None:
            return None
        call = resource.describe
        values = template_values(resource, key)
        value = key if call.var == ARN_VAR else values.get(call.var)
        if not value:
            raise _Skip(f"generated {call.operation}: no {call.var} in {key}")
        params = {call.param: [value] if call.is_list else value}
        where = f"{call.service}.{call.operation}"
        return self._retrying(
            where, lambda: _generated_call(reader, call.service, call.operation, region, params)
        )

    def _cloud_control(
        self, reader: AccountReader, key: str, kind: str, account: str, region: str
    ) -> DescribeResult | None:
        """Rung 3: Cloud Control ``GetResource`` (types with a CloudFormation read handler)."""
        resource = self.catalog.types.get(kind)
        if not self.options.cloud_control or resource is None or resource.cloud_control is None:
            return None
        identifier = cloud_control_identifier(resource, key)
        if identifier is None:
            raise _Skip(f"cloudcontrol: no identifier for {resource.cloud_control} in {key}")
        try:
            answer = reader.client("cloudcontrol", region).get_resource(
                TypeName=kind, Identifier=identifier
            )
            properties = answer["ResourceDescription"]["Properties"]
            return DescribeResult.found(json.loads(properties), region=region)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return DescribeResult.not_found("cloudcontrol: not found")
            return DescribeResult.failed(f"cloudcontrol GetResource failed: {_brief(error)}")
        except (BotoCoreError, KeyError, TypeError, ValueError) as error:
            return DescribeResult.failed(f"cloudcontrol GetResource failed: {_brief(error)}")

    def _retrying(self, what: str, read: Callable[[], DescribeResult]) -> DescribeResult:
        """``read()``, asked again after a delay while it says not found; errors as results."""
        for attempt in range(self.options.not_found_retries + 1):
            if attempt:
                self._sleep(self.options.not_found_delay)
            result = _guarded(what, read)
            if result.status != "not_found":
                return result
        return result


class _Skip(Exception):
    """A rung that cannot apply to this asset (the ladder goes on, the reason is kept)."""


def _spec_result(
    spec: TypeSpec, reader: AccountReader, account: str, region: str, identifier: str
) -> DescribeResult:
    found = spec.describe(reader, account, region, identifier)
    if not isinstance(found, Listed):
        return DescribeResult.not_found()
    config = found.config
    return DescribeResult.found(
        config, name=spec.name(config), tags=spec.tags(config), region=found.region
    )


def _generated_call(
    reader: AccountReader, service: str, operation: str, region: str, params: Mapping[str, Any]
) -> DescribeResult:
    """One generated describe call; a call this SDK cannot make skips the rung."""
    try:
        method = getattr(reader.client(service, region), xform_name(operation))
        answer = method(**params)
    except (UnknownServiceError, AttributeError, ParamValidationError) as error:
        raise _Skip(f"generated {service}.{operation}: {_brief(error)}") from error
    document = jsonable(answer)
    lists = [v for k, v in document.items() if isinstance(v, list) and k != "NextToken"]
    if len(lists) == 1 and len(document) <= 2:  # {"Things": [item]} (and a NextToken)
        if not lists[0]:
            return DescribeResult.not_found()
        if len(lists[0]) == 1 and isinstance(lists[0][0], dict):
            return DescribeResult.found(lists[0][0], region=region)
    return DescribeResult.found(document, region=region)


def _guarded(what: str, read: Callable[[], DescribeResult]) -> DescribeResult:
    """Cloud errors and malformed answers as ``failed`` results with a reason."""
    try:
        return read()
    except _Skip:
        raise
    except ClientError as error:
        if is_gone(error):
            return DescribeResult.not_found(_brief(error))
        kind = "access denied" if is_denied(error) else "error"
        return DescribeResult.failed(f"{what}: {kind}: {_brief(error)}")
    except (MalformedResponse, ResponseParserError, KeyError, TypeError, ValueError) as error:
        return DescribeResult.failed(f"{what}: malformed response: {_brief(error)}")
    except BotoCoreError as error:  # parse errors, connection errors, retries exhausted
        return DescribeResult.failed(f"{what}: {type(error).__name__}: {_brief(error)}")


def template_values(resource: ResourceSpec, arn: str) -> dict[str, str]:
    """The ARN template's variables read back out of an ARN (``{}`` when none matches)."""
    for template in catalog_arn.alternatives(resource.arn_template):
        names = _VAR.findall(template)
        literal = _VAR.split(template)[::2]  # the text around the variables
        groups = ["([^:]*)" if name in catalog_arn.FIXED else "(.+)" for name in names]
        pattern = "".join(
            re.escape(text) + (groups[i] if i < len(groups) else "")
            for i, text in enumerate(literal)
        )
        found = re.fullmatch(pattern, arn)
        if found:
            return dict(zip(names, found.groups(), strict=True))
    return {}


def cloud_control_identifier(resource: ResourceSpec, arn: str) -> str | None:
    """The Cloud Control identifier of an asset: its ARN when the primary identifier is one,
    else the template's last variable (composite identifiers are not guessed)."""
    primary = resource.cloud_control or ()
    if len(primary) != 1:
        return None
    if primary[0].lower().endswith("arn"):
        return arn
    values = template_values(resource, arn)
    names = catalog_arn.template_vars(resource.arn_template)
    return values.get(names[-1]) if names else None


def _brief(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:300]


def online_describer(
    role_name: str | None = None,
    *,
    endpoint_url: str | None = None,
    max_attempts: int = 10,
    options: DescriberOptions | None = None,
) -> Boto3Describer:
    """The describer ``assetlake ingest`` (online) and the Dagster runs use: the current
    credentials for their own account, ``role_name`` assumed in every other one."""
    aws = AwsOptions(role_name=role_name, endpoint_url=endpoint_url, max_attempts=max_attempts)
    return Boto3Describer(Sessions(aws), options)
