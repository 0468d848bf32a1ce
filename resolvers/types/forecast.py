"""Harvest forecasts from the model served by ML Ops."""

from __future__ import annotations

import datetime as dt

import strawberry

from common.errors import InvalidArgumentError, UpstreamBadResponseError
from resolvers.context import GatewayInfo

FORECAST_COLUMNS = ("species", "fish_count", "mean_weight_g", "mean_temperature_c", "days_ahead")
TEMPERATURE_WINDOW = dt.timedelta(days=7)
DEFAULT_TEMPERATURE_C = 10.0


@strawberry.type(description="Predicted size of one species' stock on one future day.")
class ForecastPoint:
    date: dt.date = strawberry.field(description="The day predicted for.")
    days_ahead: int = strawberry.field(description="Days from today.")
    species: str = strawberry.field(description="Species of the stock.")
    predicted_mean_weight_g: float = strawberry.field(description="Predicted mean weight per fish, in grams.")
    predicted_biomass_kg: float = strawberry.field(
        description="Predicted total weight, in kilograms, assuming today's fish count (no mortality)."
    )


@strawberry.type(description="A harvest forecast for one enclosure from the model MLflow serves.")
class HarvestForecast:
    enclosure_id: strawberry.ID = strawberry.field(description="Enclosure forecast for.")
    model_name: str = strawberry.field(description="Registered model that made the forecast.")
    model_version: str = strawberry.field(description="Model version the alias pointed at when forecasting.")
    mean_temperature_c: float = strawberry.field(
        description="Mean water temperature of the last 7 days fed to the model, in degrees Celsius."
    )
    generated_at: dt.datetime = strawberry.field(description="When the forecast was made (UTC).")
    points: list[ForecastPoint] = strawberry.field(description="Predictions by species and day, in day order.")


async def _mean_temperature_c(info: GatewayInfo, enclosure_id: str, now: dt.datetime) -> float:
    series = await info.context.connectors.acquisition.reading_buckets(
        enclosure_id, "temperature", now - TEMPERATURE_WINDOW, now, 86_400
    )
    readings = sum(bucket.count for bucket in series.items)
    if readings == 0:
        return DEFAULT_TEMPERATURE_C
    return round(sum(bucket.mean * bucket.count for bucket in series.items) / readings, 2)


async def forecast_harvest(info: GatewayInfo, enclosure_id: str, horizon_days: int, step_days: int) -> HarvestForecast:
    """Assemble the model's features for an enclosure, score them, and shape the predictions."""
    limits = info.context.limits
    if not 1 <= horizon_days <= limits.forecast_max_horizon_days:
        raise InvalidArgumentError(
            f"horizonDays must be between 1 and {limits.forecast_max_horizon_days}, got {horizon_days}",
            argument="horizonDays",
        )
    if not 1 <= step_days <= horizon_days:
        raise InvalidArgumentError(
            f"stepDays must be between 1 and horizonDays ({horizon_days}), got {step_days}", argument="stepDays"
        )

    enclosure = await info.context.loaders.enclosure.load(enclosure_id)
    stocks = [
        s for s in await info.context.loaders.stocks_of_farm.load(enclosure.farm_id) if s.enclosure_id == enclosure_id
    ]
    now = dt.datetime.now(dt.UTC)
    temperature = await _mean_temperature_c(info, enclosure_id, now)
    mlops = info.context.connectors.mlops
    version = await mlops.model_version_by_alias(limits.forecast_model_name, limits.forecast_model_alias)

    days = list(range(step_days, horizon_days + 1, step_days))
    cases = [(stock, day) for stock in stocks for day in days]
    rows = [[stock.species, stock.count, stock.mean_weight_g, temperature, day] for stock, day in cases]
    predictions = await mlops.predict(FORECAST_COLUMNS, rows) if rows else []
    if len(predictions) != len(rows):
        raise UpstreamBadResponseError(
            f"the served model returned {len(predictions)} predictions for {len(rows)} rows",
            subsystem=mlops.serving.name,
        )

    points = [
        ForecastPoint(
            date=now.date() + dt.timedelta(days=day),
            days_ahead=day,
            species=stock.species,
            predicted_mean_weight_g=round(weight, 1),
            predicted_biomass_kg=round(weight * stock.count / 1000, 1),
        )
        for (stock, day), weight in zip(cases, predictions, strict=True)
    ]
    points.sort(key=lambda point: (point.days_ahead, point.species))
    return HarvestForecast(
        enclosure_id=strawberry.ID(enclosure_id),
        model_name=version.name,
        model_version=version.version,
        mean_temperature_c=temperature,
        generated_at=now,
        points=points,
    )
