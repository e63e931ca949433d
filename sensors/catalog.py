"""Every sensor of the code location, listed explicitly."""

from __future__ import annotations

import dagster as dg

from sensors.cloudtrail_s3_sensor import cloudtrail_s3_sensor
from sensors.cloudtrail_sqs_sensor import cloudtrail_sqs_sensor
from sensors.gcp_asset_feed_sensor import gcp_asset_feed_sensor
from sensors.gcp_audit_log_sensor import gcp_audit_log_sensor
from sensors.nats_events_sensor import nats_events_sensor

STREAM_SENSORS: tuple[dg.SensorDefinition, ...] = (
    cloudtrail_sqs_sensor,
    cloudtrail_s3_sensor,
    gcp_asset_feed_sensor,
    gcp_audit_log_sensor,
    nats_events_sensor,
)
