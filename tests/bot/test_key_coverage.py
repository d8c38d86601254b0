"""A room key that did not reach a member device holds the message back, then lets it go.

nio's own objects stand in small here (rooms, devices, Olm sessions): what is tested is the
decision on top of them. The e2e tier proves the same against Synapse (a DM opened to someone on
another homeserver is readable there).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from bots.runtime.errors import TransportError
from bots.runtime.key_coverage import KEY_WAIT_S, RECLAIM_EVERY_S, KeyCoverage, missing_devices

ROOM = "!dm:a"
ROOM2 = "!group:a"


@dataclass
class Device:
    user_id: str
    id: str

    @property
    def curve25519(self) -> str:
        return f"curve-{self.user_id}-{self.id}"


@dataclass
class Session:
    users_shared_with: set[tuple[str, str]] = field(default_factory=set)
    users_ignored: set[tuple[str, str]] = field(default_factory=set)
    shared: bool = False


class Olm:
    def __init__(self) -> None:
        self.outbound_group_sessions: dict[str, Session] = {}
        self.users_for_key_query: set[str] = set()
        self.olm_sessions: set[str] = set()
        self.blacklisted: set[str] = set()
        self.session_store = self

    def get(self, curve: str) -> bool:  # the session store's lookup
        return curve in self.olm_sessions

    def is_device_blacklisted(self, device: Device) -> bool:
        return device.id in self.blacklisted

    def should_share_group_session(self, room_id: str) -> bool:
        session = self.outbound_group_sessions.get(room_id)
        return session is None or not session.shared


class Client:
    """Just what KeyCoverage reads of nio's AsyncClient; claims succeed for ``reachable``."""

    def __init__(self, devices: dict[str, list[str]], reachable: set[str]) -> None:
        self.device_id = "BOT"
        self.olm = Olm()
        self.devices = {u: [Device(u, d) for d in ds] for u, ds in devices.items()}
        self.rooms = {
            room: type("Room", (), {"encrypted": True, "users": dict.fromkeys(devices)})()
            for room in (ROOM, ROOM2)
        }
        self.device_store = self
        self.reachable = reachable
        self.sharing_session: dict[str, asyncio.Event] = {}
        self.claims: list[dict[str, list[str]]] = []
        self.shares = 0

    def active_user_devices(self, user_id: str) -> list[Device]:
        return self.devices.get(user_id, [])

    @property
    def should_query_keys(self) -> bool:
        return bool(self.olm.users_for_key_query)

    async def keys_query(self) -> None:
        self.olm.users_for_key_query -= self.reachable

    async def keys_claim(self, claim: dict[str, list[str]]) -> None:
        self.claims.append(claim)
        for user_id, ids in claim.items():
            if user_id in self.reachable:
                self.olm.olm_sessions.update(Device(user_id, d).curve25519 for d in ids)

    async def share(self, room_id: str) -> bool:
        """As nio shares: a shared session is replaced; devices without an Olm session are
        skipped; the session counts as shared all the same."""
        self.shares += 1
        olm = self.olm
        session = olm.outbound_group_sessions.get(room_id)
        if session is None or session.shared:
            session = olm.outbound_group_sessions[room_id] = Session()
        for user_id, devices in self.devices.items():
            for device in devices:
                if device.id == self.device_id:
                    session.users_ignored.add((user_id, device.id))
                elif olm.get(device.curve25519):
                    session.users_shared_with.add((user_id, device.id))
        session.shared = True
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def coverage(client: Client, clock: Clock) -> KeyCoverage:
    return KeyCoverage(client, client.share, clock)  # type: ignore[arg-type]


async def test_a_device_nio_skipped_gets_the_same_session_before_the_message_goes() -> None:
    client = Client({"@bot:a": ["BOT"], "@ana:b": ["ANA1"]}, reachable={"@ana:b"})
    keys = coverage(client, Clock())
    await keys.ensure(ROOM)
    assert client.claims == [{"@ana:b": ["ANA1"]}]
    session = client.olm.outbound_group_sessions[ROOM]
    assert ("@ana:b", "ANA1") in session.users_shared_with
    assert len(client.olm.outbound_group_sessions) == 1 and client.shares == 2
    assert missing_devices(client, ROOM) == set()  # type: ignore[arg-type]
    assert keys.sent_incomplete == 0


async def test_an_unreachable_device_holds_the_message_back_then_lets_it_go() -> None:
    client = Client({"@bot:a": ["BOT"], "@ana:b": ["ANA1"], "@cai:c": ["CAI1"]}, reachable={"@ana:b"})
    clock = Clock()
    keys = coverage(client, clock)
    with pytest.raises(TransportError, match="1 device"):
        await keys.ensure(ROOM)
    clock.now += KEY_WAIT_S / 2
    with pytest.raises(TransportError):
        await keys.ensure(ROOM)
    claims = len(client.claims)
    clock.now += KEY_WAIT_S  # waited long enough: the room is not silenced by one dead server
    await keys.ensure(ROOM)
    assert keys.sent_incomplete == 1
    assert ("@ana:b", "ANA1") in client.olm.outbound_group_sessions[ROOM].users_shared_with
    claims = len(client.claims)
    await keys.ensure(ROOM)  # no new claim before RECLAIM_EVERY_S
    assert len(client.claims) == claims and keys.sent_incomplete == 2
    clock.now += RECLAIM_EVERY_S
    client.reachable.add("@cai:c")  # back: the next send reaches it, and the wait is over
    await keys.ensure(ROOM)
    assert missing_devices(client, ROOM) == set()  # type: ignore[arg-type]
    assert keys.sent_incomplete == 2


async def test_a_member_whose_devices_are_unknown_counts_as_missing() -> None:
    client = Client({"@bot:a": ["BOT"], "@ana:b": []}, reachable=set())
    client.olm.users_for_key_query.add("@ana:b")
    keys = coverage(client, Clock())
    assert missing_devices(client, ROOM) == {("@ana:b", "*")}  # type: ignore[arg-type]
    with pytest.raises(TransportError):
        await keys.ensure(ROOM)
    client.reachable.add("@ana:b")
    client.devices["@ana:b"] = [Device("@ana:b", "ANA1")]
    await keys.ensure(ROOM)
    assert ("@ana:b", "ANA1") in client.olm.outbound_group_sessions[ROOM].users_shared_with


async def test_blacklisted_devices_and_the_bots_own_are_not_waited_for() -> None:
    client = Client({"@bot:a": ["BOT", "OLD"], "@eve:b": ["INJECTED"]}, reachable=set())
    client.olm.blacklisted |= {"OLD", "INJECTED"}
    keys = coverage(client, Clock())
    await keys.ensure(ROOM)
    assert client.claims == [] and keys.sent_incomplete == 0


def test_an_unencrypted_or_unknown_room_is_not_checked() -> None:
    client: Any = Client({"@ana:b": ["ANA1"]}, reachable=set())
    client.rooms[ROOM].encrypted = False
    assert missing_devices(client, ROOM) == set()
    assert missing_devices(client, "!other:a") == set()


async def test_a_dead_homeserver_is_waited_for_once_not_once_per_room() -> None:
    client = Client({"@bot:a": ["BOT"], "@cai:c": ["CAI1"]}, reachable=set())
    clock = Clock()
    keys = coverage(client, clock)
    with pytest.raises(TransportError):
        await keys.ensure(ROOM)
    clock.now += KEY_WAIT_S
    await keys.ensure(ROOM)  # the wait ran out for server c
    await keys.ensure(ROOM2)  # another room with someone on c goes out at once
    assert keys.sent_incomplete == 2 and keys.waiting() == frozenset()
