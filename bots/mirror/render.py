"""What the rooms and the DMs see of a blind mirror, as :class:`~bots.runtime.message.Message`s.

Every text of a person (a reflection, a room name) goes in as text: the builder escapes it.
Nothing here names who wrote what; status texts show no live counts (see protocols.mirror).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.runtime.message import Message, bold, code
from protocols.mirror import (
    FRESH_JOIN,
    OPEN_USAGE,
    RELEASE_MESSAGE_BUDGET,
    SMALL_ROOM_FACTOR,
    ConsentRequest,
    MirrorRound,
)
from protocols.timespec import format_duration, format_local

NO_PICKLE_KEY = (
    "Blind mirrors are off: the operator has not configured a pickle key "
    "(encryption.pickle_key or AFFINITY_PICKLE_KEY), and without one the reflections could be "
    "read from a copy of the bot's database. Nothing was opened."
)

# One reply for a room that cannot be found, that the bot is not in, and that the opener is
# not in: it must not tell anyone that a room they are not in exists.
NOT_A_ROOM_FOR_YOU = (
    "I cannot hold a blind mirror about {ref}: it must be a room that both you and I have "
    "joined. Use #alias:server, a room id or a matrix.to link."
)

UNENCRYPTED = (
    "I only take reflections in an encrypted chat, so that no server on the way can read "
    "them. Turn encryption on for this chat (in Element: Room settings, Security & Privacy, "
    "Encrypted), or start a new direct chat with me (encrypted by default), then send "
    "reflect <code> again. Nothing was kept."
)


def dm(text: str) -> Message:
    """A conversation reply: its blank-line-separated parts as paragraphs."""
    msg = Message()
    for part in text.split("\n\n"):
        msg = msg.paragraph(part)
    return msg


def render_opened(
    round_: MirrorRound,
    reflected_label: str,
    zone: ZoneInfo,
    retention: timedelta,
    eligible: int | None = None,
    fresh: int = 0,
) -> Message:
    """The announcement in the reflecting room: how to take part, and what is promised.

    ``eligible``: how many members may take part (those in the room now who are still in it at
    close); a small number gets a warning, since every account counts, a second one too.
    ``fresh``: how many of them joined within ``FRESH_JOIN`` before the round opened (warned).
    A room with fewer members than k is told that nothing can be released.
    """
    closes = format_local(round_.closes_at, zone)
    msg = (
        Message()
        .paragraph(
            f"Blind mirror {round_.code} is open: an anonymous reflection on {reflected_label}'s "
            f"work, until {closes}."
        )
        .paragraph("To take part, send me a direct message: ", code(f"reflect {round_.code}"))
        .paragraph(
            f"Reflections are released together, shuffled, only if at least {round_.k} come "
            f"in; otherwise none is shown. They are removed after {format_duration(retention)}."
        )
    )
    if eligible is None:
        return msg
    msg = msg.paragraph(
        f"{eligible} members of this room can take part: those here now, if they are still "
        "here at the close. Accounts that join later cannot, and reflections of members "
        "who leave before the close are dropped."
    )
    if eligible < SMALL_ROOM_FACTOR * round_.k:
        msg = msg.paragraph(
            f"Note: with {eligible} members for at least {round_.k} reflections, a "
            "reflection is easy to trace: the bot counts accounts, not people, so one "
            "person's second account would count as another member."
        )
    if fresh:
        msg = msg.paragraph(
            f"Note: {fresh} of them joined in the last {format_duration(FRESH_JOIN)}. "
            "The bot counts accounts: an account made for this round would count as a "
            "member, so check that you know who they are."
        )
    if eligible < round_.k:
        msg = msg.paragraph(
            bold(
                f"Note: this room has {eligible} members besides me, fewer than "
                f"{round_.k}: nothing can be released."
            )
        )
    return msg


def render_request(request: ConsentRequest, reflecting_label: str, zone: ZoneInfo) -> Message:
    """The request posted in the room to be reflected upon: what would happen, and how to say
    yes or no. Nothing happens here unless a moderator of this room accepts."""
    return (
        Message()
        .paragraph(
            f"A moderator of {reflecting_label} asks to hold a blind mirror about this room: its "
            "members would write reflections on this group's work, without names, posted here "
            f"in one batch (only if at least {request.k} come in), open for "
            f"{format_duration(request.close_after)} once accepted."
        )
        .paragraph(
            f"If accepted, the members of {reflecting_label} are told this room's name, so that "
            "they know whose work they reflect on."
        )
        .paragraph(f"A moderator of this room can accept with: !mirror accept {request.code}")
        .paragraph(f"or decline with: !mirror decline {request.code}")
        .paragraph(f"Without an answer the request lapses at {format_local(request.expires_at, zone)}.")
    )


def render_requested(request: ConsentRequest, zone: ZoneInfo) -> Message:
    """The opener's reply: asked, not yet open. It does not name the other room (the reply is
    read by this room's members, who need not be in that one)."""
    return Message.of(
        f"I asked the moderators of the room you named to accept a blind mirror about it "
        f"(request {request.code}). The round opens, and is announced here, only if one of "
        f"them accepts before {format_local(request.expires_at, zone)}."
    )


def render_opened_there(
    round_: MirrorRound, reflecting_label: str, zone: ZoneInfo, retention: timedelta
) -> Message:
    """The announcement in the room reflected upon, once a moderator there accepted."""
    return Message.of(
        f"Blind mirror {round_.code} about this room is open, as accepted here: members of "
        f"{reflecting_label} write reflections, without names, until "
        f"{format_local(round_.closes_at, zone)}. If at least {round_.k} come in, they are "
        f"posted here in one batch and removed after {format_duration(retention)}."
    )


