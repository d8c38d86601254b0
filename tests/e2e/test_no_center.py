"""Coalitions without a center, end to end: three federating Synapses, a herald on each.

The coalition starts as today, with one herald (on A) and thirteen rooms (the coordination room
and twelve member rooms, four on each server, half of them encrypted). Adding the heralds of B and
C moves it into a control room. Then, counted from a client on each room's own server:

- no faults: every room gets exactly one copy of the call-out, whichever herald sent it, and a
  forged cancellation from someone in the control room who is no herald changes nothing;
- the herald on C is SIGKILLed two seconds before the action time: every room still gets exactly
  one copy, from A or B, at most the stagger G (plus a few seconds) late.

The herald on C runs as its own process (so it can be killed); A and B run in this event loop.
Offsets are compressed: G is 20 s (a copy must reach the other heralds within G, on a loaded machine too), heartbeats every 3 s, a herald is believed down after 20 s.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bots.devclient import UserClient
from bots.runtime.keys import key
from tests.e2e.federation import Triple, federation3  # noqa: F401 - the fixture
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask_event as command
from tests.e2e.helpers import body, next_minute, set_power, until
from tests.e2e.test_herald import herald_of, invitation, member_room

# Three homeservers, three heralds and thirteen rooms are set up once for the module, inside the
# first test's time: more than the suite's default five minutes on a loaded machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
MARKER = "org.affinity.herald"
STAGGER_S = 20
# Twelve member rooms (four per server); fewer while debugging (NO_CENTER_ROOMS=3).
ROOMS = int(os.environ.get("NO_CENTER_ROOMS", "12"))


@dataclass
class Coalition:
    heralds: list[BotHarness]  # A, B (in this process), C (its own process)
    herald_c: subprocess.Popen[str]
    people: list[UserClient]  # alice on A, bob on B, carol on C
    coord: str
    rooms: dict[str, UserClient]  # member room -> its owner, a client on the room's own server
    before: str  # a run delivered and acknowledged before the coalition had a control room


def view_a(herald: BotHarness) -> Any:
    """The herald's current view of the coalition's control room (refreshed at each beat)."""
    return herald_of(herald).view_of("nocenter")


def settings(triple: Triple) -> dict[str, Any]:
    return {
        "access": {"allowed_servers": triple.server_names},
        "features": {"herald": {"stagger": f"{STAGGER_S}s", "heartbeat": "3s", "staleness": "20s"}},
    }


def called_by(client: UserClient, room: str, herald: BotHarness) -> bool:
    """The room shows a call-out from ``herald`` (the single herald sends it without a marker)."""
    return any(
        r == room and e.get("sender") == herald.user_id and "RAPID RESPONSE" in body(e)
        for r, e in client.events
    )


def copies_of(client: UserClient, room: str, run: str, key: str) -> list[dict[str, Any]]:
    """Each distinct copy of (run, key) in a room, as its owner's client reads it."""
    found: dict[str, dict[str, Any]] = {}
    for r, event in client.events:
        marker = (event.get("content") or {}).get(MARKER) or {}
        if r == room and marker.get("run") == run and marker.get("key") == key:
            found[str(event.get("event_id"))] = event
    return list(found.values())


def pending_in(db: Path, bot: str, run: str) -> int:
    """Call-outs of a run a herald has not decided yet, read from its own database."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM herald_delivery WHERE bot = ? AND run_id = ? AND phase = 'call'"
            " AND state = 'pending'",
            (bot, run),
        ).fetchone()
    return int(row[0])


def adopted(harness: BotHarness, run: str) -> bool:
    """The herald holds the run's call-outs (it adopted the plan from the control room)."""
    with sqlite3.connect(harness.directory / "data" / "affinity.db") as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM herald_delivery WHERE bot = ? AND run_id = ? AND phase = 'call'",
            (harness.user_id, run),
        ).fetchone()
    return int(row[0]) > 0


