"""The care feature's messages, each a :class:`~bots.runtime.message.Message`. Pure: the
feature decides what to say, these say it. Times are shown in the rota's zone.

Names of volunteers are shown as plain user ids (no mention) on boards and lists, so reading
the board pings nobody; a turn's start and a flag mention the people they concern.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bots.runtime.message import Inline, Message, bold, code, mention
from protocols.recurrence import describe
from protocols.rota import Flag, Preview, Rota, Turn
from protocols.timespec import format_local

TURN = "🫶"
FLAG = "⚠️"
LATE_NOTE = "(Posted late: the bot was away when the turn began.)"


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"


def _holders(holders: Sequence[str]) -> str:
    return ", ".join(holders) if holders else "nobody yet"


def added(rota: Rota, next_at: datetime | None) -> Message:
    msg = Message.of(
        "Rota ",
        bold(rota.name),
        f": {describe(rota.recurrence)}, {_people(rota.size)} a turn.",
    )
    if next_at is not None:
        msg = msg.paragraph(f"First turn: {format_local(next_at, rota.recurrence.zone)}.")
    return msg.paragraph("Nobody is in it yet: volunteer with ", code(f"!rota join {rota.name}"), ".")


def rota_line(rota: Rota, next_turn: Preview | None) -> list[Inline]:
    line: list[Inline] = [
        bold(rota.name),
        f": {describe(rota.recurrence)}, {_people(rota.size)} a turn, {len(rota.pool)} volunteers",
    ]
    if next_turn is not None:
        when = format_local(next_turn.turn.at, rota.recurrence.zone)
        line.append(f"; next {when}: {_holders(next_turn.turn.holders)}")
    return line


def rotas_list(lines: Sequence[list[Inline]]) -> Message:
    if not lines:
        return Message.of("No rotas here. Start one with ", code("!rota add <name> every <recurrence>"), ".")
    return Message.of("Rotas in this room:").bullets(lines)


def board(
    rota: Rota, ahead: Sequence[Preview], offers: Sequence[tuple[int, Turn, str]], now: datetime
) -> Message:
    """``!rota show``: the recurrence, the pool's size, the turns ahead and open swap requests."""
    zone = rota.recurrence.zone
    away = sum(1 for until in rota.away.values() if until > now)
    msg = Message.of(
        bold(rota.name),
        f": {describe(rota.recurrence)}, {_people(rota.size)} a turn. "
        f"{len(rota.pool)} volunteers" + (f", {away} away for now." if away else "."),
    )
    if not ahead:
        msg = msg.paragraph("No turns ahead.")
    else:
        msg = msg.paragraph("Turns ahead:").bullets(
            f"{format_local(p.turn.at, zone)}: {_holders(p.turn.holders)}"
            + ("" if p.given else " (if nothing changes)")
            for p in ahead
        )
    if offers:
        msg = msg.paragraph("Open swap requests (take one with !rota take <id>):").bullets(
            f"#{request}: {giver}'s turn on {format_local(turn.at, zone)}" for request, turn, giver in offers
        )
    return msg


def turn_start(rota: Rota, turn: Turn, late: bool) -> Message:
    parts: list[Inline] = [f"{TURN} {rota.name}, turn {turn.number}: it is the turn of "]
    for i, holder in enumerate(turn.holders):
        if i:
            parts.append(" and ")
        parts.append(mention(holder))
    parts.append(" now. Thank you for caring.")
    if not turn.holders:
        parts = [f"{TURN} {rota.name}, turn {turn.number}: it begins now and nobody holds it."]
    msg = Message.of(*parts)
    return msg.paragraph(LATE_NOTE) if late else msg


def missed(rota: Rota, instants: Sequence[datetime]) -> Message:
    zone = rota.recurrence.zone
    when = ", ".join(format_local(i, zone) for i in instants)
    count = "1 turn" if len(instants) == 1 else f"{len(instants)} turns"
    return Message.of(f"{rota.name}: {count} passed while the bot was away ({when}).")


def reminder(rota: Rota, turn: Turn, room_name: str) -> Message:
    when = format_local(turn.at, rota.recurrence.zone)
    day = turn.at.astimezone(rota.recurrence.zone).date().isoformat()
    return Message.of(
        f"{TURN} A reminder: your {rota.name} turn in {room_name} is {when}. If you cannot make it, say ",
        code(f"!rota swap {rota.name} {day}"),
        " in that room and someone can take it.",
    )


def flag(rota: Rota, item: Flag, requests: Sequence[int]) -> Message:
    when = format_local(item.turn.at, rota.recurrence.zone)
    parts: list[Inline] = [f"{FLAG} The {rota.name} turn {when} still needs people: "]
    if item.offered:
        asks = ", ".join(f"#{r}" for r in requests) or "open"
        parts.append(f"{' and '.join(item.offered)} cannot make it (swap request {asks}: take it with ")
        parts.append(code(f"!rota take {requests[0]}" if requests else "!rota take <id>"))
        parts.append(" or react to the request)")
        if item.short:
            parts.append(", and ")
    if item.short:
        parts.append(f"{_people(item.short)} more needed; ")
        parts.append(code(f"!rota join {rota.name}"))
        parts.append(" to help")
    parts.append(".")
    return Message.of(*parts)


def swap_request(rota: Rota, request: int, turn: Turn, giver: str) -> Message:
    when = format_local(turn.at, rota.recurrence.zone)
    return Message.of(
        f"Swap request #{request}: {giver} asks someone to take their {rota.name} turn {when}. Take it with ",
        code(f"!rota take {request}"),
        ", or react to this message.",
    )


def taken(rota: Rota, turn: Turn, giver: str, taker: str) -> Message:
    when = format_local(turn.at, rota.recurrence.zone)
    return Message.of(f"{taker} takes {giver}'s {rota.name} turn {when}. Thank you.")


def exchanged(rota: Rota, turn: Turn, other: Turn, giver: str, taker: str) -> Message:
    zone = rota.recurrence.zone
    return Message.of(
        f"{taker} takes {giver}'s {rota.name} turn {format_local(turn.at, zone)}, and {giver} takes "
        f"{taker}'s turn {format_local(other.at, zone)} in exchange, so both keep their count."
    )


def away(names: Sequence[str], until: datetime, zone: ZoneInfo, changed: int) -> Message:
    msg = Message.of(
        f"You are away from {', '.join(names)} until {format_local(until, zone)}: you are skipped, "
        "and it is not held against you."
    )
    if changed:
        msg = msg.paragraph(f"{changed} of your turns went to others.")
    return msg


def joined(rota: Rota) -> Message:
    return Message.of(
        f"You are in the {rota.name} rota ({len(rota.pool)} volunteers). Your turns are shown with ",
        code(f"!rota show {rota.name}"),
        "; you get a reminder by direct message before each.",
    )


def left(rota: Rota, changed: int) -> Message:
    text = f"You left the {rota.name} rota ({len(rota.pool)} volunteers)."
    if changed:
        text += f" Your {changed} turns ahead went to others."
    return Message.of(text)


def removed(name: str) -> Message:
    return Message.of(f"Removed the {name} rota; its turns, requests and counts are forgotten.")
