"""How ``!coalition heralds`` reads: counts first, then one line per herald (no table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from bots.runtime.i18n import _
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
        status: Inline
        if herald.retired:
            status = _("retired")
        elif user_id not in view.joined:
            status = _("invited, has not joined the control room")
        elif not herald.active:
            status = _("joined, not on duty yet")
        elif beat is None:
            status = _("no heartbeat seen yet")
        elif beat[0].dead:
            status = _("reported dead by its homeserver")
        else:
            status = _("last heartbeat {seconds} s ago", seconds=max(0, int((now - beat[1]).total_seconds())))
        lines.append(
            [
                bold(user_id),
                _(
                    " — {server} — {status} — in {rooms} of {total} rooms",
                    server=herald.homeserver,
                    status=status,
                    rooms=rooms.get(user_id, 0),
                    total=total,
                ),
            ]
        )
    return Message.of(
        _(
            "Coalition {coalition}: {heralds} heralds on duty, {coordination} coordination rooms, "
            "{members} member rooms.",
            coalition=coalition,
            heralds=len(live),
            coordination=len(reg.coordination_rooms),
            members=total,
        )
    ).bullets(lines)
