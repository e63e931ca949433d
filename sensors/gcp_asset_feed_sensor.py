"""gcp_asset_feed_sensor: Cloud Asset Inventory feed messages from a Pub/Sub subscription."""

from __future__ import annotations

from sensors.streams import StreamSpec, stream_sensor

gcp_asset_feed_sensor = stream_sensor(
    StreamSpec(
        name="gcp_asset_feed_sensor",
        make_source=lambda streams, _cursor: streams.pubsub("gcp_asset_feed"),
        consumers=("gcp_asset_feed",),
        setting="ASSETLAKE_ASSET_FEED_SUBSCRIPTION",
        description="Pulls Cloud Asset Inventory feed messages (TemporalAsset) from a Pub/Sub "
        "pull subscription, lands them, acks them once landed, requests a drain run.",
    )
)
