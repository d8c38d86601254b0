"""The skill-swap board's messages, as :class:`Message` (no tables, nothing escaped by hand).

Pure functions: the feature decides what to say, these say it. The board shows counts and
notes, never who asked or offered: names travel only in a match both people agreed to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.runtime.message import Inline, Message, bold, code, mention
from protocols.skills import BoardLine, Entry, Match
from protocols.timespec import format_duration, format_local

NEWEST_NOTES = 5


def _entry_line(entry: Entry) -> list[Inline]:
    line: list[Inline] = [code(f"#{entry.id}"), f" {entry.kind} ", bold(entry.skill)]
    if entry.note:
        line.append(f": {entry.note}")
    return line


def posted(entry: Entry, ttl: timedelta, matched: int, close: Sequence[str]) -> Message:
    """The reply to ``!offer`` / ``!ask``."""
    verb = "offer" if entry.kind == "offer" else "ask"
    msg = Message.of(
        f"On the board as #{entry.id}: your {verb} of ",
        bold(entry.skill),
        f" (for {format_duration(ttl)}; withdraw it with ",
        code(f"!skills withdraw {entry.id}"),
        ").",
    )
    if matched:
        other = ("offer" if entry.kind == "ask" else "ask") + ("s" if matched != 1 else "")
        msg = msg.paragraph(
            f"It meets {matched} {other}: I am asking each of you by direct message whether you want "
            "to be put in touch. Names are shared only when both say yes."
        )
    if close:
        msg = msg.paragraph(
            "Known here and close to it: ",
            ", ".join(close),
            ". If you meant one of those, withdraw this and use the known tag, so asks and offers meet.",
        )
    return msg


def board(
    lines: Sequence[BoardLine],
    newest: Sequence[Entry],
    mine: Sequence[Entry],
    held: Mapping[str, int],
    known: Sequence[str],
    zone: ZoneInfo,
) -> Message:
    """``!skills``: counts per skill, the newest notes, your own entries, who-holds counts."""
    if not lines:
        msg = Message.of(
            "Nothing on the board yet. Offer a skill with !offer <skill> [note], or ask with !ask."
        )
    else:
        msg = Message.of(bold("Skill swap board"), " (offers / asks):").bullets(
            [
                bold(b.skill),
                f": {b.offers} offer{'s' if b.offers != 1 else ''}, {b.asks} ask{'s' if b.asks != 1 else ''}",
            ]
            for b in lines
        )
    notes = [e for e in newest if e.note][:NEWEST_NOTES]
    if notes:
        msg = msg.paragraph("Newest notes:").bullets(_entry_line(e) for e in notes)
    if mine:
        msg = msg.paragraph("Yours:").bullets(
            [*_entry_line(e), f" (until {format_local(e.expires_at, zone)})"] for e in mine
        )
    if held:
        msg = msg.paragraph(
            "Held here (!learned): ", ", ".join(f"{skill} {n}" for skill, n in held.items()), "."
        )
    if known:
        msg = msg.paragraph("Known skills: ", ", ".join(known), ".")
    return msg


def ask_consent(match: Match, side: str, room_name: str, note: str | None, ttl: timedelta) -> Message:
    """The DM asking one side of a match: who the other is stays unsaid."""
    if side == "asker":
        what = f"Someone in {room_name} offers {match.skill}, which you asked for."
    else:
        what = f"Someone in {room_name} asks for {match.skill}, which you offered."
    msg = Message.of(bold(f"Skill swap, match {match.id}: "), what)
    if note:
        msg = msg.paragraph("Their note: ", note)
    return msg.paragraph(
        "Would you like to be put in touch? Your name is shared only if you both say yes; a no "
        "shares nothing with anyone. Answer ",
        code(f"!swap yes {match.id}"),
        " or ",
        code(f"!swap no {match.id}"),
        f" within {format_duration(ttl)}.",
    )


def introduce(match: Match, other: str, room_name: str) -> Message:
    return Message.of(
        bold(f"Skill swap, match {match.id}: "),
        "you both said yes. Meet ",
        mention(other),
        f" about {match.skill} (from {room_name}). Write to them directly; I keep nothing of what you say.",
    )


def not_going_ahead(match: Match) -> Message:
    return Message.of(
        bold(f"Skill swap, match {match.id}: "),
        f"this match about {match.skill} did not go ahead. No name was shared with anyone.",
    )


def waiting(match: Match) -> Message:
    return Message.of(
        f"Noted: yes to match {match.id}. When the other side says yes too, I introduce you to each other."
    )


def declined(match: Match) -> Message:
    return Message.of(
        f"Noted: no to match {match.id}. Nobody learns your name, and nobody learns who said no."
    )


def learned(skill: str, confirming: bool, is_new: bool, held_for: timedelta) -> Message:
    head = f"Recorded: you hold {skill}" if is_new else f"Renewed: you hold {skill}"
    tail = f" (for {format_duration(held_for)}; type it again to renew)."
    if confirming:
        return Message.of(
            head,
            tail,
            " This room asks a moderator to confirm skills: until one types ",
            code(f"!skills confirm <you> {skill}"),
            ", it does not open roles.",
        )
    return Message.of(head, tail)


def requirement(
    role: str, skill: str, holders: int, teachers: Sequence[str], when: datetime | None
) -> Message:
    msg = Message.of(f"{role} is drawn only among members who hold {skill}.")
    if holders:
        return msg.paragraph(
            f"{holders} member{'s' if holders != 1 else ''} here hold{'s' if holders == 1 else ''} it."
        )
    explain = f"Nobody here holds {skill} yet, so {role} cannot be drawn until someone does"
    if teachers:
        explain += f". Who could teach it: {', '.join(teachers)}."
    else:
        explain += f". Nobody offers it yet: ask with !ask {skill}."
    return msg.paragraph(explain, " Whoever learns it types ", code(f"!learned {skill}"), ".")
