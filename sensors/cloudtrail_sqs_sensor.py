"""cloudtrail_sqs_sensor: EventBridge CloudTrail events (and S3 log notifications) on SQS."""

from __future__ import annotations

from sensors.streams import StreamSpec, stream_sensor

cloudtrail_sqs_sensor = stream_sensor(
    StreamSpec(
        name="cloudtrail_sqs_sensor",
        make_source=lambda streams, _cursor: streams.sqs(),
        consumers=("aws_cloudtrail",),
        setting="ASSETLAKE_SQS_QUEUE_URL",
        description="Lands EventBridge 'AWS API Call via CloudTrail' events, and the records of "
        "CloudTrail log objects announced by S3 notifications (raw or SNS-wrapped), from an SQS "
        "queue; deletes them once landed; requests a drain run.",
    )
)
