"""A load balancer in front of several `serve` replicas, as a deployment puts one: each request
goes to the next replica in turn; a replica that does not answer (it died) is skipped and the
request goes to the next one."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

# headers a proxy does not pass on as they are
_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-encoding"})


@dataclass
class Balancer:
    backends: list[str]  # base URLs, "http://127.0.0.1:port"
    host: str = "127.0.0.1"
    forwarded: list[int] = field(default_factory=list)  # backend index of each request answered
    skipped: int = 0  # tries at a backend that did not answer
    url: str = ""
    _runner: web.AppRunner | None = None
    _http: aiohttp.ClientSession | None = None
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def __aenter__(self) -> Balancer:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        first = next(self._turn)
        for step in range(len(self.backends)):
            index = (first + step) % len(self.backends)
            try:
                async with self._http.request(
                    request.method, self.backends[index] + request.path_qs, data=body, headers=headers
                ) as answer:
                    data = await answer.read()
                    self.forwarded.append(index)
                    kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
                    return web.Response(status=answer.status, body=data, headers=kept)
            except (aiohttp.ClientConnectionError, TimeoutError):
                self.skipped += 1
        return web.json_response({"error": "no replica answered"}, status=502)
