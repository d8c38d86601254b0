"""How the herald's answers read: each function returns a :class:`Message` (plain and HTML from
one source, no tables: Element X shows none, so grids become lists and ``term: value`` lines),
its sentences through the message catalogue (bots/runtime/i18n.py), said in the room's language.

Pure functions of what the commands already loaded, so each answer is easy to test and to change.
The one exception is :class:`Planned`: a run's message, rendered once in its room's language
when the run was planned (``bots/herald/render_phases.py``), and sent as it was planned (its text
is part of the plan every herald shares).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bots.runtime.i18n import Translatable, _, duration, ngettext, when
from bots.runtime.message import Inline, Message, bold, code, italic, struck
from protocols.herald import LOCAL_KEYS, MemberRoom, PlannedMessage, ProtocolTemplate, TemplateIssue
from protocols.herald.board import Cell, DeliveryLike, board_columns, cell_status
from protocols.herald.templates import Phase, format_offset
from storage.herald import Member


@dataclass(frozen=True)
class Planned(Message):
    """A run's message as it was rendered when the run was planned (a ``Message`` rendered in
    its room's language, and stored): sent as it is, never rendered again."""

    body: str = ""
    rich: str = ""

    @property
    def plain(self) -> str:
        return self.body

    @property
    def html(self) -> str:
        return self.rich


def planned(body: str, rich: str) -> Message:
    return Planned(body=body, rich=rich)


def marked(banner: Inline, body: str, strike: bool = False) -> Message:
    """A run's earlier message with a banner on top (an amendment or a stand-down marks it):
    its words line by line, struck through for a stand-down."""
    msg = Message.of(bold(banner))
    for line in body.splitlines():
        if line.strip():
            msg = msg.paragraph(struck(line) if strike else line)
    return msg


def template_list(templates: Mapping[str, ProtocolTemplate], problems: Sequence[TemplateIssue]) -> Message:
    if not templates:
        return Message.of(_("No protocol templates are installed."))
    items: list[list[Inline]] = []
    for name in sorted(templates):
        t = templates[name]
        items.append(
            [
                code(name),
                " — ",
                ngettext(
                    "{n} phase: {description}",
                    "{n} phases: {description}",
                    len(t.phases),
                    description=" ".join(t.description.split()),
                ),
            ]
        )
    msg = (
        Message()
        .bullets(items)
        .paragraph(
            _(
                "Details: {show}; start one with {start}.",
                show=code("!protocol show <template>"),
                start=code("!protocol start <template> at <when>"),
            )
        )
    )
    if problems:
        files = len({issue.source for issue in problems})
        msg = msg.paragraph(
            italic(
                ngettext(
                    "{n} template file could not be loaded; the operator's log says why.",
                    "{n} template files could not be loaded; the operator's log says why.",
                    files,
                )
            )
        )
    return msg


def _ack_words(phase: Phase) -> Translatable:
    ack = phase.ack
    if not ack.needed or ack.within is None:
        return _("no ack needed")
    return _("ack within {within}", within=duration(ack.within))


def template_detail(t: ProtocolTemplate, language: str = "") -> Message:
    """A template's phases, in ``language`` where the template has their words in it."""
    msg = Message.of(bold(t.name), ": ", " ".join(t.description.split()))
    for p in (phase.in_language(language) for phase in t.phases):
        msg = msg.paragraph(f"{format_offset(p.offset)} ", code(p.key), f" — {p.title} (", _ack_words(p), ")")
        msg = msg.bullets([f"☐ {item}" for item in p.checklist])
    return msg


