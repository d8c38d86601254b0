"""How the herald's answers read: each function returns a :class:`Message` (plain and HTML from
one source, no tables: Element X shows none, so grids become lists and ``term: value`` lines).

Pure functions of what the commands already loaded, so each answer is easy to test and to change.
The one exception is :class:`Planned`: a phase message rendered by the pure plan
(``protocols.herald.plan``), whose text other heralds recompute, sent as it was planned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bots.runtime.message import Inline, Message, bold, code, italic
from protocols.herald import LOCAL_KEYS, MemberRoom, PlannedMessage, ProtocolTemplate, TemplateIssue
from protocols.herald.board import Cell, DeliveryLike, board_columns, cell_status
from protocols.herald.events import USAGE as EVENT_USAGE
from protocols.herald.events import CalendarEvent
from protocols.herald.templates import Phase, format_offset
from protocols.timespec import format_duration, format_local
from storage.herald import Member


@dataclass(frozen=True)
class Planned(Message):
    """A planned phase message exactly as the plan rendered it (its text is part of the plan)."""

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


def marked(banner: str, body: str, rich: str, strike: bool = False) -> Message:
    """A phase message with a banner on top (an amendment or stand-down marks the old one)."""
    head = Message.of(bold(banner))
    return Planned(body=f"{banner}\n\n{body}", rich=head.html + (f"<del>{rich}</del>" if strike else rich))


def template_list(templates: Mapping[str, ProtocolTemplate], problems: Sequence[TemplateIssue]) -> Message:
    if not templates:
        return Message.of("No protocol templates are installed.")
    items: list[list[Inline]] = []
    for name in sorted(templates):
        t = templates[name]
        items.append([code(name), f" — {len(t.phases)} phases: {' '.join(t.description.split())}"])
    msg = (
        Message()
        .bullets(items)
        .paragraph(
            "Details: ",
            code("!protocol show <template>"),
            "; start one with ",
            code("!protocol start <template> at <when>"),
            ".",
        )
    )
    if problems:
        files = len({issue.source for issue in problems})
        msg = msg.paragraph(
            italic(
                f"{files} template file{'s' if files > 1 else ''} could not be loaded; the operator's log says why."
            )
        )
    return msg


def _ack_words(phase: Phase) -> str:
    ack = phase.ack
    if not ack.needed or ack.within is None:
        return "no ack needed"
    return f"ack within {format_duration(ack.within)}"


def template_detail(t: ProtocolTemplate) -> Message:
    msg = Message.of(bold(t.name), ": ", " ".join(t.description.split()))
    for p in t.phases:
        msg = msg.paragraph(f"{format_offset(p.offset)} ", code(p.key), f" — {p.title} ({_ack_words(p)})")
        msg = msg.bullets([f"☐ {item}" for item in p.checklist])
    return msg


def plan_preview(
    run_id: str,
    template: ProtocolTemplate,
    action_at: datetime,
    rooms: Sequence[tuple[MemberRoom, str]],
    plan: Sequence[PlannedMessage],
    zone: ZoneInfo,
) -> Message:
    """The plan: its phases, then each room with its send times in the room's own zone."""
    at: dict[tuple[str, str], PlannedMessage] = {(m.room_id, m.phase_key): m for m in plan}
    head = (
        f"Plan {run_id}: {template.name}, action at {format_local(action_at, zone)} — "
        f"{len(rooms)} rooms x {len(template.phases)} phases = {len(plan)} messages."
    )

    def when(room: MemberRoom, key: str) -> str:
        m = at.get((room.room_id, key))
        if m is None:
            return "·"
        return "now" if m.immediate else m.due_at.astimezone(room.zone).strftime("%m-%d %H:%M %Z")

    msg = Message.of(bold(head)).bullets(
        [code(p.key), f" ({format_offset(p.offset)}): {p.title}, {_ack_words(p)}"] for p in template.phases
    )
    msg = msg.definitions(
        (label, ", ".join(f"{p.key} {when(room, p.key)}" for p in template.phases)) for room, label in rooms
    )
    missing = [
        label
        for room, label in rooms
        if not room.details.get("meeting_point") or not room.details.get("local_contact")
    ]
    if missing:
        msg = msg.paragraph("Local details not set yet in: " + ", ".join(missing) + " (!local set ...).")
    return msg.paragraph(italic(f"Nothing is sent until you confirm: !protocol confirm {run_id}"))


def rooms_list(coalition: str, coordination_room: str, members: Sequence[tuple[Member, str]]) -> Message:
    items = []
    for member, label in members:
        role = " (coordination)" if member.room_id == coordination_room else ""
        items.append(f"{label}{role} — {member.homeserver} — liaison {member.liaison or 'no liaison'}")
    return Message.of(bold(f"Coalition {coalition}: {len(members)} rooms")).bullets(items)


def local_details(details: Mapping[str, str]) -> Message:
    pairs: list[tuple[Inline, Inline]] = []
    for key, hint in LOCAL_KEYS.items():
        value = details.get(key)
        pairs.append((code(key), value if value else f"not set — {hint}"))
    return Message().definitions(pairs).paragraph("Change one with ", code("!local set <key> <value>"), ".")


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
            for key, _ in columns
        )

    msg = Message.of(bold(f"Run {run_id} — {template.name}"))
    msg = (
        msg.definitions((label, cells(room_id)) for room_id, label in rooms)
        if rooms
        else msg.paragraph("(no member rooms)")
    )
    return msg.paragraph(italic(" · ".join(f"{c.symbol} {c.label}" for c in Cell if c is not Cell.NONE)))


def events_listing(coalition: str, events: Sequence[CalendarEvent], zone: ZoneInfo) -> Message:
    """``!events``, in the asking room's zone."""
    msg = Message.of(bold(f"{coalition} calendar"))
    ordered = sorted(events, key=lambda e: (e.starts_at, e.title))
    if not ordered:
        return msg.paragraph(f"No events yet. Add one: {EVENT_USAGE}")
    return msg.definitions(
        (format_local(e.starts_at, zone), e.title + (f" — {e.place}" if e.place else "")) for e in ordered
    )
