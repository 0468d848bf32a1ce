"""The harvest-forecast model: thermal growth coefficient (TGC) growth of mean fish weight.

Under the TGC model the cube root of weight grows linearly with degree-days:
W_t^(1/3) = W_0^(1/3) + TGC / 1000 * T * t, with W in grams, T in degC and t in days.
High stocking counts slow growth slightly. Water below 0 degC adds no degree-days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.model import SPECIES

FEATURE_COLUMNS = ("species", "fish_count", "mean_weight_g", "mean_temperature_c", "days_ahead")
MAX_DAYS_AHEAD = 1095
MAX_ROWS = 10_000


class ScoringInputError(ValueError):
    """The scoring request's frame does not fit the model's input schema."""


@dataclass(frozen=True, slots=True)
class GrowthModel:
    """TGC per species and the growth lost per 100,000 fish in the enclosure."""

    tgc: Mapping[str, float]
    crowding_per_100k: float

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> GrowthModel:
        """Build the model from its MLflow run params (tgc_<species>, crowding_per_100k)."""
        try:
            tgc = {species: float(params[f"tgc_{species}"]) for species in SPECIES}
            crowding = float(params["crowding_per_100k"])
        except (KeyError, ValueError) as error:
            raise ValueError(f"run params do not describe a growth model: {error}") from error
        return cls(tgc, crowding)

    def predict(
        self, species: str, fish_count: int, mean_weight_g: float, mean_temperature_c: float, days_ahead: int
    ) -> float:
        crowding = 1.0 - self.crowding_per_100k * min(fish_count / 100_000, 3.0)
        degree_days = max(mean_temperature_c, 0.0) * days_ahead
        root = mean_weight_g ** (1 / 3) + self.tgc[species] / 1000 * degree_days * crowding
        return round(root**3, 1)


def frame_rows(body: Any) -> list[dict[str, Any]]:
    """Return the rows of an MLflow scoring body ("dataframe_split" or "dataframe_records")."""
    if not isinstance(body, dict):
        raise ScoringInputError("request body must be a JSON object with 'dataframe_split' or 'dataframe_records'")
    if "dataframe_split" in body:
        frame = body["dataframe_split"]
        if (
            not isinstance(frame, dict)
            or not isinstance(frame.get("columns"), list)
            or not isinstance(frame.get("data"), list)
        ):
            raise ScoringInputError(
                "'dataframe_split' must be an object with a 'columns' list and a 'data' list of rows"
            )
        columns = frame["columns"]
        rows = []
        for index, row in enumerate(frame["data"]):
            if not isinstance(row, list) or len(row) != len(columns):
                raise ScoringInputError(f"row {index} must be a list of {len(columns)} values, one per column")
            rows.append(dict(zip(columns, row, strict=True)))
        return rows
    if "dataframe_records" in body:
        records = body["dataframe_records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ScoringInputError("'dataframe_records' must be a list of objects, one per row")
        return list(records)
    raise ScoringInputError(
        f"request body must contain 'dataframe_split' or 'dataframe_records'; got keys {sorted(body)}"
    )


def predict_rows(model: GrowthModel, rows: Sequence[Mapping[str, Any]]) -> list[float]:
    """Validate each row against the input schema and predict its mean weight in grams."""
    if not rows:
        raise ScoringInputError("the input frame has no rows")
    if len(rows) > MAX_ROWS:
        raise ScoringInputError(f"the input frame has {len(rows)} rows; at most {MAX_ROWS} are accepted")
    missing = [column for column in FEATURE_COLUMNS if column not in rows[0]]
    if missing:
        raise ScoringInputError(f"missing columns {missing}; the model expects {list(FEATURE_COLUMNS)}")
    return [model.predict(*_row_features(index, row)) for index, row in enumerate(rows)]


def _row_features(index: int, row: Mapping[str, Any]) -> tuple[str, int, float, float, int]:
    species = row.get("species")
    if species not in SPECIES:
        raise ScoringInputError(f"row {index}: species {species!r} is not one of {list(SPECIES)}")
    fish_count = _number(index, row, "fish_count", 0, 10_000_000, integer=True)
    mean_weight_g = _number(index, row, "mean_weight_g", 0.1, 30_000, integer=False)
    mean_temperature_c = _number(index, row, "mean_temperature_c", -2, 30, integer=False)
    days_ahead = _number(index, row, "days_ahead", 0, MAX_DAYS_AHEAD, integer=True)
    return species, int(fish_count), mean_weight_g, mean_temperature_c, int(days_ahead)


def _number(index: int, row: Mapping[str, Any], column: str, low: float, high: float, *, integer: bool) -> float:
    value: Any = row.get(column)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or (integer and float(value) != int(value)):
        kind = "an integer" if integer else "a number"
        raise ScoringInputError(f"row {index}: column {column!r} must be {kind}; got {value!r}")
    if not low <= value <= high:
        raise ScoringInputError(f"row {index}: column {column!r} is {value}; expected {low} to {high}")
    return float(value)