def render_status(
    rounds: Sequence[MirrorRound],
    now: datetime,
    zone: ZoneInfo,
    requests: Sequence[tuple[ConsentRequest, str]] = (),
) -> Message:
    """``!mirror status``. Deliberately without live counts (see protocols.mirror).

    ``requests``: waiting requests with what to say about them (the caller names the other
    room only where the reader is sure to be in it). A round's ``reflected_room`` is shown as
    given (the caller puts the room's name there).
    """
    if not rounds and not requests:
        return Message.of("No blind-mirror rounds right now. A moderator can start one with " + OPEN_USAGE)
    items = [
        f"request {r.code} ({about}): waiting for consent until {format_local(r.expires_at, zone)}"
        for r, about in requests
    ]
    for r in rounds:
        if r.state == "open" and now < r.closes_at:
            what = f"open until {format_local(r.closes_at, zone)}, needs at least {r.k}"
        elif r.state in ("open", "closed"):
            what = "closed, release pending"
        elif r.state == "released":
            until = f" until {format_local(r.redact_at, zone)}" if r.redact_at else ""
            what = f"released, visible{until}"
        elif r.state == "withheld":
            what = f"withheld: fewer than {r.k} reflections, none shown"
        else:
            what = "expired"
        items.append(f"{r.code} (about {r.reflected_room}): {what}")
    return Message().bullets(items)


def _eligible_note(round_: MirrorRound) -> str:
    if round_.eligible is None:
        return ""
    return (
        f" {round_.eligible} members could take part (those in the room when it opened and "
        "still in it at the close)."
    )


def render_withheld(round_: MirrorRound) -> Message:
    """The close of a round with fewer than k reflections: nothing is shown, and why."""
    return Message.of(
        f"Blind mirror {round_.code} closed with fewer than {round_.k} reflections, so none "
        "is shown: with so few, one could be traced to its author. Those that came in were "
        "destroyed unread." + _eligible_note(round_)
    )


def render_closed(round_: MirrorRound, reflected_label: str) -> Message:
    return Message.of(
        f"Blind mirror {round_.code} has closed with enough reflections. They will be "
        f"posted to {reflected_label} shortly, all at once and in random order. "
        f"{round_.eligible} members could take part."
    )


def render_posted(round_: MirrorRound, reflected_label: str, complete: bool) -> Message:
    if complete:
        return Message.of(f"Blind mirror {round_.code}: the reflections were posted to {reflected_label}.")
    return Message.of(
        f"Blind mirror {round_.code}: I could not post all the reflections to {reflected_label} "
        "(I may have been removed from it). What was not posted was destroyed unread."
    )


def render_release(
    round_: MirrorRound,
    ordered_texts: Sequence[str],
    reflecting_label: str,
    retention: timedelta,
) -> list[Message]:
    """The batch, in the given (already shuffled) order, packed into as few messages as fit."""
    chunks: list[list[str]] = [[]]
    size = 0
    for text in ordered_texts:
        if chunks[-1] and size + len(text) > RELEASE_MESSAGE_BUDGET:
            chunks.append([])
            size = 0
        chunks[-1].append(text)
        size += len(text)
    total = len(chunks)
    messages = []
    for index, chunk in enumerate(chunks, start=1):
        part = f" (part {index} of {total})" if total > 1 else ""
        msg = Message.of(
            f"Blind mirror {round_.code}{part}: {len(ordered_texts)} anonymous reflections from "
            f"{reflecting_label}, in random order. They will be removed after "
            f"{format_duration(retention)}." + _eligible_note(round_)
        )
        for text in chunk:
            msg = msg.paragraph("———").paragraph(text)
        messages.append(msg)
    return messages


# -- notes about a round's end, in the room that is left ------------------------------------


def render_stale(round_: MirrorRound) -> Message:
    return Message.of(
        f"Blind mirror {round_.code} could not be released in time (the bot was down too "
        "long); its reflections were destroyed unread."
    )


def render_cancelled(round_: MirrorRound) -> Message:
    return Message.of(
        f"Blind mirror {round_.code} was cancelled: I am no longer in one of its rooms. Its "
        "reflections were destroyed unread."
    )


def render_unclaimable(round_: MirrorRound) -> Message:
    return Message.of(
        f"Blind mirror {round_.code} was cancelled by an upgrade: its reflections were stored "
        "under a key that was not secret, and were destroyed unread."
    )


def render_request_gone(request: ConsentRequest) -> Message:
    return Message.of(
        f"Blind mirror request {request.code} was dropped: I am no longer in the room it was about."
    )


def render_declined(request: ConsentRequest, answer: bool = False) -> Message:
    """``answer``: the reply to the moderator who declined; else the note to the asking room."""
    if answer:
        return Message.of(f"Declined: no blind mirror about this room from request {request.code}.")
    return Message.of(f"Blind mirror request {request.code} was declined by the other room. Nothing opened.")


def render_lapsed(request: ConsentRequest) -> Message:
    return Message.of(
        f"Blind mirror request {request.code} lapsed: no moderator of the other room accepted "
        "it in time. Nothing opened."
    )


def render_cut(round_: MirrorRound) -> Message:
    """To a person whose draft the close cut short (in their DM)."""
    return Message.of(
        f"Blind mirror {round_.code} has closed before you submitted; your draft was "
        "discarded, and nothing of it was kept."
    )