async def all_adopted_and_decided(heralds: list[BotHarness], run: str) -> bool:
    """Every herald has the run (none is without pending keys merely because the plan has not
    reached it yet) and has decided each of its call-outs."""
    return all(adopted(h, run) for h in heralds) and await all_decided(heralds, run)


async def all_decided(heralds: list[BotHarness], run: str) -> bool:
    for harness in heralds:
        if pending_in(harness.directory / "data" / "affinity.db", harness.user_id, run) != 0:
            return False
    return True


def undecided(coalition: Coalition, run: str) -> str:
    """Why a herald still has call-outs pending: per pending room, the copies its owner sees, and
    whether the herald's sync handed each to it (a copy it never got, or could not decrypt)."""
    lines = []
    code = coalition.herald_c.poll()
    if code is not None:
        lines.append(f"herald C's process exited with {code}")
    log = coalition.heralds[2].directory.parent / "hc.log"
    if log.exists():
        lines.extend(f"C: {line}" for line in log.read_text(encoding="utf-8").splitlines()[-20:])
    for harness in coalition.heralds:
        with sqlite3.connect(harness.directory / "data" / "affinity.db") as conn:
            rooms = [
                str(r[0])
                for r in conn.execute(
                    "SELECT room_id FROM herald_delivery WHERE bot = ? AND run_id = ? AND phase = 'call'"
                    " AND state = 'pending'",
                    (harness.user_id, run),
                )
            ]
            for room in rooms:
                seen = conn.execute(
                    "SELECT COUNT(*) FROM herald_copy WHERE bot = ? AND run_id = ? AND room_id = ?",
                    (harness.user_id, run, room),
                ).fetchone()[0]
                owner = coalition.rooms[room]
                for copy in copies_of(owner, room, run, "call"):
                    event_id = str(copy.get("event_id"))
                    lines.append(
                        f"{harness.user_id} pending in {room}: copy {event_id} from {copy.get('sender')},"
                        f" handled by its sync: {handled_by(harness, event_id)}, copies recorded: {seen}"
                    )
                if not copies_of(owner, room, run, "call"):
                    lines.append(f"{harness.user_id} pending in {room}: its owner sees no copy")
    return "\n".join(lines)


