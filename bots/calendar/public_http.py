"""The bot's own public listener: ``/c/<token>/`` (the page) and ``/c/<token>/events.ics`` (the
feed), over aiohttp, meant to sit behind the operator's reverse proxy.

Bodies are built once and served from memory until the calendar changes (a command bumps its
version) or ``rebuild_after`` passes (room names, what is still upcoming); a rebuild that gives
the same bytes keeps the ETag and Last-Modified, so calendar apps polling with If-None-Match or
If-Modified-Since get a 304 and no body. No cookies, no third-party assets, no script.
An unknown token is a plain 404, the same whether it never existed or was rotated away.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import cached_property

from aiohttp import web

log = logging.getLogger(__name__)

PAGE_TYPE = "text/html; charset=utf-8"
FEED_TYPE = "text/calendar; charset=utf-8"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


@dataclass(frozen=True)
class Bodies:
    """What a published calendar serves, built together."""

    page: bytes
    feed: bytes


@dataclass
class _Body:
    data: bytes
    gzipped: bytes  # the same, compressed once: calendar apps and browsers accept gzip
    etag: str
    last_modified: datetime

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gz"'

    @cached_property
    def http_date(self) -> str:
        return _http_date(self.last_modified)


@dataclass
class _Entry:
    version: object
    built_at: datetime
    page: _Body
    feed: _Body


# token -> (the calendar's current version, or None for an unknown token)
Lookup = Callable[[str], Awaitable[tuple[str, object] | None]]
# coalition -> its bodies
Build = Callable[[str], Awaitable[Bodies]]


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _http_date(instant: datetime) -> str:
    return format_datetime(instant.astimezone(UTC).replace(microsecond=0), usegmt=True)


def not_modified(
    headers: dict[str, str] | web.Request, etags: tuple[str, ...], last_modified: datetime
) -> bool:
    """RFC 9110: If-None-Match decides when present (weak comparison with any of ``etags``, the
    tags of one body's representations); else If-Modified-Since."""
    get = headers.headers.get if isinstance(headers, web.Request) else headers.get
    match = get("If-None-Match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or any(etag in tags for etag in etags)
    since = get("If-Modified-Since")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= when


class PublicServer:
    """Serves every published calendar of one bot. ``lookup`` says which coalition a token is
    (and its version), ``build`` makes its bodies; ``clock`` is the bot's clock."""

    def __init__(
        self,
        lookup: Lookup,
        build: Build,
        clock: Callable[[], datetime],
        *,
        rebuild_after: timedelta,
        max_age: timedelta,
    ) -> None:
        self._lookup = lookup
        self._build = build
        self._clock = clock
        self._rebuild_after = rebuild_after
        self._cache_control = f"public, max-age={int(max_age.total_seconds())}"
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=4096)
        self.app.router.add_get("/c/{token}/", self._page)
        self.app.router.add_get("/c/{token}/events.ics", self._feed)
        self.app.router.add_get("/c/{token}", self._slash)
        self.app.on_response_prepare.append(_plain_server)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0: any free one); returns the port."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def forget(self, token: str | None = None) -> None:
        """Drop cached bodies (of one token, or all): the next request looks the token up again."""
        if token is None:
            self._entries.clear()
        else:
            self._entries.pop(token, None)

    async def _entry(self, token: str) -> _Entry | None:
        found = await self._lookup(token)
        if found is None:
            self._entries.pop(token, None)
            return None
        coalition, version = found
        now = self._clock()
        entry = self._entries.get(token)
        if entry is not None and entry.version == version and now - entry.built_at < self._rebuild_after:
            return entry
        lock = self._locks.setdefault(token, asyncio.Lock())
        async with lock:
            entry = self._entries.get(token)
            if entry is not None and entry.version == version and now - entry.built_at < self._rebuild_after:
                return entry
            bodies = await self._build(coalition)
            # Hashing and compressing a large body is CPU work: off the loop, which keeps serving.
            page = await asyncio.to_thread(self._body, entry, "page", bodies.page, now)
            feed = await asyncio.to_thread(self._body, entry, "feed", bodies.feed, now)
            entry = _Entry(version, now, page, feed)
            self._entries[token] = entry
            return entry

    @staticmethod
    def _body(old: _Entry | None, which: str, data: bytes, now: datetime) -> _Body:
        etag = _etag(data)
        before: _Body | None = getattr(old, which) if old is not None else None
        if before is not None and before.etag == etag:
            return before
        return _Body(data, gzip.compress(data, 6, mtime=0), etag, now.replace(microsecond=0))

    def _respond(self, request: web.Request, body: _Body, content_type: str) -> web.Response:
        zipped = "gzip" in request.headers.get("Accept-Encoding", "").lower()
        etag = body.gzip_etag if zipped else body.etag
        headers = {
            **SECURITY_HEADERS,
            "ETag": etag,
            "Last-Modified": body.http_date,
            "Cache-Control": self._cache_control,
            "Vary": "Accept-Encoding",
        }
        if not_modified(request, (body.etag, body.gzip_etag), body.last_modified):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = content_type
        if zipped:
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=body.gzipped, headers=headers)
        return web.Response(body=body.data, headers=headers)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        entry = await self._entry(request.match_info["token"])
        if entry is None:
            return _not_found()
        return self._respond(request, entry.page, PAGE_TYPE)

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        entry = await self._entry(request.match_info["token"])
        if entry is None:
            return _not_found()
        return self._respond(request, entry.feed, FEED_TYPE)

    async def _slash(self, request: web.Request) -> web.StreamResponse:
        if await self._lookup(request.match_info["token"]) is None:
            return _not_found()
        raise web.HTTPMovedPermanently(location=f"{request.match_info['token']}/", headers=SECURITY_HEADERS)


async def _plain_server(request: web.Request, response: web.StreamResponse) -> None:
    """No software versions in the answers (aiohttp would name itself and Python's version), and
    the security headers on every answer, aiohttp's own 404 and 405 included."""
    response.headers["Server"] = "Affinity"
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _not_found() -> web.Response:
    return web.Response(status=404, text="No calendar here.\n", headers=SECURITY_HEADERS)
