"""A restart without a full-state sync, against a real Synapse, with every request recorded.

The bot resumes from its checkpoint with an incremental sync, learns its rooms from
``/joined_rooms`` and loads a room's state once, when it first needs it. What worked with a
full-state sync must still work: a command sent while the bot was down is answered once, an
invite that came while it was down is taken, a direct chat is still one, an encrypted room still
gets its room keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from bots.devserver import Homeserver
from bots.runtime.fan_out import Post
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from bots.runtime.runtime_host import RuntimeHost
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, body, until
from tests.e2e.recording_proxy import RecordingProxy, Request
from tests.e2e.test_element import ElementRun, _run_element_client, _warnings

pytestmark = pytest.mark.e2e

PHASE_TEXT = "Phase two after the restart: meet at the fountain"


def _sync_requests(proxy: RecordingProxy, mark: int) -> list[dict[str, str | None]]:
    return [
        {"since": r.param("since"), "full_state": r.param("full_state"), "timeout": r.param("timeout")}
        for r in proxy.since(mark)
        if r.path == "/_matrix/client/v3/sync" or r.path.endswith("/client/r0/sync")
    ]


async def test_a_restart_resumes_incrementally_and_misses_nothing(
    synapse: Homeserver, tmp_path: Path
) -> None:
    proxy = RecordingProxy(synapse.url)
    await proxy.start()
    bot = BotHarness(synapse, tmp_path / "bot", ["lottery"], extra={"homeserver": proxy.url})
    alice = await person(synapse, tmp_path)
    try:
        # Invited before the bot's first start ever: its first sync must still show the invites.
        group = await alice.create_room("group", [bot.user_id], encrypted=True)
        dm = await alice.create_room("dm", [bot.user_id], encrypted=True, is_direct=True)
        await bot.start()
        for room in (group, dm):
            await alice.wait_joined(room, bot.user_id)
        assert "facilitator" in await ask(alice, group, "!roles")
        assert "not in a direct chat" in await ask(alice, dm, "!roles")

        await bot.stop()
        # While the bot is down: a command, a new room's invite, and a command in the DM.
        waiting = await alice.send_text(group, "!ping")
        later = await alice.create_room("later", [bot.user_id], encrypted=True)
        in_dm = await alice.send_text(dm, "!roles")

        mark = len(proxy.requests)
        await bot.start()
        reply = await alice.wait_reply(group, waiting, timeout=60)
        assert body(reply) == "pong"
        assert "not in a direct chat" in body(await alice.wait_reply(dm, in_dm, timeout=60))
        await alice.wait_joined(later, bot.user_id, timeout=60)
        assert "facilitator" in await ask(alice, later, "!roles", timeout=60)
        assert await ask(alice, group, "!ping") == "pong"

        # The first start ever asked for no room's state or timeline (the checkpoint and the
        # invites), and learnt the rooms from /joined_rooms.
        first = [r for r in proxy.since(0)[:mark] if r.path == "/_matrix/client/v3/sync"]
        room_filter = json.loads(first[0].param("filter") or "{}").get("room", {})
        assert room_filter["state"] == {"types": []} and room_filter["timeline"] == {"limit": 0}
        assert "/_matrix/client/v3/joined_rooms" in proxy.paths(0)[:mark]
        syncs = _sync_requests(proxy, mark)
        assert syncs, proxy.paths(mark)
        # Never a full-state sync; the first one resumes from the checkpoint and returns at once.
        assert all(s["full_state"] in (None, "false") for s in syncs), syncs
        assert all(s["since"] for s in syncs), syncs
        assert syncs[0]["timeout"] in (None, "0"), syncs  # nio leaves a zero timeout out
        paths = proxy.paths(mark)
        assert "/_matrix/client/v3/joined_rooms" in paths
        # Each room's state was read at most once since the restart.
        states = Counter(p for p in paths if p.endswith("/state"))
        assert states and max(states.values()) == 1, states
        # The command sent while down was answered exactly once.
        await until(lambda: len(alice.replies(group, waiting)) >= 1, "the reply was recorded")
        assert len(alice.replies(group, waiting)) == 1
    finally:
        await bot.stop()
        await alice.close()
        await proxy.stop()


async def test_an_encrypted_phase_after_a_restart_reads_in_element(
    synapse: Homeserver, tmp_path: Path
) -> None:
    """After a restart (no full-state sync, nio's outbound sessions gone) a phase's room key is
    shared ahead through ``host.prepare_rooms``, and Element's SDK, which takes keys only from
    cross-signed devices, reads the phase."""
    bot = BotHarness(synapse, tmp_path / "bot", [])
    await bot.start()
    password = secrets.token_hex(8)
    user_id = synapse.register(f"elem{secrets.token_hex(3)}", password)
    bot_device = bot.runtime.matrix.client.device_id
    stderr_path = tmp_path / "element_client.stderr"
    args = ["--homeserver", synapse.url, "--user", user_id, "--bot", bot.user_id]
    args += ["--bot-device", bot_device, "--commands", "!ping", "--await-notice", PHASE_TEXT]
    element = asyncio.create_task(_run_element_client(args, password, stderr_path))
    try:
        await until(lambda: bool(bot.runtime.joined_rooms) or element.done(), "the bot joined", 60)
        assert not element.done(), element.result()
        room = next(iter(bot.runtime.joined_rooms))

        async def answered() -> bool:
            row = await bot.runtime.db.fetchone(
                "SELECT 1 FROM outbox WHERE room_id = ? AND state = 'sent'", (room,)
            )
            return row is not None or element.done()

        await until(answered, "the bot answered !ping", 60)
        await bot.stop()
        await bot.start()
        host = RuntimeHost(bot.runtime, "restarttest")
        host.prepare_rooms([room], by=datetime.now(UTC) + timedelta(minutes=1))
        await until(lambda: bot.runtime.keys_ahead.shared == 1, "the room key was shared ahead", 60)
        await host.post(room, Message.of(PHASE_TEXT), key("restarttest", "phase", room))
        code, lines = await element
    finally:
        if not element.done():
            element.cancel()
        await bot.stop()
    run = ElementRun(lines, 0.0)
    report = run.report
    assert code == 0, f"element_client.mjs exited {code}:\n{report}\n{_warnings(stderr_path)}"
    assert run.replies["!ping"]["body"] == "pong", report
    phase = run.notices[PHASE_TEXT]
    assert phase["encrypted"] is True and phase["shield"] == "NONE", report
    assert run.steps["bot_identity"]["signed_by_owner"] is True, report


async def test_a_rate_limited_bot_is_told_at_start_how_to_lift_the_limit(
    synapse: Homeserver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The start-up check reads the bot's rate-limit override (the bot is a server admin here)
    and warns with the fix while there is none; once the override is set, it says so."""
    localpart, password = f"adm{secrets.token_hex(3)}", secrets.token_hex(8)
    synapse.register(localpart, password, admin=True)
    token = synapse.login(localpart, password)["access_token"]
    bot = BotHarness(synapse, tmp_path / "bot", [])
    status, _ = synapse._request("PUT", f"/_synapse/admin/v2/users/{bot.user_id}", {"admin": True}, token)
    assert status == 200
    caplog.set_level(logging.INFO, logger="bots.runtime.ratelimit_check")
    try:
        await bot.start()
        assert bot.runtime.rate_limit == "limited"
        warned = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert warned and "override_ratelimit" in warned[0].getMessage()
        assert "docs/operators.md" in warned[0].getMessage()
        await bot.stop()

        override = {"messages_per_second": 0, "burst_count": 0}
        path = f"/_synapse/admin/v1/users/{bot.user_id}/override_ratelimit"
        assert synapse._request("POST", path, override, token)[0] == 200
        caplog.clear()
        await bot.start()
        assert bot.runtime.rate_limit == "lifted"
        assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    finally:
        await bot.stop()


async def test_a_fan_out_leaves_the_echoes_out_but_not_a_command_nor_its_own_leave(
    synapse: Homeserver, tmp_path: Path
) -> None:
    # While the outbox fans out, the bot syncs without its own events; a command sent meanwhile
    # is still answered, and a room it left meanwhile (its own leave, which such a sync hides)
    # is still forgotten once the fan-out ends.
    proxy = RecordingProxy(synapse.url)
    await proxy.start()
    bot = BotHarness(
        synapse, tmp_path / "bot", ["lottery"], extra={"homeserver": proxy.url, "send_concurrency": 1}
    )
    alice = await person(synapse, tmp_path)
    try:
        await bot.start()
        rooms = [await alice.create_room(f"group {i}", [bot.user_id]) for i in range(8)]
        gone = await alice.create_room("gone", [bot.user_id])
        for room in [*rooms, gone]:
            await alice.wait_joined(room, bot.user_id)
        runtime = bot.runtime
        await until(lambda: gone in runtime.joined_rooms, "the bot knows the room")
        host = RuntimeHost(runtime, "bench")
        tag = secrets.token_hex(3)
        posts = [
            Post(RoomID(room), Message.of(f"phase {n}"), key("bench", tag, room, n))
            for n in range(16)  # a fan-out of some seconds: the leave falls within it
            for room in rooms
        ]

        def hidden_syncs() -> list[Request]:
            return [
                r
                for r in proxy.since(mark)
                if r.path == "/_matrix/client/v3/sync"
                and json.loads(r.param("filter") or "{}")
                .get("room", {})
                .get("timeline", {})
                .get("not_senders")
                == [bot.user_id]
            ]

        mark = len(proxy.requests)
        await host.post_many(posts)
        await until(runtime.outbox.fanning_out, "the outbox fans out", timeout=30)
        # Leave once the syncs hide the echoes (the long poll that was running when the fan-out
        # began would show the leave itself).
        await until(lambda: bool(hidden_syncs()), "a sync leaves the bot's echoes out", timeout=30)
        await runtime.matrix.api("POST", f"/_matrix/client/v3/rooms/{quote(gone)}/leave", {})
        left_at = len(proxy.requests)
        asked = await alice.send_text(rooms[0], "!ping")
        assert body(await alice.wait_reply(rooms[0], asked, timeout=90)) == "pong"
        await runtime.outbox.drain(120)
        await until(lambda: gone not in runtime.joined_rooms, "the left room is forgotten", timeout=30)

        async def stored() -> bool:  # the features forget it first, then its join time goes
            return gone not in await runtime.store.rooms_with_join_time()

        await until(stored, "the left room's join time is forgotten", timeout=30)
        # Learnt from /joined_rooms once the fan-out ended, not from a sync.
        assert "/_matrix/client/v3/joined_rooms" in proxy.paths(left_at)

        hidden = hidden_syncs()
        assert all(r.param("timeout") in (None, "0") for r in hidden)  # no long poll meanwhile
        assert len(hidden) < len(posts) / 2, (len(hidden), len(posts))
    finally:
        await bot.stop()
        await alice.close()
        await proxy.stop()
