"""Registered OAuth clients (third parties and subsystems) and where they are stored.

Secrets are stored only as salted scrypt hashes. The file store suits one process with the
embedded defaults. With Redis, every replica and the CLI read the same clients at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from common.errors import AuthConfigError
from gateway.auth.client_secrets import hash_secret, new_secret

ALL_FARMS = "*"


class ClientRecord(BaseModel):
    """One registered client. `farms` of ["*"] grants every farm."""

    model_config = ConfigDict(extra="forbid")

    client_id: str
    name: str
    kind: Literal["client", "subsystem"] = "client"
    scopes: list[str]
    farms: list[str] = Field(default_factory=list)
    organizations: list[str] = Field(default_factory=list)
    secret_hash: str
    disabled: bool = False
    created_at: dt.datetime
    secret_rotated_at: dt.datetime | None = None

    @property
    def all_farms(self) -> bool:
        return ALL_FARMS in self.farms

    def summary(self) -> dict[str, Any]:
        """Describe the client without its secret hash, for `fishwatch clients list`."""
        return self.model_dump(mode="json", exclude={"secret_hash"})


class ClientStore(Protocol):
    """Storage of client records."""

    async def get(self, client_id: str) -> ClientRecord | None: ...
    async def put(self, record: ClientRecord) -> None: ...
    async def all(self) -> list[ClientRecord]: ...


def new_client(
    name: str, scopes: list[str], farms: list[str], organizations: list[str], kind: Literal["client", "subsystem"]
) -> tuple[ClientRecord, str]:
    """Create a client record with a fresh id and secret; return the record and the clear secret."""
    secret = new_secret()
    record = ClientRecord(
        client_id=f"fw-{secrets.token_hex(8)}",
        name=name,
        kind=kind,
        scopes=scopes,
        farms=farms,
        organizations=organizations,
        secret_hash=hash_secret(secret),
        created_at=dt.datetime.now(dt.UTC),
    )
    return record, secret


class FileClientStore:
    """Clients in one JSON file, rewritten atomically with mode 0600.

    The file is reread when its modification time changes, so clients that `fishwatch clients`
    adds reach a running gateway without a restart.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._mtime_ns: int | None = None
        self._records: dict[str, ClientRecord] = {}
        self._lock = asyncio.Lock()

    def _load(self) -> dict[str, ClientRecord]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._mtime_ns, self._records = None, {}
            return self._records
        if mtime == self._mtime_ns:
            return self._records
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            records = {item["client_id"]: ClientRecord(**item) for item in raw.get("clients", [])}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuthConfigError(
                f"the clients file '{self.path}' (FISHWATCH_OAUTH_CLIENTS_FILE) is unreadable or invalid: {exc}"
            ) from exc
        self._mtime_ns, self._records = mtime, records
        return records

    def _save(self, records: dict[str, ClientRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"clients": [record.model_dump(mode="json") for record in records.values()]}, indent=2)
        handle, temporary = tempfile.mkstemp(prefix=".clients-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as output:
                output.write(body)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._mtime_ns = None

    async def get(self, client_id: str) -> ClientRecord | None:
        return self._load().get(client_id)

    async def put(self, record: ClientRecord) -> None:
        async with self._lock:
            records = dict(self._load())
            records[record.client_id] = record
            self._save(records)

    async def all(self) -> list[ClientRecord]:
        return sorted(self._load().values(), key=lambda record: record.created_at)


class RedisClientStore:
    """Clients in Redis: one JSON string per client under `{prefix}oauth:client:{id}`."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, client_id: str) -> str:
        return f"{self.prefix}oauth:client:{client_id}"

    async def get(self, client_id: str) -> ClientRecord | None:
        raw = await self.redis.get(self._key(client_id))
        return ClientRecord.model_validate_json(raw) if raw is not None else None

    async def put(self, record: ClientRecord) -> None:
        await self.redis.set(self._key(record.client_id), record.model_dump_json())
        await self.redis.sadd(f"{self.prefix}oauth:clients", record.client_id)

    async def all(self) -> list[ClientRecord]:
        ids = sorted(
            member.decode() if isinstance(member, bytes) else member
            for member in await self.redis.smembers(f"{self.prefix}oauth:clients")
        )
        records = [await self.get(client_id) for client_id in ids]
        return sorted((record for record in records if record is not None), key=lambda record: record.created_at)
