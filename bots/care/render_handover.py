"""The handover messages (all by direct message, in its language; nothing goes to the room)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bots.care.handover_store import Handover
from bots.runtime.i18n import _, when
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


def delivered(handover: Handover, room_name: str) -> Message:
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
        .paragraph(_("It was given to you only, and is now deleted."))
    )
