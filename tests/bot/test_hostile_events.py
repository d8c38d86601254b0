"""Tier 2: events with the wrong shape, as Synapse stores and federates them and nio hands them
over (``RoomMessageText``/``BadEvent`` objects whose ``source`` is the raw dict, or plain dicts),
are skipped by id; the sync loop survives them, restarts after an unexpected failure, and a loop
that cannot be kept alive makes the process exit non-zero."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nio
import pytest

from bots import app as app_module
from bots import cli
from bots.runtime import sync as sync_module
from bots.runtime.envelope import guard_sync_parsing
from bots.runtime.errors import TransportError
from bots.runtime.sync import SyncLoopDied
from tests.bot.fakes import BOT, ROOM, FakeBot, close, fake_bot, from_sync, recorded

ALICE = "@alice:test.example"
SECRET = "secret-body-words"
PING = {"msgtype": "m.text", "body": "!ping"}


def message(event_id: str, **over: Any) -> dict[str, Any]:
    """A text message as Synapse sends it in /sync (recorded), then made hostile by ``over``."""
    event = recorded(
        "text",
        event_id=event_id,
        sender=ALICE,
        origin_server_ts=1_800_000_000_000,
        content={"msgtype": "m.text", "body": f"!ping {SECRET}"},
    )
    event.update(over)
    return event


def with_content(event_id: str, **content: Any) -> dict[str, Any]:
    return message(event_id, content={"msgtype": "m.text", "body": f"!ping {SECRET}", **content})


def reaction(event_id: str, relates: Any) -> dict[str, Any]:
    return message(event_id, type="m.reaction", content={"m.relates_to": relates})


HOSTILE: list[dict[str, Any]] = [
    with_content("$rel-str", **{"m.relates_to": "m.replace"}),
    with_content("$rel-list", **{"m.relates_to": ["x", 1]}),
    with_content("$rel-num", **{"m.relates_to": 7}),
    with_content("$rel-true", **{"m.relates_to": True}),
    with_content("$rel-reltype", **{"m.relates_to": {"rel_type": ["m.replace"]}}),
    with_content("$rel-reply", **{"m.relates_to": {"m.in_reply_to": "$x"}}),
    with_content("$rel-reply-id", **{"m.relates_to": {"m.in_reply_to": {"event_id": 5}}}),
    with_content("$rel-thread", **{"m.relates_to": {"rel_type": "m.thread", "event_id": {"a": 1}}}),
    reaction("$re-str", "m.annotation"),
    reaction("$re-list", [1]),
    reaction("$re-target", {"rel_type": "m.annotation", "event_id": 5, "key": "👍"}),
    reaction("$re-key", {"rel_type": "m.annotation", "event_id": "$t", "key": ["👍"]}),
    reaction("$re-nokey", {"rel_type": "m.annotation", "event_id": "$t"}),
    message("$ts-str", origin_server_ts="1800000000000"),
    message("$ts-float", origin_server_ts=1.8e12),
    message("$ts-bool", origin_server_ts=True),
    message("$ts-neg", origin_server_ts=-5),
    message("$ts-missing", origin_server_ts=None),
    message("$sender-int", sender=5),
    message("$sender-list", sender=["@alice:test.example"]),
    message("$sender-shape", sender="alice"),
    message("$content-str", content="!ping"),
    message("$content-list", content=["!ping"]),
    message("$body-int", content={"msgtype": "m.text", "body": 5}),
    message("$body-dict", content={"msgtype": "m.text", "body": {"x": SECRET}}),
    message("$msgtype-list", content={"msgtype": ["m.text"], "body": "!ping"}),
    message("$type-int", type=5),
    message("$unsigned-str", unsigned="x"),
    message(
        "$deep",
        content={
            "msgtype": "m.text",
            "body": "!ping",
            "x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
        },
    ),
    message("$statekey-int", state_key=5),
]


def as_nio(event: dict[str, Any]) -> Any:
    """The object nio's sync parsing gives for this event (falls back to the dict where nio's
    own parser raises on it)."""
    try:
        return from_sync(event)
    except Exception:  # nio's parser trips on some shapes; the dict is what remains
        return event


async def handled(bot: FakeBot, event_id: str) -> bool:
    return await bot._already_handled(event_id)


@pytest.mark.parametrize("event", HOSTILE, ids=[e["event_id"] for e in HOSTILE])
@pytest.mark.parametrize("delivery", ["dict", "nio"])
async def test_a_malformed_event_is_skipped_by_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, event: dict[str, Any], delivery: str
) -> None:
    bot = await fake_bot(tmp_path, [], members=[ALICE])
    # nio's own parse of a bad event logs what it saw (nio logs only errors in production);
    # what this test reads is what the runtime logs afterwards.
    delivered = event if delivery == "dict" else as_nio(event)
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    try:
        await bot.handle(ROOM, delivered)
        await bot.flush()
        assert not bot.fake.sent, "a malformed event got an answer"
        assert await handled(bot, event["event_id"])
        assert event["event_id"] in caplog.text
        assert SECRET not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        # The bot carries on.
        [pong] = await bot.say(ROOM, ALICE, "!ping")
        assert pong.body == "pong"
    finally:
        await close(bot)


async def test_an_event_without_a_usable_id_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await fake_bot(tmp_path, [], members=[ALICE])
    try:
        for bad_id in (None, 5, ["$x"], "", "no-dollar", "$" + "x" * 300):
            await bot.handle(ROOM, {**message("$ignored"), "event_id": bad_id})
        await bot.handle(ROOM, "not an event")  # type: ignore[arg-type]
        await bot.flush()
        assert not bot.fake.sent
        assert "no usable id" in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await close(bot)


async def test_a_lone_surrogate_is_replaced_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await fake_bot(tmp_path, [], members=[ALICE])
    try:
        replies = await bot.say(ROOM, ALICE, "!p\ud800ng")
        [unknown] = replies
        assert "Unknown command" in unknown.body and "\ud800" not in unknown.body
        unknown.body.encode("utf-8")  # storable and sendable
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await close(bot)


def sync_response(batch: str, events: list[Any]) -> Any:
    """What the sync loop reads of nio's SyncResponse."""
    timeline = SimpleNamespace(events=events, limited=False, prev_batch=None)
    rooms = SimpleNamespace(invite={}, join={ROOM: SimpleNamespace(timeline=timeline)}, leave={})
    return SimpleNamespace(rooms=rooms, next_batch=batch)


