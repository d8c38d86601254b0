"""What ``!calendar follow <url>`` may fetch: the rules, without the network.

Following a feed makes the bot fetch an address a chat user typed, on a schedule, from inside
the operator's network. So the address is http or https only, with no user name or password in
it; each hop of a redirect is checked again and redirects are capped; a name that resolves to a
loopback, private, link-local or otherwise non-public address is refused unless the operator
allows it (``follow.allow_private``, meant for tests and closed networks); the body is read up
to a size limit and the whole fetch up to a time limit.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from protocols.errors import RuleError

MAX_URL = 2_000


class FollowError(RuleError):
    """A followed address was refused or failed; the message says why."""


@dataclass(frozen=True)
class FollowLimits:
    max_bytes: int = 1_000_000
    timeout: timedelta = timedelta(seconds=10)
    max_redirects: int = 3
    max_events: int = 1_000
    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int


def check_url(url: str) -> Target:
    """``url`` if it is an address the bot may fetch (before looking its name up)."""
    text = url.strip()
    if text.lower().startswith("webcal://"):
        text = "https://" + text[len("webcal://") :]
    if len(text) > MAX_URL:
        raise FollowError("that address is too long (at most {most} characters)", most=str(MAX_URL))
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise FollowError("that is not a web address: use https://... (or http://)") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise FollowError("only http and https addresses can be followed")
    if parts.username is not None or parts.password is not None:
        raise FollowError("leave the user name and password out of the address")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise FollowError("that address names no host")
    return Target(text, scheme, host, port or (443 if scheme == "https" else 80))


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether the bot may connect to the IP ``address``: a public one always, any other only
    when the operator allows private addresses."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private:
        return not ip.is_multicast and not ip.is_unspecified
    return ip.is_global and not ip.is_multicast


def check_redirect(location: str, hops: int, limits: FollowLimits) -> Target:
    """The next hop of a redirect, checked like the first address; too many hops is an error."""
    if hops >= limits.max_redirects:
        raise FollowError("that address redirects more than {n} times", n=limits.max_redirects)
    return check_url(location)


def check_size(received: int, limits: FollowLimits) -> None:
    if received > limits.max_bytes:
        raise FollowError(
            "that feed is larger than {size} bytes; follow a smaller one", size=f"{limits.max_bytes:,}"
        )


def label_for(calendar_name: str | None, target: Target) -> str:
    """How a followed calendar is labelled on the page: the name it gives itself, else its host."""
    return calendar_name or target.host
