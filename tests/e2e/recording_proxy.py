"""A recording reverse proxy on loopback between a bot and Synapse: every request is passed on
unchanged and its method, path and query are kept, so a test can assert on what the bot asked
(for instance that a restart made no full-state sync). ``refuse`` plays a homeserver that lacks
an endpoint: a request whose method and path start as listed gets 404 ``M_UNRECOGNIZED``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from bots.devserver import free_port

_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class RecordingProxy:
    def __init__(self, upstream: str, refuse: tuple[tuple[str, str], ...] = ()) -> None:
        self.upstream = upstream.rstrip("/")
        self.refuse = refuse
        self.port = free_port()
        self.requests: list[Request] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def since(self, mark: int) -> list[Request]:
        return self.requests[mark:]

    def paths(self, mark: int = 0) -> list[str]:
        return [r.path for r in self.requests[mark:]]

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        # A test's bot may leave a long poll open through the proxy; stopping waits a second, not
        # the rest of that poll.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        split = urlsplit(str(request.rel_url))
        self.requests.append(Request(request.method, split.path, parse_qs(split.query)))
        if any(request.method == m and split.path.startswith(p) for m, p in self.refuse):
            return web.json_response(
                {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}, status=404
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        async with self._session.request(
            request.method, self.upstream + str(request.rel_url), headers=headers, data=body or None
        ) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
            return web.Response(status=upstream.status, body=payload, headers=out)
