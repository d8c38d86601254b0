"""What the rooms and the DMs see of a blind mirror, as :class:`~bots.runtime.message.Message`s.

Every text of a person (a reflection, a room name) goes in as text: the builder escapes it.
Nothing here names who wrote what; status texts show no live counts (see protocols.mirror).
The sentences go through the message catalogue (bots/runtime/i18n.py): each room reads them in
its language, and the DM conversation (its prompts, the draft shown before ``submit``) speaks
the member's. The headings of a composed reflection (``Observed:``) are part of the text stored
and published, so they stay as protocols/mirror_draft.py writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# The consent round trip with the room reflected upon has its own module; its renderers are
# named here too, where the mirror's other texts are.
from bots.mirror.render_consent import (  # noqa: F401
    render_declined,
    render_lapsed,
    render_opened_there,
    render_request,
    render_request_gone,
    render_requested,
)
from bots.runtime.i18n import Translatable, _, duration, ngettext, when
from bots.runtime.i18n_join import concat
from bots.runtime.message import Inline, Message, bold, code
from protocols.mirror import (
    FRESH_JOIN,
    OPEN_USAGE,
    RELEASE_MESSAGE_BUDGET,
    SMALL_ROOM_FACTOR,
    ConsentRequest,
    MirrorRound,
)
from protocols.mirror_draft import PROMPTS, DraftStep, compose

NO_PICKLE_KEY = _(
    "Blind mirrors are off: the operator has not configured a pickle key "
    "(encryption.pickle_key or AFFINITY_PICKLE_KEY), and without one the reflections could be "
    "read from a copy of the bot's database. Nothing was opened."
)


def not_a_room_for_you(ref: str) -> Translatable:
    """One reply for a room that cannot be found, that the bot is not in, and that the opener
    is not in: it must not tell anyone that a room they are not in exists."""
    return _(
        "I cannot hold a blind mirror about {ref}: it must be a room that both you and I have "
        "joined. Use #alias:server, a room id or a matrix.to link.",
        ref=ref,
    )


UNENCRYPTED = _(
    "I only take reflections in an encrypted chat, so that no server on the way can read "
    "them. Turn encryption on for this chat (in Element: Room settings, Security & Privacy, "
    "Encrypted), or start a new direct chat with me (encrypted by default), then send "
    "reflect <code> again. Nothing was kept."
)


def dm(text: Inline | Message) -> Message:
    """A conversation reply: its blank-line-separated parts as paragraphs (a translatable
    sentence is one paragraph; a message is as it was built)."""
    if isinstance(text, Message):
        return text
    if not isinstance(text, str):
        return Message.of(text)
    msg = Message()
    for part in text.split("\n\n"):
        msg = msg.paragraph(part)
    return msg


# -- the DM conversation (protocols/mirror_draft.py decides, these say it) -------------------

# The prompts, in the order of protocols.mirror_draft.PROMPTS (tests/unit/test_mirror.py
# checks that these English sentences are its questions).
QUESTIONS: tuple[Translatable, ...] = (
    _("What did you observe? Describe what the group did, as you saw it."),
    _("What are you grateful for in their work?"),
    _("What might they try next?"),
)


def ask(index: int) -> Translatable:
    """Prompt number ``index`` (0-based), numbered as the person reads it: ``(2/3) ...``."""
    return _(
        "({number}/{count}) {question}",
        number=index + 1,
        count=len(PROMPTS),
        question=QUESTIONS[index],
    )


def _parts(text: str) -> list[str]:
    return [part for part in text.split("\n\n") if part]


def draft_reply(step: DraftStep, before: Inline | None = None, replaced: bool = False) -> Message:
    """What the conversation answers after one step; ``before`` goes first (a note about a
    draft just discarded), ``replaced`` says a submitted reflection took an earlier one's place."""
    msg = Message.of(before) if before is not None else Message()
    draft = step.draft
    if step.kind == "started":
        msg = msg.paragraph(
            _(
                "Blind mirror {code}: three short prompts, then you see the whole draft before "
                "anything is sent. Your name is never stored with it. Reply cancel at any time to "
                "discard it.",
                code=draft.code,
            )
        )
        return msg.paragraph(ask(0))
    if step.kind == "restarted":
        return msg.paragraph(_("Starting again.")).paragraph(ask(0))
    if step.kind == "next":
        return msg.paragraph(ask(draft.prompt_index))
    if step.kind == "cancelled":
        return msg.paragraph(_("Discarded. Nothing was sent or kept."))
    if step.kind == "review":
        msg = msg.paragraph(_("Your reflection, as it would be published (without your name):"))
        for part in _parts(compose(draft.answers)):
            msg = msg.paragraph(part)
        return msg.paragraph(
            _("Reply submit to send it, restart to write it again, or cancel to discard it.")
        )
    thanks = _(
        "Thank you. Your reflection is in round {code}. It will be released, shuffled with the "
        "others, only if enough people take part. Sending reflect {code} again lets you replace "
        "it while the round is open.",
        code=draft.code,
    )
    if replaced:
        return msg.paragraph(concat(thanks, " ", _("It replaces the reflection you sent before.")))
    return msg.paragraph(thanks)


