"""The care feature's messages, each a :class:`~bots.runtime.message.Message`. Pure: the
feature decides what to say, these say it, in the room's language (bots/runtime/i18n.py).
Times are shown in the rota's zone.

Names of volunteers are shown as plain user ids (no mention) on boards and lists, so reading
the board pings nobody; a turn's start and a flag mention the people they concern. (The
recurrence's description, protocols/recurrence.py, is the ritual's own English words still.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.runtime import i18n_recurrence as described
from bots.runtime.i18n import _, duration, ngettext, when
from bots.runtime.i18n_join import joined as join_with
from bots.runtime.message import Inline, Message, Span, bold, code, mention
from protocols.rota import Flag, Preview, Rota, Turn

TURN = "🫶"
FLAG = "⚠️"
LATE_NOTE = _("(Posted late: the bot was away when the turn began.)")


def _people(count: int) -> Span:
    return ngettext("{n} person", "{n} people", count)


def _holders(holders: Sequence[str]) -> Inline:
    return ", ".join(holders) if holders else _("nobody yet")


def added(rota: Rota, next_at: datetime | None) -> Message:
    msg = Message.of(
        _(
            "Rota {name}: {recurrence}, {people} a turn.",
            name=bold(rota.name),
            recurrence=described.recurrence(rota.recurrence),
            people=_people(rota.size),
        )
    )
    if next_at is not None:
        msg = msg.paragraph(_("First turn: {when}.", when=when(next_at, rota.recurrence.zone)))
    return msg.paragraph(
        _("Nobody is in it yet: volunteer with {command}.", command=code(f"!rota join {rota.name}"))
    )


def _volunteers(count: int) -> Span:
    return ngettext("{n} volunteer", "{n} volunteers", count)


def rota_line(rota: Rota, next_turn: Preview | None) -> list[Inline]:
    line: list[Inline] = [
        _(
            "{name}: {recurrence}, {people} a turn, {volunteers}",
            name=bold(rota.name),
            recurrence=described.recurrence(rota.recurrence),
            people=_people(rota.size),
            volunteers=_volunteers(len(rota.pool)),
        )
    ]
    if next_turn is not None:
        line.append(
            _(
                "; next {when}: {holders}",
                when=when(next_turn.turn.at, rota.recurrence.zone),
                holders=_holders(next_turn.turn.holders),
            )
        )
    return line


def rotas_list(lines: Sequence[list[Inline]]) -> Message:
    if not lines:
        return Message.of(
            _("No rotas here. Start one with {command}.", command=code("!rota add <name> every <recurrence>"))
        )
    return Message.of(_("Rotas in this room:")).bullets(lines)


def board(
    rota: Rota,
    ahead: Sequence[Preview],
    offers: Sequence[tuple[int, Turn, str]],
    now: datetime,
    lead: timedelta,
) -> Message:
    """``!rota show``: the recurrence, the pool's size, the reminders' lead, the turns ahead and
    open swap requests."""
    zone = rota.recurrence.zone
    away = sum(1 for until in rota.away.values() if until > now)
    head = _(
        "{name}: {recurrence}, {people} a turn.",
        name=bold(rota.name),
        recurrence=described.recurrence(rota.recurrence),
        people=_people(rota.size),
    )
    pool = (
        ngettext(
            "{volunteers}, {n} away for now.",
            "{volunteers}, {n} away for now.",
            away,
            volunteers=_volunteers(len(rota.pool)),
        )
        if away
        else _("{volunteers}.", volunteers=_volunteers(len(rota.pool)))
    )
    msg = Message.of(head, " ", pool).paragraph(
        _("Each holder is reminded by direct message {length} before their turn.", length=duration(lead))
    )
    if not ahead:
        msg = msg.paragraph(_("No turns ahead."))
    else:
        msg = msg.paragraph(_("Turns ahead:")).bullets(
            (
                _("{when}: {holders}", when=when(p.turn.at, zone), holders=_holders(p.turn.holders)),
                "" if p.given else _(" (if nothing changes)"),
            )
            for p in ahead
        )
    if offers:
        msg = msg.paragraph(_("Open swap requests (take one with !rota take <id>):")).bullets(
            _(
                "#{request}: {giver}'s turn on {when}",
                request=str(request),
                giver=giver,
                when=when(turn.at, zone),
            )
            for request, turn, giver in offers
        )
    return msg


def turn_start(rota: Rota, turn: Turn, late: bool) -> Message:
    if not turn.holders:
        msg = Message.of(
            TURN,
            " ",
            _(
                "{name}, turn {number}: it begins now and nobody holds it.",
                name=rota.name,
                number=str(turn.number),
            ),
        )
    else:
        msg = Message.of(
            TURN,
            " ",
            _(
                "{name}, turn {number}: it is the turn of {holders} now. Thank you for caring.",
                name=rota.name,
                number=str(turn.number),
                holders=join_with([mention(h) for h in turn.holders], _(" and ")),
            ),
        )
    return msg.paragraph(LATE_NOTE) if late else msg


def missed(rota: Rota, instants: Sequence[datetime]) -> Message:
    zone = rota.recurrence.zone
    return Message.of(
        ngettext(
            "{name}: {n} turn passed while the bot was away ({when}).",
            "{name}: {n} turns passed while the bot was away ({when}).",
            len(instants),
            name=rota.name,
            when=join_with([when(i, zone) for i in instants]),
        )
    )


def reminder(rota: Rota, turn: Turn, room_name: str) -> Message:
    day = turn.at.astimezone(rota.recurrence.zone).date().isoformat()
    return Message.of(
        TURN,
        " ",
        _(
            "A reminder: your {name} turn in {room} is {when}. If you cannot make it, say {command} "
            "in that room and someone can take it.",
            name=rota.name,
            room=room_name,
            when=when(turn.at, rota.recurrence.zone),
            command=code(f"!rota swap {rota.name} {day}"),
        ),
    )


def flag(rota: Rota, item: Flag, requests: Sequence[int]) -> Message:
    parts: list[Inline] = [
        FLAG,
        " ",
        _(
            "The {name} turn {when} still needs people: ",
            name=rota.name,
            when=when(item.turn.at, rota.recurrence.zone),
        ),
    ]
    if item.offered:
        asks: Inline = ", ".join(f"#{r}" for r in requests) or _("open")
        parts.append(
            ngettext(
                "{who} cannot make it (swap request {asks}: take it with {command} or react to the request)",
                "{who} cannot make it (swap request {asks}: take it with {command} or react to the request)",
                len(item.offered),
                who=join_with(list(item.offered), _(" and ")),
                asks=asks,
                command=code(f"!rota take {requests[0]}" if requests else "!rota take <id>"),
            )
        )
        if item.short:
            parts.append(_(", and "))
    if item.short:
        parts.append(
            _(
                "{people} more needed; {command} to help",
                people=_people(item.short),
                command=code(f"!rota join {rota.name}"),
            )
        )
    parts.append(".")
    return Message.of(*parts)


def swap_request(rota: Rota, request: int, turn: Turn, giver: str) -> Message:
    return Message.of(
        _(
            "Swap request #{request}: {giver} asks someone to take their {name} turn {when}. Take it "
            "with {command}, or react to this message.",
            request=str(request),
            giver=giver,
            name=rota.name,
            when=when(turn.at, rota.recurrence.zone),
            command=code(f"!rota take {request}"),
        )
    )


def taken(rota: Rota, turn: Turn, giver: str, taker: str) -> Message:
    return Message.of(
        _(
            "{taker} takes {giver}'s {name} turn {when}. Thank you.",
            taker=taker,
            giver=giver,
            name=rota.name,
            when=when(turn.at, rota.recurrence.zone),
        )
    )


def exchanged(rota: Rota, turn: Turn, other: Turn, giver: str, taker: str) -> Message:
    zone = rota.recurrence.zone
    return Message.of(
        _(
            "{taker} takes {giver}'s {name} turn {when}, and {giver} takes {taker}'s turn {other} in "
            "exchange, so both keep their count.",
            taker=taker,
            giver=giver,
            name=rota.name,
            when=when(turn.at, zone),
            other=when(other.at, zone),
        )
    )


def away(names: Sequence[str], until: datetime, zone: ZoneInfo, changed: int) -> Message:
    msg = Message.of(
        _(
            "You are away from {rotas} until {when}: you are skipped, and it is not held against you.",
            rotas=", ".join(names),
            when=when(until, zone),
        )
    )
    if changed:
        msg = msg.paragraph(
            ngettext("{n} of your turns went to others.", "{n} of your turns went to others.", changed)
        )
    return msg


def joined(rota: Rota) -> Message:
    return Message.of(
        _(
            "You are in the {name} rota ({volunteers}). Your turns are shown with {command}; you get "
            "a reminder by direct message before each.",
            name=rota.name,
            volunteers=_volunteers(len(rota.pool)),
            command=code(f"!rota show {rota.name}"),
        )
    )


def left(rota: Rota, changed: int) -> Message:
    said: list[Inline] = [
        _("You left the {name} rota ({volunteers}).", name=rota.name, volunteers=_volunteers(len(rota.pool)))
    ]
    if changed:
        said += [
            " ",
            ngettext("Your {n} turn ahead went to others.", "Your {n} turns ahead went to others.", changed),
        ]
    return Message.of(*said)


def removed(name: str) -> Message:
    return Message.of(_("Removed the {name} rota; its turns, requests and counts are forgotten.", name=name))
