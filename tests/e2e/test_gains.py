"""The ledger of gains against a real Synapse: gains recorded in two member rooms appear in
the coalition's tally (texts only where a room chose to share them), and after retention the
texts are gone from the database file on disk while the counts remain, on the coalition's public
page too once its coordination room chooses to show them."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from bots.devserver import Homeserver
from bots.sweeper import Sweeper
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask
from tests.e2e.test_calendar import fetch, free_port
from tests.e2e.test_herald import member_room

pytestmark = pytest.mark.e2e


def database_bytes(bot: BotHarness) -> bytes:
    """The database file and everything beside it (its WAL, its shared-memory index)."""
    path = Path(bot.runtime.db.path)
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")) if p.is_file())


async def test_gains_of_two_member_rooms_reach_the_tally_and_only_counts_outlive_retention(
    synapse: Homeserver, tmp_path: Path
) -> None:
    port = free_port()
    public = {"listen": f"127.0.0.1:{port}", "base_url": f"http://127.0.0.1:{port}"}
    bot = BotHarness(
        synapse,
        tmp_path / "bot",
        ["herald", "gains", "calendar"],
        extra={"features": {"gains": {"keep_text": "1d"}, "calendar": {"public": public}}},
    )
    await bot.start()
    alice, bob, carol = [await person(synapse, tmp_path) for _ in range(3)]
    try:
        coord = await member_room(alice, bot, "Coordination", encrypted=False)
        lyon = await member_room(bob, bot, "Lyon", encrypted=False)
        leeds = await member_room(carol, bot, "Leeds", encrypted=True)
        assert "coordinates it" in await ask(alice, coord, "!coalition create harvest")
        for owner, room in ((bob, lyon), (carol, leeds)):
            token = re.search(r"cj-[a-z2-7]{32}", await ask(alice, coord, "!coalition invite"))
            assert token
            assert "joined coalition harvest" in await ask(owner, room, f"!coalition join {token.group(0)}")

        lyon_text = f"soup kitchen {secrets.token_hex(6)} every sunday"
        leeds_text = f"tenants union {secrets.token_hex(6)} founded"
        assert "'turnout' is not a category" in await ask(bob, lyon, "!gain add turnout 4000 marched")
        assert "Recorded gain" in await ask(bob, lyon, f"!gain add kitchen {lyon_text}")
        assert "Recorded gain" in await ask(carol, leeds, f"!gain add cooperative {leeds_text}")
        assert "Recorded gain" in await ask(carol, leeds, "!gain add kitchen a second pot")
        assert "under its name" in await ask(bob, lyon, "!gains share named")

        tally = await ask(alice, coord, "!gains coalition")
        assert "Gains of coalition harvest: 3 in 2 of 3 member rooms counted here." in tally
        assert "kitchen: 2" in tally and "cooperative: 1" in tally
        assert f"Lyon (kitchen): {lyon_text}" in tally
        assert leeds_text not in tally  # Leeds counts, and keeps its texts to itself
        assert leeds_text in await ask(carol, leeds, "!gains")

        before = database_bytes(bot)
        assert lyon_text.encode() in before or leeds_text.encode() in before

        # Two days on (the clock is moved, not waited for), the retention sweep runs.
        runtime = bot.runtime
        real_clock = runtime.clock
        runtime.clock = lambda: real_clock() + timedelta(days=2)
        await Sweeper(runtime, bot.config.retention).sweep()
        runtime.clock = real_clock
        on_disk = database_bytes(bot)
        for text in (lyon_text, leeds_text, "a second pot"):
            assert text.encode() not in on_disk, text
        counts = await runtime.db.fetchall(
            "SELECT room_id, category, n FROM gains_count ORDER BY room_id, category"
        )
        assert sorted((r[0], r[1], r[2]) for r in counts) == sorted(
            [(lyon, "kitchen", 1), (leeds, "cooperative", 1), (leeds, "kitchen", 1)]
        )
        tally = await ask(alice, coord, "!gains coalition")
        assert "kitchen: 2" in tally and "cooperative: 1" in tally and lyon_text not in tally

        # The coalition's public page shows the counts (they outlived the texts) once the
        # coordination room chooses it, and no room's name.
        link = re.search(
            rf"http://127\.0\.0\.1:{port}/c/[A-Za-z0-9_-]{{32}}/", await ask(alice, coord, "!calendar link")
        )
        assert link
        assert "Gains in self-rule" not in (await fetch(link.group(0)))[2].decode()
        assert "shows its gains counted by category" in await ask(alice, coord, "!gains public on")
        page = (await fetch(link.group(0)))[2].decode()
        assert "<li>kitchen: 2</li>\n<li>cooperative: 1</li>" in page
        assert "Lyon" not in page and "Leeds" not in page
    finally:
        for p in (alice, bob, carol):
            await p.close()
        await bot.stop()