def wire_sync(bot: FakeBot, batches: list[Any]) -> list[str | None]:
    """Make the bot's sync loop read ``batches`` in turn, then wait until stopped."""
    seen: list[str | None] = []

    async def fake_sync(since: str | None, full_state: bool) -> Any:
        seen.append(since)
        if batches:
            return batches.pop(0)
        await bot._stopping.wait()
        raise TransportError("stopping")

    async def no_housekeeping(resp: Any) -> None:
        return None

    bot.client = SimpleNamespace(rooms={})  # type: ignore[assignment]
    bot._sync = fake_sync  # type: ignore[method-assign]
    bot._housekeeping = no_housekeeping  # type: ignore[method-assign]
    return seen


async def wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def checkpoint_reaches(bot: Any, token: str, timeout: float = 10) -> None:
    """The checkpoint is saved once the batch is handled, which can be a moment after the
    reply that batch caused has gone out: poll for it rather than read it once."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await bot._load_checkpoint() != token:
        assert asyncio.get_running_loop().time() < deadline, f"the checkpoint never reached {token}"
        await asyncio.sleep(0.01)


async def test_the_sync_loop_survives_every_hostile_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await fake_bot(tmp_path, [], members=[ALICE])
    await bot._save_checkpoint("s0")  # not the first start: the timeline is answered
    events = [as_nio(e) for e in HOSTILE] + [as_nio(message("$good", content=PING))]
    caplog.clear()  # nio's own parse logs what it saw; read only what the runtime logs
    wire_sync(bot, [sync_response("s1", events)])
    task = asyncio.create_task(bot.run())
    try:
        await wait_for(lambda: bool(bot.fake.sent) or task.done())
        assert not task.done(), "the sync loop ended"
        assert [s.body for s in bot.fake.sent] == ["pong"]
        await checkpoint_reaches(bot, "s1")
        assert SECRET not in caplog.text
    finally:
        bot.stop()
        await asyncio.wait_for(task, 10)
        await close(bot)


async def test_the_sync_loop_restarts_after_an_unexpected_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "LOOP_RESTART_DELAY_S", 0.0)
    bot = await fake_bot(tmp_path, [], members=[ALICE])
    await bot._save_checkpoint("s0")
    wire_sync(
        bot,
        [
            sync_response("s1", [message("$one", content=PING)]),
            sync_response("s1", [message("$one", content=PING)]),
        ],
    )
    real_process = bot._process
    calls = 0

    async def flaky_process(resp: Any, previous: str | None, skip_timeline: bool) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug outside any handler")
        await real_process(resp, previous, skip_timeline)

    bot._process = flaky_process  # type: ignore[method-assign]
    task = asyncio.create_task(bot.run())
    try:
        await wait_for(lambda: bool(bot.fake.sent) or task.done())
        assert not task.done()
        assert [s.body for s in bot.fake.sent] == ["pong"]
    finally:
        bot.stop()
        await asyncio.wait_for(task, 10)
        await close(bot)


async def test_a_sync_loop_that_keeps_failing_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_module, "LOOP_RESTART_DELAY_S", 0.0)
    bot = await fake_bot(tmp_path, [], members=[ALICE])
    wire_sync(bot, [sync_response(f"s{i}", []) for i in range(20)])

    async def broken(resp: Any, previous: str | None, skip_timeline: bool) -> None:
        raise RuntimeError("always")

    bot._process = broken  # type: ignore[method-assign]
    try:
        with pytest.raises(SyncLoopDied):
            await asyncio.wait_for(bot.run(), 10)
    finally:
        await close(bot)


class DyingBot:
    """What App.run sees of a bot whose sync loop died for good."""

    name = str(BOT)

    def __init__(self) -> None:
        self.stopped = False

    async def run(self) -> None:
        raise SyncLoopDied("the sync loop failed 5 times in a row")

    def stop(self) -> None:
        self.stopped = True

    async def close(self) -> None:
        return None


class QuietBot(DyingBot):
    """A healthy bot: runs until stopped."""

    def __init__(self) -> None:
        super().__init__()
        self._event = asyncio.Event()

    async def run(self) -> None:
        await self._event.wait()

    def stop(self) -> None:
        self.stopped = True
        self._event.set()


async def test_app_run_fails_when_a_sync_loop_dies(tmp_path: Path) -> None:
    config = bot_config(tmp_path)
    app = app_module.App(config)
    dying, quiet = DyingBot(), QuietBot()
    app.bots = [dying, quiet]  # type: ignore[list-item]
    with pytest.raises(app_module.BotFailed):
        await asyncio.wait_for(app.run(), 10)
    assert quiet.stopped, "the other bots are stopped too"


async def test_app_run_is_clean_when_stopped(tmp_path: Path) -> None:
    app = app_module.App(bot_config(tmp_path))
    quiet = QuietBot()
    app.bots = [quiet]  # type: ignore[list-item]
    runner = asyncio.create_task(app.run())
    await asyncio.sleep(0)
    app.stop()
    await asyncio.wait_for(runner, 10)  # no exception


def bot_config(tmp_path: Path) -> Any:
    from bots.config import parse_config

    return parse_config(
        f'homeserver: http://localhost:1\ndata_dir: "{tmp_path}"\n'
        f'bots:\n  - user_id: "{BOT}"\n    password: x\n    features: []\n'
        "access:\n  allowed_servers: [test.example]\n"
        "encryption:\n  pickle_key: test-pickle-key-0123456789abcdef\n"
    )


def test_affinity_run_exits_non_zero_when_a_sync_loop_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f'homeserver: http://localhost:1\ndata_dir: "{tmp_path}"\n'
        f'bots:\n  - user_id: "{BOT}"\n    password: x\n    features: []\n'
        "access:\n  allowed_servers: [test.example]\n"
        "encryption:\n  pickle_key: test-pickle-key-0123456789abcdef\n"
    )

    async def start(self: app_module.App) -> None:
        self.bots = [DyingBot()]  # type: ignore[list-item]

    monkeypatch.setattr(app_module.App, "start", start)
    try:
        assert cli.main(["run", "--config", str(config_file)]) == cli.EXIT_FAILURE == 1
    finally:
        logging.getLogger().handlers.clear()


class JsonTransport:
    """Just enough of an aiohttp response for nio's create_matrix_response."""

    content_type = "application/json"
    content_disposition = None
    status = 200

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    async def json(self) -> dict[str, Any]:
        import copy

        return copy.deepcopy(self.body)