def draft_discarded(code: str) -> Translatable:
    """Said before a new draft's first prompt when one for another round was open."""
    return _("Your unfinished draft for round {code} was discarded.", code=code)


STARTING_AGAIN = _("Starting your draft again.")


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
    msg = (
        Message()
        .paragraph(
            _(
                "Blind mirror {code} is open: an anonymous reflection on {room}'s work, until {closes}.",
                code=round_.code,
                room=reflected_label,
                closes=when(round_.closes_at, zone),
            )
        )
        .paragraph(
            _("To take part, send me a direct message: {command}", command=code(f"reflect {round_.code}"))
        )
        .paragraph(
            _(
                "Reflections are released together, shuffled, only if at least {k} come in; "
                "otherwise none is shown. They are removed after {retention}.",
                k=round_.k,
                retention=duration(retention),
            )
        )
    )
    if eligible is None:
        return msg
    msg = msg.paragraph(
        ngettext(
            "{n} member of this room can take part: those here now, if they are still here at the "
            "close. Accounts that join later cannot, and reflections of members who leave before "
            "the close are dropped.",
            "{n} members of this room can take part: those here now, if they are still here at the "
            "close. Accounts that join later cannot, and reflections of members who leave before "
            "the close are dropped.",
            eligible,
        )
    )
    if eligible < SMALL_ROOM_FACTOR * round_.k:
        msg = msg.paragraph(
            _(
                "Note: with {eligible} members for at least {k} reflections, a reflection is easy "
                "to trace: the bot counts accounts, not people, so one person's second account "
                "would count as another member.",
                eligible=eligible,
                k=round_.k,
            )
        )
    if fresh:
        msg = msg.paragraph(
            _(
                "Note: {fresh} of them joined in the last {period}. The bot counts accounts: an "
                "account made for this round would count as a member, so check that you know who "
                "they are.",
                fresh=fresh,
                period=duration(FRESH_JOIN),
            )
        )
    if eligible < round_.k:
        msg = msg.paragraph(
            bold(
                _(
                    "Note: this room has {eligible} members besides me, fewer than {k}: nothing "
                    "can be released.",
                    eligible=eligible,
                    k=round_.k,
                )
            )
        )
    return msg


def render_status(
    rounds: Sequence[MirrorRound],
    now: datetime,
    zone: ZoneInfo,
    requests: Sequence[tuple[ConsentRequest, Inline]] = (),
) -> Message:
    """``!mirror status``. Deliberately without live counts (see protocols.mirror).

    ``requests``: waiting requests with what to say about them (the caller names the other
    room only where the reader is sure to be in it). A round's ``reflected_room`` is shown as
    given (the caller puts the room's name there).
    """
    if not rounds and not requests:
        return Message.of(
            _("No blind-mirror rounds right now. A moderator can start one with {usage}", usage=OPEN_USAGE)
        )
    items: list[Inline] = [
        _(
            "request {code} ({about}): waiting for consent until {when}",
            code=r.code,
            about=about,
            when=when(r.expires_at, zone),
        )
        for r, about in requests
    ]
    for r in rounds:
        what: Inline
        if r.state == "open" and now < r.closes_at:
            what = _("open until {when}, needs at least {k}", when=when(r.closes_at, zone), k=r.k)
        elif r.state in ("open", "closed"):
            what = _("closed, release pending")
        elif r.state == "released":
            what = (
                _("released, visible until {when}", when=when(r.redact_at, zone))
                if r.redact_at
                else _("released, visible")
            )
        elif r.state == "withheld":
            what = _("withheld: fewer than {k} reflections, none shown", k=r.k)
        else:
            what = _("expired")
        items.append(_("{code} (about {room}): {what}", code=r.code, room=r.reflected_room, what=what))
    return Message().bullets(items)


