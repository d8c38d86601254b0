"""Two Synapse homeservers that federate with each other, on loopback, for end-to-end tests.

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