def sync_body(events: list[Any]) -> dict[str, Any]:
    room = {
        "timeline": {"events": events, "limited": False, "prev_batch": "p"},
        "state": {"events": list(events)},
        "ephemeral": {"events": []},
        "account_data": {"events": []},
    }
    return {"next_batch": "s1", "rooms": {"join": {ROOM: room}, "leave": {}, "invite": {}}}


# Shapes on which nio's own parser raises (rather than giving a BadEvent): without the guard,
# every sync fails while such an event is in the sync window, and the bot is deaf.
NIO_BREAKERS = [
    message("$nio-ts", origin_server_ts="1800000000000"),
    message(
        "$nio-prev",
        type="m.room.member",
        state_key=ALICE,
        content={"membership": "join"},
        unsigned={"prev_content": "join"},
    ),
]


async def test_nio_parses_a_sync_with_events_it_would_raise_on() -> None:
    client = nio.AsyncClient("http://localhost:1", str(BOT))
    try:
        body = sync_body([*NIO_BREAKERS, message("$good", content=PING)])
        for breaker in NIO_BREAKERS:  # the premise: unguarded, nio raises on each
            with pytest.raises((TypeError, AttributeError)):  # nio's own parser, unguarded
                await client.create_matrix_response(nio.SyncResponse, JsonTransport(sync_body([breaker])))
        guard_sync_parsing(client, logging.getLogger("test"))
        resp = await client.create_matrix_response(nio.SyncResponse, JsonTransport(body))
        assert isinstance(resp, nio.SyncResponse)
        assert [e.event_id for e in resp.rooms.join[ROOM].timeline.events] == ["$good"]
        chunk = {"start": "a", "end": "b", "chunk": [*NIO_BREAKERS, message("$old", content=PING)]}
        page = await client.create_matrix_response(
            nio.RoomMessagesResponse, JsonTransport(chunk), data=(ROOM,)
        )
        assert isinstance(page, nio.RoomMessagesResponse)
        assert [e.event_id for e in page.chunk] == ["$old"]
    finally:
        await client.close()


