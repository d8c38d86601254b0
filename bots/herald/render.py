"""How the herald's answers read: plain text for every client, HTML tables where a grid helps.

Pure functions of what the commands already loaded, so each answer is easy to test and to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from protocols.herald import LOCAL_KEYS, MemberRoom, PlannedMessage, ProtocolTemplate, TemplateIssue
from protocols.herald.templates import Phase, format_offset
from protocols.timespec import format_duration, format_local
from storage.herald import Member


def template_list(
    templates: Mapping[str, ProtocolTemplate], problems: Sequence[TemplateIssue]
) -> tuple[str, str]:
    if not templates:
        text = "No protocol templates are installed."
        return text, f"<p>{escape(text)}</p>"
    lines, items = [], []
    for name in sorted(templates):
        t = templates[name]
        summary = " ".join(t.description.split())
        lines.append(f"• {name} — {len(t.phases)} phases: {summary}")
        items.append(f"<li><code>{escape(name)}</code> — {len(t.phases)} phases: {escape(summary)}</li>")
    lines.append("Details: !protocol show <template>; start one with !protocol start <template> at <when>.")
    tail = "<p>Details: <code>!protocol show &lt;template&gt;</code></p>"
    if problems:
        files = len({issue.source for issue in problems})
        note = f"{files} template file{'s' if files > 1 else ''} could not be loaded; the operator's log says why."
        lines.append(note)
        tail += f"<p><em>{escape(note)}</em></p>"
    return "\n".join(lines), f"<ul>{''.join(items)}</ul>{tail}"


def _ack_words(phase: Phase) -> str:
    ack = phase.ack
    if not ack.needed or ack.within is None:
        return "no ack needed"
    return f"ack within {format_duration(ack.within)}"


def template_detail(t: ProtocolTemplate) -> tuple[str, str]:
    lines = [f"{t.name}: {' '.join(t.description.split())}"]
    rows = []
    for p in t.phases:
        lines.append(f"• {format_offset(p.offset)} {p.key} — {p.title} ({_ack_words(p)})")
        lines += [f"    ☐ {item}" for item in p.checklist]
        checklist = "".join(f"<li>☐ {escape(i)}</li>" for i in p.checklist)
        rows.append(
            f"<tr><td>{escape(format_offset(p.offset))}</td><td><code>{escape(p.key)}</code></td>"
            f"<td>{escape(p.title)}{f'<ul>{checklist}</ul>' if checklist else ''}</td>"
            f"<td>{escape(_ack_words(p))}</td></tr>"
        )
    html = (
        f"<p><strong>{escape(t.name)}</strong>: {escape(' '.join(t.description.split()))}</p>"
        "<table><thead><tr><th>when</th><th>phase</th><th>what</th><th>ack</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return "\n".join(lines), html


def plan_preview(
    run_id: str,
    template: ProtocolTemplate,
    action_at: datetime,
    rooms: Sequence[tuple[MemberRoom, str]],
    plan: Sequence[PlannedMessage],
    zone: ZoneInfo,
) -> tuple[str, str]:
    """The plan as rooms x phases, each cell the send time in that room's own zone."""
    at: dict[tuple[str, str], PlannedMessage] = {(m.room_id, m.phase_key): m for m in plan}
    head = (
        f"Plan {run_id}: {template.name}, action at {format_local(action_at, zone)} — "
        f"{len(rooms)} rooms x {len(template.phases)} phases = {len(plan)} messages."
    )
    confirm = f"Nothing is sent until you confirm: !protocol confirm {run_id}"
    lines = [head]
    for p in template.phases:
        lines.append(f"• {p.key} ({format_offset(p.offset)}): {p.title}, {_ack_words(p)}")
    lines.append("Rooms: " + ", ".join(label for _, label in rooms))
    missing = [
        label for room, label in rooms
        if not room.details.get("meeting_point") or not room.details.get("local_contact")
    ]
    if missing:
        lines.append("Local details not set yet in: " + ", ".join(missing) + " (!local set ...).")
    lines.append(confirm)

    def cell(room: MemberRoom, key: str) -> str:
        m = at.get((room.room_id, key))
        if m is None:
            return "·"
        return "now" if m.immediate else m.due_at.astimezone(room.zone).strftime("%m-%d %H:%M %Z")

    columns = "".join(f"<th>{escape(p.key)} {escape(format_offset(p.offset))}</th>" for p in template.phases)
    body = "".join(
        f"<tr><td>{escape(label)}</td>" + "".join(f"<td>{escape(cell(room, p.key))}</td>" for p in template.phases) + "</tr>"
        for room, label in rooms
    )
    html = (
        f"<p><strong>{escape(head)}</strong></p>"
        f"<table><thead><tr><th>room</th>{columns}</tr></thead><tbody>{body}</tbody></table>"
        + (f"<p>Local details not set yet in: {escape(', '.join(missing))}</p>" if missing else "")
        + f"<p><em>{escape(confirm)}</em></p>"
    )
    return "\n".join(lines), html


def rooms_table(
    coalition: str, coordination_room: str, members: Sequence[tuple[Member, str]]
) -> tuple[str, str]:
    lines = [f"Coalition {coalition}: {len(members)} rooms"]
    rows = []
    for member, label in members:
        role = " (coordination)" if member.room_id == coordination_room else ""
        liaison = member.liaison or "no liaison"
        lines.append(f"• {label}{role} — {member.homeserver} — liaison {liaison}")
        rows.append(
            f"<tr><td>{escape(label)}{escape(role)}</td><td>{escape(member.homeserver)}</td>"
            f"<td>{escape(liaison)}</td></tr>"
        )
    html = (
        f"<p><strong>{escape(lines[0])}</strong></p><table><thead><tr><th>room</th>"
        f"<th>homeserver</th><th>liaison</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return "\n".join(lines), html


def local_details(details: Mapping[str, str]) -> tuple[str, str]:
    lines, items = [], []
    for key, hint in LOCAL_KEYS.items():
        value = details.get(key)
        shown = value if value else f"not set — {hint}"
        lines.append(f"• {key}: {shown}")
        items.append(f"<li><code>{escape(key)}</code>: {escape(shown)}</li>")
    lines.append("Change one with !local set <key> <value>.")
    return "\n".join(lines), f"<ul>{''.join(items)}</ul><p>Change one with <code>!local set &lt;key&gt; &lt;value&gt;</code>.</p>"
