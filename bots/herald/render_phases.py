"""How a run's messages read in each member room: a phase, an amendment, a stand-down.

The plan (``protocols.herald.plan``) states each message's facts (``protocols.herald.wording``);
:func:`say` words them with :class:`~bots.runtime.message.Message` through the message catalogue,
in the room's language and zone, once, when the run is planned: the text is part of the plan
every herald shares and sends as it is (:class:`~bots.herald.render.Planned`).
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bots.herald.render import Planned
from bots.runtime.i18n import DEFAULT, SHIPPED, _, rendering, when
from bots.runtime.message import Inline, Message, bold, code, italic
from protocols.herald.templates import format_offset
from protocols.herald.wording import PhaseWords, UrgentWords, VariableWords


def say(words: PhaseWords | UrgentWords) -> Planned:
    """The message, rendered in its room's language and zone (the plan's :data:`Wording`)."""
    message = phase_message(words) if isinstance(words, PhaseWords) else urgent_message(words)
    with rendering(words.language, words.zone):
        return Planned(body=message.plain, rich=message.html)


def _not_set(key: str, language: str) -> str:
    """What a phase says where a local detail the room has not set would go."""
    with rendering(language):
        return _("[not set yet: !local set {key} <value>]", key=key).plain()


def _weekday(local: datetime, language: str) -> str:
    if language not in SHIPPED or language == DEFAULT:
        return local.strftime("%A")  # English as it always read
    return format_date(local, "EEEE", locale=language)


def _when(instant: datetime, zone: ZoneInfo, language: str) -> str:
    with rendering(language, zone):
        return when(instant, zone).plain()  # English: the suite's compact form, as always


# A template's $weekday, $when, $phase_time and a local detail not set yet, in the room's
# language (make_plan's).
VARIABLES = VariableWords(not_set=_not_set, weekday=_weekday, when=_when)


def paragraphs(text: str) -> list[str]:
    """A blank line starts a paragraph; a single newline stays a line break within it."""
    return [p.strip("\n") for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def _ack(run_id: str, words: PhaseWords | UrgentWords) -> Inline:
    assert words.ack_by is not None
    return _(
        "Please acknowledge by {when}: {command} or react with ✅.",
        when=when(words.ack_by, words.zone),
        command=code(f"!ack {run_id}"),
    )


def phase_message(words: PhaseWords) -> Message:
    phase = words.phase
    msg = Message.of(
        bold(
            _(
                "📣 {phase} — {template} ({offset})",
                phase=phase.title,
                template=words.template,
                offset=format_offset(phase.offset),
            )
        )
    )
    if words.late_from is not None:
        msg = msg.paragraph(
            italic(_("This phase was due at {when}; sent now.", when=when(words.late_from, words.zone)))
        )
    for paragraph in paragraphs(words.message):
        msg = msg.paragraph(paragraph)
    if words.checklist:
        msg = msg.paragraph(_("Checklist for your group:")).bullets(f"☐ {item}" for item in words.checklist)
    if words.ack_by is not None:
        msg = msg.paragraph(italic(_ack(words.run_id, words)))
    return msg


def urgent_message(words: UrgentWords) -> Message:
    at = when(words.action_at, words.zone)
    if words.amendment is not None:
        head = _(
            "⚠️ AMENDED (#{number}) — {template}, action at {when} (run {run})",
            number=str(words.amendment),
            template=words.template,
            when=at,
            run=words.run_id,
        )
    else:
        head = _(
            "🛑 STAND DOWN — {template}, action at {when} (run {run})",
            template=words.template,
            when=at,
            run=words.run_id,
        )
    msg = Message.of(bold(head))
    if words.note:
        for paragraph in paragraphs(words.note):
            msg = msg.paragraph(paragraph)
    elif words.amendment is None:
        msg = msg.paragraph(_("The action is called off. Do not go to the meeting point."))
    return msg.paragraph(italic(_ack(words.run_id, words)))
