"""gcp_audit_log_sensor: Cloud Audit Log entries from a log sink's Pub/Sub subscription."""

from __future__ import annotations

from sensors.streams import StreamSpec, stream_sensor

gcp_audit_log_sensor = stream_sensor(
    StreamSpec(
        name="gcp_audit_log_sensor",
        make_source=lambda streams, _cursor: streams.pubsub("gcp_audit_log"),
        consumers=("gcp_audit_log",),
        setting="ASSETLAKE_AUDIT_LOG_SUBSCRIPTION",
        description="Pulls admin-activity audit LogEntries (a log sink to Pub/Sub), lands them, "
        "acks them once landed, requests a drain run (they attribute the feed's changes).",
    )
)