@pytest.fixture(scope="module")
async def coalition(
    federation3: Triple, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Coalition]:
    root = tmp_path_factory.mktemp("no-center")
    extra = settings(federation3)
    a, b, c = federation3.servers
    herald_a = BotHarness(a, root / "ha", ["herald"], extra)
    herald_b = BotHarness(b, root / "hb", ["herald"], extra)
    herald_c = BotHarness(c, root / "hc", ["herald"], extra)
    await herald_a.start()
    await herald_b.start()
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not wait for it
        [sys.executable, "-m", "bots.cli", "run", "--config", str(herald_c.config_path), "--json"],
        cwd=ROOT,
        stderr=(root / "hc.log").open("w"),
        text=True,
    )
    people = [await person(server, root) for server in federation3.servers]
    alice = people[0]
    try:
        # Each room makes the coalition's herald a moderator, so that it may invite the others.
        coord = await member_room(alice, herald_a, "Coordination", encrypted=True)
        await set_power(alice, coord, herald_a.user_id)
        assert "coordinates it" in body(await command(alice, coord, "!coalition create nocenter"))
        rooms: dict[str, UserClient] = {coord: alice}
        for i in range(ROOMS):
            owner = people[i % 3]
            room = await member_room(owner, herald_a, f"Group {i}", encrypted=i % 2 == 0)
            await set_power(owner, room, herald_a.user_id)
            token = await invitation(alice, coord)
            assert "joined coalition" in body(await command(owner, room, f"!coalition join {token}"))
            rooms[room] = owner
        print(f"{time.strftime('%X')} {len(rooms)} rooms in coalition nocenter")
        # A run under way before the upgrade: delivered by the one herald, acknowledged by a room.
        before = await start_run(alice, coord, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        confirmed = body(await command(alice, coord, f"!protocol confirm {before}", timeout=60))
        assert "Going out now: call" in confirmed, confirmed
        for room, owner in rooms.items():
            await until(lambda r=room, o=owner: called_by(o, r, herald_a), "the single herald's call", 90)
        acked = next(room for room, owner in rooms.items() if owner is people[1])
        assert "Acknowledged run" in body(await command(people[1], acked, f"!ack {before}", timeout=60))
        print(f"{time.strftime('%X')} run {before} delivered by the single herald")
        for added in (herald_b, herald_c):
            # Whichever herald answers in the room invites the new one everywhere first (a
            # loaded machine takes a minute or more when that is B, which no room made moderator).
            add = f"!coalition herald add {added.user_id}"
            reply = body(await command(alice, coord, add, timeout=240))
            assert "is now a herald" in reply, reply
            for room, owner in rooms.items():
                await owner.wait_joined(room, added.user_id, timeout=90)
        heralds = {herald_a.user_id, herald_b.user_id, herald_c.user_id}
        try:
            await until(
                lambda: heralds <= view_a(herald_a).registry.live_heralds, "every herald is on duty", 400
            )
        finally:
            print(f"{time.strftime('%X')} A's heralds: {view_a(herald_a).registry.heralds}")
        await until(
            lambda: (
                heralds
                <= view_a(herald_a).heartbeats.alive(datetime.now(UTC), herald_of(herald_a).config.staleness)
            ),
            "A hears every herald's heartbeat",
            timeout=60,
        )
        print(f"{time.strftime('%X')} three heralds on duty")
        yield Coalition([herald_a, herald_b, herald_c], proc, people, coord, rooms, before)
    finally:
        if proc.poll() is None:
            proc.kill()
        for client in people:
            await client.close()
        await herald_b.stop()
        await herald_a.stop()


async def start_run(alice: UserClient, coord: str, when: str) -> str:
    plan = body(await command(alice, coord, f"!protocol start rapid-response at {when}", timeout=60))
    found = re.search(r"Plan (\w+):", plan)
    assert found, plan
    return found.group(1)


async def test_the_upgrade_keeps_the_run_its_deliveries_and_its_ack(coalition: Coalition) -> None:
    alice, run = coalition.people[0], coalition.before
    # B and C adopted the run and hold back on what A delivered before: no room gets it again.
    await until(
        lambda: all_adopted_and_decided(coalition.heralds[1:], run),
        "B and C adopted and decided the earlier run",
        120,
    )
    for room, owner in coalition.rooms.items():
        assert copies_of(owner, room, run, "call") == []
    board = body(await command(alice, coalition.coord, f"!protocol status {run}", timeout=60))
    assert "call ✅" in board, board  # the acknowledgement given to A, on whichever herald answers


async def test_no_fault_run_delivers_exactly_one_copy_per_room(coalition: Coalition) -> None:
    alice = coalition.people[0]
    herald_a = coalition.heralds[0]
    run = await start_run(alice, coalition.coord, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    # Someone in the control room who is no herald forges a cancellation: ignored, nothing sent.
    view = view_a(herald_a)
    forger = coalition.people[1]
    await herald_a.runtime.matrix.invite(view.room_id, forger.user_id)
    await until(lambda: view.room_id in forger.invites, "the forger is invited", timeout=30)
    await forger.join(view.room_id)
    forged = {"run": run.lower(), "rev": 9, "prev_rev": 1, "plan_hash": "0" * 64, "cancel": True}
    await forger.send(view.room_id, f"{MARKER}.amend", forged)
    confirmed = body(await command(alice, coalition.coord, f"!protocol confirm {run}", timeout=60))
    assert "Going out now: call" in confirmed, confirmed
    run_id = run
    for room, owner in coalition.rooms.items():
        await until(
            lambda r=room, o=owner: len(copies_of(o, r, run_id, "call")) >= 1, "the call reaches the room", 90
        )
    # Counted once every herald has decided: a herald that has not seen a copy yet (its sync lags,
    # or the copy's room key has not reached it) may still send up to its turn plus the patience
    # of its room check (2 G + 3 G for the last herald), and its copy would be a second one.
    try:
        await until(
            lambda: all_adopted_and_decided(coalition.heralds, run_id),
            "every herald adopted the run and decided every key",
            5 * STAGGER_S + 60,
        )
    finally:
        print(undecided(coalition, run_id))
    counts = {room: len(copies_of(owner, room, run_id, "call")) for room, owner in coalition.rooms.items()}
    senders = {copies_of(o, r, run_id, "call")[0]["sender"] for r, o in coalition.rooms.items()}
    print(f"no-fault: {len(counts)} rooms, copies {sorted(counts.values())}, senders {len(senders)}")
    assert set(counts.values()) == {1}, counts
    assert not view_a(herald_a).registry.is_cancelled(run_id)


async def test_bad_input_changes_nothing(coalition: Coalition, federation3: Triple) -> None:
    alice, bob = coalition.people[0], coalition.people[1]
    a = federation3.a
    nobody = f"@nobody-{int(time.time())}:{a.server_name}"
    reply = body(await command(alice, coalition.coord, f"!coalition herald add {nobody}", timeout=60))
    assert "is not a Matrix user" in reply, reply
    member = next(room for room, owner in coalition.rooms.items() if owner is bob)
    reply = body(
        await command(bob, member, f"!coalition herald add {coalition.heralds[1].user_id}", timeout=60)
    )
    assert "Only a coalition's coordination room" in reply, reply
    # A herald that never answers (an account no bot runs): admitted, never on duty, never ranked.
    silent = coalition.people[2].user_id
    reply = body(await command(alice, coalition.coord, f"!coalition herald add {silent}", timeout=60))
    assert "is now a herald" in reply, reply
    listing = body(await command(alice, coalition.coord, "!coalition heralds", timeout=60))
    assert silent in listing and "has not joined the control room" in listing, listing
    assert silent not in view_a(coalition.heralds[0]).registry.live_heralds


def db_of(harness: BotHarness) -> Path:
    return harness.directory / "data" / "affinity.db"


def handled_by(harness: BotHarness, event_id: str) -> bool:
    """The herald's sync has handled the event (its replies, if any, are in its outbox)."""
    with sqlite3.connect(db_of(harness)) as conn:
        row = conn.execute(
            "SELECT 1 FROM handled_event WHERE bot = ? AND event_id = ?", (harness.user_id, event_id)
        ).fetchone()
    return row is not None


def replies_queued(harness: BotHarness, event_id: str) -> int:
    """Replies the herald queued to a command (the runtime's first reply key, or its own)."""
    keys = [key("runtime", event_id, "reply", 1), key("herald", event_id, "reply", 1)]
    with sqlite3.connect(db_of(harness)) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE bot = ? AND txn_id IN (?, ?)", (harness.user_id, *keys)
        ).fetchone()
    return int(row[0])


def holds_invite(harness: BotHarness, hashed: str) -> bool:
    """The herald would accept the invitation whose token hashes to ``hashed``."""
    with sqlite3.connect(db_of(harness)) as conn:
        row = conn.execute(
            "SELECT 1 FROM herald_invite WHERE bot = ? AND token_hash = ?", (harness.user_id, hashed)
        ).fetchone()
    return row is not None


def replies_seen(client: UserClient, room: str, event_id: str) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for r, event in client.events:
        relates = (event.get("content") or {}).get("m.relates_to") or {}
        if r == room and (relates.get("m.in_reply_to") or {}).get("event_id") == event_id:
            found[str(event.get("event_id"))] = event
    return list(found.values())


async def test_one_herald_answers_each_command_in_a_room_they_share(coalition: Coalition) -> None:
    """!ping, !help and an unknown command in the coordination room, where all three heralds
    are: once every herald has handled the command, exactly one has a reply in its outbox, and
    the room shows that one reply."""
    alice = coalition.people[0]
    for text in ("!ping", "!help", "!nosuchcommand", "!coalition heralds"):
        event_id = await alice.send_text(coalition.coord, text)
        await until(
            lambda e=event_id: all(handled_by(h, e) for h in coalition.heralds),
            f"every herald handled {text}",
            60,
        )
        queued = {h.user_id: replies_queued(h, event_id) for h in coalition.heralds}
        assert sum(queued.values()) == 1, (text, queued)
        await until(
            lambda e=event_id: len(replies_seen(alice, coalition.coord, e)) >= 1, f"the answer to {text}", 60
        )
        assert len(replies_seen(alice, coalition.coord, event_id)) == 1
    print(f"one answer each to !ping, !help, an unknown command, !coalition heralds (last: {queued})")


async def test_any_herald_accepts_an_invitation_issued_through_another(coalition: Coalition) -> None:
    """A token issued in the coordination room (through whichever herald answers there) joins a
    room that invited only another herald; the same token is then refused by a third herald."""
    alice, bob, carol = coalition.people
    reply = await command(alice, coalition.coord, "!coalition invite", timeout=60)
    found = re.search(r"cj-[a-z2-7]{32}", body(reply))
    assert found, body(reply)
    token = found.group(0)
    issuer = str(reply["sender"])
    others = [h for h in coalition.heralds if h.user_id != issuer]
    hashed = hashlib.sha256(token.encode()).hexdigest()
    await until(lambda: all(holds_invite(h, hashed) for h in others), "every herald holds the invitation", 60)
    joined = await member_room(bob, others[0], "Joins through another herald", encrypted=False)
    await set_power(bob, joined, others[0].user_id)
    answer = body(await command(bob, joined, f"!coalition join {token}", timeout=60))
    assert "joined coalition nocenter" in answer, answer
    again = await member_room(carol, others[1], "Tries the token again", encrypted=False)
    await until(
        lambda: not holds_invite(others[1], hashed), "the third herald drops the spent invitation", 60
    )
    refused = body(await command(carol, again, f"!coalition join {token}", timeout=60))
    assert "This invitation is not valid" in refused, refused
    print(f"invitation issued by {issuer}, accepted by {others[0].user_id}, refused by {others[1].user_id}")


async def test_sigkill_before_the_action_time_still_one_copy_per_room(coalition: Coalition) -> None:
    alice = coalition.people[0]
    action, words = next_minute(at_least=45)
    run = await start_run(alice, coalition.coord, words)
    confirmed = body(await command(alice, coalition.coord, f"!protocol confirm {run}", timeout=60))
    assert "confirmed" in confirmed, confirmed
    run_id = run
    herald_c = coalition.heralds[2]
    await until(
        lambda: pending_in(herald_c.directory / "data" / "affinity.db", herald_c.user_id, run_id) > 0,
        "C adopted the plan",
        150,
    )
    await until(
        lambda: time.time() >= action.timestamp() - 2, "two seconds before the action", 120, every=0.1
    )
    coalition.herald_c.send_signal(signal.SIGKILL)
    coalition.herald_c.wait(10)
    survivors = coalition.heralds[:2]
    latest = 0.0
    for room, owner in coalition.rooms.items():
        await until(
            lambda r=room, o=owner: len(copies_of(o, r, run_id, "call")) >= 1,
            "the call reaches the room",
            120,
        )
        sent = copies_of(owner, room, run_id, "call")[0]
        latest = max(latest, sent["origin_server_ts"] / 1000 - action.timestamp())
    await until(lambda: all_decided(survivors, run_id), "A and B decided every key", 90)
    counts = {room: len(copies_of(owner, room, run_id, "call")) for room, owner in coalition.rooms.items()}
    print(f"SIGKILL: copies {sorted(counts.values())}, last copy {latest:.1f} s after T")
    assert set(counts.values()) == {1}, counts
    assert latest <= STAGGER_S + 10
