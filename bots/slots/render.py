"""The slots' messages (names only in the room itself; the coalition sees counts)."""

from __future__ import annotations

from collections.abc import Sequence

from bots.runtime.message import Message, bold, code
from protocols.dayofaction.slots import Claimed, Slot

KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣")


def slot_list(run_id: str, slots: Sequence[Slot], closes: str | None) -> Message:
    msg = Message.of("Slots for run ", code(run_id), " in this room:")
    items = []
    for i, slot in enumerate(slots):
        mark = KEYCAPS[i] + " " if i < len(KEYCAPS) else ""
        held = ", ".join(slot.holders) or "nobody yet"
        line = f"{mark}{slot.name}: {len(slot.holders)} of {slot.capacity} ({held})"
        if slot.waiting:
            line += f"; waiting: {', '.join(slot.waiting)}"
        items.append(line)
    msg = msg.bullets(items or ["this run has no slots"])
    if closes:
        msg = msg.paragraph(
            f"Over-subscribed slots are drawn by lottery at {closes}; after that, first come."
        )
    return msg.paragraph(
        "Claim with !slot claim <slot> or by reacting with its number, here or on the checklist;"
        " give it up with !slot release <slot>."
    )


def claimed(c: Claimed, closes: str | None) -> Message:
    if c.holds and not c.provisional:
        return Message.of("You hold a place as ", bold(c.slot), ".")
    if c.provisional:
        return Message.of(
            bold(c.slot),
            f" has more people than places: the holders are drawn by lottery at {closes or 'the deadline'}.",
            " You are signed up.",
        )
    return Message.of(
        "All places as ", bold(c.slot), f" are taken: you are number {c.position} on the waitlist."
    )


def oversubscribed(slot: str, closes: str, seed_hash: str) -> Message:
    return Message.of(
        bold(slot),
        f" is over-subscribed: the holders will be drawn by lottery at {closes}, not first come. ",
        "The seed is fixed now; its SHA-256 is ",
        code(seed_hash),
        ", so it cannot change before the draw.",
    )


def drawn(slot: Slot, seed_hex: str, commitment: str) -> Message:
    msg = Message.of("Drawn by lottery for ", bold(slot.name), ": ", ", ".join(slot.holders), ".")
    if slot.waiting:
        msg = msg.paragraph("Waiting, in the order they signed up: ", ", ".join(slot.waiting), ".")
    return msg.paragraph(
        "Check it: the pool is everyone who claimed, the roles are one per place, the contributions are "
        "the claims' event ids; seed ",
        code(seed_hex),
        ", commitment ",
        code(commitment),
        " (docs/lottery-algorithm.md).",
    )


def promoted(slot: str, user: str) -> Message:
    return Message.of(user, " moved up from the waitlist and now holds a place as ", bold(slot), ".")


def board_lines(rows: Sequence[tuple[str, Sequence[tuple[str, int, int, int]]]]) -> list[str]:
    """One line per room: each slot as filled / open, and how many wait (no names)."""
    items = []
    for label, counts in rows:
        parts = [
            f"{name} {filled}/{open_}" + (f", {waiting} waiting" if waiting else "")
            for name, filled, open_, waiting in counts
        ]
        items.append(f"{label}: " + "; ".join(parts))
    return items


def board(run_id: str, lines: Sequence[str]) -> Message:
    msg = Message.of("Slots of run ", code(run_id), ", per room (filled / open, waiting):")
    return msg.bullets(list(lines) or ["no room has slots yet"])
