"""How ``!coalition heralds`` reads: counts first, then one line per herald (no table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from bots.runtime.message import Inline, Message, bold

if TYPE_CHECKING:
    from bots.herald.control_view import ControlView


def herald_list(coalition: str, view: ControlView, rooms: Mapping[str, int], now: datetime) -> Message:
    reg = view.registry
    total = len(reg.member_rooms)
    live = sorted(reg.live_heralds)
    lines: list[list[Inline]] = []
    for user_id, herald in sorted(reg.heralds.items()):
        beat = view.heartbeats.beats.get(user_id)
        if herald.retired:
            status = "retired"
        elif user_id not in view.joined:
            status = "invited, has not joined the control room"
        elif not herald.active:
            status = "joined, not on duty yet"
        elif beat is None:
            status = "no heartbeat seen yet"
        elif beat[0].dead:
            status = "reported dead by its homeserver"
        else:
            status = f"last heartbeat {max(0, int((now - beat[1]).total_seconds()))} s ago"
        lines.append(
            [
                bold(user_id),
                f" — {herald.homeserver} — {status} — in {rooms.get(user_id, 0)} of {total} rooms",
            ]
        )
    return Message.of(
        f"Coalition {coalition}: {len(live)} heralds on duty, {len(reg.coordination_rooms)} coordination "
        f"rooms, {total} member rooms."
    ).bullets(lines)
