"""The two shapes most type specs take, as factories.

* :func:`items_spec`: one paginated Describe call lists a region, and the same call narrowed
  to one identifier describes one asset (EC2, RDS, ELBv2, ECR, CloudTrail). The item is the
  document; ``extra`` adds the documented extra keys to a page of items at once.
* :func:`ids_spec`: a List call yields identifiers and a ``read`` function builds each asset's
  document (KMS, DynamoDB, SNS, SQS, Lambda, EKS, Secrets Manager, GuardDuty, CloudFront);
  describe is ``read`` on one identifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from resolvers.aws.types.api import is_gone, jsonable, pages, read_item, require
from resolvers.aws.types.spec import (
    NOT_FOUND,
    ApiCall,
    Listed,
    NotFoundType,
    Reader,
    Scope,
    TypeSpec,
    Unreadable,
)

Config = dict[str, Any]
KeyFn = Callable[[Mapping[str, Any], str, str], str]  # (config, account, region) -> key
ExtraFn = Callable[[Reader, str, list[Config]], None]
ReadFn = Callable[[Reader, str, str, str], "Config | NotFoundType"]
IdKeyFn = Callable[[Mapping[str, Any], str, str, str], str]  # (config, account, region, id)


def _found(configs: list[Config], key: KeyFn, account: str, region: str) -> Iterator[Listed]:
    for config in configs:
        yield Listed(key(config, account, region), config, region)


def items_spec(
    *,
    type_name: str,
    service: str,
    operation: str,
    result_key: str,
    key: KeyFn,
    id_param: str,
    calls: tuple[ApiCall, ...],
    ids_as_list: bool = True,
    list_params: Mapping[str, Any] | None = None,
    extra: ExtraFn | None = None,
    keep: Callable[[Mapping[str, Any], str], bool] = lambda item, account: True,
    identifier: Callable[[str], str] = lambda key: key.rsplit("/", 1)[-1],
    name: Callable[[Mapping[str, Any]], str | None] = lambda config: None,
    tags: Callable[[Mapping[str, Any]], dict[str, str]] = lambda config: {},
    description: str = "",
) -> TypeSpec:
    """A regional spec whose Describe call lists a region and, narrowed, reads one asset
    (only an item whose key names the asked identifier counts as found)."""
    spec_identifier = identifier

    def normalize(item: Mapping[str, Any]) -> Config:
        """The Describe item as JSON (no ResponseMetadata, ISO timestamps)."""
        return jsonable(item)

    def finish(reader: Reader, region: str, items: list[Any], account: str) -> list[Config]:
        configs = [normalize(item) for item in items if keep(item, account)]
        if extra is not None and configs:
            extra(reader, region, configs)
        return configs

    def list_all(reader: Reader, account: str, region: str) -> Iterator[Listed]:
        """Every asset of the type in one region, a page at a time."""
        client = reader.client(service, region)
        for page in pages(client, operation, result_key, **(list_params or {})):
            yield from _found(finish(reader, region, page, account), key, account, region)

    def describe(
        reader: Reader, account: str, region: str, identifier: str
    ) -> Listed | NotFoundType:
        """One asset by identifier (NOT_FOUND when the service says it does not exist)."""
        client = reader.client(service, region)
        value = [identifier] if ids_as_list else identifier
        try:
            answer = getattr(client, xform_name(operation))(**{id_param: value})
        except ClientError as error:
            if is_gone(error):
                return NOT_FOUND
            raise
        wanted = identifier.lower()
        configs = finish(reader, region, list(answer.get(result_key) or []), account)
        found = (item for item in _found(configs, key, account, region)
                 if spec_identifier(item.asset_key).lower() == wanted)  # fmt: skip
        return next(found, NOT_FOUND)

    return TypeSpec(
        type_name=type_name, service=service, scope="regional", list=list_all,
        describe=describe, identifier=identifier, normalize=normalize, calls=calls,
        name=name, tags=tags, description=description,
    )  # fmt: skip


def ids_spec(
    *,
    type_name: str,
    service: str,
    list_ids: Callable[[Reader, str, str], Iterator[str]],
    read: ReadFn,
    key: IdKeyFn,
    normalize: Callable[..., Config],
    calls: tuple[ApiCall, ...],
    scope: Scope = "regional",
    identifier: Callable[[str], str] = lambda key: key.rsplit("/", 1)[-1],
    name: Callable[[Mapping[str, Any]], str | None] = lambda config: None,
    tags: Callable[[Mapping[str, Any]], dict[str, str]] = lambda config: {},
    description: str = "",
) -> TypeSpec:
    """A spec that lists identifiers, then reads each asset with ``read`` (also describe).

    ``read(reader, account, region, identifier)`` returns the document or NOT_FOUND; an error
    that says the asset is gone counts as NOT_FOUND (deleted between list and read).
    """

    def describe(
        reader: Reader, account: str, region: str, identifier: str
    ) -> Listed | NotFoundType:
        """One asset by identifier."""
        try:
            config = read(reader, account, region, identifier)
        except ClientError as error:
            if is_gone(error):
                return NOT_FOUND
            raise
        if isinstance(config, NotFoundType):
            return NOT_FOUND
        return Listed(key(config, account, region, identifier), config, region)

    def list_all(reader: Reader, account: str, region: str) -> Iterator[Listed | Unreadable]:
        """Every asset: list the identifiers, read each (skipping any gone meanwhile)."""
        for identifier in list_ids(reader, account, region):
            found = read_item(identifier, lambda: describe(reader, account, region, identifier))  # noqa: B023
            if not isinstance(found, NotFoundType):
                yield found

    return TypeSpec(
        type_name=type_name, service=service, scope=scope, list=list_all, describe=describe,
        identifier=identifier, normalize=normalize, calls=calls, name=name, tags=tags,
        description=description,
    )  # fmt: skip


def listed_ids(
    service: str, operation: str, result_key: str, field: str | None = None, **params: Any
) -> Callable[[Reader, str, str], Iterator[str]]:
    """A ``list_ids`` over a paginated List call (``field`` of each item, or the item)."""

    def list_ids(reader: Reader, account: str, region: str) -> Iterator[str]:
        client = reader.client(service, region)
        for page in pages(client, operation, result_key, **params):
            for item in page:
                yield str(require(item, field, operation) if field else item)

    return list_ids
