"""The skill-swap board's messages, as :class:`Message` (no tables, nothing escaped by hand),
in the room's language (bots/runtime/i18n.py); a match's direct messages in the DM's.

Pure functions: the feature decides what to say, these say it. The board shows counts and
notes, never who asked or offered: names travel only in a match both people agreed to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.runtime.i18n import Value, _, duration, ngettext, when
from bots.runtime.i18n_join import concat
from bots.runtime.message import Inline, Message, Span, bold, code, mention
from protocols.skills import BoardLine, Entry, Match

NEWEST_NOTES = 5


def _kind(kind: str) -> Span:
    return _("offer") if kind == "offer" else _("ask")


def _entry_line(entry: Entry) -> list[Inline]:
    line: list[Inline] = [code(f"#{entry.id}"), " ", _kind(entry.kind), " ", bold(entry.skill)]
    if entry.note:
        line.append(f": {entry.note}")
    return line


def posted(entry: Entry, ttl: timedelta, matched: int, close: Sequence[str]) -> Message:
    """The reply to ``!offer`` / ``!ask``."""
    values: dict[str, Value] = {
        "id": str(entry.id),
        "skill": bold(entry.skill),
        "ttl": duration(ttl),
        "command": code(f"!skills withdraw {entry.id}"),
    }
    if entry.kind == "offer":
        said = _(
            "On the board as #{id}: your offer of {skill} (for {ttl}; withdraw it with {command}).", **values
        )
    else:
        said = _(
            "On the board as #{id}: your ask of {skill} (for {ttl}; withdraw it with {command}).", **values
        )
    msg = Message.of(said)
    if matched:
        if entry.kind == "ask":
            meets = ngettext(
                "It meets {n} offer: I am asking each of you by direct message whether you want to be "
                "put in touch. Names are shared only when both say yes.",
                "It meets {n} offers: I am asking each of you by direct message whether you want to be "
                "put in touch. Names are shared only when both say yes.",
                matched,
            )
        else:
            meets = ngettext(
                "It meets {n} ask: I am asking each of you by direct message whether you want to be put "
                "in touch. Names are shared only when both say yes.",
                "It meets {n} asks: I am asking each of you by direct message whether you want to be put "
                "in touch. Names are shared only when both say yes.",
                matched,
            )
        msg = msg.paragraph(meets)
    if close:
        msg = msg.paragraph(
            _(
                "Known here and close to it: {skills}. If you meant one of those, withdraw this and use "
                "the known tag, so asks and offers meet.",
                skills=", ".join(close),
            )
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
            _("Nothing on the board yet. Offer a skill with !offer <skill> [note], or ask with !ask.")
        )
    else:
        msg = Message.of(_("{title} (offers / asks):", title=bold(_("Skill swap board")))).bullets(
            [
                bold(b.skill),
                ": ",
                ngettext("{n} offer", "{n} offers", b.offers),
                ", ",
                ngettext("{n} ask", "{n} asks", b.asks),
            ]
            for b in lines
        )
    notes = [e for e in newest if e.note][:NEWEST_NOTES]
    if notes:
        msg = msg.paragraph(_("Newest notes:")).bullets(_entry_line(e) for e in notes)
    if mine:
        msg = msg.paragraph(_("Yours:")).bullets(
            [*_entry_line(e), " ", _("(until {when})", when=when(e.expires_at, zone))] for e in mine
        )
    if held:
        msg = msg.paragraph(
            _(
                "Held here (!learned): {skills}.",
                skills=", ".join(f"{skill} {n}" for skill, n in held.items()),
            )
        )
    if known:
        msg = msg.paragraph(_("Known skills: {skills}.", skills=", ".join(known)))
    return msg


def _match_head(match: Match) -> Span:
    return bold(_("Skill swap, match {id}: ", id=str(match.id)))


def ask_consent(match: Match, side: str, room_name: str | Span, note: str | None, ttl: timedelta) -> Message:
    """The DM asking one side of a match: who the other is stays unsaid."""
    if side == "asker":
        what = _("Someone in {room} offers {skill}, which you asked for.", room=room_name, skill=match.skill)
    else:
        what = _("Someone in {room} asks for {skill}, which you offered.", room=room_name, skill=match.skill)
    msg = Message.of(_match_head(match), what)
    if note:
        msg = msg.paragraph(_("Their note: {note}", note=note))
    return msg.paragraph(
        _(
            "Would you like to be put in touch? Your name is shared only if you both say yes; a no "
            "shares nothing with anyone. Answer {yes} or {no} within {ttl}.",
            yes=code(f"!swap yes {match.id}"),
            no=code(f"!swap no {match.id}"),
            ttl=duration(ttl),
        )
    )


def introduce(match: Match, other: str, room_name: str | Span, learner: bool) -> Message:
    """The introduction both people of a match get; the one who asked (``learner``) also hears
    how a skill, once learned, opens the roles that require it."""
    msg = Message.of(
        _match_head(match),
        _(
            "you both said yes. Meet {other} about {skill} (from {room}). Write to them directly; I "
            "keep nothing of what you say.",
            other=mention(other),
            skill=match.skill,
            room=room_name,
        ),
    )
    if learner:
        msg = msg.paragraph(
            _(
                "Once you have learned it, say so in {room} with {command}: roles that require {skill} "
                "are then drawn among you too.",
                room=room_name,
                command=code(f"!learned {match.skill}"),
                skill=match.skill,
            )
        )
    return msg


def not_going_ahead(match: Match) -> Message:
    return Message.of(
        _match_head(match),
        _("this match about {skill} did not go ahead. No name was shared with anyone.", skill=match.skill),
    )


def waiting(match: Match) -> Message:
    return Message.of(
        _(
            "Noted: yes to match {id}. When the other side says yes too, I introduce you to each other.",
            id=str(match.id),
        )
    )


def declined(match: Match) -> Message:
    return Message.of(
        _(
            "Noted: no to match {id}. Nobody learns your name, and nobody learns who said no.",
            id=str(match.id),
        )
    )


def withdrawn(entry: int, kind: str, skill: str) -> Message:
    if kind == "offer":
        return Message.of(_("Withdrawn: #{id} (offer of {skill}).", id=str(entry), skill=skill))
    return Message.of(_("Withdrawn: #{id} (ask of {skill}).", id=str(entry), skill=skill))


def learned(skill: str, confirming: bool, is_new: bool, held_for: timedelta) -> Message:
    head = (
        _("Recorded: you hold {skill}", skill=skill)
        if is_new
        else _("Renewed: you hold {skill}", skill=skill)
    )
    tail = _(" (for {length}; type it again to renew).", length=duration(held_for))
    if confirming:
        return Message.of(
            head,
            tail,
            _(
                " This room asks a moderator to confirm skills: until one types {command}, it does not "
                "open roles.",
                command=code(f"!skills confirm <you> {skill}"),
            ),
        )
    return Message.of(concat(head, tail))


def requirement(
    role: str, skill: str, holders: int, teachers: Sequence[str], when: datetime | None
) -> Message:
    msg = Message.of(_("{role} is drawn only among members who hold {skill}.", role=role, skill=skill))
    if holders:
        return msg.paragraph(ngettext("{n} member here holds it.", "{n} members here hold it.", holders))
    if teachers:
        explain = _(
            "Nobody here holds {skill} yet, so {role} cannot be drawn until someone does. Who could "
            "teach it: {who}.",
            skill=skill,
            role=role,
            who=", ".join(teachers),
        )
    else:
        explain = _(
            "Nobody here holds {skill} yet, so {role} cannot be drawn until someone does. Nobody "
            "offers it yet: ask with !ask {skill}.",
            skill=skill,
            role=role,
        )
    return msg.paragraph(
        explain, " ", _("Whoever learns it types {command}.", command=code(f"!learned {skill}"))
    )