def plan_preview(
    run_id: str,
    template: ProtocolTemplate,
    action_at: datetime,
    rooms: Sequence[tuple[MemberRoom, str]],
    plan: Sequence[PlannedMessage],
    zone: ZoneInfo,
    language: str = "",
) -> Message:
    """The plan: its phases (in ``language`` where the template has their words in it), then
    each room with its send times in the room's own zone."""
    at: dict[tuple[str, str], PlannedMessage] = {(m.room_id, m.phase_key): m for m in plan}
    head = _(
        "Plan {run}: {template}, action at {when} — {rooms} rooms x {phases} phases = {messages} messages.",
        run=run_id,
        template=template.name,
        when=when(action_at, zone),
        rooms=len(rooms),
        phases=len(template.phases),
        messages=len(plan),
    )

    def sent_at(room: MemberRoom, key: str) -> Inline:
        m = at.get((room.room_id, key))
        if m is None:
            return "·"
        return _("now") if m.immediate else m.due_at.astimezone(room.zone).strftime("%m-%d %H:%M %Z")

    def times(room: MemberRoom) -> list[Inline]:
        out: list[Inline] = []
        for n, p in enumerate(template.phases):
            out += [", " if n else "", f"{p.key} ", sent_at(room, p.key)]
        return out

    msg = Message.of(bold(head)).bullets(
        [code(p.key), f" ({format_offset(p.offset)}): {p.in_language(language).title}, ", _ack_words(p)]
        for p in template.phases
    )
    msg = msg.definitions((label, times(room)) for room, label in rooms)
    missing = [
        label
        for room, label in rooms
        if not room.details.get("meeting_point") or not room.details.get("local_contact")
    ]
    if missing:
        msg = msg.paragraph(
            _("Local details not set yet in: {rooms} (!local set ...).", rooms=", ".join(missing))
        )
    return msg.paragraph(
        italic(_("Nothing is sent until you confirm: {command}", command=f"!protocol confirm {run_id}"))
    )


def rooms_list(coalition: str, coordination_room: str, members: Sequence[tuple[Member, str]]) -> Message:
    items: list[Inline] = []
    for member, label in members:
        liaison = member.liaison or _("no liaison")
        if member.room_id == coordination_room:
            items.append(
                _(
                    "{room} (coordination) — {server} — liaison {liaison}",
                    room=label,
                    server=member.homeserver,
                    liaison=liaison,
                )
            )
        else:
            items.append(
                _(
                    "{room} — {server} — liaison {liaison}",
                    room=label,
                    server=member.homeserver,
                    liaison=liaison,
                )
            )
    title = ngettext(
        "Coalition {coalition}: {n} room",
        "Coalition {coalition}: {n} rooms",
        len(members),
        coalition=coalition,
    )
    return Message.of(bold(title)).bullets(items)


# What each local detail is for (protocols.herald.local.LOCAL_KEYS), in the room's language.
_HINTS: dict[str, Translatable] = {
    "meeting_point": _("where your group meets, e.g. 'Town hall steps, Market Square'"),
    "local_contact": _("who people call on the day, e.g. '@ana:example.org or +33 6 12 34 56 78'"),
    "language": _("the language of your briefings, e.g. 'French' or 'fr'"),
    "timezone": _("your room's IANA time zone, e.g. Europe/Paris"),
}


def local_details(details: Mapping[str, str]) -> Message:
    pairs: list[tuple[Inline, Inline]] = []
    for key, hint in LOCAL_KEYS.items():
        value = details.get(key)
        pairs.append((code(key), value if value else _("not set — {hint}", hint=_HINTS.get(key) or hint)))
    return (
        Message()
        .definitions(pairs)
        .paragraph(_("Change one with {command}.", command=code("!local set <key> <value>")))
    )


# What each square of the board means, in the room's language.
_CELLS: dict[Cell, Translatable] = {
    Cell.ACKED: _("acked"),
    Cell.PENDING: _("waiting for ack"),
    Cell.MISSED: _("ack missed"),
    Cell.NOT_SENT: _("not sent"),
    Cell.FAILED: _("delivery failed"),
    Cell.SENT: _("sent, no ack needed"),
    Cell.NONE: _("not part of this run"),
}


def ack_board(
    template: ProtocolTemplate,
    run_id: str,
    rooms: Sequence[tuple[str, str]],
    deliveries: Sequence[DeliveryLike],
    now: datetime,
) -> Message:
    """The acknowledgement board: one ``room: phase symbol, ...`` line per room."""
    columns = board_columns(template, deliveries)
    by_cell = {(d.room_id, d.phase_key): d for d in deliveries}

    def cells(room_id: str) -> str:
        return ", ".join(
            f"{key} {(cell_status(by_cell[(room_id, key)], now) if (room_id, key) in by_cell else Cell.NONE).symbol}"
            for key, _heading in columns
        )

    msg = Message.of(bold(_("Run {run} — {template}", run=run_id, template=template.name)))
    msg = (
        msg.definitions((label, cells(room_id)) for room_id, label in rooms)
        if rooms
        else msg.paragraph(_("(no member rooms)"))
    )
    legend: list[Inline] = []
    for c in Cell:
        if c is not Cell.NONE:
            legend += [" · " if legend else "", f"{c.symbol} ", _CELLS[c]]
    return msg.paragraph(italic(*legend))
