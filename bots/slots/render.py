"""The slots' messages (names only in the room itself; the coalition sees counts), in the
room's language (bots/runtime/i18n.py). Slot names are the template's, as typed in commands."""

from __future__ import annotations

from collections.abc import Sequence

from bots.runtime.i18n import _, ngettext
from bots.runtime.i18n_join import joined
from bots.runtime.message import Inline, Message, Span, bold, code
from protocols.dayofaction.slots import Claimed, Slot

KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣")


def slot_list(run_id: str, slots: Sequence[Slot], closes: Inline | None) -> Message:
    msg = Message.of(_("Slots for run {run} in this room:", run=code(run_id)))
    items: list[list[Inline]] = []
    for i, slot in enumerate(slots):
        mark = KEYCAPS[i] + " " if i < len(KEYCAPS) else ""
        held: Inline = ", ".join(slot.holders) or _("nobody yet")
        line: list[Inline] = [
            mark,
            _(
                "{slot}: {held} of {capacity} ({holders})",
                slot=slot.name,
                held=len(slot.holders),
                capacity=slot.capacity,
                holders=held,
            ),
        ]
        if slot.waiting:
            line.append(_("; waiting: {who}", who=", ".join(slot.waiting)))
        items.append(line)
    msg = msg.bullets(items or [[_("this run has no slots")]])
    if closes:
        msg = msg.paragraph(
            _("Over-subscribed slots are drawn by lottery at {when}; after that, first come.", when=closes)
        )
    return msg.paragraph(
        _(
            "Claim with !slot claim <slot> or by reacting with its number, here or on the checklist; "
            "give it up with !slot release <slot>."
        )
    )


def claimed(c: Claimed, closes: Inline | None) -> Message:
    if c.holds and not c.provisional:
        return Message.of(_("You hold a place as {slot}.", slot=bold(c.slot)))
    if c.provisional:
        return Message.of(
            _(
                "{slot} has more people than places: the holders are drawn by lottery at {when}. You "
                "are signed up.",
                slot=bold(c.slot),
                when=closes or deadline(),
            )
        )
    return Message.of(
        _(
            "All places as {slot} are taken: you are number {position} on the waitlist.",
            slot=bold(c.slot),
            position=c.position,
        )
    )


def deadline() -> Span:
    """When no closing time is known."""
    return _("the deadline")


def released(slot: str) -> Message:
    return Message.of(_("You gave up your place as {slot}.", slot=bold(slot)))


def oversubscribed(slot: str, closes: Inline, seed_hash: str) -> Message:
    return Message.of(
        _(
            "{slot} is over-subscribed: the holders will be drawn by lottery at {when}, not first "
            "come. The seed is fixed now; its SHA-256 is {hash}, so it cannot change before the draw.",
            slot=bold(slot),
            when=closes,
            hash=code(seed_hash),
        )
    )


def drawn(slot: Slot, seed_hex: str, commitment: str) -> Message:
    msg = Message.of(
        _("Drawn by lottery for {slot}: {holders}.", slot=bold(slot.name), holders=", ".join(slot.holders))
    )
    if slot.waiting:
        msg = msg.paragraph(_("Waiting, in the order they signed up: {who}.", who=", ".join(slot.waiting)))
    return msg.paragraph(
        _(
            "Check it: the pool is everyone who claimed, the roles are one per place, the "
            "contributions are the claims' event ids; seed {seed}, commitment {commitment} "
            "(docs/lottery-algorithm.md).",
            seed=code(seed_hex),
            commitment=code(commitment),
        )
    )


def promoted(slot: str, user: str) -> Message:
    return Message.of(
        _("{user} moved up from the waitlist and now holds a place as {slot}.", user=user, slot=bold(slot))
    )


def board_lines(rows: Sequence[tuple[str, Sequence[tuple[str, int, int, int]]]]) -> list[Span]:
    """One line per room: each slot as filled / open, and how many wait (no names)."""
    items: list[Span] = []
    for label, counts in rows:
        parts: list[Inline] = []
        for name, filled, open_, waiting in counts:
            part = _("{slot} {filled}/{open}", slot=name, filled=filled, open=open_)
            if waiting:
                parts.append(
                    joined(
                        [part, ngettext(", {n} waiting", ", {n} waiting", waiting)],
                        "",
                    )
                )
            else:
                parts.append(part)
        items.append(_("{room}: {slots}", room=label, slots=joined(parts, "; ")))
    return items


def board(run_id: str, lines: Sequence[Inline]) -> Message:
    msg = Message.of(_("Slots of run {run}, per room (filled / open, waiting):", run=code(run_id)))
    return msg.bullets(list(lines) or [_("no room has slots yet")])


# -- a slot poll (bots/slots/feature.py, protocols/dayofaction/slot_poll.py) --------------------


def poll_question(run_id: str) -> Span:
    return _("Which slot do you take in run {run}? (Your answer is visible to the room.)", run=run_id)


def poll_answer(slot: Slot) -> Span:
    free = slot.capacity - len(slot.holders)
    return ngettext("{slot} ({n} place free)", "{slot} ({n} places free)", free, slot=slot.name)


def poll_posted(closes: Inline | None, left_out: Sequence[str], most: int) -> Message:
    if closes:
        msg = Message.of(
            _(
                "Answer in the poll: your answer claims that slot when the poll ends, by itself at "
                "{when} or earlier with !slot poll end.",
                when=closes,
            )
        )
    else:
        msg = Message.of(
            _("Answer in the poll: your answer claims that slot when the poll ends with !slot poll end.")
        )
    if left_out:
        msg = msg.paragraph(
            _(
                "A poll holds {most} answers; these slots have free places too, claim them with "
                "!slot claim <slot>: {slots}.",
                most=most,
                slots=", ".join(left_out),
            )
        )
    return msg


def poll_outcome(c: Claimed, closes: Inline | None) -> Span:
    if c.holds and not c.provisional:
        return _("holds a place as {slot}", slot=bold(c.slot))
    if c.provisional:
        return _(
            "signed up for {slot}; the holders are drawn by lottery at {when}",
            slot=bold(c.slot),
            when=closes or deadline(),
        )
    return _("number {position} on the waitlist for {slot}", position=c.position, slot=bold(c.slot))


def poll_result(run_id: str, outcomes: Sequence[tuple[str, Inline]]) -> Message:
    msg = Message.of(_("The slot poll of run {run} is closed:", run=code(run_id)))
    items: list[list[Inline]] = [[_("{user}: {outcome}", user=user, outcome=said)] for user, said in outcomes]
    return msg.bullets(items or [[_("nobody answered")]])


def poll_summary(taken: int, refused: int) -> Span:
    return ngettext(
        "Poll closed: {n} slot claimed, {refused} refused.",
        "Poll closed: {n} slots claimed, {refused} refused.",
        taken,
        refused=refused,
    )
