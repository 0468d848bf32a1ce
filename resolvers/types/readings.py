"""Water-quality readings: latest values, aggregated series and alert thresholds."""

from __future__ import annotations

import datetime as dt

import strawberry

from connectors.payloads.acquisition import LatestReading as LatestReadingPayload
from connectors.payloads.acquisition import ReadingBucket as ReadingBucketPayload
from connectors.payloads.core import Threshold as ThresholdPayload
from resolvers.enums import AlertSeverity, Metric


@strawberry.type(description="The most recent value of one metric in one enclosure.")
class LatestReading:
    metric: Metric = strawberry.field(description="What was measured.")
    value: float = strawberry.field(description="The measured value, in `unit`.")
    unit: str = strawberry.field(description='Unit of `value`: "pH", "degC", "PSU" or "mg/L".')
    time: dt.datetime = strawberry.field(description="When it was measured (UTC).")

    @classmethod
    def from_payload(cls, payload: LatestReadingPayload) -> LatestReading:
        return cls(metric=Metric(payload.metric), value=payload.value, unit=payload.unit, time=payload.time)


@strawberry.type(description="Readings of one time bucket, aggregated by the Data Acquisition subsystem.")
class ReadingBucket:
    start: dt.datetime = strawberry.field(description="Start of the bucket (UTC), aligned to the interval.")
    min: float = strawberry.field(description="Smallest value in the bucket, in the series' unit.")
    max: float = strawberry.field(description="Largest value in the bucket, in the series' unit.")
    mean: float = strawberry.field(description="Mean of the values in the bucket, in the series' unit.")
    count: int = strawberry.field(description="Number of readings in the bucket.")

    @classmethod
    def from_payload(cls, payload: ReadingBucketPayload) -> ReadingBucket:
        return cls(start=payload.bucket_start, min=payload.min, max=payload.max, mean=payload.mean, count=payload.count)


@strawberry.type(description="A metric's readings in one enclosure over a time range, in equal buckets.")
class ReadingSeries:
    metric: Metric = strawberry.field(description="What was measured.")
    unit: str = strawberry.field(description="Unit of every value in the buckets.")
    interval_seconds: int = strawberry.field(description="Length of each bucket, in seconds.")
    buckets: list[ReadingBucket] = strawberry.field(description="Buckets in time order; empty buckets are left out.")


@strawberry.type(description="The range a metric should stay within in one enclosure; leaving it raises an alert.")
class Threshold:
    id: strawberry.ID = strawberry.field(description="Threshold id in the Core System.")
    metric: Metric = strawberry.field(description="The metric it watches.")
    min: float | None = strawberry.field(description="Lowest acceptable value, in the metric's unit.")
    max: float | None = strawberry.field(description="Highest acceptable value, in the metric's unit.")
    severity: AlertSeverity = strawberry.field(description="Severity of the alert raised on a breach.")

    @classmethod
    def from_payload(cls, payload: ThresholdPayload) -> Threshold:
        return cls(
            id=strawberry.ID(payload.id),
            metric=Metric(payload.metric),
            min=payload.min,
            max=payload.max,
            severity=AlertSeverity(payload.severity),
        )
