"""Landing's secret check read off the record's own text (resolvers/secret_text.py).

A record whose text names a secret stem ("env", "token", "password"...) is looked at member by
member. That look is made on the text as received, whatever its spacing, rather than on the
record serialised again; it must agree with the look at the compact JSON on every document, or
say it cannot tell (an escaped quote next to a stem), never answer otherwise.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolvers.canonical import redact_record
from resolvers.secret_fields import REDACTION_MARKER
from resolvers.secret_text import _held_in_json, _held_in_text, _stems_in

SALT = b"salt"
# secret keys, their look-alikes (labels, longer names) and plain keys, in every letter case
KEYS = [
    "env", "Env", "environment", "environmentName", "EnvironmentVariables", "variables",
    "Variables", "sessionToken", "tokenType", "SessionToken", "masterUserPassword",
    "passwordPolicy", "dbPassword", "userData", "UserDataType", "privateKey", "private_key_id",
    "secretString", "SecretArn", "keyMaterial", "name", "labels", "id",
]  # fmt: skip
STRINGS = st.sampled_from(
    [
        "prod",
        "",
        "x",
        'a "env":[1] b',
        '"password":"p"',
        "token\\",
        "HIDDEN_DUE_TO_SECURITY_REASONS",
    ]
)
SCALARS = st.one_of(STRINGS, st.integers(-5, 5), st.booleans(), st.none())
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
SPACINGS = [(",", ":"), (", ", ": "), (" ,", " : "), (",\n", ":\t")]


def _texts(document: Any) -> list[str]:
    compact = orjson.dumps(document).decode()
    spaced = [json.dumps(document, separators=s, ensure_ascii=False) for s in SPACINGS]
    return [compact, *spaced, json.dumps(document, indent=2, ensure_ascii=False)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), DOCUMENTS, min_size=1, max_size=5))
def test_the_text_look_agrees_with_the_json_look(document: dict[str, Any]) -> None:
    for text in _texts(document):
        lowered = text.lower()
        stems = _stems_in(lowered)
        held = _held_in_text(text, lowered, stems)
        assert held in (None, _held_in_json(document, stems)), text
        # and whatever the spacing, the landed record holds no secret the compact one shows
        landed, value = redact_record(text, document, SALT)
        assert value == redact_record(orjson.dumps(document).decode(), document, SALT)[1]
        assert (landed is text) == (value == document)


def test_labels_named_like_secrets_are_kept_byte_for_byte() -> None:
    for text in (
        '{"labels": {"env": "prod", "team": "a"}, "tokenType": "Bearer"}',
        '{"labels":{"env":"prod"},"description":"no \\"env\\": [here]"}',
        '{"environmentName" :\n [ "a" ], "passwordPolicy": {"minimumLength": 8}}',
    ):
        assert redact_record(text, orjson.loads(text), SALT)[0] is text


def test_secret_members_are_found_whatever_the_spacing() -> None:
    for text in (
        '{"env" : [ {"name": "DB", "value": "hunter2"} ]}',
        '{"config": {"Variables"\t:\n{"DB": "hunter2"}}}',
        '{"requestParameters": {"masterUserPassword" : "hunter2"}}',
        '{"a": "env", "userData": "aHVudGVyMg=="}',
    ):
        landed, _ = redact_record(text, orjson.loads(text), SALT)
        assert REDACTION_MARKER in landed and "hunter2" not in landed, text
        assert "aHVudGVyMg" not in landed


def test_an_escaped_quote_beside_a_stem_is_left_to_the_json_look() -> None:
    text = '{"note": "x\\"env", "env": [{"name": "a", "value": "hunter2"}]}'
    lowered = text.lower()
    assert _held_in_text(text, lowered, _stems_in(lowered)) is None
    assert "hunter2" not in redact_record(text, orjson.loads(text), SALT)[0]
