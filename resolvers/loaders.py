"""Per-request DataLoaders that batch upstream calls and keep the farm overview free of N+1.

Enclosure-level data (stocks, latest readings, devices, thresholds, alerts) is loaded per farm:
farm ids are few and short, so one upstream call serves every enclosure of every farm in the
query. Keys are chunked at `max_ids_per_call` to keep upstream URLs short.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from functools import cached_property
from typing import TypeVar

from strawberry.dataloader import DataLoader

from common.errors import NotFoundError
from connectors.payloads.acquisition import Device, LatestReading, Observation
from connectors.payloads.alerting import Alert
from connectors.payloads.core import Enclosure, Farm, Organization, Stock, Threshold
from connectors.payloads.mlflow import ModelVersion, Run
from connectors.registry import Connectors

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

ACTIVE_ALERT_STATUSES = ("open", "acknowledged")


def _chunks(keys: Sequence[K], size: int) -> list[Sequence[K]]:
    return [keys[index : index + size] for index in range(0, len(keys), size)]


def _grouped(
    fetch: Callable[[Sequence[str]], Awaitable[Sequence[V]]], key_of: Callable[[V], str], chunk: int
) -> Callable[[list[str]], Awaitable[list[list[V]]]]:
    """Build a batch function that fetches items for many parent ids and groups them per id."""

    async def load(keys: list[str]) -> list[list[V]]:
        groups: dict[str, list[V]] = defaultdict(list)
        for part in _chunks(keys, chunk):
            for item in await fetch(part):
                groups[key_of(item)].append(item)
        return [groups.get(key, []) for key in keys]

    return load


def _by_id(
    fetch: Callable[[Sequence[str]], Awaitable[Sequence[V]]], id_of: Callable[[V], str], what: str, chunk: int
) -> Callable[[list[str]], Awaitable[list[V | BaseException]]]:
    """Build a batch function that fetches objects by id; a missing id loads as NotFoundError."""

    async def load(keys: list[str]) -> list[V | BaseException]:
        found: dict[str, V] = {}
        for part in _chunks(keys, chunk):
            for item in await fetch(part):
                found[id_of(item)] = item
        return [found[key] if key in found else NotFoundError(f"{what} '{key}' not found", id=key) for key in keys]

    return load


class Loaders:
    """The DataLoaders of one GraphQL request, each built on first use.

    Most requests touch two or three loaders, so building all of them per request would cost more
    than the short queries they serve.
    """

    def __init__(self, connectors: Connectors, *, max_ids_per_call: int = 100) -> None:
        self.connectors = connectors
        self.chunk = max_ids_per_call

    @cached_property
    def organization(self) -> DataLoader[str, Organization]:
        core = self.connectors.core
        return DataLoader(_by_id(core.organizations_by_id, lambda org: org.id, "organization", self.chunk))

    @cached_property
    def farm(self) -> DataLoader[str, Farm]:
        return DataLoader(_by_id(self.connectors.core.farms_by_id, lambda farm: farm.id, "farm", self.chunk))

    @cached_property
    def enclosure(self) -> DataLoader[str, Enclosure]:
        core = self.connectors.core
        return DataLoader(_by_id(core.enclosures_by_id, lambda enclosure: enclosure.id, "enclosure", self.chunk))

    @cached_property
    def enclosures_of_farm(self) -> DataLoader[str, list[Enclosure]]:
        core = self.connectors.core
        return DataLoader(_grouped(core.enclosures_by_farm, lambda enclosure: enclosure.farm_id, self.chunk))

    @cached_property
    def stocks_of_farm(self) -> DataLoader[str, list[Stock]]:
        return DataLoader(_grouped(self.connectors.core.stocks_by_farm, lambda stock: stock.farm_id or "", self.chunk))

    @cached_property
    def thresholds_of_farm(self) -> DataLoader[str, list[Threshold]]:
        core = self.connectors.core
        return DataLoader(self._via_enclosures(core.thresholds_by_farm, lambda threshold: threshold.enclosure_id))

    @cached_property
    def latest_readings_of_farm(self) -> DataLoader[str, list[LatestReading]]:
        # Latest readings name their farm, so this batch needs no enclosure list and runs in parallel
        # with the enclosure load instead of after it.
        acquisition = self.connectors.acquisition
        return DataLoader(
            _grouped(lambda ids: acquisition.latest_readings(farm_ids=ids), lambda item: item.farm_id, self.chunk)
        )

    @cached_property
    def devices_of_farm(self) -> DataLoader[str, list[Device]]:
        acquisition = self.connectors.acquisition
        return DataLoader(_grouped(acquisition.devices_by_farm, lambda device: device.farm_id, self.chunk))

    @cached_property
    def recent_observations_of_farm(self) -> DataLoader[str, list[Observation]]:
        fetch = self._recent_observations_fetcher(self.connectors)
        return DataLoader(self._via_enclosures(fetch, lambda observation: observation.enclosure_id))

    @cached_property
    def active_alerts_of_farm(self) -> DataLoader[str, list[Alert]]:
        alerting = self.connectors.alerting
        return DataLoader(
            _grouped(
                lambda ids: alerting.alerts(farm_ids=ids, statuses=ACTIVE_ALERT_STATUSES),
                lambda alert: alert.farm_id,
                self.chunk,
            )
        )

    @cached_property
    def mlflow_run(self) -> DataLoader[str, Run]:
        return DataLoader(_by_id(self.connectors.mlops.runs, lambda run: run.info.run_id, "MLflow run", self.chunk))

    @cached_property
    def model_versions(self) -> DataLoader[str, list[ModelVersion]]:
        return DataLoader(self._model_versions_fetcher(self.connectors))

    @staticmethod
    def _model_versions_fetcher(connectors: Connectors) -> Callable[[list[str]], Awaitable[list[list[ModelVersion]]]]:
        async def load(names: list[str]) -> list[list[ModelVersion]]:
            # MLflow searches versions of one model per call; the names are few per request.
            return list(await asyncio.gather(*(connectors.mlops.model_versions(name) for name in names)))

        return load

    def _via_enclosures(
        self,
        fetch: Callable[[Sequence[str]], Awaitable[Sequence[V]]],
        enclosure_of: Callable[[V], str],
    ) -> Callable[[list[str]], Awaitable[list[list[V]]]]:
        """Build a batch function for items that name their enclosure but not their farm.

        The farm of each enclosure comes from `enclosures_of_farm`, which the same request
        usually has loaded already, so the mapping costs no extra upstream call.
        """

        async def load(farm_ids: list[str]) -> list[list[V]]:
            farm_of: dict[str, str] = {}
            for farm_id, enclosures in zip(farm_ids, await self.enclosures_of_farm.load_many(farm_ids), strict=True):
                for enclosure in enclosures:
                    farm_of[enclosure.id] = farm_id
            groups: dict[str, list[V]] = defaultdict(list)
            for part in _chunks(farm_ids, self.chunk):
                for item in await fetch(part):
                    owner = farm_of.get(enclosure_of(item))
                    if owner is not None:
                        groups[owner].append(item)
            return [groups.get(farm_id, []) for farm_id in farm_ids]

        return load

    @staticmethod
    def _recent_observations_fetcher(
        connectors: Connectors,
    ) -> Callable[[Sequence[str]], Awaitable[list[Observation]]]:
        async def fetch(farm_ids: Sequence[str]) -> list[Observation]:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            return await connectors.acquisition.observations(farm_ids=farm_ids, start=since)

        return fetch
