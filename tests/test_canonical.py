"""Canonical configuration documents: sorted keys, a stable hash, redaction of secrets.

Secrets are checked on real document shapes: a Lambda function configuration, an EC2 instance
attribute, and a GCP service account key asset from the corpus with the key material the API
returns when a key is created.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers.canonical import canonical_json, canonicalize, config_hash, redact
from resolvers.secret_fields import (
    REDACTED_KEYS,
    REDACTED_MAPS,
    REDACTED_NAME_VALUE_LISTS,
    REDACTION_MARKER,
    VOLATILE_KEYS,
)

SALT = b"salt-one"
OTHER_SALT = b"salt-two"
LAMBDA_SECRET = "pg://admin:Tr0ub4dor&3@db.internal:5432/app"
USER_DATA_SECRET = "IyEvYmluL2Jhc2gKZXhwb3J0IEFQSV9UT0tFTj1zM2NyM3QtdG9rZW4tOTk="
PRIVATE_KEY_SECRET = "ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIsICJwcml2YXRlX2tleSI6ICJBQkMiIH0="


def lambda_configuration(database_url: str = LAMBDA_SECRET) -> dict[str, Any]:
    """A Lambda GetFunctionConfiguration response with secrets in its environment."""
    return {
        "FunctionName": "orders-api",
        "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:orders-api",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::123456789012:role/orders-api",
        "Environment": {"Variables": {"DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}},
        "RevisionId": "3b7f2e1c-0d4a-4c35-9a8e-1f0c2b6d7e90",
        "LastModified": "2024-03-01T09:30:00.000+0000",
    }


def instance_attribute(user_data: str = USER_DATA_SECRET) -> dict[str, Any]:
    """An EC2 DescribeInstanceAttribute(userData) response."""
    return {"InstanceId": "i-0abc123def4567890", "UserData": {"Value": user_data}}


@pytest.fixture(scope="module")
def service_account_key(corpus: Path) -> dict[str, Any]:
    """A real ServiceAccountKey asset from the corpus, with the key material a create returns."""
    path = corpus / "gcp_policy_library_fixtures.cai_assets.jsonl"
    for line in path.read_text().splitlines():
        asset = orjson.loads(line)
        if asset.get("asset_type") == "iam.googleapis.com/ServiceAccountKey":
            asset["resource"]["data"]["privateKeyData"] = PRIVATE_KEY_SECRET
            return asset
    pytest.fail("no ServiceAccountKey asset in the corpus")


# -- canonical JSON ------------------------------------------------------------------------------
def test_keys_are_sorted_at_every_depth_and_output_is_compact() -> None:
    document = {"b": 1, "a": {"z": [{"y": 2, "x": 1}], "c": None}}
    assert canonical_json(document) == '{"a":{"c":null,"z":[{"x":1,"y":2}]},"b":1}'
    shuffled = {"a": {"c": None, "z": [{"x": 1, "y": 2}]}, "b": 1}
    assert canonicalize(document, SALT) == canonicalize(shuffled, SALT)


def test_list_order_is_significant() -> None:
    assert canonicalize({"a": [1, 2]}, SALT).hash != canonicalize({"a": [2, 1]}, SALT).hash


# -- the stable hash -----------------------------------------------------------------------------
@pytest.mark.parametrize("volatile", ["etag", "updateTime"])
def test_hash_ignores_volatile_fields_at_any_depth(volatile: str) -> None:
    def document(value: str) -> dict[str, Any]:
        return {
            volatile: value,
            "resource": {"data": {volatile: value, "rules": [{volatile: value, "port": 22}]}},
        }

    first, second = canonicalize(document("v1"), SALT), canonicalize(document("v2"), SALT)
    assert first.hash == second.hash
    assert first.json != second.json  # the stored document keeps them
    assert '"v2"' in second.json
    changed = document("v1")
    changed["resource"]["data"]["rules"][0]["port"] = 23
    assert canonicalize(changed, SALT).hash != first.hash


def test_hash_is_of_the_document_without_volatile_keys() -> None:
    document = {"name": "fw", "etag": "abc", "allowed": [{"ports": ["22"]}]}
    expected = hashlib.sha256(b'{"allowed":[{"ports":["22"]}],"name":"fw"}').hexdigest()[:32]
    assert canonicalize(document, SALT).hash == expected


# -- redaction -----------------------------------------------------------------------------------
def markers_in(text: str) -> int:
    """How many redaction markers a serialised document holds."""
    return text.count(f"{REDACTION_MARKER}:hmac-sha256:")


def test_lambda_environment_variables_are_redacted_names_kept() -> None:
    result = canonicalize(lambda_configuration(), SALT)
    variables = orjson.loads(result.json)["Environment"]["Variables"]
    assert set(variables) == {"DATABASE_URL", "LOG_LEVEL"}
    assert all(value.startswith(REDACTION_MARKER) for value in variables.values())
    assert LAMBDA_SECRET not in result.json
    assert "Tr0ub4dor" not in result.json
    assert orjson.loads(result.json)["Runtime"] == "python3.12"  # everything else is kept


def test_ec2_user_data_is_redacted() -> None:
    result = canonicalize(instance_attribute(), SALT)
    assert orjson.loads(result.json)["UserData"].startswith(REDACTION_MARKER)
    assert USER_DATA_SECRET not in result.json
    assert orjson.loads(result.json)["InstanceId"] == "i-0abc123def4567890"


def test_gcp_private_key_data_is_redacted(service_account_key: dict[str, Any]) -> None:
    result = canonicalize(service_account_key["resource"], SALT)
    data = orjson.loads(result.json)["data"]
    assert data["privateKeyData"].startswith(REDACTION_MARKER)
    assert PRIVATE_KEY_SECRET not in result.json
    assert data["keyAlgorithm"] == "KEY_ALG_RSA_2048"


@pytest.mark.parametrize(
    ("build", "secret"),
    [
        (lambda_configuration, LAMBDA_SECRET),
        (instance_attribute, USER_DATA_SECRET),
    ],
    ids=["lambda-variables", "ec2-user-data"],
)
def test_a_changed_secret_changes_the_hash_but_is_never_stored(build: Any, secret: str) -> None:
    before = canonicalize(build(secret), SALT)
    after = canonicalize(build(secret + "-rotated"), SALT)
    assert before.hash != after.hash
    assert before.json != after.json
    assert canonicalize(build(secret), SALT) == before  # and the same secret, the same result
    for result in (before, after):
        assert secret not in result.json
        assert markers_in(result.json) >= 1


def test_a_changed_private_key_changes_the_hash(service_account_key: dict[str, Any]) -> None:
    rotated = copy.deepcopy(service_account_key)
    rotated["resource"]["data"]["privateKeyData"] = PRIVATE_KEY_SECRET[::-1]
    before = canonicalize(service_account_key, SALT)
    after = canonicalize(rotated, SALT)
    assert before.hash != after.hash
    assert PRIVATE_KEY_SECRET not in before.json
    assert PRIVATE_KEY_SECRET[::-1] not in after.json


def test_markers_depend_on_the_salt() -> None:
    """Without the lake's salt, a marker cannot be matched against guessed secrets."""
    one = canonicalize(lambda_configuration(), SALT)
    two = canonicalize(lambda_configuration(), OTHER_SALT)
    assert one.json != two.json


