"""Converters that finish the command grammar: a handler's signature says what each argument
is, and no handler parses its own arguments again.

    async def gathering_at(self, ctx, title: Words, *, at: When) -> None            # a datetime
    async def pool_size(self, ctx, size: Annotated[int, IntRange(1, 50)]) -> None
    async def notify(self, ctx, who: UserRef, on: OnOff) -> None                    # a str, a bool
    async def mirror_open(self, ctx, room: Room, *, closes: Duration) -> None       # a RoomID
    async def ghost_add(self, ctx, voice: Text) -> None             # the rest, as typed
    async def event_add(self, ctx, title: Words, *, where: Annotated[Words, Metavar("place")]) -> None

Two stages. Parsing (here, with the text only) refuses bad syntax with the usage line.
Some values also need the room: a time is read in the room's zone and a room alias is resolved
by the homeserver; free text is read again from the message as typed. Their converters return
a :class:`Deferred`, which the command wrapper (bots/runtime/commands.py) resolves with the
command's context before the handler runs, so the handler receives the finished value (a UTC
``datetime``, a ``RoomID``, the text with its apostrophes).

A metavar (the ``<when>`` of the usage line) is declared on the parameter with
``Annotated[..., Metavar("when")]``; without one it is the parameter's name.
"""

from __future__ import annotations

import re
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from bots.runtime.i18n import _
from bots.runtime.ids import RoomID, is_user_id
from bots.runtime.message import Span
from protocols.timespec import parse_duration, parse_when, parse_zone

if TYPE_CHECKING:
    from bots.runtime.commands import CommandContext


class ArgumentError(ValueError):
    """An argument that is not what its parameter takes; the text says why, for the person
    (a translatable sentence, or text). ``str(exc)`` is that sentence in the language being
    rendered (English outside a room's rendering)."""

    def __str__(self) -> str:
        said = self.args[0] if self.args else ""
        return said.plain() if isinstance(said, Span) else super().__str__()


class Words(str):
    """Several words, up to the next keyword (a title, a reason, free text)."""


class RoomRef(str):
    """A room: ``#alias:server``, ``!id:server`` or a matrix.to link (resolved by the handler)."""


Duration = timedelta


@dataclass(frozen=True)
class Metavar:
    """The name shown for a parameter in usage lines: ``Annotated[str, Metavar("place")]``."""

    name: str


@dataclass(frozen=True)
class IntRange:
    """An integer from ``lo`` to ``hi`` inclusive: ``Annotated[int, IntRange(1, 50)]``."""

    lo: int
    hi: int

    def __call__(self, text: str) -> int:
        if not re.fullmatch(r"[+-]?\d{1,12}", text):
            raise ArgumentError(_("'{text}' is not a whole number", text=text))
        value = int(text)
        if not self.lo <= value <= self.hi:
            raise ArgumentError(
                _(
                    "{value} is out of range: use a number from {lo} to {hi}",
                    value=str(value),
                    lo=str(self.lo),
                    hi=str(self.hi),
                )
            )
        return value


def whole_number(text: str) -> int:
    """A plain ``int`` parameter: ASCII digits, an optional sign, at most 15 digits (a longer one
    is no count anyone means, and overflows SQLite's 64-bit integers). A bad one is a plain
    ``ValueError``: the usage error says "'x' is not a valid <metavar>"."""
    digits = text.lstrip("+-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 15 or len(text) - len(digits) > 1:
        raise ValueError(text)
    return int(text)


class Deferred(ABC):
    """A parsed argument that needs the command's context (its host, room, text) to become its
    value; the command wrapper resolves it before the handler runs."""

    @abstractmethod
    async def resolve(self, ctx: CommandContext) -> Any: ...


@dataclass(frozen=True)
class PendingWhen(Deferred):
    """``YYYY-MM-DD HH:MM [zone]``, checked for shape now, read in the room's zone later."""

    text: str

    async def resolve(self, ctx: CommandContext) -> datetime:
        return parse_when(self.text, await ctx.host.settings.zone(ctx.room_id))


@dataclass(frozen=True)
class PendingRoom(Deferred):
    """``#alias:server``, ``!id:server`` or a matrix.to link, resolved by the homeserver."""

    ref: str

    async def resolve(self, ctx: CommandContext) -> RoomID:
        return await ctx.host.resolve_room(self.ref)


@dataclass(frozen=True)
class PendingText(Deferred):
    """The rest of the message exactly as typed, after the first ``skip`` words: apostrophes,
    quotes and spacing kept (the word splitter would eat a quote pair)."""

    skip: int
    words: str  # what the splitter made of it, used if the message cannot be read again

    async def resolve(self, ctx: CommandContext) -> str:
        parts = ctx.body.split(maxsplit=self.skip)
        return parts[self.skip].strip() if len(parts) > self.skip else self.words


_WHEN_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}( \S{1,255})?$")


