"""cloudtrail_s3_sensor: new CloudTrail log objects under an (organisation) trail's prefix."""

from __future__ import annotations

from sensors.streams import StreamSpec, stream_sensor

cloudtrail_s3_sensor = stream_sensor(
    StreamSpec(
        name="cloudtrail_s3_sensor",
        make_source=lambda streams, cursor: streams.s3_logs(cursor),
        consumers=("aws_cloudtrail",),
        setting="ASSETLAKE_CLOUDTRAIL_BUCKET",
        description="Lists new CloudTrail log objects under AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/"
        "REGION/YYYY/MM/DD/ incrementally by key (the cursor keeps the last key per prefix), "
        "lands their records and requests a drain run.",
    )
)
