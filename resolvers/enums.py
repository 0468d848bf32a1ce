"""GraphQL enums and their mapping to the subsystems' wire values."""

from __future__ import annotations

import enum

import strawberry


@strawberry.enum(description="A water-quality metric measured by the water monitors.")
class Metric(enum.Enum):
    PH = strawberry.enum_value("ph", description="Acidity, in pH units.")
    TEMPERATURE = strawberry.enum_value("temperature", description="Water temperature, in degrees Celsius.")
    SALINITY = strawberry.enum_value("salinity", description="Salinity, in practical salinity units (PSU).")
    DISSOLVED_OXYGEN = strawberry.enum_value(
        "dissolved_oxygen", description="Dissolved oxygen, in milligrams per litre."
    )


@strawberry.enum(description="How urgent an alert is.")
class AlertSeverity(enum.Enum):
    INFO = strawberry.enum_value("info", description="For information; no action expected.")
    WARNING = strawberry.enum_value("warning", description="Needs attention soon.")
    CRITICAL = strawberry.enum_value("critical", description="Fish welfare at risk; act now.")


SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


@strawberry.enum(description="Where an alert is in its life cycle.")
class AlertStatus(enum.Enum):
    OPEN = strawberry.enum_value("open", description="Raised and not yet acknowledged.")
    ACKNOWLEDGED = strawberry.enum_value("acknowledged", description="Someone is handling it.")
    RESOLVED = strawberry.enum_value("resolved", description="Closed.")


@strawberry.enum(description="What a field device is.")
class DeviceKind(enum.Enum):
    WATER_MONITOR = strawberry.enum_value("water_monitor", description="Measures water quality.")
    CAMERA = strawberry.enum_value("camera", description="Underwater camera that observes the fish.")


@strawberry.enum(description="A field device's operating state as last reported.")
class DeviceStatus(enum.Enum):
    ONLINE = strawberry.enum_value("online", description="Reporting normally.")
    OFFLINE = strawberry.enum_value("offline", description="Not reporting.")
    DEGRADED = strawberry.enum_value("degraded", description="Reporting with faults.")
    MAINTENANCE = strawberry.enum_value("maintenance", description="Taken out of service on purpose.")


@strawberry.enum(description="How readings in one time bucket are combined.")
class AggregateFunction(enum.Enum):
    MEAN = strawberry.enum_value("mean", description="Arithmetic mean.")
    MIN = strawberry.enum_value("min", description="Smallest value.")
    MAX = strawberry.enum_value("max", description="Largest value.")


@strawberry.enum(description="What cross-farm aggregates are grouped by, besides the day.")
class AggregateGrouping(enum.Enum):
    REGION = strawberry.enum_value("region", description="One row per region and day.")
    FARM = strawberry.enum_value("farm_id", description="One row per farm and day.")


@strawberry.enum(description="Length of one period in harvest performance.")
class HarvestPeriod(enum.Enum):
    WEEK = strawberry.enum_value("week", description="ISO weeks, starting on Monday.")
    MONTH = strawberry.enum_value("month", description="Calendar months.")
    QUARTER = strawberry.enum_value("quarter", description="Calendar quarters.")