def _when(text: str) -> PendingWhen:
    text = " ".join(text.split())
    if not _WHEN_SHAPE.match(text):
        raise ArgumentError(
            _("'{text}' is not a time: use YYYY-MM-DD HH:MM, optionally with a zone (e.g. UTC)", text=text)
        )
    words = text.split(" ")
    if len(words) == 3:
        parse_zone(words[2])  # an unknown zone is a TimeSpecError now, not after the room lookup
    parse_when(" ".join(words[:2]) + " UTC", parse_zone("UTC"))  # the date itself exists
    return PendingWhen(text)


def _user(text: str) -> str:
    if not is_user_id(text):
        raise ArgumentError(_("'{text}' is not a Matrix user id like @name:example.org", text=text))
    return text


_ON = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def _on_off(text: str) -> bool:
    try:
        return _ON[text.lower()]
    except KeyError:
        raise ArgumentError(_("'{text}' is neither on nor off", text=text)) from None


def _room(text: str) -> PendingRoom:
    if not (text.startswith(("#", "!", "https://matrix.to/#/")) and ":" in text):
        raise ArgumentError(
            _("'{text}' is not a room: use #alias:server, a room id or a matrix.to link", text=text)
        )
    return PendingRoom(text)


@dataclass(frozen=True)
class Converter:
    """How a marker in ``Annotated[...]`` reads its words: one (``word``) or all up to the next
    keyword (``words``), and the metavar shown when the parameter declares none."""

    convert: Callable[[str], Any]
    kind: str
    metavar: str | None = None


When = Annotated[datetime, Converter(_when, "words", "when")]
UserRef = Annotated[str, Converter(_user, "word", "user")]
OnOff = Annotated[bool, Converter(_on_off, "word", "on|off")]
Room = Annotated[RoomID, Converter(_room, "word", "room")]


# Free text as typed (a ghost voice, an amendment): the last parameter, in a command without
# keywords (a keyword word inside the text would otherwise cut it).
def as_text(text: str) -> Words:
    """The words as split (the wrapper replaces them with the text as typed: PendingText)."""
    return Words(text)


Text = Annotated[str, Converter(as_text, "words")]

# Plain annotations (no marker): the router's own table, so both grammars agree.
PLAIN: dict[Any, Converter] = {
    str: Converter(str, "word"),
    int: Converter(whole_number, "word"),
    Words: Converter(Words, "words"),
    RoomRef: Converter(RoomRef, "word"),
    timedelta: Converter(parse_duration, "word", "duration"),
}


def converter_for(annotation: Any) -> tuple[Converter, str | None]:
    """The converter and declared metavar for a parameter's (resolved) annotation.

    ``X | None`` reads as ``X``; ``Annotated[int, IntRange(..)]`` range-checks; a
    :class:`Metavar` anywhere in the metadata names the parameter in usage lines.
    """
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and getattr(origin, "__name__", "") == "UnionType"):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    metavar: str | None = None
    found: Converter | None = None
    if typing.get_origin(annotation) is Annotated:
        base, *meta = typing.get_args(annotation)
        for m in meta:
            if isinstance(m, Metavar):
                metavar = m.name
            elif isinstance(m, Converter):
                found = m
            elif isinstance(m, IntRange):
                found = Converter(m, "word", "n")
        if found is None:
            found = PLAIN.get(base)
    else:
        found = PLAIN.get(annotation)
    if found is None:
        raise TypeError(f"no converter for a parameter typed {annotation!r}")
    return found, metavar or found.metavar