def _eligible_note(round_: MirrorRound) -> list[Inline]:
    if round_.eligible is None:
        return []
    return [
        " ",
        _(
            "{eligible} members could take part (those in the room when it opened and still in "
            "it at the close).",
            eligible=round_.eligible,
        ),
    ]


def render_withheld(round_: MirrorRound) -> Message:
    """The close of a round with fewer than k reflections: nothing is shown, and why."""
    return Message.of(
        _(
            "Blind mirror {code} closed with fewer than {k} reflections, so none is shown: with "
            "so few, one could be traced to its author. Those that came in were destroyed unread.",
            code=round_.code,
            k=round_.k,
        ),
        *_eligible_note(round_),
    )


def render_closed(round_: MirrorRound, reflected_label: str) -> Message:
    return Message.of(
        _(
            "Blind mirror {code} has closed with enough reflections. They will be posted to "
            "{room} shortly, all at once and in random order. {eligible} members could take part.",
            code=round_.code,
            room=reflected_label,
            eligible=str(round_.eligible),
        )
    )


def render_posted(round_: MirrorRound, reflected_label: str, complete: bool) -> Message:
    if complete:
        return Message.of(
            _(
                "Blind mirror {code}: the reflections were posted to {room}.",
                code=round_.code,
                room=reflected_label,
            )
        )
    return Message.of(
        _(
            "Blind mirror {code}: I could not post all the reflections to {room} (I may have been "
            "removed from it). What was not posted was destroyed unread.",
            code=round_.code,
            room=reflected_label,
        )
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
        head = ngettext(
            "{n} anonymous reflection from {room}, in random order. It will be removed after {retention}.",
            "{n} anonymous reflections from {room}, in random order. They will be removed after {retention}.",
            len(ordered_texts),
            room=reflecting_label,
            retention=duration(retention),
        )
        title = (
            _("Blind mirror {code} (part {index} of {total}):", code=round_.code, index=index, total=total)
            if total > 1
            else _("Blind mirror {code}:", code=round_.code)
        )
        msg = Message.of(title, " ", head, *_eligible_note(round_))
        for text in chunk:
            msg = msg.paragraph("———").paragraph(text)
        messages.append(msg)
    return messages


# -- notes about a round's end, in the room that is left ------------------------------------


def render_stale(round_: MirrorRound) -> Message:
    return Message.of(
        _(
            "Blind mirror {code} could not be released in time (the bot was down too long); its "
            "reflections were destroyed unread.",
            code=round_.code,
        )
    )


def render_cancelled(round_: MirrorRound) -> Message:
    return Message.of(
        _(
            "Blind mirror {code} was cancelled: I am no longer in one of its rooms. Its "
            "reflections were destroyed unread.",
            code=round_.code,
        )
    )


def render_unclaimable(round_: MirrorRound) -> Message:
    return Message.of(
        _(
            "Blind mirror {code} was cancelled by an upgrade: its reflections were stored under a "
            "key that was not secret, and were destroyed unread.",
            code=round_.code,
        )
    )


def render_cut(round_: MirrorRound) -> Message:
    """To a person whose draft the close cut short (in their DM)."""
    return Message.of(
        _(
            "Blind mirror {code} has closed before you submitted; your draft was discarded, and "
            "nothing of it was kept.",
            code=round_.code,
        )
    )
