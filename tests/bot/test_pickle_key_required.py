"""A runtime never starts without the operator's pickle key (there is no default key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.config import ConfigError, parse_config
from bots.runtime.bot import BotRuntime
from storage.db import Database


async def test_a_runtime_without_a_pickle_key_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AFFINITY_PICKLE_KEY", raising=False)
    config = parse_config(
        f'homeserver: http://127.0.0.1:1\ndata_dir: "{tmp_path / "data"}"\n'
        'bots:\n  - user_id: "@bot:test.example"\n    password: x\n    features: []\n'
    )
    db = await Database.open(tmp_path / "affinity.db")
    try:
        bot = BotRuntime(config, config.bots[0], db, [])
        with pytest.raises(ConfigError, match=r"encryption\.pickle_key is not set"):
            await bot.start()
        assert not bot.directory.exists()  # refused before any session or store was made
        assert bot.client is None
    finally:
        await db.close()
