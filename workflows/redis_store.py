"""The run store on Redis, shared by every replica.

Keys, under a prefix (default "fishwatch:wf"):
  run:{id}        hash: "run" -> header JSON, "step:{step id}" -> step JSON; expires after retention once finished
  runs            sorted set of run ids by creation time
  active          set of the ids of unfinished runs
  finished        sorted set of finished run ids by finish time, read by the retention sweep
  lease:{id}      the owning replica's id, with a TTL; taken with SET NX PX
  idem:{template}:{key}  the run id started with that idempotency key
  signals:{id}    list of pending signals (JSON) for the run
  inbox:{owner}   list of run ids with new signals for that replica
Writes check the lease in the same Lua script that writes, so a replica that lost its lease
cannot overwrite the new owner's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from common.errors import WorkflowLeaseLostError, WorkflowStoreError
from workflows.records import TERMINAL_RUN, RunRecord, StepRecord
from workflows.store import RunQuery, RunStore, _matches

logger = logging.getLogger(__name__)

# KEYS: lease, run hash, active set, finished zset. ARGV: owner, run id, state ("1" finished, "0"
# unfinished, "" header unchanged), finished-at score, retention ms, then field/value pairs.
_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
if ARGV[3] == '1' then
  redis.call('SREM', KEYS[3], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
elseif ARGV[3] == '0' then
  redis.call('SADD', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('PERSIST', KEYS[2])
end
return 1
"""
# KEYS: idempotency key, run hash, runs zset, active set, lease. ARGV: has-key flag, run id,
# retention ms, created-at score, owner, lease ms, run hash prefix, then field/value pairs. Returns
# the id of the run already started with the key, or "" after creating this run.
# NOTE: it reads the earlier run's hash by a name built from ARGV, which Redis Cluster forbids;
# the store assumes one Redis server (or a primary with replicas).
_CREATE = """
if ARGV[1] == '1' then
  local existing = redis.call('GET', KEYS[1])
  if existing and redis.call('EXISTS', ARGV[7] .. existing) == 1 then return existing end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
redis.call('HSET', KEYS[2], unpack(ARGV, 8))
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SET', KEYS[5], ARGV[5], 'PX', ARGV[6])
return ''
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class _WriteBatcher:
    """Sends the script calls issued in one event-loop iteration as one pipeline.

    Every step writes to the store twice, and one round trip per write held the scheduler to about
    1,800 steps/s in benchmarks/bench_workflows.py; batched, it reached about 3,500. Callers still
    wait for their own result, so "stored before acted on" holds. Batches are at most `max_batch`
    calls.
    """

    def __init__(self, client: Any, script: Any, max_batch: int) -> None:
        self._client = client
        self._script = script
        self._max_batch = max_batch
        self._pending: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def call(self, keys: list[str], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._flush(), name="workflow-store-writes")
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the other writers of this iteration join the batch
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for keys, args, _ in batch:
                        await self._script(keys=keys, args=args, client=pipe)
                    results = await pipe.execute(raise_on_error=False)
            except asyncio.CancelledError:
                self._pending = batch + self._pending  # close() fails them
                raise
            except Exception as exc:  # every caller must get an answer, or its step waits forever
                if not isinstance(exc, RedisError | OSError):
                    logger.error("workflow store: a batch of %d writes failed unexpectedly", len(batch), exc_info=exc)
                results = [exc] * len(batch)
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller was cancelled meanwhile
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, _, future in self._pending:
            if not future.done():
                future.set_exception(ConnectionError("the workflow run store is closed"))
        self._pending.clear()


class RedisRunStore(RunStore):
    """Runs, leases and signals in Redis; every replica with the same URL and prefix shares them."""

    kind = "redis"

    def __init__(self, url: str, *, prefix: str = "fishwatch:wf", retention_s: float = 7 * 86400.0,
                 socket_timeout_s: float = 5.0, max_connections: int = 100, pool_timeout_s: float = 30.0) -> None:
        self.url = url
        self.prefix = prefix
        self.retention_ms = int(retention_s * 1000)
        # A blocking pool makes callers wait for a free connection (up to `pool_timeout_s`) instead of
        # failing with "Too many connections" when every step of a busy replica writes at once.
        pool = redis.BlockingConnectionPool.from_url(
            url, decode_responses=True, socket_timeout=socket_timeout_s, max_connections=max_connections,
            timeout=pool_timeout_s,
        )
        # Typed as Any: redis-py's stubs type replies as bytes | str even with decode_responses=True.
        self._client: Any = redis.Redis(connection_pool=pool)
        self._create = self._client.register_script(_CREATE)
        self._write = self._client.register_script(_WRITE)
        self._writes = _WriteBatcher(self._client, self._write, max_batch=max_connections * 10)
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)
        self._closed = False

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _error(self, action: str, exc: Exception) -> WorkflowStoreError:
        return WorkflowStoreError(f"workflow run store (Redis) failed to {action}: {exc.__class__.__name__}: {exc}")

    async def start(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise self._error("connect", exc) from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._writes.close()
        await self._client.aclose()
        await self._client.connection_pool.disconnect()

    async def create_run(self, run: RunRecord, owner: str, lease_ttl_s: float) -> tuple[RunRecord, bool]:
        # One script, so a second replica starting the same key sees either nothing or the whole run.
        keys = [
            self._key("idem", run.template, run.idempotency_key or ""),
            self._key("run", run.id),
            self._key("runs"),
            self._key("active"),
            self._key("lease", run.id),
        ]
        fields = ["run", _dumps(run.header())]
        for step_id, step in run.steps.items():
            fields += [f"step:{step_id}", _dumps(step.to_dict())]
        args = [
            "1" if run.idempotency_key is not None else "0", run.id, self.retention_ms, repr(run.created_at), owner,
            int(lease_ttl_s * 1000), self.prefix + ":run:", *fields,
        ]
        try:
            existing_id = await self._create(keys=keys, args=args)
            if existing_id:
                existing = await self.get_run(existing_id)
                if existing is not None:
                    return existing, False
        except (RedisError, OSError) as exc:
            raise self._error(f"create run {run.id}", exc) from exc
        return run.copy(), True

    async def get_run(self, run_id: str) -> RunRecord | None:
        try:
            fields = await self._client.hgetall(self._key("run", run_id))
        except (RedisError, OSError) as exc:
            raise self._error(f"read run {run_id}", exc) from exc
        if not fields or "run" not in fields:
            return None
        steps = [json.loads(value) for name, value in fields.items() if name.startswith("step:")]
        return RunRecord.from_parts(json.loads(fields["run"]), steps)

    async def write(
        self, run_id: str, owner: str, *, header: RunRecord | None = None, steps: list[StepRecord] | None = None
    ) -> None:
        pairs: list[str] = []
        state = ""
        finished_at = "0"
        if header is not None:
            pairs += ["run", _dumps(header.header())]
            state = "1" if header.status in TERMINAL_RUN else "0"
            finished_at = str(header.finished_at or 0)
        for step in steps or ():
            pairs += [f"step:{step.step_id}", _dumps(step.to_dict())]
        if not pairs:
            return
        keys = [self._key("lease", run_id), self._key("run", run_id), self._key("active"), self._key("finished")]
        try:
            written = await self._writes.call(keys, [owner, run_id, state, finished_at, self.retention_ms, *pairs])
        except (RedisError, OSError) as exc:
            raise self._error(f"write run {run_id}", exc) from exc
        if not written:
            raise WorkflowLeaseLostError(f"run {run_id} is no longer leased to {owner}", run_id=run_id)

    async def list_runs(self, query: RunQuery, offset: int, limit: int) -> tuple[list[RunRecord], int]:
        # NOTE: filters apply to headers read from Redis, so a listing reads every run within
        # retention. That is fine for thousands of runs; more need an index per template and status.
        try:
            low = query.created_after if query.created_after is not None else "-inf"
            high: float | str = f"({query.created_before}" if query.created_before is not None else "+inf"
            if query.after_key is not None:
                high = query.after_key[0]  # inclusive, because runs created in the same instant are ordered by id
            run_ids = await self._client.zrevrangebyscore(self._key("runs"), high, low)
            headers: list[str | None] = []
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start : start + 500]
                async with self._client.pipeline(transaction=False) as pipe:
                    for run_id in chunk:
                        pipe.hget(self._key("run", run_id), "run")
                    headers.extend(await pipe.execute())
        except (RedisError, OSError) as exc:
            raise self._error("list runs", exc) from exc
        runs = [RunRecord.from_parts(json.loads(raw), []) for raw in headers if raw]
        matching = [run for run in runs if _matches(run, query)]
        return matching[offset : offset + limit], len(matching)

    async def active_run_ids(self) -> list[str]:
        try:
            return sorted(await self._client.smembers(self._key("active")))
        except (RedisError, OSError) as exc:
            raise self._error("list active runs", exc) from exc

    async def claim(self, run_id: str, owner: str, ttl_s: float) -> bool:
        try:
            taken = await self._client.set(self._key("lease", run_id), owner, nx=True, px=int(ttl_s * 1000))
            if taken:
                return True
            return bool(await self._client.get(self._key("lease", run_id)) == owner)
        except (RedisError, OSError) as exc:
            raise self._error(f"claim run {run_id}", exc) from exc

    async def renew(self, run_ids: list[str], owner: str, ttl_s: float) -> list[str]:
        if not run_ids:
            return []
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for run_id in run_ids:
                    await self._renew(keys=[self._key("lease", run_id)], args=[owner, int(ttl_s * 1000)], client=pipe)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._error("renew leases", exc) from exc
        return [run_id for run_id, renewed in zip(run_ids, results, strict=True) if not renewed]

    async def release(self, run_id: str, owner: str) -> None:
        try:
            await self._release(keys=[self._key("lease", run_id)], args=[owner])
        except (RedisError, OSError) as exc:
            raise self._error(f"release run {run_id}", exc) from exc

    async def lease_owner(self, run_id: str) -> str | None:
        try:
            owner = await self._client.get(self._key("lease", run_id))
        except (RedisError, OSError) as exc:
            raise self._error(f"read the lease of run {run_id}", exc) from exc
        return str(owner) if owner is not None else None

    async def push_signal(self, run_id: str, signal: dict[str, Any], owner: str | None) -> None:
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.rpush(self._key("signals", run_id), _dumps(signal))
                pipe.pexpire(self._key("signals", run_id), self.retention_ms)
                if owner is not None:
                    pipe.rpush(self._key("inbox", owner), run_id)
                    pipe.pexpire(self._key("inbox", owner), self.retention_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._error(f"signal run {run_id}", exc) from exc

    async def _pop_list(self, key: str) -> list[str]:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            items, _ = await pipe.execute()
        return list(items)

    async def pop_signals(self, run_id: str) -> list[dict[str, Any]]:
        try:
            return [json.loads(raw) for raw in await self._pop_list(self._key("signals", run_id))]
        except (RedisError, OSError) as exc:
            raise self._error(f"read the signals of run {run_id}", exc) from exc

    async def pop_inbox(self, owner: str) -> list[str]:
        try:
            return await self._pop_list(self._key("inbox", owner))
        except (RedisError, OSError) as exc:
            raise self._error("read the signal inbox", exc) from exc

    async def purge_finished(self, finished_before: float) -> int:
        # The run hashes expire by themselves; this drops the ids left in the indexes.
        try:
            expired = await self._client.zrangebyscore(self._key("finished"), "-inf", f"({finished_before}")
            if not expired:
                return 0
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zrem(self._key("finished"), *expired)
                pipe.zrem(self._key("runs"), *expired)
                pipe.delete(*(self._key("run", run_id) for run_id in expired))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._error("purge finished runs", exc) from exc
        return len(expired)
