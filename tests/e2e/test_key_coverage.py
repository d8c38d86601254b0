"""A member whose homeserver is away when the bot writes still reads the message once it is back.

Carol, on server B, has just joined an encrypted room on A; the bot has never written to her
device, so it must fetch her devices and claim a one-time key from B before it can give her the
room key. B is frozen (SIGSTOP) at that moment. nio alone would skip her device, count the room
key as shared, and send: the reply would stay unreadable on her device for good. The bot holds
the reply instead, and sends it with her key once B answers again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from bots.devclient import replies_to
from bots.devserver import Homeserver
from tests.e2e.federation import Federation, federation  # noqa: F401 - the fixture
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import body
from tests.e2e.test_federated_features import accept, bot_sees, with_bot

pytestmark = pytest.mark.e2e


def freeze(server: Homeserver, sig: signal.Signals) -> None:
    assert server.process is not None
    os.killpg(server.process.pid, sig)


async def test_a_reply_waits_for_a_frozen_homeserver_then_reaches_its_member(
    federation: Federation,
    tmp_path: Path,
) -> None:
    a, b = federation.a, federation.b
    bot = BotHarness(a, tmp_path / "bot", [], extra={"access": {"allowed_servers": federation.server_names}})
    await bot.start()
    alice, carol = await asyncio.gather(person(a, tmp_path), person(b, tmp_path))
    frozen = False
    try:
        room = await alice.create_room("keys", [carol.user_id], encrypted=True)
        await accept(carol, room)
        await alice.api("POST", f"/_matrix/client/v3/rooms/{room}/invite", {"user_id": bot.user_id})
        await with_bot(alice, bot, room)
        await bot_sees(bot, room, [alice, carol])

        freeze(b, signal.SIGSTOP)
        frozen = True
        asked = await alice.send_text(room, "!ping")
        coverage = bot.runtime.matrix.key_coverage
        deadline = time.monotonic() + 60
        while room not in coverage.waiting():  # the reply is held for Carol's device
            assert time.monotonic() < deadline, "the bot never waited for Carol's room key"
            await asyncio.sleep(0.2)
        freeze(b, signal.SIGCONT)
        frozen = False

        reply = await carol.wait_readable(room, lambda e: replies_to(e) == asked, timeout=90)
        assert body(reply) == "pong"
        assert body(await alice.wait_readable(room, lambda e: replies_to(e) == asked)) == "pong"
        assert coverage.sent_incomplete == 0 and room not in coverage.waiting()
    finally:
        if frozen:
            freeze(b, signal.SIGCONT)
        await asyncio.gather(alice.close(), carol.close(), return_exceptions=True)
        await bot.stop()
