"""Alerts: a signed webhook against a real HTTP server on 127.0.0.1, retries, once-only sends,
a failing sink that blocks nothing, the Slack payload, the log sink and the configuration."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from test_compliance_evaluate import BUCKET, _cai, feed, ingest

from resolvers.compliance.alerts import dispatch
from resolvers.compliance.evaluate import evaluate
from resolvers.compliance.sinks import AlertConfig, SinkConfig
from resolvers.errors import InputError
from resolvers.lake.storage import Lake

SECRET = "s3cr3t-for-tests"
pytestmark = pytest.mark.service


@dataclass
class Receiver:
    """A webhook receiver: answers with the queued statuses (then 200), checks signatures."""

    statuses: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/assetlake"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        stamp, _, mac = (handler.headers.get("X-Assetlake-Signature") or "").partition(",v1=")
        timestamp = stamp.removeprefix("t=")
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append(
            {
                "path": handler.path,
                "body": orjson.loads(body),
                "verified": hmac.compare_digest(mac, expected.hexdigest()),
                "delivery": handler.headers.get("X-Assetlake-Delivery"),
                "status": status,
            }
        )
        handler.send_response(status)
        handler.end_headers()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.handle(self)

        def log_message(self, *args: Any) -> None:
            return

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.server.shutdown()
    state.server.server_close()


def webhook(url: str, **extra: Any) -> AlertConfig:
    sink = SinkConfig("soc", "webhook", url, SECRET, retries=3, backoff_s=0.01, **extra)
    return AlertConfig(sinks=(sink,), retry_after=dt.timedelta(seconds=30), max_age=None)


def _public_bucket(lake: Lake, corpus: Path, revert: bool = False) -> None:
    private, public = _cai(corpus, 340), _cai(corpus, 338)
    story = [feed(private, 0, BUCKET), feed(public, 3, BUCKET)]
    ingest(lake, [*story, feed(private, 5, BUCKET)] if revert else story)


def _alerts(lake: Lake) -> pl.DataFrame:
    return lake.scan("alerts").sort("occurred_at", "kind").collect()


def test_signed_webhook_retried_after_a_500_and_sent_once(
    lake: Lake, corpus: Path, receiver: Receiver
) -> None:
    _public_bucket(lake, corpus)
    receiver.statuses = [500]
    result = evaluate(lake, alerts=webhook(receiver.url, min_severity="critical"))
    assert result.alerts is not None and result.alerts.sent == 1 and result.alerts_queued == 1
    first, retry = receiver.requests
    assert (first["status"], retry["status"]) == (500, 200)
    assert first["body"] == retry["body"] and first["verified"] and retry["verified"]
    body = retry["body"]
    assert body["type"] == "finding.opened" and body["finding"]["asset_key"] == BUCKET
    assert body["finding"]["rule_id"] == "gcp-storage-bucket-public-iam"
    assert retry["delivery"] == body["alert_id"] and retry["path"] == "/hooks/assetlake"
    again = evaluate(lake, alerts=webhook(receiver.url, min_severity="critical"))
    assert again.alerts_queued == 0 and len(receiver.requests) == 2  # no double alert
    assert _alerts(lake)["status"].to_list() == ["sent"]


def test_opening_and_resolution_each_alert_once(
    lake: Lake, corpus: Path, receiver: Receiver
) -> None:
    config = webhook(receiver.url, min_severity="critical")
    _public_bucket(lake, corpus)
    evaluate(lake, alerts=config)
    ingest(lake, [feed(_cai(corpus, 340), 5, BUCKET)])  # reverted two minutes later
    evaluate(lake, alerts=config)
    evaluate(lake, alerts=config, full=True)
    kinds = [request["body"]["type"] for request in receiver.requests]
    assert kinds == ["finding.opened", "finding.resolved"]
    resolved = receiver.requests[1]["body"]["finding"]
    assert resolved["status"] == "resolved" and resolved["resolved_by_event_id"]


def test_a_failing_sink_blocks_nothing_and_is_retried_later(
    lake: Lake, corpus: Path, receiver: Receiver
) -> None:
    _public_bucket(lake, corpus, revert=True)
    receiver.statuses = [503] * 6  # every attempt of both deliveries fails
    now = dt.datetime.now(dt.UTC)
    result = evaluate(lake, alerts=webhook(receiver.url, min_severity="critical"), now=now)
    assert result.written >= 1 and result.alerts is not None and result.alerts.failed >= 1
    pending = _alerts(lake).filter(pl.col("status") == "pending")
    assert pending.height == 2 and pending["last_error"].to_list()[0] == "HTTP 503"
    early = dispatch(lake, webhook(receiver.url), now + dt.timedelta(seconds=5))
    assert early.sent == 0  # not due yet
    later = dispatch(lake, webhook(receiver.url), now + dt.timedelta(minutes=2))
    assert later.sent == 2 and set(_alerts(lake)["status"]) == {"sent"}


def test_unreachable_sink_gives_up_after_max_attempts(lake: Lake, corpus: Path) -> None:
    _public_bucket(lake, corpus)
    dead = SinkConfig("dead", "webhook", "http://127.0.0.1:9/none", retries=1, timeout_s=0.5)
    config = AlertConfig((dead,), max_attempts=2, retry_after=dt.timedelta(0), max_age=None)
    evaluate(lake, alerts=config)
    dispatch(lake, config, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert set(_alerts(lake)["status"]) == {"failed"}


def test_slack_payload(lake: Lake, corpus: Path, receiver: Receiver) -> None:
    _public_bucket(lake, corpus)
    sink = SinkConfig("chat", "slack", receiver.url, min_severity="critical")
    evaluate(lake, alerts=AlertConfig(sinks=(sink,), max_age=None))
    [request] = receiver.requests
    message = request["body"]
    assert "gcp-storage-bucket-public-iam" in message["text"] and BUCKET in message["text"]
    assert [block["type"] for block in message["blocks"]] == ["header", "section"]


def test_log_sink(lake: Lake, corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    _public_bucket(lake, corpus)
    with caplog.at_level(logging.WARNING, logger="assetlake.alerts"):
        evaluate(lake, alerts=AlertConfig(max_age=None))
    assert any(BUCKET in record.getMessage() for record in caplog.records)


def test_old_findings_are_recorded_not_sent(lake: Lake, corpus: Path, receiver: Receiver) -> None:
    _public_bucket(lake, corpus)  # March 2026; the default max age is a week
    sink = SinkConfig("soc", "webhook", receiver.url, SECRET, min_severity="critical")
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    result = evaluate(lake, alerts=AlertConfig(sinks=(sink,)), now=now)
    assert result.alerts_queued == 1 and not receiver.requests
    assert _alerts(lake)["status"].to_list() == ["skipped"]


def test_configuration_in_one_place(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "max_attempts: 4\nmax_age_hours: 24\nsinks:\n  - {name: log, type: log}\n"
        "  - name: soc\n    type: webhook\n    url: https://soc.example/hook\n"
        "    secret: ${HOOK_SECRET}\n    min_severity: high\n"
    )
    config = AlertConfig.load(env={"ASSETLAKE_ALERTS_CONFIG": str(path), "HOOK_SECRET": "x"})
    soc = config.sink("soc")
    assert soc is not None and soc.secret == "x" and config.max_attempts == 4
    assert soc.accepts("critical") and not soc.accepts("medium")
    assert config.max_age == dt.timedelta(hours=24)
    from_env = AlertConfig.load(
        env={"ASSETLAKE_WEBHOOK_URL": "https://h", "ASSETLAKE_WEBHOOK_SECRET": "k"}
    )
    assert [s.type for s in from_env.sinks] == ["log", "webhook"]
    path.write_text("sinks:\n  - {name: x, type: pager}\n")
    with pytest.raises(InputError):
        AlertConfig.load(path)
