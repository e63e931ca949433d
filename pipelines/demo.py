"""``assetlake demo``: the whole pipeline once, on embedded services, through Dagster's APIs.

The services and the data are Dagster-free (:mod:`resolvers.embedded`, :mod:`resolvers.demo`,
:mod:`resolvers.demo_aws`); this module drives the code location's own sensors and jobs
(:mod:`pipelines.demo_runs`) the way the daemon would:

1. moto (server mode) and the Pub/Sub emulator start on free 127.0.0.1 ports;
2. the GCP feed of the week is published on the emulator's topic (or left in a file);
3. the team works in the emulated account; between its acts ``cloudtrail_sqs_sensor`` ticks
   against the SQS queue and the drain runs it requests resolve what landed, while the account
   is in that state (a drain may describe the live state of what an event changed);
4. ``gcp_asset_feed_sensor`` ticks against the subscription (or ``ingest_files_job`` reads
   the file) and its drain runs;
5. one full AWS scan of the emulated account, then ``findings`` is materialised;
6. everything started is stopped, whatever happened; the lake is folded and read back.

Runs are recorded in a Dagster instance under the lake (``LAKE/_dagster``), which
``DAGSTER_HOME=LAKE/_dagster dagster dev`` shows; an s3:// lake gets an ephemeral instance.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
from dagster import DagsterExecutionInterruptedError

from assets.resources import StreamsResource
from pipelines.demo_runs import (
    Pipeline,
    Say,
    dagster_home,
    demo_instance,
    offline_drains,
    scoped_env,
)
from resolvers.aws.scan import AwsScanResult
from resolvers.demo import (
    DemoResult,
    FeedChannel,
    check_corpus,
    feed_channel,
    finish_lake,
    prepare_lake,
)
from resolvers.demo_aws import CREDENTIALS, REGION, AwsDemoResult, create_event_queue, run_team
from resolvers.embedded import EmbeddedServices, embedded_services, gcloud_binary
from resolvers.errors import AssetlakeError
from resolvers.lake.storage import Lake
from sensors import streams as stream_sensors
from sensors.cloudtrail_sqs_sensor import cloudtrail_sqs_sensor
from sensors.gcp_asset_feed_sensor import gcp_asset_feed_sensor


def demo_environment(lake: Lake, moto: str) -> contextlib.AbstractContextManager[None]:
    """The process environment while the pipeline runs against the embedded services.

    Drain runs drain once (the daemon's follow their stream). The stream clients and the
    drain's describer read credentials (and the describer its endpoint) from the environment:
    a local lake gets moto's dummy credentials and endpoint; an s3:// lake keeps the machine's
    credentials and endpoint (its S3 must stay where it is) and its drains keep to the events.
    """
    values: dict[str, str | None] = {stream_sensors.FOLLOW_ENV: "0"}
    if not lake.is_s3 or boto3.Session().get_credentials() is None:
        values |= {"AWS_PROFILE": None, "AWS_SESSION_TOKEN": None}
        values |= {"AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"]}
        values |= {"AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"]}
    if not lake.is_s3:
        values |= {"AWS_ENDPOINT_URL": moto, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
    return scoped_env(values)


class AlertCounter(logging.Handler):
    """Counts the alerts the log sink writes (instead of printing each on stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count one alert."""
        self.count += 1


@contextlib.contextmanager
def counted_alerts() -> Iterator[AlertCounter]:
    """Alerts of the demo's findings go to a counter, not to the terminal."""
    logger = logging.getLogger("assetlake.alerts")
    counter = AlertCounter()
    logger.addHandler(counter)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.propagate = propagate


def play_aws(pipeline: Pipeline, endpoint: str, say: Say) -> AwsDemoResult:
    """The team at work; between acts, the SQS sensor ticks and its drain runs run."""
    queue_url = create_event_queue(endpoint)
    streams = StreamsResource(
        sqs_queue_url=queue_url, aws_endpoint_url=endpoint, keep_polling=False
    )
    say(f"moto on {endpoint}: the team at work; cloudtrail_sqs_sensor on {queue_url}")

    def checkpoint(moment: str) -> None:
        landed, runs = pipeline.follow(cloudtrail_sqs_sensor, streams)
        say(f"  {moment}: {landed} events landed, {runs} drain run(s)")

    return run_team(endpoint, queue_url, checkpoint)


def feed_gcp(
    pipeline: Pipeline, services: EmbeddedServices, channel: FeedChannel, say: Say
) -> None:
    """The week's GCP feed through the asset-feed sensor, or from the file."""
    if channel.subscription and services.pubsub is not None:
        streams = StreamsResource(
            asset_feed_subscription=channel.subscription,
            pubsub_emulator_host=services.pubsub.address,
            keep_polling=False,
        )
        landed, runs = pipeline.follow(gcp_asset_feed_sensor, streams)
        say(
            f"gcp_asset_feed_sensor on {channel.subscription}: {landed} landed, {runs} drain run(s)"
        )
    else:
        why = services.pubsub_problem or "no gcloud SDK with the Pub/Sub emulator here"
        say(f"the GCP feed from a file ({why})")
        pipeline.ingest_file(channel.path)


def aws_scan(lake: Lake, endpoint: str, say: Say) -> AwsScanResult:
    """One full scan of the emulated account (its region), into the lake's history."""
    from resolvers.aws.scan import scan_aws
    from resolvers.aws.scan_plan import ScanOptions

    options = ScanOptions(regions=(REGION,), endpoint_url=endpoint, workers=4, max_attempts=2)
    result = scan_aws(lake, options, base=boto3.Session(region_name=REGION, **CREDENTIALS))
    say(f"a full AWS scan: {result.assets} assets in {len(result.outcomes)} scopes "
        f"({result.seconds:.1f} s, {result.api_calls} API requests)")  # fmt: skip
    return result


def forget_writer(lake: Lake) -> None:
    """Drop the sensors' cached writer of this lake (a demo with --replace in the same process
    must not reuse the warm indexes of the lake it deleted)."""
    stream_sensors.forget_writer(lake.uri)


def _pipeline(
    lake: Lake, services: EmbeddedServices, channel: FeedChannel, say: Say
) -> tuple[AwsDemoResult, AwsScanResult, int, int]:
    """Steps 3 to 5 with the instance open; returns (aws, scan, runs, alerts)."""
    with demo_instance(lake) as instance, counted_alerts() as alerts:
        pipeline = Pipeline(lake, instance, say)
        pipeline.drain_overrides = offline_drains(lake)
        aws = play_aws(pipeline, services.moto.address, say)
        feed_gcp(pipeline, services, channel, say)
        scan = aws_scan(lake, services.moto.address, say)
        pipeline.materialise_findings()
        say(f"findings materialised; {len(pipeline.runs)} Dagster runs in all")
        return aws, scan, len(pipeline.runs), alerts.count


def run_demo(lake: Lake, replace: bool = False, say: Say = lambda _: None) -> DemoResult:
    """The whole demo: services up, the team and the feed, the pipeline, services down."""
    corpus = check_corpus()
    prepare_lake(lake, replace)
    forget_writer(lake)
    lake.create()
    try:
        with tempfile.TemporaryDirectory(prefix="assetlake-demo-") as scratch:
            emulator = " and the Pub/Sub emulator" if gcloud_binary() else ""
            say(f"starting moto (server mode){emulator} on 127.0.0.1")
            with embedded_services(Path(scratch)) as services:
                with demo_environment(lake, services.moto.address):
                    channel = feed_channel(corpus, Path(scratch), services.pubsub, say)
                    aws, scan, runs, alerts = _pipeline(lake, services, channel, say)
                ports = services.ports
    except (KeyboardInterrupt, DagsterExecutionInterruptedError) as exc:
        raise AssetlakeError(
            f"interrupted; the embedded services are stopped and {lake.uri} is partial "
            "(run again with --replace)"
        ) from exc
    finally:
        forget_writer(lake)
    return finish_lake(lake, channel, aws, scan, runs, alerts, ports, dagster_home(lake))
