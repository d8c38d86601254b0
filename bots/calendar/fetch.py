"""Fetching a followed feed within bounds (the rules are ``protocols.calendar_follow``).

The name is resolved here and every address it gives is checked before connecting; the
connection then goes to a checked address only (a resolver that refuses the others), so a name
that answers with a public address first and a private one next cannot slip through. Redirects
are followed by hand, each hop checked again; the body is read up to its limit; the whole fetch
has one deadline.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from protocols.calendar_follow import (
    FollowError,
    FollowLimits,
    address_allowed,
    check_redirect,
    check_size,
    check_url,
)

USER_AGENT = "Affinity-calendar/1 (+following a public coalition calendar)"


class _CheckedResolver(AbstractResolver):
    """Answers only with addresses the limits allow; refuses a name that has none."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=socket.AF_UNSPEC)
        except OSError:
            raise FollowError("the name {host} does not resolve", host=host) from None
        found: list[ResolveResult] = []
        refused = False
        for fam, _, proto, _, sockaddr in infos:
            address = str(sockaddr[0])
            if not address_allowed(address, self._allow_private):
                refused = True
                continue
            found.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": int(sockaddr[1]),
                    "family": fam,
                    "proto": proto,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if refused:
            # One private answer is enough to refuse: the name points inside the network.
            raise FollowError(
                "{host} points to a private or local address; the bot follows public addresses only",
                host=host,
            )
        if not found:
            raise FollowError("the name {host} does not resolve", host=host)
        return found

    async def close(self) -> None:
        return None


async def fetch_feed(url: str, limits: FollowLimits) -> tuple[str, bytes]:
    """The body at ``url`` (and the final address after redirects), within ``limits``.

    Raises :class:`FollowError` with a sentence for the person who asked.
    """
    try:
        return await asyncio.wait_for(_fetch(url, limits), timeout=limits.timeout.total_seconds())
    except TimeoutError:
        raise FollowError(
            f"that address did not answer within {int(limits.timeout.total_seconds())} seconds"
        ) from None


async def _fetch(url: str, limits: FollowLimits) -> tuple[str, bytes]:
    target = check_url(url)
    connector = aiohttp.TCPConnector(resolver=_CheckedResolver(limits.allow_private), use_dns_cache=False)
    headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.1"}
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, cookie_jar=aiohttp.DummyCookieJar()
    ) as s:
        hops = 0
        while True:
            if _is_literal(target.host) and not address_allowed(target.host, limits.allow_private):
                raise FollowError(
                    f"{target.host} is a private or local address; the bot follows public addresses only"
                )
            try:
                async with s.get(target.url, allow_redirects=False) as response:
                    if response.status in {301, 302, 303, 307, 308}:
                        location = response.headers.get("Location", "")
                        target = check_redirect(str(response.url.join(URL(location))), hops, limits)
                        hops += 1
                        continue
                    if response.status != 200:
                        raise FollowError(f"that address answered HTTP {response.status}, not a calendar")
                    declared = response.content_length
                    if declared is not None:
                        check_size(declared, limits)
                    return target.url, await _read(response, limits)
            except aiohttp.ClientError as exc:
                cause: Any = exc.__cause__ or exc.__context__
                if isinstance(cause, FollowError):
                    raise cause from None
                raise FollowError(f"that address could not be fetched ({type(exc).__name__})") from None


def _is_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


async def _read(response: aiohttp.ClientResponse, limits: FollowLimits) -> bytes:
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        received += len(chunk)
        check_size(received, limits)
        chunks.append(chunk)
    return b"".join(chunks)
