from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    server = Homeserver(tmp_path_factory.mktemp("synapse"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def core_bot(synapse: Homeserver, tmp_path: Path) -> AsyncIterator[BotHarness]:
    bot = BotHarness(synapse, tmp_path / "bot", features=[])
    await bot.start()
    yield bot
    await bot.stop()
