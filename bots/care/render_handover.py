"""The handover messages (all by direct message; nothing goes to the room)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bots.care.handover_store import Handover
from bots.runtime.message import Message, code, italic
from protocols.mandates import Mandate
from protocols.timespec import format_local

HANDOVER = "🤝"


def ask(mandate: Mandate, room_name: str, zone: ZoneInfo, written: bool) -> Message:
    ends = format_local(mandate.expires, zone)
    msg = Message.of(
        f"{HANDOVER} Your {mandate.role} mandate in {room_name} ends {ends}. "
        "What does the next person need to know? Write it here as a reply: I give it to the "
        "next holder only, once, and then delete it."
    )
    if written:
        msg = msg.paragraph("You already wrote one; a new message replaces it.")
    return msg.paragraph(
        "You can change it until the end with ", code(f"!handover {mandate.role} <note>"), "."
    )


def kept(role: str) -> Message:
    return Message.of(
        f"Kept your {role} handover note. It goes to the next holder only, once, and is then "
        "deleted; a new note replaces it until then."
    )


def delivered(handover: Handover, room_name: str) -> Message:
    return (
        Message.of(f"{HANDOVER} A handover note from the previous {handover.role} of {room_name}:")
        .paragraph(italic(handover.note or ""))
        .paragraph("It was given to you only, and is now deleted.")
    )