async def test_a_late_decrypted_event_that_fails_does_not_stop_the_others(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [], members=[ALICE])
    try:

        class Decrypted:
            decrypted = False

            def __init__(self, source: dict[str, Any]) -> None:
                self.source = source

        pending = {
            "$late-1": Decrypted(message("$late-1", content=PING)),
            "$late-2": Decrypted(message("$late-2", content=PING)),
        }
        bot.client = SimpleNamespace(rooms={}, decrypt_event=lambda e: pending[e.event_id])  # type: ignore[assignment]
        calls: list[str] = []
        real_dispatch = bot._dispatch

        async def dispatch(room_id: Any, env: Any, decrypted: bool) -> None:
            calls.append(env.event_id)
            if env.event_id == "$late-1":
                raise RuntimeError("a bug outside any handler")
            await real_dispatch(room_id, env, decrypted)

        bot._dispatch = dispatch  # type: ignore[method-assign]
        bot._undecrypted = [(0.0, ROOM, SimpleNamespace(event_id=i)) for i in pending]  # type: ignore[misc]
        await bot._retry_undecrypted()
        await bot.flush()
        assert calls == ["$late-1", "$late-2"]
        assert [s.body for s in bot.fake.sent] == ["pong"]
        assert await bot._already_handled("$late-1")
    finally:
        await close(bot)
