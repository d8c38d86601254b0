"""What the room reflected upon, and the room asking, see of a blind mirror's consent: the
request, its answer, and a request that lapsed or was dropped (``bots/mirror/render.py`` has the
round's other texts). Built as :class:`~bots.runtime.message.Message`, through the catalogue.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bots.runtime.i18n import _, duration, when
from bots.runtime.message import Message
from protocols.mirror import ConsentRequest, MirrorRound


def render_request(request: ConsentRequest, reflecting_label: str, zone: ZoneInfo) -> Message:
    """The request posted in the room to be reflected upon: what would happen, and how to say
    yes or no. Nothing happens here unless a moderator of this room accepts."""
    return (
        Message()
        .paragraph(
            _(
                "A moderator of {room} asks to hold a blind mirror about this room: its members "
                "would write reflections on this group's work, without names, posted here in one "
                "batch (only if at least {k} come in), open for {period} once accepted.",
                room=reflecting_label,
                k=request.k,
                period=duration(request.close_after),
            )
        )
        .paragraph(
            _(
                "If accepted, the members of {room} are told this room's name, so that they know "
                "whose work they reflect on.",
                room=reflecting_label,
            )
        )
        .paragraph(
            _(
                "A moderator of this room can accept with: {command}",
                command=f"!mirror accept {request.code}",
            )
        )
        .paragraph(_("or decline with: {command}", command=f"!mirror decline {request.code}"))
        .paragraph(_("Without an answer the request lapses at {when}.", when=when(request.expires_at, zone)))
    )


def render_requested(request: ConsentRequest, zone: ZoneInfo) -> Message:
    """The opener's reply: asked, not yet open. It does not name the other room (the reply is
    read by this room's members, who need not be in that one)."""
    return Message.of(
        _(
            "I asked the moderators of the room you named to accept a blind mirror about it "
            "(request {code}). The round opens, and is announced here, only if one of them "
            "accepts before {when}.",
            code=request.code,
            when=when(request.expires_at, zone),
        )
    )


def render_opened_there(
    round_: MirrorRound, reflecting_label: str, zone: ZoneInfo, retention: timedelta
) -> Message:
    """The announcement in the room reflected upon, once a moderator there accepted."""
    return Message.of(
        _(
            "Blind mirror {code} about this room is open, as accepted here: members of {room} "
            "write reflections, without names, until {closes}. If at least {k} come in, they are "
            "posted here in one batch and removed after {retention}.",
            code=round_.code,
            room=reflecting_label,
            closes=when(round_.closes_at, zone),
            k=round_.k,
            retention=duration(retention),
        )
    )


def render_request_gone(request: ConsentRequest) -> Message:
    return Message.of(
        _(
            "Blind mirror request {code} was dropped: I am no longer in the room it was about.",
            code=request.code,
        )
    )


def render_declined(request: ConsentRequest, answer: bool = False) -> Message:
    """``answer``: the reply to the moderator who declined; else the note to the asking room."""
    if answer:
        return Message.of(
            _("Declined: no blind mirror about this room from request {code}.", code=request.code)
        )
    return Message.of(
        _(
            "Blind mirror request {code} was declined by the other room. Nothing opened.",
            code=request.code,
        )
    )


def render_lapsed(request: ConsentRequest) -> Message:
    return Message.of(
        _(
            "Blind mirror request {code} lapsed: no moderator of the other room accepted it in "
            "time. Nothing opened.",
            code=request.code,
        )
    )
