"""nats_events_sensor: the internal bus, a JetStream durable pull consumer."""

from __future__ import annotations

from sensors.streams import CONSUMERS, StreamSpec, stream_sensor

nats_events_sensor = stream_sensor(
    StreamSpec(
        name="nats_events_sensor",
        make_source=lambda streams, _cursor: streams.nats(),
        consumers=tuple(CONSUMERS),
        setting="ASSETLAKE_NATS_URL",
        description="Fetches records relayed onto the JetStream stream (`assetlake relay` sets "
        "Nats-Msg-Id to the record id, so redeliveries are dropped by the stream), lands them, "
        "acks them once landed, requests drain runs.",
    )
)
