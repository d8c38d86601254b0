"""Application-service mode without a homeserver: the registration file (written, read back,
refused when wrong) and the listener (tokens, malformed bodies, handled before acknowledged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from bots.appservice.listener import Listener
from bots.appservice.registration import load_registration, registration_for, write_registration
from bots.appservice.transactions import MalformedTransaction, TransactionLog, transaction_events
from bots.config import ConfigError, parse_config
from storage.db import Database

BOT = "@herald:example.org"
CONFIG = f"""
homeserver: https://example.org
data_dir: /tmp/unused
bots:
  - user_id: "{BOT}"
    features: []
appservice:
  registration: reg.yaml
"""
HS_TOKEN = "h" * 32


def test_a_registration_claims_the_bot_alone_and_reads_back(tmp_path: Path) -> None:
    config = parse_config(CONFIG)
    path = tmp_path / "reg.yaml"
    write_registration(path, registration_for(config, "http://127.0.0.1:9009"))
    assert path.stat().st_mode & 0o777 == 0o600
    raw = yaml.safe_load(path.read_text())
    assert raw["rate_limited"] is False and raw["io.element.msc4190"] is True
    assert raw["namespaces"]["users"] == [{"exclusive": True, "regex": r"^@herald:example\.org$"}]
    assert raw["sender_localpart"] == "herald-appservice"  # not the bot: it must /sync
    reg = load_registration(path, BOT)
    assert reg.as_token != reg.hs_token and reg.url == "http://127.0.0.1:9009"
    with pytest.raises(ConfigError, match="exists"):
        write_registration(path, registration_for(config, "http://127.0.0.1:9009"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"as_token": "short"}, "as_token is not a token"),
        ({"hs_token": None}, "hs_token is missing"),
        ({"rate_limited": True}, "rate_limited must be false"),
        ({"sender_localpart": "herald"}, "must not be the bot's own"),
        ({"namespaces": {"users": [{"exclusive": True, "regex": "@other:.*"}]}}, "does not claim the bot"),
        ({"namespaces": {"users": [{"exclusive": False, "regex": ".*"}]}}, "does not claim the bot"),
    ],
)
def test_a_wrong_registration_is_refused_naming_the_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    raw = registration_for(parse_config(CONFIG), "http://127.0.0.1:9009")
    raw.update(change)
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_registration(path, BOT)


def test_a_config_with_an_appservice_runs_one_bot_without_a_password() -> None:
    assert parse_config(CONFIG).appservice is not None
    two = CONFIG.replace("    features: []\n", '    features: []\n  - user_id: "@b:example.org"\n', 1)
    with pytest.raises(ConfigError, match="exactly one bot"):
        parse_config(two)
    without = CONFIG.split("appservice:")[0]
    with pytest.raises(ConfigError, match="password or an access_token"):
        parse_config(without)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"events": None},
        {"events": [1]},
        {"events": [{"type": "m.room.message"}]},
        {"events": [{"room_id": "!r"}]},
    ],
)
def test_a_malformed_transaction_is_refused_whole(body: Any) -> None:
    with pytest.raises(MalformedTransaction):
        transaction_events(body)


async def _client(handled: list[tuple[str, int]]) -> TestClient[Any, Any]:
    async def handle(txn_id: str, events: list[dict[str, Any]]) -> None:
        handled.append((txn_id, len(events)))

    client = TestClient(TestServer(Listener(HS_TOKEN, handle, "127.0.0.1", 0).app()))
    await client.start_server()
    return client


async def test_the_listener_checks_the_token_and_the_body_before_handling() -> None:
    handled: list[tuple[str, int]] = []
    client = await _client(handled)
    event = {"type": "m.room.message", "room_id": "!r:example.org", "content": {}}
    path = "/_matrix/app/v1/transactions/t1"
    try:
        bearer = {"Authorization": f"Bearer {HS_TOKEN}"}
        cases = [
            (None, {"events": [event]}, 401),
            ({"Authorization": "Bearer wrong"}, {"events": [event]}, 403),
            (bearer, "not json", 400),
            (bearer, {"events": [event, {"type": "x"}]}, 400),
        ]
        for headers, body, status in cases:
            data = body if isinstance(body, str) else None
            resp = await client.put(path, headers=headers, json=None if data else body, data=data)
            assert resp.status == status
            assert (await resp.json())["errcode"].startswith("M_")
        assert handled == []
        resp = await client.put(path, headers=bearer, json={"events": [event]})
        assert resp.status == 200 and await resp.json() == {}
        # The older query-string token and the legacy path work too.
        resp = await client.put(f"/transactions/t2?access_token={HS_TOKEN}", json={"events": []})
        assert resp.status == 200
        assert handled == [("t1", 1), ("t2", 0)]
        assert (await client.get("/_matrix/app/v1/users/@x:y", headers=bearer)).status == 404
        assert (await client.post("/_matrix/app/v1/ping", headers=bearer, json={})).status == 200
    finally:
        await client.close()


async def test_a_failing_handler_is_not_acknowledged() -> None:
    async def handle(txn_id: str, events: list[dict[str, Any]]) -> None:
        raise RuntimeError("the database is away")

    client = TestClient(TestServer(Listener(HS_TOKEN, handle, "127.0.0.1", 0).app()))
    await client.start_server()
    try:
        resp = await client.put(
            "/_matrix/app/v1/transactions/t1",
            headers={"Authorization": f"Bearer {HS_TOKEN}"},
            json={"events": []},
        )
        assert resp.status == 500  # the homeserver sends it again
    finally:
        await client.close()


async def test_transaction_ids_are_kept_and_forgotten(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "affinity.db")
    try:
        log = TransactionLog(db, BOT)
        await log.migrate()
        assert not await log.seen("t1")
        await log.record("t1", 3)
        await log.record("t1", 3)  # a replay records nothing new
        assert await log.seen("t1") and not await TransactionLog(db, "@other:x").seen("t1")
        assert await log.forget_older_than(0) == 0
        assert await log.forget_older_than(2**40) == 1
        assert not await log.seen("t1")
    finally:
        await db.close()


async def test_the_bot_pings_again_after_its_start_and_a_failed_ping_stops_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Synapse retries a failed delivery only after a backoff unless pinged after the failure:
    # a command whose delivery failed just after the first ping is fetched by a later one.
    import asyncio

    from bots.appservice import runtime as as_runtime
    from bots.runtime.errors import TransportError

    monkeypatch.setattr(as_runtime, "PING_AGAIN_AFTER_S", (0.01, 0.02, 0.04))
    bot = as_runtime.AppserviceRuntime.__new__(as_runtime.AppserviceRuntime)
    pings: list[float] = []
    loop = asyncio.get_running_loop()

    async def ping(matrix: Any, registration: Any) -> None:
        pings.append(loop.time())
        if len(pings) == 1:
            raise TransportError("the homeserver is busy")

    bot._ping = ping  # type: ignore[method-assign]
    started = loop.time()
    await bot._ping_again(None, None)  # type: ignore[arg-type]
    assert len(pings) == 3
    assert pings[0] - started >= 0.01 and pings[2] - pings[1] >= 0.04
