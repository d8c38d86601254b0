"""The converters of the command grammar, parsed from the words alone (tier 1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import pytest

from bots.runtime.commands import BoundCommand, params_of
from bots.runtime.converters import (
    ArgumentError,
    IntRange,
    Metavar,
    OnOff,
    PendingRoom,
    PendingWhen,
    Room,
    Text,
    UserRef,
    When,
    converter_for,
)
from bots.runtime.errors import UsageError
from bots.runtime.router import Duration, Words
from protocols.timespec import TimeSpecError


async def handler(
    self: Any,
    ctx: Any,
    n: Annotated[int, IntRange(1, 50)],
    who: UserRef,
    on: OnOff = False,
    *,
    at: When | None = None,
    where: Annotated[Words, Metavar("place")] | None = None,
    closes: Duration | None = None,
    room: Room | None = None,
) -> None:
    """A grammar with every converter."""


def cmd() -> BoundCommand:
    async def noop(*_: Any, **__: Any) -> None:
        return None

    return BoundCommand("try", "", noop, "t", None, "any", params_of(handler))


def test_usage_comes_from_declared_metavars() -> None:
    assert cmd().usage == (
        "!try <n> <user> [<on|off>] [at <when>] [where <place>] [closes <duration>] [room <room>]"
    )


def test_a_full_command_parses_into_values_and_deferred_specs() -> None:
    args, kwargs = cmd().parse(
        "7 @ann:x.org on at 2026-12-01 18:30 Europe/Paris where the old mill closes 2d room #a:x.org".split()
    )
    assert args == [7, "@ann:x.org", True]
    assert kwargs["at"] == PendingWhen("2026-12-01 18:30 Europe/Paris")
    assert kwargs["where"] == "the old mill"
    assert kwargs["closes"] == timedelta(days=2)
    assert kwargs["room"] == PendingRoom("#a:x.org")


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("0 @a:x.org", "0 is out of range: use a number from 1 to 50"),
        ("51 @a:x.org", "out of range"),
        ("five @a:x.org", "'five' is not a whole number"),
        ("1" * 20 + " @a:x.org", "is not a whole number"),
        ("5 ann", "'ann' is not a Matrix user id"),
        ("5 @a:x.org maybe", "'maybe' is neither on nor off"),
        ("5 @a:x.org at tomorrow", "'tomorrow' is not a time"),
        ("5 @a:x.org at 2026-02-30 10:00", "not a valid date"),
        ("5 @a:x.org at 2026-12-01 10:00 Mars/Base", "not a time zone"),
        ("5 @a:x.org room lobby", "'lobby' is not a room"),
    ],
)
def test_bad_words_are_usage_errors_that_say_why(words: str, says: str) -> None:
    with pytest.raises(UsageError, match=says) as caught:
        cmd().parse(words.split())
    assert "Usage: !try" in str(caught.value)


async def test_when_resolves_in_the_room_zone_later() -> None:
    class Settings:
        async def zone(self, room_id: str) -> Any:
            from zoneinfo import ZoneInfo

            return ZoneInfo("America/New_York")

    class FakeHost:
        settings = Settings()

    ctx: Any = type("Ctx", (), {"host": FakeHost(), "room_id": "!r:x"})()
    got = await PendingWhen("2026-07-01 09:00").resolve(ctx)
    assert got == datetime.fromisoformat("2026-07-01T13:00:00+00:00")
    with pytest.raises(TimeSpecError, match="does not exist"):
        await PendingWhen("2026-03-08 02:30").resolve(ctx)


def test_unknown_annotations_are_refused_when_declared() -> None:
    with pytest.raises(TypeError, match="no converter"):
        converter_for(float)
    with pytest.raises(ArgumentError):
        IntRange(1, 2)("3")


def test_text_is_the_last_parameter_of_a_command_without_keywords() -> None:
    async def good(self: Any, ctx: Any, n: int, voice: Text) -> None: ...

    async def with_keyword(self: Any, ctx: Any, voice: Text, *, at: When) -> None: ...

    async def not_last(self: Any, ctx: Any, voice: Text, n: int) -> None: ...

    assert [p.kind for p in params_of(good)] == ["word", "words"]
    for bad in (with_keyword, not_last):
        with pytest.raises(TypeError, match="Text is the last parameter"):
            params_of(bad)
