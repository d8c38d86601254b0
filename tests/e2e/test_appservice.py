"""Application-service mode against a real Synapse started with the registration that
``affinity appservice-registration`` wrote: the homeserver pushes transactions to the bot, the
bot answers in plain and encrypted rooms and DMs, survives a restart without losing or doubling
a command, handles a replayed transaction once, and refuses bad tokens and malformed bodies; a
wrong registration or a homeserver without the needed endpoints stops it at start, saying why.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bots.app import App
from bots.appservice.session import AppserviceError
from bots.cli import main as affinity
from bots.devserver import Homeserver, free_port
from bots.runtime.keys import key
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, body, until
from tests.e2e.recording_proxy import RecordingProxy
from tests.e2e.test_element import ElementRun, _run_element_client, _warnings

pytestmark = pytest.mark.e2e


@dataclass
class AsSetup:
    server: Homeserver
    registration: Path
    config: dict[str, Any]  # the bot's config, without data_dir
    user_id: str
    port: int

    @property
    def hs_token(self) -> str:
        return str(yaml.safe_load(self.registration.read_text())["hs_token"])


@pytest.fixture(scope="module")
def as_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsSetup]:
    root = tmp_path_factory.mktemp("appservice")
    server = Homeserver(root / "synapse")
    port = free_port()
    user_id = server.user_id(f"asbot{secrets.token_hex(2)}")
    config: dict[str, Any] = {
        "homeserver": server.url,
        "encryption": {"pickle_key": secrets.token_urlsafe(32)},
        "bots": [{"user_id": user_id, "features": ["lottery"]}],
        "appservice": {"registration": str(root / "registration.yaml"), "listen_port": port},
    }
    config_path = root / "config.yaml"
    config_path.write_text(yaml.safe_dump({**config, "data_dir": str(root / "unused")}))
    assert affinity(["appservice-registration", "--config", str(config_path)]) == 0
    registration = root / "registration.yaml"
    assert registration.stat().st_mode & 0o777 == 0o600
    # Writing it again would replace the tokens the homeserver knows: refused.
    assert affinity(["appservice-registration", "--config", str(config_path)]) == 2
    server.prepare()
    hs_config = yaml.safe_load(server.config_path.read_text())
    hs_config["app_service_config_files"] = [str(registration)]
    server.config_path.write_text(yaml.safe_dump(hs_config))
    server.start()
    yield AsSetup(server, registration, config, user_id, port)
    server.stop()


class AsBot(BotHarness):
    """The harness's start, stop and crash, for a bot run as an application service."""

    def __init__(self, setup: AsSetup, directory: Path, **overrides: Any) -> None:
        self.server = setup.server
        self.directory = directory
        self.user_id = setup.user_id
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "config.yaml"
        raw = {**setup.config, "data_dir": str(directory / "data"), **overrides}
        self.config_path.write_text(yaml.safe_dump(raw))
        self.app: App | None = None
        self.task: asyncio.Task[None] | None = None


@pytest.fixture
async def as_bot(as_setup: AsSetup, tmp_path: Path) -> AsyncIterator[AsBot]:
    bot = AsBot(as_setup, tmp_path / "bot")
    yield bot
    await bot.stop()