def test_name_value_lists_keep_names_and_hide_values() -> None:
    container = {"name": "web", "environment": [{"name": "API_KEY", "value": "sk-live-1234"}]}
    result = orjson.loads(canonicalize({"containerDefinitions": [container]}, SALT).json)
    pair = result["containerDefinitions"][0]["environment"][0]
    assert pair["name"] == "API_KEY"
    assert pair["value"].startswith(REDACTION_MARKER)


def test_empty_secret_fields_stay_as_they_are() -> None:
    document = {"UserData": "", "Password": None}
    assert orjson.loads(canonicalize(document, SALT).json) == document


# -- the fast path agrees with the plain definition ---------------------------------------------
SPECIAL_KEYS = sorted(VOLATILE_KEYS | REDACTED_KEYS | REDACTED_MAPS | REDACTED_NAME_VALUE_LISTS)
keys = st.sampled_from([*SPECIAL_KEYS, "name", "value", "data", "labels", "Value"])
scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


def volatile_name_in_secret_map(document: Any) -> bool:
    """Whether a secret map (Lambda Variables, ...) has an entry named like a volatile key."""
    if isinstance(document, list):
        return any(volatile_name_in_secret_map(item) for item in document)
    if not isinstance(document, dict):
        return False
    for key, value in document.items():
        if key in REDACTED_MAPS and isinstance(value, dict) and VOLATILE_KEYS & set(value):
            return True
        if volatile_name_in_secret_map(value):
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(documents)
def test_canonicalize_matches_redact_then_hash(document: Any) -> None:
    """Whatever the shortcut, the result is that of the definition: redact, serialise, hash."""
    redacted = redact(document, SALT)
    result = canonicalize(document, SALT)
    assert result.json == canonical_json(redacted)
    assert result.hash == config_hash(redacted)


def test_volatile_name_inside_a_secret_map_hashes_as_defined() -> None:
    document = {"Environment": {"Variables": {"ETag": "1", "MODE": "prod"}}}
    assert canonicalize(document, SALT).hash == config_hash(redact(document, SALT))
