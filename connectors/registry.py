"""The set of connectors one gateway process holds, opened and closed together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from connectors.acquisition import AcquisitionConnector
from connectors.alerting import AlertingConnector
from connectors.base import Connector
from connectors.core import CoreConnector
from connectors.fabric import FabricConnector
from connectors.mlops import MlopsConnector


@dataclass
class Connectors:
    """One connector per subsystem, each with its own aiohttp session."""

    core: CoreConnector
    acquisition: AcquisitionConnector
    fabric: FabricConnector
    alerting: AlertingConnector
    mlops: MlopsConnector

    def all(self) -> list[Connector]:
        return [self.core, self.acquisition, self.fabric, self.alerting, self.mlops]

    async def start(self) -> None:
        for connector in self.all():
            await connector.start()

    async def close(self) -> None:
        await asyncio.gather(*(connector.close() for connector in self.all()), return_exceptions=True)
