"""The handover messages (all by direct message, in its language; nothing goes to the room)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bots.care.handover_store import Handover
from bots.runtime.i18n import _, duration, when
from bots.runtime.message import Message, code, italic
from protocols.mandates import Mandate

HANDOVER = "🤝"


def ask(mandate: Mandate, room_name: str, zone: ZoneInfo, written: bool) -> Message:
    msg = Message.of(
        HANDOVER,
        " ",
        _(
            "Your {role} mandate in {room} ends {when}. What does the next person need to know? "
            "Write it here as a reply: I give it to the next holder only, once, and then delete it.",
            role=mandate.role,
            room=room_name,
            when=when(mandate.expires, zone),
        ),
    )
    if written:
        msg = msg.paragraph(_("You already wrote one; a new message replaces it."))
    return msg.paragraph(
        _(
            "You can change it until the end with {command}.",
            command=code(f"!handover {mandate.role} <note>"),
        )
    )


def kept(role: str) -> Message:
    return Message.of(
        _(
            "Kept your {role} handover note. It goes to the next holder only, once, and is then "
            "deleted; a new note replaces it until then.",
            role=role,
        )
    )


def delivered(handover: Handover, room_name: str, kept: timedelta) -> Message:
    """The note, to the next holder; ``kept``: how long the message stays unless read."""
    return (
        Message.of(
            HANDOVER,
            " ",
            _(
                "A handover note from the previous {role} of {room}:",
                role=handover.role,
                room=room_name,
            ),
        )
        .paragraph(italic(handover.note or ""))
        .paragraph(
            _(
                "It was given to you only, and I keep no copy. React to this message once you have "
                "read it and I delete it here too; otherwise it is deleted in {length}.",
                length=duration(kept),
            )
        )
    )
