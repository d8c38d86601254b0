"""Two (or three) Synapse homeservers that federate with each other, on loopback, for e2e tests.

Each listens for clients on its own port and for federation over TLS (a self-signed
certificate, verification off, loopback allowed) on the port that is part of its server name,
``localhost:<port>``, so neither needs DNS or .well-known. Both are started at once (a Synapse
takes a few seconds to boot) and stopped together. Use it from a test module as

    from tests.e2e.federation import federation  # noqa: F401 - the fixture

and take ``federation: Federation`` as an argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from bots.devserver import Homeserver, free_port


@dataclass(frozen=True)
class Federation:
    a: Homeserver
    b: Homeserver

    @property
    def server_names(self) -> list[str]:
        return [self.a.server_name, self.b.server_name]


def start_pair(root: object) -> Federation:
    """Prepare and start two homeservers that trust each other (and only each other)."""
    from pathlib import Path

    base = Path(str(root))
    port_a, port_b = free_port(), free_port()
    a = Homeserver(base / "a", federation=True, federation_port=port_a, peers=[f"localhost:{port_b}"])
    b = Homeserver(base / "b", federation=True, federation_port=port_b, peers=[f"localhost:{port_a}"])
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(a.start), pool.submit(b.start)]:
            future.result()
    return Federation(a, b)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    pair = start_pair(tmp_path_factory.mktemp("federation"))
    try:
        yield pair
    finally:
        pair.a.stop()
        pair.b.stop()


@dataclass(frozen=True)
class Triple:
    """Three homeservers that federate with each other (coalitions without a center)."""

    a: Homeserver
    b: Homeserver
    c: Homeserver

    @property
    def servers(self) -> list[Homeserver]:
        return [self.a, self.b, self.c]

    @property
    def server_names(self) -> list[str]:
        return [s.server_name for s in self.servers]


def start_three(root: object) -> Triple:
    """Prepare and start three homeservers, each trusting the other two (and only them)."""
    from pathlib import Path

    base = Path(str(root))
    ports = [free_port() for _ in range(3)]
    servers = [
        Homeserver(
            base / name,
            federation=True,
            federation_port=port,
            peers=[f"localhost:{p}" for p in ports if p != port],
        )
        for name, port in zip("abc", ports, strict=True)
    ]
    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(s.start) for s in servers]:
            future.result()
    return Triple(*servers)


@pytest.fixture(scope="module")
def federation3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Triple]:
    triple = start_three(tmp_path_factory.mktemp("federation3"))
    try:
        yield triple
    finally:
        for server in triple.servers:
            server.stop()
