"""The ledger's messages, as :class:`Message` (lists, never tables; nothing escaped by hand), in
the room's language (bots/runtime/i18n.py). Category names are words typed in commands, and stay
as they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from bots.runtime.i18n import _, duration, ngettext
from bots.runtime.message import Inline, Message, Span, bold, code
from protocols.gains import ANONYMOUS_NAME, Tally


def share_text(share: str) -> Span:
    """What a way of sharing means, as a clause (``this room's gains count in ...``)."""
    if share == "counts":
        return _("this room's gains count in its coalition's tally, without their texts")
    if share == "named":
        return _("this room's gains and their texts appear in its coalition's tally under its name")
    return _(
        "this room's gains and their texts appear in its coalition's tally as “{name}”",
        name=_("a member group"),
    )


def _counts(counts: Mapping[str, int]) -> list[Span]:
    return [_("{category}: {n}", category=category, n=n) for category, n in counts.items()]


def recorded(gain_id: int, category: str, keep: timedelta) -> Message:
    return Message.of(
        _(
            "Recorded gain #{id} in {category}. Its text is kept for {keep}, its count stays. Take "
            "it back with {command} (a moderator).",
            id=str(gain_id),
            category=category,
            keep=duration(keep),
            command=code(f"!gain remove {gain_id}"),
        )
    )


def taken_back(gain_id: int, category: str) -> Message:
    return Message.of(_("Took back gain #{id} ({category}).", id=str(gain_id), category=category))


def share_set(share: str) -> Message:
    return Message.of(_("From now on {what}.", what=share_text(share)))


def public_set(coalition: str, on: bool, calendar: bool) -> Message:
    """The reply to ``!gains public on|off``."""
    if not on:
        return Message.of(_("The public page of coalition {name} shows no gains.", name=coalition))
    msg = Message.of(
        _(
            "The public page of coalition {name} shows its gains counted by category: no text, no room name.",
            name=coalition,
        )
    )
    if not calendar:
        msg = msg.paragraph(
            _("This bot runs no public calendar (features: [calendar]): there is no page to show them yet.")
        )
    return msg


def room(counts: Mapping[str, int], texts: Sequence[tuple[int, str, str]], share: str) -> Message:
    if not counts:
        msg = Message.of(_("No gains recorded here yet. Record one with !gain add <category> <text>."))
    else:
        msg = Message.of(
            _("{title} ({n} in all):", title=bold(_("Gains of this room")), n=sum(counts.values()))
        ).bullets(_counts(counts))
    if texts:
        msg = msg.paragraph(_("Remembered:")).bullets(
            [code(f"#{i}"), " ", _("{category}: {text}", category=category, text=text)]
            for i, category, text in texts
        )
    return msg.paragraph(_("Sharing: {what} (!gains share counts|named|anonymous).", what=share_text(share)))


# A named room whose name cannot be read is shown as this (in the room's language).
MEMBER_ROOM = "a member room"


def _who(who: str) -> Inline:
    if who == ANONYMOUS_NAME:
        return _("a member group")
    return _("a member room") if who == MEMBER_ROOM else who


def coalition(name: str, tally: Tally, elsewhere: int) -> Message:
    total = sum(tally.counts.values())
    msg = Message.of(
        bold(_("Gains of coalition {name}", name=name)),
        ngettext(
            ": {total} in {n} of {rooms} member rooms counted here.",
            ": {total} in {n} of {rooms} member rooms counted here.",
            tally.rooms_with_gains,
            total=total,
            rooms=tally.rooms,
        ),
    )
    msg = msg.bullets(_counts(tally.counts)) if tally.counts else msg.paragraph(_("No gains recorded yet."))
    if tally.shared:
        msg = msg.paragraph(_("Shared by their rooms:")).bullets(
            _("{who} ({category}): {text}", who=_who(who), category=category, text=text)
            for who, category, text in tally.shared
        )
    if elsewhere:
        msg = msg.paragraph(
            ngettext(
                "{n} member room is served by another herald's bot: ask there with !gains coalition "
                "for their part.",
                "{n} member rooms are served by another herald's bot: ask there with !gains coalition "
                "for their part.",
                elsewhere,
            )
        )
    return msg
