"""Where alerts go, configured in one place: the log, a signed JSON webhook, a Slack webhook.

Configuration: the YAML file named by ``$ASSETLAKE_ALERTS_CONFIG``::

    max_attempts: 10            # deliveries tried per alert and sink, then 'failed'
    retry_after_seconds: 60     # first delay before a later run retries (doubles, max 1 h)
    max_age_hours: 168          # older openings/resolutions are recorded 'skipped', not sent
                                # (the default; null: no limit)
    sinks:
      - {name: log, type: log}
      - name: soc
        type: webhook
        url: https://soc.example.com/hooks/assetlake
        secret: ${ASSETLAKE_WEBHOOK_SECRET}   # ${VAR}: from the environment
        min_severity: high
      - {name: chat, type: slack, url: "${ASSETLAKE_SLACK_WEBHOOK_URL}"}

Without a file, the environment alone: the log sink, plus a webhook when
``ASSETLAKE_WEBHOOK_URL`` is set (signed with ``ASSETLAKE_WEBHOOK_SECRET``) and a Slack sink
when ``ASSETLAKE_SLACK_WEBHOOK_URL`` is set.

Webhook requests carry ``X-Assetlake-Signature: t=<unix time>,v1=<hex>``, the HMAC-SHA256 of
``"<unix time>.<body>"`` under the secret (a receiver recomputes it and rejects stale times).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from resolvers.compliance.spec import SEVERITIES
from resolvers.errors import InputError

log = logging.getLogger("assetlake.alerts")
CONFIG_ENV = "ASSETLAKE_ALERTS_CONFIG"
SINK_TYPES = ("log", "webhook", "slack")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
DEFAULT_MAX_AGE = dt.timedelta(days=7)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """One sink: where and how to deliver, with its in-run retry policy."""

    name: str
    type: str
    url: str | None = None
    secret: str | None = None
    min_severity: str = "informational"
    timeout_s: float = 5.0
    retries: int = 3  # attempts within one delivery
    backoff_s: float = 0.5  # sleep before the 2nd attempt, doubled after each

    def accepts(self, severity: str) -> bool:
        """Whether alerts of this severity go to the sink."""
        rank = {name: i for i, name in enumerate(SEVERITIES)}
        return rank.get(severity, len(SEVERITIES)) <= rank.get(self.min_severity, 99)


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """The sinks, and how long undelivered alerts are retried."""

    sinks: tuple[SinkConfig, ...] = (SinkConfig("log", "log"),)
    max_attempts: int = 10
    retry_after: dt.timedelta = dt.timedelta(seconds=60)
    max_age: dt.timedelta | None = DEFAULT_MAX_AGE  # None: alert whatever the age

    @classmethod
    def load(
        cls, path: str | Path | None = None, env: Mapping[str, str] | None = None
    ) -> AlertConfig:
        """From the YAML file (``path``, else ``$ASSETLAKE_ALERTS_CONFIG``), else the env."""
        env = os.environ if env is None else env
        path = path or env.get(CONFIG_ENV)
        if path:
            return cls.from_document(_read_yaml(Path(path), env))
        sinks = [SinkConfig("log", "log")]
        if env.get("ASSETLAKE_WEBHOOK_URL"):
            secret = env.get("ASSETLAKE_WEBHOOK_SECRET")
            sinks.append(SinkConfig("webhook", "webhook", env["ASSETLAKE_WEBHOOK_URL"], secret))
        if env.get("ASSETLAKE_SLACK_WEBHOOK_URL"):
            sinks.append(SinkConfig("slack", "slack", env["ASSETLAKE_SLACK_WEBHOOK_URL"]))
        return cls(tuple(sinks))

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AlertConfig:
        """From a parsed configuration document; InputError on a bad one."""
        sinks = tuple(_sink(item) for item in document.get("sinks") or ())
        names = [sink.name for sink in sinks]
        if len(names) != len(set(names)):
            raise InputError("alerts config: two sinks have the same name")
        hours = document.get("max_age_hours", DEFAULT_MAX_AGE.total_seconds() / 3600)
        return cls(
            sinks=sinks,
            max_attempts=int(document.get("max_attempts", 10)),
            retry_after=dt.timedelta(seconds=float(document.get("retry_after_seconds", 60))),
            max_age=dt.timedelta(hours=float(hours)) if hours is not None else None,
        )

    def sink(self, name: str) -> SinkConfig | None:
        """The sink of that name, if configured."""
        return next((sink for sink in self.sinks if sink.name == name), None)


def _read_yaml(path: Path, env: Mapping[str, str]) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"alerts config {path}: cannot read ({exc.strerror or exc})") from exc
    text = _VAR.sub(lambda m: env.get(m.group(1), ""), text)
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"alerts config {path}: not valid YAML ({exc})") from exc
    if not isinstance(document, Mapping):
        raise InputError(f"alerts config {path}: expected a mapping at the top")
    return document


def _sink(item: Any) -> SinkConfig:
    if not isinstance(item, Mapping) or item.get("type") not in SINK_TYPES:
        raise InputError(f"alerts config: a sink needs a type among {', '.join(SINK_TYPES)}")
    if item["type"] != "log" and not item.get("url"):
        raise InputError(f"alerts config: sink {item.get('name')!r} needs a url")
    known = {f for f in SinkConfig.__dataclass_fields__ if f in item}
    values = {name: item[name] for name in known}
    values.setdefault("name", item["type"])
    return SinkConfig(**values)


# -- delivery ---------------------------------------------------------------------------------
class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Assetlake-Signature value for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def slack_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message for an alert payload."""
    finding, rule = payload.get("finding", {}), payload.get("rule", {})
    verb = "opened" if payload.get("type") == "finding.opened" else "resolved"
    icon = ":rotating_light:" if verb == "opened" else ":white_check_mark:"
    head = f"{icon} [{str(finding.get('severity', '')).upper()}] {rule.get('title')} ({verb})"
    lines = [
        f"*Asset:* `{finding.get('asset_key')}`",
        f"*Rule:* `{finding.get('rule_id')}`  *When:* {payload.get('occurred_at')}",
        f"*Event:* {finding.get(f'{verb}_by_event_id')}",
    ]
    if verb == "opened" and rule.get("remediation"):
        lines.append(f"*Fix:* {rule['remediation']}")
    body = "\n".join(lines)
    return {
        "text": f"{head}\n{body}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        ],
    }


