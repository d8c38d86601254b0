"""The ledger's messages, as :class:`Message` (lists, never tables; nothing escaped by hand)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from bots.runtime.message import Message, bold, code
from protocols.gains import ANONYMOUS_NAME, Tally
from protocols.timespec import format_duration

SHARE_TEXT = {
    "counts": "this room's gains count in its coalition's tally, without their texts",
    "named": "this room's gains and their texts appear in its coalition's tally under its name",
    "anonymous": f"this room's gains and their texts appear in its coalition's tally as “{ANONYMOUS_NAME}”",
}


def _counts(counts: Mapping[str, int]) -> list[str]:
    return [f"{category}: {n}" for category, n in counts.items()]


def recorded(gain_id: int, category: str, keep: timedelta) -> Message:
    return Message.of(
        f"Recorded gain #{gain_id} in {category}. Its text is kept for {format_duration(keep)}, its count "
        "stays. Take it back with ",
        code(f"!gain remove {gain_id}"),
        " (a moderator).",
    )


def room(counts: Mapping[str, int], texts: Sequence[tuple[int, str, str]], share: str) -> Message:
    if not counts:
        msg = Message.of("No gains recorded here yet. Record one with !gain add <category> <text>.")
    else:
        msg = Message.of(bold("Gains of this room"), f" ({sum(counts.values())} in all):").bullets(
            _counts(counts)
        )
    if texts:
        msg = msg.paragraph("Remembered:").bullets(
            [code(f"#{i}"), f" {category}: {text}"] for i, category, text in texts
        )
    return msg.paragraph(f"Sharing: {SHARE_TEXT[share]} (!gains share counts|named|anonymous).")


def coalition(name: str, tally: Tally, elsewhere: int) -> Message:
    total = sum(tally.counts.values())
    msg = Message.of(
        bold(f"Gains of coalition {name}"),
        f": {total} in {tally.rooms_with_gains} of {tally.rooms} member rooms counted here.",
    )
    msg = msg.bullets(_counts(tally.counts)) if tally.counts else msg.paragraph("No gains recorded yet.")
    if tally.shared:
        msg = msg.paragraph("Shared by their rooms:").bullets(
            f"{who} ({category}): {text}" for who, category, text in tally.shared
        )
    if elsewhere:
        msg = msg.paragraph(
            f"{elsewhere} member room{'s are' if elsewhere != 1 else ' is'} served by another herald's bot: "
            "ask there with !gains coalition for their part."
        )
    return msg
