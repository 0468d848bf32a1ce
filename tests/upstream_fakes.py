"""A misbehaving subsystem for failure tests: proxies to a real one until told to fail.

Modes: "proxy" forwards every request; "slow" waits `delay_s` before forwarding; "garbage"
answers 200 with a body that is not JSON; "wrong_shape" answers 200 with JSON that breaks the
contract; "error" answers 500. `requests` counts what reached it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web


@dataclass
class FlakySubsystem:
    target: str
    mode: str = "proxy"
    delay_s: float = 5.0
    requests: int = 0
    request_ids: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = field(default=None, repr=False)
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)
    url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.request_ids.append(request.headers.get("X-Request-ID", ""))
        if self.mode == "garbage":
            return web.Response(text="<html>502 Bad Gateway from a confused proxy</html>", content_type="text/html")
        if self.mode == "wrong_shape":
            return web.json_response({"items": [{"id": 42, "unexpected": True}], "next_cursor": None})
        if self.mode == "error":
            return web.json_response({"error": {"code": "INTERNAL", "message": "database down"}}, status=500)
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        assert self._session is not None
        async with self._session.request(
            request.method, self.target + request.path_qs, data=await request.read(),
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
        ) as upstream:
            body = await upstream.read()
            return web.Response(body=body, status=upstream.status, content_type="application/json")
