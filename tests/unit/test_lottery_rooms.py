"""Per-room lottery options and cell rooms: the parsing rules and the storage of migration 006."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from protocols.lottery import LotteryError
from protocols.lottery_room import parse_switch, parse_window
from storage.db import Database
from storage.lottery_cell_rooms import CellRooms
from storage.lottery_options import RoomOptions

ME = "@bot:a.org"  # the bot whose rows these are

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("5s", 5), ("30s", 30), ("2m", 120), ("1h", 3600)])
def test_window_within_bounds(text: str, seconds: int) -> None:
    assert parse_window(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4s", "between 5s and 1h"),
        ("2h", "between 5s and 1h"),
        ("-1d", "not a duration"),
        ("soon", "not a duration"),
        ("0s", "longer than zero"),
    ],
)
def test_window_refused(text: str, message: str) -> None:
    with pytest.raises(LotteryError, match=message):
        parse_window(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("on", True), ("ON", True), ("yes", True), ("off", False), ("no", False), ("false", False)],
)
def test_switch(text: str, value: bool) -> None:
    assert parse_switch(text) is value


def test_switch_refused() -> None:
    with pytest.raises(LotteryError, match="neither on nor off"):
        parse_switch("maybe")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "lottery.db")
    yield database
    await database.close()


async def test_options_default_then_set(db: Database) -> None:
    options = RoomOptions(db, ME, timedelta(seconds=30), False)
    assert (await options.get("!a:x")).commit_window == timedelta(seconds=30)
    assert (await options.get("!a:x")).redraw is False
    await options.set_window("!a:x", timedelta(seconds=45), NOW)
    await options.set_redraw("!a:x", True, NOW)
    got = await options.get("!a:x")
    assert got.commit_window == timedelta(seconds=45) and got.redraw is True
    await options.set_redraw("!a:x", False, NOW)  # False is a setting, not "missing"
    assert (await options.get("!a:x")).redraw is False
    assert (await RoomOptions(db, ME, timedelta(seconds=30), True).get("!a:x")).redraw is False
    assert (await options.get("!b:x")).commit_window == timedelta(seconds=30)
    with pytest.raises(ValueError):
        await options.set_window("!a:x", timedelta(0), NOW)


async def test_cells_are_planned_once_per_command_and_forgotten_at_close(db: Database) -> None:
    cells = CellRooms(db, ME)
    sunset = NOW + timedelta(days=30)
    first = await cells.plan("!p:x", "cmd-1", [["@a:x", "@b:x"], ["@c:x", "@d:x"]], sunset, NOW)
    again = await cells.plan("!p:x", "cmd-1", [["@a:x", "@c:x"], ["@b:x", "@d:x"]], sunset, NOW)
    assert again == first and [c.members for c in first] == [("@a:x", "@b:x"), ("@c:x", "@d:x")]
    assert await cells.open() == []  # no room yet
    await cells.set_room(first[0].id, "!cell1:x")
    [opened] = await cells.open()
    assert opened.room_id == "!cell1:x" and opened.sunset_at == sunset
    # The cell whose room was never made is forgotten after a while; the open one is not.
    assert await cells.forget_unfinished(NOW + timedelta(days=1)) == 1
    assert await cells.get(first[1].id) is None and await cells.get(first[0].id) is not None
    # Closed: who was in it is forgotten at once, the row a day after the room was made.
    assert await cells.close(first[0].id, NOW + timedelta(days=2))
    assert not await cells.close(first[0].id, NOW + timedelta(days=2))
    closed = await cells.get(first[0].id)
    assert closed is not None and closed.closed and closed.members == ()
    assert await cells.open() == [] and await cells.made_since("!p:x", NOW) == 1
    assert await cells.forget_unfinished(NOW + timedelta(days=1)) == 1
    assert await cells.get(first[0].id) is None