async def push(setup: AsSetup, txn_id: str, payload: Any, token: str | None) -> tuple[int, Any]:
    """PUT a transaction to the bot's listener as the homeserver would."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    url = f"http://127.0.0.1:{setup.port}/_matrix/app/v1/transactions/{txn_id}"
    async with aiohttp.ClientSession() as session, session.put(url, data=data, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


def ping_event(room: str, sender: str, event_id: str) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "room_id": room,
        "sender": sender,
        "event_id": event_id,
        "origin_server_ts": int(time.time() * 1000),
        "content": {"msgtype": "m.text", "body": "!ping"},
    }


async def test_the_appservice_answers_everywhere_and_survives_a_restart(
    as_setup: AsSetup, as_bot: AsBot, tmp_path: Path
) -> None:
    await as_bot.start()
    runtime = as_bot.runtime
    assert runtime.rate_limit == "lifted"
    alice = await person(as_setup.server, tmp_path)
    try:
        plain = await alice.create_room("plain", [as_bot.user_id])
        secret = await alice.create_room("secret", [as_bot.user_id], encrypted=True)
        dm = await alice.create_room("dm", [as_bot.user_id], encrypted=True, is_direct=True)
        for room in (plain, secret, dm):
            await alice.wait_joined(room, as_bot.user_id)
        assert await ask(alice, plain, "!ping") == "pong"
        assert await ask(alice, secret, "!ping") == "pong"  # decrypted, and answered encrypted
        assert "facilitator" in await ask(alice, secret, "!roles")
        assert "not in a direct chat" in await ask(alice, dm, "!roles")
        # No room came through /sync: every room's events were pushed.
        assert runtime.handled_transactions > 0

        await as_bot.stop()
        waiting = await alice.send_text(secret, "!ping")  # the homeserver keeps it for us
        await as_bot.start()
        assert body(await alice.wait_reply(secret, waiting, timeout=60)) == "pong"
        assert await ask(alice, dm, "!ping") == "pong"
        await until(lambda: len(alice.replies(secret, waiting)) >= 1, "the reply was recorded")
        await as_bot.stop()
        await as_bot.start()  # once more: nothing of before is answered again
        assert await ask(alice, plain, "!ping") == "pong"
        assert len(alice.replies(secret, waiting)) == 1
    finally:
        await alice.close()


async def test_a_replayed_transaction_is_handled_once_and_bad_ones_not_at_all(
    as_setup: AsSetup, as_bot: AsBot, tmp_path: Path
) -> None:
    await as_bot.start()
    alice = await person(as_setup.server, tmp_path)
    try:
        room = await alice.create_room("replay", [as_bot.user_id])
        await alice.wait_joined(room, as_bot.user_id)
        assert await ask(alice, room, "!ping") == "pong"
        runtime = as_bot.runtime
        dispatched: Counter[str] = Counter()
        dispatch = runtime._dispatch

        async def counting(room_id: Any, env: Any, decrypted: bool) -> None:
            dispatched[env.event_id] += 1
            await dispatch(room_id, env, decrypted)

        runtime._dispatch = counting
        token = as_setup.hs_token
        event = ping_event(room, alice.user_id, f"$replay{secrets.token_hex(4)}")
        txn = f"replay-{secrets.token_hex(4)}"
        assert await push(as_setup, txn, {"events": [event]}, token) == (200, {})
        assert await push(as_setup, txn, {"events": [event]}, token) == (200, {})  # replayed
        # The same event in another transaction: still once (events are deduplicated too).
        assert await push(as_setup, txn + "b", {"events": [event]}, token) == (200, {})

        refused = [
            (push(as_setup, "t-bad-token", {"events": [event]}, "not-the-hs-token"), 403),
            (push(as_setup, "t-no-token", {"events": [event]}, None), 401),
            (push(as_setup, "t-not-json", b"{nope", token), 400),
            (push(as_setup, "t-no-events", {"events": "!ping"}, token), 400),
        ]
        other = ping_event(room, alice.user_id, f"$other{secrets.token_hex(4)}")
        half = {"events": [other, {"type": "m.room.message"}]}  # the second has no room_id
        refused.append((push(as_setup, "t-half", half, token), 400))
        for call, status in refused:
            got, answer = await call
            assert got == status and answer["errcode"], answer

        reply = key("runtime", event["event_id"], "reply", 1)

        async def delivered() -> bool:
            done = await runtime.outbox.delivery(reply)
            return done is not None and done.state == "sent"

        await until(delivered, "the pushed command was answered")
        assert dispatched[event["event_id"]] == 1
        assert dispatched[other["event_id"]] == 0  # the malformed transaction: nothing of it
        recorded = await as_bot.runtime.db.fetchall(
            "SELECT txn_id FROM appservice_txn WHERE txn_id LIKE 't-%'"
        )
        assert recorded == []
    finally:
        await alice.close()


async def test_element_reads_the_appservice_in_an_encrypted_room(
    as_setup: AsSetup, as_bot: AsBot, tmp_path: Path
) -> None:
    await as_bot.start()
    password = secrets.token_hex(8)
    user_id = as_setup.server.register(f"elem{secrets.token_hex(3)}", password)
    device = as_bot.runtime.matrix.client.device_id
    stderr_path = tmp_path / "element_client.stderr"
    args = ["--homeserver", as_setup.server.url, "--user", user_id, "--bot", as_bot.user_id]
    code, lines = await _run_element_client([*args, "--bot-device", device], password, stderr_path)
    run = ElementRun(lines, 0.0)
    report = run.report
    assert code == 0, f"element_client.mjs exited {code}:\n{report}\n{_warnings(stderr_path)}"
    identity = run.steps["bot_identity"]
    assert identity["device_id"] == device and identity["signed_by_owner"] is True, report
    for command in ("!ping", "!help"):
        reply = run.replies[command]
        assert reply["encrypted"] is True and reply["shield"] == "NONE", report
    assert run.replies["!ping"]["body"] == "pong", report


async def test_a_registration_the_homeserver_does_not_know_stops_the_start(
    as_setup: AsSetup, tmp_path: Path
) -> None:
    wrong = yaml.safe_load(as_setup.registration.read_text())
    wrong["as_token"] = secrets.token_urlsafe(32)
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(wrong))
    bot = AsBot(
        as_setup, tmp_path / "bot", appservice={"registration": str(path), "listen_port": as_setup.port}
    )
    with pytest.raises(AppserviceError, match="app_service_config_files"):
        await bot.start()
    await bot.stop()


async def test_a_homeserver_without_the_device_endpoints_is_named_at_start(
    as_setup: AsSetup, tmp_path: Path
) -> None:
    proxy = RecordingProxy(
        as_setup.server.url,
        refuse=(("PUT", "/_matrix/client/v3/devices/"), ("POST", "/_matrix/client/v3/login")),
    )
    await proxy.start()
    bot = AsBot(as_setup, tmp_path / "bot", homeserver=proxy.url)
    try:
        with pytest.raises(AppserviceError) as raised:
            await bot.start()
        assert "MSC4190" in str(raised.value) and "m.login.application_service" in str(raised.value)
    finally:
        await bot.stop()
        await proxy.stop()
