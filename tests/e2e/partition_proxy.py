"""Three federating Synapses, each behind a proxy that can cut it off: network partitions on
loopback without root (no iptables, no Unix user per Synapse).

Each homeserver's name is ``localhost:<proxy port>``, so every other server reaches it through its
proxy; the proxy terminates TLS (federation does not verify certificates here), reads who is
calling from the request's ``X-Matrix origin=...`` signature header, and passes the request on to
the real federation listener, unless a partition puts the caller on the other side: then it
answers 502, as a cut link would fail, and the caller backs off and retries. The servers retry a
destination after one to eight seconds (``federation.destination_*_retry_interval``), not the
default ten minutes, so a healed partition is noticed within a few seconds.

The proxies run in a thread of their own, with their own event loop, so a busy test loop does not
slow federation down.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from yarl import URL

from bots.devserver import Homeserver, _self_signed, free_port
from tests.e2e.federation import Triple

_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}
_ORIGIN = re.compile(r'origin="?([^",\s]+)"?')
FAST_RETRY = {
    "destination_min_retry_interval": "1s",
    "destination_retry_multiplier": 2,
    "destination_max_retry_interval": "8s",
}


@dataclass
class Partition:
    """Which servers cannot reach which: a set of (origin, destination) server-name pairs."""

    cut: frozenset[tuple[str, str]] = frozenset()
    refused: dict[str, int] = field(default_factory=dict)  # destination -> requests refused

    def split(self, parts: Iterable[Iterable[str]]) -> None:
        """Cut every link between servers in different parts."""
        groups = [frozenset(p) for p in parts]
        self.cut = frozenset((a, b) for g in groups for h in groups if g is not h for a in g for b in h)

    def heal(self) -> None:
        self.cut = frozenset()


class _Proxy:
    def __init__(self, name: str, upstream_port: int, port: int, certs: Path, partition: Partition) -> None:
        self.name = name
        self.upstream = f"https://127.0.0.1:{upstream_port}"
        self.port = port
        self.certs = certs
        self.partition = partition
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        cert, key = _self_signed(self.certs)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=120), connector=aiohttp.TCPConnector(ssl=False)
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=context).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        found = _ORIGIN.search(request.headers.get("Authorization", ""))
        origin = found.group(1) if found else None
        if origin is not None and (origin, self.name) in self.partition.cut:
            self.partition.refused[self.name] = self.partition.refused.get(self.name, 0) + 1
            return web.Response(status=502, text="partitioned")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        headers["Host"] = self.name
        body = await request.read()
        try:
            # The raw path, byte for byte: the caller's signature covers it (X-Matrix ``uri``).
            target = URL(self.upstream + request.raw_path, encoded=True)
            async with self._session.request(
                request.method, target, headers=headers, data=body or None
            ) as upstream:
                payload = await upstream.read()
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
                return web.Response(status=upstream.status, body=payload, headers=out)
        except (aiohttp.ClientError, TimeoutError):
            return web.Response(status=502, text="the homeserver is away")


class ProxiedTriple:
    """Three homeservers behind proxies, and the partition the proxies apply."""

    def __init__(self, root: Path) -> None:
        self.partition = Partition()
        names = [free_port() for _ in range(3)]  # the proxies' ports: the servers' names
        real = [free_port() for _ in range(3)]
        self.servers = [
            Homeserver(
                root / letter,
                federation=True,
                federation_port=port,
                peers=[f"localhost:{p}" for p in names if p != port],
            )
            for letter, port in zip("abc", names, strict=True)
        ]
        for server, listen in zip(self.servers, real, strict=True):
            server.prepare()
            config: dict[str, Any] = yaml.safe_load(server.config_path.read_text())
            for listener in config["listeners"]:
                if listener.get("tls"):
                    listener["port"] = listen
            config["federation"] = dict(FAST_RETRY)
            server.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self._proxies = [
            _Proxy(s.server_name, listen, port, root / f"proxy-{i}", self.partition)
            for i, (s, listen, port) in enumerate(zip(self.servers, real, names, strict=True))
        ]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="partition-proxies", daemon=True)

    def start(self) -> Triple:
        self._thread.start()
        for proxy in self._proxies:
            proxy.certs.mkdir(parents=True, exist_ok=True)
            asyncio.run_coroutine_threadsafe(proxy.start(), self._loop).result(30)
        with ThreadPoolExecutor(3) as pool:  # a Synapse takes seconds to boot: all at once
            for future in [pool.submit(server.start) for server in self.servers]:
                future.result()
        return Triple(*self.servers)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for proxy in self._proxies:
            asyncio.run_coroutine_threadsafe(proxy.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