def _post(sink: SinkConfig, body: bytes, headers: Mapping[str, str]) -> None:
    request = urllib.request.Request(sink.url or "", data=body, method="POST")
    for name, value in {
        "Content-Type": "application/json",
        "User-Agent": "assetlake",
        **headers,
    }.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=sink.timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}", retryable=exc.code in RETRYABLE_STATUS) from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc


def _with_retries(sink: SinkConfig, attempt: Any) -> None:
    delay = sink.backoff_s
    for number in range(1, max(sink.retries, 1) + 1):
        try:
            attempt()
            return
        except DeliveryError as exc:
            if not exc.retryable or number >= sink.retries:
                raise
            time.sleep(delay)
            delay *= 2


def deliver(sink: SinkConfig, alert_id: str, payload_text: str) -> None:
    """Send one alert to one sink (raises DeliveryError when it could not)."""
    if sink.type == "log":
        log.warning("compliance alert %s", payload_text)
        return
    payload = orjson.loads(payload_text)
    if sink.type == "slack":
        body = orjson.dumps(slack_message(payload))
        _with_retries(sink, lambda: _post(sink, body, {}))
        return
    body = payload_text.encode()

    def attempt() -> None:
        headers = {"X-Assetlake-Event": str(payload.get("type")), "X-Assetlake-Delivery": alert_id}
        if sink.secret:
            headers["X-Assetlake-Signature"] = signature(sink.secret, int(time.time()), body)
        _post(sink, body, headers)

    _with_retries(sink, attempt)
