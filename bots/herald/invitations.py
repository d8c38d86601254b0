"""Invitations any herald accepts: an invitation issued through one herald is written into the
control room (its token's SHA-256, its expiry, the one room it is for), and every herald copies
it into its own table, so a joining room may invite whichever herald it likes. A token works
once: the herald that accepts it marks it spent in the control room, and every herald drops it.

What the control room shows of an invitation is a hash of a random token (which cannot be turned
back into the token), its expiry, and the room it names if it names one; never the token, nor
who issued it. Two rooms using one token at the same moment through two heralds may both join:
Matrix has no compare-and-swap, and the spent mark reaches the others within a sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bots.herald.base import log
from bots.herald.control_room import put_state
from bots.herald.control_view import ControlView
from bots.herald.sharing import Sharing
from bots.runtime.errors import MatrixError
from protocols.coalition.kinds import INVITE
from protocols.coalition.reveal import invite_state, spent_invite_state
from protocols.coalition.shapes import is_count, is_hex_hash, is_room_id, ms_to_datetime
from protocols.errors import RuleError


@dataclass(frozen=True)
class SharedInvite:
    token_hash: str
    issued_by: str  # the herald that wrote it
    expires_at: datetime | None  # None: spent
    room_id: str | None


def parse_invite(event: dict[str, Any]) -> SharedInvite | None:
    """An invitation state event as it reads (None: not one, or malformed)."""
    key, sender, content = event.get("state_key"), event.get("sender"), event.get("content")
    if event.get("type") != INVITE or not is_hex_hash(key) or not isinstance(sender, str):
        return None
    if not isinstance(content, dict):
        return None
    expires, room = content.get("expires"), content.get("room")
    if room is not None and not is_room_id(room):
        return None
    assert isinstance(key, str)
    when = ms_to_datetime(expires) if isinstance(expires, int) and is_count(expires) else None
    return SharedInvite(key, sender, when, room if isinstance(room, str) else None)


class SharedInvitations(Sharing):
    """Invitations shared through the control room."""

    async def share_invite(
        self, coalition: str, token_hash: str, room_id: str | None, expires_at: datetime
    ) -> None:
        view = self.view_of(coalition)
        if view is None:
            return  # one herald: its own table is the whole story
        try:
            await put_state(
                self.host, view.room_id, invite_state(token_hash, expires=expires_at, room_id=room_id)
            )
        except (MatrixError, RuleError) as exc:
            log.warning(
                "herald: an invitation was not shared with the other heralds (%s)", type(exc).__name__
            )

    async def spend_invite(self, coalition: str, token_hash: str) -> None:
        view = self.view_of(coalition)
        if view is None:
            return
        view.invites[token_hash] = SharedInvite(token_hash, str(self.host.user_id), None, None)
        try:
            await put_state(self.host, view.room_id, spent_invite_state(token_hash))
        except (MatrixError, RuleError) as exc:
            log.warning("herald: a used invitation was not marked spent (%s)", type(exc).__name__)

    def note_invite(self, view: ControlView, event: dict[str, Any]) -> bool:
        """An invitation event from the sync or the room's state; False if it proves nothing."""
        found = parse_invite(event)
        if found is None or found.issued_by not in view.registry.admitted:
            return False
        view.invites[found.token_hash] = found
        return True

    async def mirror_invites(self, view: ControlView) -> None:
        """This herald's table follows the control room: open invitations in, spent ones out;
        the herald that issued an invitation marks it spent once it expired."""
        assert view.coalition is not None
        now = self.host.clock()
        me = str(self.host.user_id)
        for invite in list(view.invites.values()):
            if invite.expires_at is None:
                await self.control.drop_invite(invite.token_hash)
            elif invite.expires_at <= now:
                await self.control.drop_invite(invite.token_hash)
                if invite.issued_by == me:
                    await self.spend_invite(view.coalition, invite.token_hash)
            else:
                await self.control.mirror_invite(
                    view.coalition,
                    invite.token_hash,
                    invite.room_id,
                    invite.issued_by,
                    now,
                    invite.expires_at,
                )
