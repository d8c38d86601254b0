"""Which devices get our room keys: those their owners cross-signed (as MSC4153 clients do).

nio trusts device by device and refuses to send while any device is neither verified nor
blacklisted. Before each encrypted send we settle every member device: cross-signed by its owner
-> verified, otherwise -> blacklisted. A device a homeserver admin injects into someone's account
is not signed by that person's self-signing key, so it gets nothing. When a decision changes,
the room's outbound session is dropped so the next message goes out under a fresh one.
"""

from __future__ import annotations

import logging
from typing import Any

from bots.runtime.crosssign import KEYS_QUERY, trusted_devices
from bots.runtime.ids import RoomID
from bots.runtime.matrix import Matrix, q

log = logging.getLogger(__name__)


class DeviceTrust:
    def __init__(self, matrix: Matrix, share_with_unverified: bool) -> None:
        self.matrix = matrix
        self.share_with_unverified = share_with_unverified
        self._signed: dict[str, dict[str, bool]] = {}

    def invalidate(self, user_ids: list[str]) -> None:
        """Forget what we knew of these users' devices (their device list changed)."""
        for user_id in user_ids:
            self._signed.pop(user_id, None)

    async def prepare(self, room_id: RoomID) -> None:
        client = self.matrix.client
        room = client.rooms.get(room_id)
        if room is None or not room.encrypted or client.olm is None:
            return
        if not room.members_synced:
            await self._load_members(room)
        if client.should_query_keys:
            await client.keys_query()
        if self.share_with_unverified:
            return
        # The bot's own other devices too (a data dir made afresh leaves the old ones behind):
        # nio refuses to share with a device it has not settled.
        users = [u for u in room.users if u != client.user_id] + [client.user_id]
        missing = [u for u in users if u not in self._signed]
        if missing:
            query = await self.matrix.api("POST", KEYS_QUERY, {"device_keys": {u: [] for u in missing}})
            answered = query.get("device_keys", {})
            for user_id in missing:
                if user_id in answered:
                    self._signed[user_id] = trusted_devices(query, user_id)
                # else their homeserver did not answer ("failures"): their devices get no
                # decision now, and are asked for again before the next send.
        changed = False
        olm = client.olm
        for user_id in users:
            known = user_id in self._signed
            signed = self._signed.get(user_id, {})
            for device in client.device_store.active_user_devices(user_id):
                if device.id == client.device_id:
                    continue
                if not known:
                    # Unanswered: earlier decisions stand; a device never decided gets nothing
                    # until its owner's signatures can be read.
                    if not olm.is_device_verified(device) and not olm.is_device_blacklisted(device):
                        client.blacklist_device(device)
                    continue
                trusted = signed.get(device.id, False)
                if trusted and not olm.is_device_verified(device):
                    if olm.is_device_blacklisted(device):
                        client.unblacklist_device(device)
                    client.verify_device(device)
                    changed = True
                elif not trusted and not olm.is_device_blacklisted(device):
                    if olm.is_device_verified(device):
                        client.unverify_device(device)
                    client.blacklist_device(device)
                    changed = True
                    log.info("withholding room keys from a device its owner has not cross-signed")
        if changed:
            olm.outbound_group_sessions.pop(room_id, None)

    async def _load_members(self, room: Any) -> None:
        """Joined *and invited* members, fresh from the homeserver, before a first send.

        nio fills its member list from the sync stream, which can show a room the bot just
        created before the invite that was part of creating it; its own fallback reads joined
        members only. A first message to someone just invited (an alert to a liaison) would then
        go out under a room key shared with nobody, unreadable forever. Invitees get the key.
        """
        client = self.matrix.client
        data = await self.matrix.api(
            "GET", f"/_matrix/client/v3/rooms/{q(room.room_id)}/members?not_membership=leave"
        )
        for event in data.get("chunk", []):
            membership = (event.get("content") or {}).get("membership")
            user_id = event.get("state_key")
            if not user_id or membership not in ("join", "invite"):
                continue
            if user_id not in room.users:
                room.add_member(user_id, None, None, invited=membership == "invite")
            elif membership == "join" and room.invited_users.pop(user_id, None) is not None:
                room.users[user_id].invited = False  # joined since nio last looked
        room.members_synced = True
        if client.olm is not None:
            client.olm.update_tracked_users(room)
