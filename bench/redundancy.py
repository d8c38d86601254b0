"""Benchmark: a day-of-action call-out to N member rooms with one herald, then with k heralds
(leaderless), on k federating Synapses; the ratios, and the copies counted in every room.

    make bench-redundancy                       # 20 member rooms, 2 heralds
    ROOMS=200 HERALDS=3 make bench-redundancy
    .venv/bin/python bench/redundancy.py [--rooms 20] [--heralds 2] [--stagger 20] [--encrypted 0.5]

Each herald is a process of its own (``bench/herald_process.py``: its own config, data directory
and SQLite) on its own homeserver; one person per homeserver owns the member rooms there, half of
them encrypted. The coalition is built as its people build it (commands in Element's place).
Each round plans a rapid-response run for the next whole minute and confirms it, so the call is
due at T for every herald that holds the plan. Round 1 has the one herald of today's coalitions;
then ``!coalition herald add`` moves the coalition into a control room and rounds 2 and 3 have k
heralds (round 2 is the first time heralds B.. send in the rooms, so they share room keys then;
in round 3 their sessions exist). For each round, from a client of each room's owner on the
room's own server: when the first copy became readable (after T) and how many copies each room
got (must be exactly 1); from each Synapse's own records, how long first copies took to reach the
other heralds' homeservers, and whether an extra copy was sent while the first was already on its
sender's; per herald, over the same window in every round (from T - 1 s, G x k + 20 s): CPU
seconds, requests to its homeserver, messages sent, to-device messages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coalition_setup import (
    Coalition,
    HeraldProcess,
    TimedClient,
    add_heralds,
    body,
    build,
    command,
    person,
    start_herald,
)
from crossing_times import crossing_lines
from homeserver_fixture import stamp, start_servers, stop_all, until

MARKER = "org.affinity.herald"


@dataclass
class Round:
    label: str
    heralds: list[HeraldProcess]
    run: str
    action: datetime
    seen_after: dict[str, float]  # room -> seconds from T until its first copy was readable there
    sent_after: dict[str, float]  # room -> seconds from T to the first copy's origin_server_ts
    copies: dict[str, int]
    copy_events: dict[str, list[dict[str, Any]]]  # room -> the copies found there
    senders: Counter[str]
    cost: dict[str, dict[str, float]]  # herald name -> what it cost during the round
    window: float  # seconds from T - 1 s over which the cost was counted (the same every round)
    load: float
    decided_after: float | None  # seconds from T until every herald had decided every room
    undecided: dict[str, int]  # herald name -> rooms it never decided (still pending at the end)


def is_copy(event: dict[str, Any], run: str, heralds: set[str], since_ms: int) -> bool:
    """A copy of the run's call-out: by its marker (several heralds), or (the single herald
    sends none) its call-out sent since the run was confirmed."""
    content = event.get("content") or {}
    marker = content.get(MARKER) or {}
    if len(heralds) > 1 or marker:
        return bool(marker.get("run") == run and marker.get("key") == "call")
    return (
        event.get("sender") in heralds
        and "RAPID RESPONSE" in body(event)
        and int(event.get("origin_server_ts", 0)) >= since_ms
    )


def copies_in(
    owner: TimedClient, room: str, run: str, heralds: set[str], since_ms: int
) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for r, event in owner.events:
        if r == room and is_copy(event, run, heralds, since_ms):
            found[str(event.get("event_id"))] = event
    return list(found.values())


def next_minute(at_least: float) -> datetime:
    soonest = datetime.now(UTC) + timedelta(seconds=at_least)
    minute = soonest.replace(second=0, microsecond=0)
    return minute if minute >= soonest else minute + timedelta(minutes=1)


def cost_between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if k not in ("at", "pid")}


async def one_round(
    label: str,
    coalition: Coalition,
    heralds: list[HeraldProcess],
    *,
    lead: float,
    window: float,
    timeout: float,
) -> Round:
    """Plan a run for the next whole minute at least ``lead`` seconds away, confirm it, and watch
    its call-out go out at T; the heralds' cost is counted from T - 1 s over ``window`` seconds."""
    alice = coalition.owners[coalition.coord]
    action = next_minute(lead)
    since_ms = int(time.time() * 1000)
    plan = await command(
        alice, coalition.coord, f"!protocol start rapid-response at {action:%Y-%m-%d %H:%M} UTC"
    )
    found = re.search(r"Plan (\w+):", plan)
    assert found, plan
    run = found.group(1)
    reply = await command(alice, coalition.coord, f"!protocol confirm {run}")
    assert "confirmed" in reply, reply
    t = action.timestamp()
    try:
        await until(
            lambda: all(h.planned(run) for h in heralds), "every herald holds the plan", t - 3 - time.time()
        )
    except TimeoutError:
        late = [h.name for h in heralds if not h.planned(run)]
        print(f"{stamp()} {label}: at T - 3 s, heralds {late} did not hold the plan yet")
    await until(lambda: time.time() >= t - 1, "T - 1 s", timeout=lead + 70, every=0.05)
    before = {h.name: h.counters() for h in heralds}
    ids = {h.user_id for h in heralds}
    rooms = coalition.owners
    decided_after: float | None = None
    after: dict[str, dict[str, float]] | None = None
    last_reread = time.monotonic()
    while True:
        now = time.time()
        if after is None and now >= t - 1 + window:
            after = {h.name: h.counters() for h in heralds}
        if decided_after is None and all(h.pending(run) == 0 for h in heralds):
            decided_after = now - t
        missing = [r for r, o in rooms.items() if not copies_in(o, r, run, ids, since_ms)]
        if missing and time.monotonic() - last_reread > 3:
            last_reread = time.monotonic()  # a copy may have come before its room key: read again
            await asyncio.gather(*(rooms[r].history(r) for r in missing), return_exceptions=True)
        if after is not None and decided_after is not None and not missing:
            break
        if now > t + timeout:
            print(f"{stamp()} {label}: {len(missing)} rooms without a readable copy at T + {timeout:.0f} s")
            after = after or {h.name: h.counters() for h in heralds}
            break
        await asyncio.sleep(0.5)
    undecided = {h.name: n for h in heralds if (n := h.pending(run))}
    seen_after: dict[str, float] = {}
    sent_after: dict[str, float] = {}
    copies: dict[str, int] = {}
    copy_events: dict[str, list[dict[str, Any]]] = {}
    senders: Counter[str] = Counter()
    for room, owner in rooms.items():
        found_copies = copies_in(owner, room, run, ids, since_ms)
        copies[room] = len(found_copies)
        copy_events[room] = found_copies
        senders.update(str(e.get("sender")) for e in found_copies)
        if found_copies:
            first = min(found_copies, key=lambda e: int(e.get("origin_server_ts", 0)))
            sent_after[room] = int(first["origin_server_ts"]) / 1000 - t
            seen = [
                owner.readable_at[str(e["event_id"])]
                for e in found_copies
                if e["event_id"] in owner.readable_at
            ]
            if seen:
                seen_after[room] = min(seen) - t
    cost = {h.name: cost_between(before[h.name], after[h.name]) for h in heralds}
    return Round(
        label, heralds, run, action, seen_after, sent_after, copies, copy_events, senders, cost, window,
        os.getloadavg()[0], decided_after, undecided,
    )  # fmt: skip


def describe(r: Round, rooms: int, names: dict[str, str]) -> list[str]:
    reached = len(r.seen_after)
    seen = sorted(r.seen_after.values())
    sent = sorted(r.sent_after.values())
    lines = [f"{r.label} (run {r.run}, T {r.action:%H:%M} UTC, load {r.load:.1f}):"]
    if seen:
        lines.append(
            f"  reached {reached} of {rooms} rooms: the last {seen[-1]:.1f} s after T "
            f"(median {statistics.median(seen):.1f} s); last copy sent {sent[-1]:.1f} s after T"
        )
    else:
        lines.append(f"  reached 0 of {rooms} rooms")
    spread = Counter(r.copies.values())
    lines.append(
        "  copies per room: "
        + ", ".join(
            f"{n} copies in {c} rooms" if n != 1 else f"1 copy in {c} rooms"
            for n, c in sorted(spread.items())
        )
        + "; sent by "
        + ", ".join(f"{names.get(s, s)} {c}" for s, c in sorted(r.senders.items()))
    )
    if len(r.heralds) > 1:
        lines += crossing_lines(r.copy_events, {h.user_id: h.server for h in r.heralds})
    for name, c in r.cost.items():
        lines.append(
            f"  herald {name}: CPU {c.get('cpu_s', 0):.2f} s, {c.get('requests', 0):.0f} requests "
            f"({c.get('messages_sent', 0):.0f} messages, {c.get('state_writes', 0):.0f} state writes, "
            f"{c.get('sync', 0):.0f} syncs), {c.get('to_device_messages', 0):.0f} to-device messages "
            f"in {c.get('to_device_requests', 0):.0f} requests, {c.get('keys_claim', 0):.0f} key claims"
        )
    if r.decided_after is not None:
        lines.append(
            f"  every herald had decided every room (sent, or saw a copy) {r.decided_after:.1f} s after T"
        )
    for name, n in r.undecided.items():
        lines.append(f"  herald {name} never decided {n} rooms (neither sent nor saw a copy there)")
    lines.append(f"  (cost counted over {r.window:.0f} s from T - 1 s)")
    return lines


def total(r: Round, what: str) -> float:
    return sum(c.get(what, 0.0) for c in r.cost.values())


def ratios(one: Round, many: Round, k: int) -> list[str]:
    def last(r: Round) -> float:
        return max(r.seen_after.values(), default=float("nan"))

    def div(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "n/a"

    per_herald = total(many, "cpu_s") / k
    return [
        f"{many.label} against one herald:",
        f"  time until every room could read the call: one / {k} = "
        f"{last(one):.1f} s / {last(many):.1f} s = {div(last(one), last(many))}",
        f"  CPU, all heralds together: {k} / one = {total(many, 'cpu_s'):.2f} s / {total(one, 'cpu_s'):.2f} s"
        f" = {div(total(many, 'cpu_s'), total(one, 'cpu_s'))}; per herald {div(per_herald, total(one, 'cpu_s'))}",
        f"  to-device messages, all heralds: {total(many, 'to_device_messages'):.0f} against "
        f"{total(one, 'to_device_messages'):.0f}; requests {total(many, 'requests'):.0f} against "
        f"{total(one, 'requests'):.0f} ({div(total(many, 'requests'), total(one, 'requests'))})",
        f"  copies per room: {sorted(set(many.copies.values()))} (must be [1])",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rooms", type=int, default=int(os.environ.get("ROOMS") or 20))
    parser.add_argument("--heralds", type=int, default=int(os.environ.get("HERALDS") or 2))
    parser.add_argument("--stagger", type=int, default=20, help="G in seconds (the tests' value)")
    parser.add_argument("--heartbeat", type=int, default=30, help="seconds (the default); staleness 3x")
    parser.add_argument("--encrypted", type=float, default=0.5, help="share of encrypted member rooms")
    parser.add_argument("--lead", type=float, default=40, help="seconds at least from confirm to T")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    if not 2 <= args.heralds <= 8 or args.rooms < 1 or not 0 <= args.encrypted <= 1:
        parser.error("--heralds must be 2 to 8, --rooms at least 1, --encrypted between 0 and 1")
    k = args.heralds
    work = Path(tempfile.mkdtemp(prefix="redundancy-bench-"))
    print(f"{stamp()} {k} Synapses, {k} heralds, {args.rooms} member rooms, G = {args.stagger} s; in {work}")
    servers = start_servers(work, k)
    names = [s.server_name for s in servers]
    settings = {
        "access": {"allowed_servers": names},
        "features": {
            "herald": {
                "stagger": f"{args.stagger}s",
                "heartbeat": f"{args.heartbeat}s",
                "staleness": f"{3 * args.heartbeat}s",
            }
        },
    }
    heralds = [start_herald(s, work, "ABCDEFGH"[i], settings) for i, s in enumerate(servers)]
    people: list[TimedClient] = []
    ok = False
    try:
        await until(lambda: all(h.ready() for h in heralds), "every herald is ready", timeout=300, every=0.5)
        people = [await person(s, work, f"owner-{'abcdefgh'[i]}") for i, s in enumerate(servers)]
        started = time.time()
        coalition = await build(people, heralds[0], args.rooms, args.encrypted)
        print(f"{stamp()} one herald's coalition built in {time.time() - started:.0f} s")
        rooms = len(coalition.owners)
        window = args.stagger * k + 20  # every turn has come, and a late copy has had time to arrive
        timeout = window + 120 + rooms
        timing = {"lead": args.lead, "window": window, "timeout": timeout}
        rounds = [await one_round("round 1, one herald", coalition, heralds[:1], **timing)]
        started = time.time()
        await add_heralds(coalition, heralds)
        print(f"{stamp()} {k} heralds on duty after {time.time() - started:.0f} s")
        for n, label in ((2, "first"), (3, "second")):
            title = f"round {n}, {k} heralds ({label} run)"
            rounds.append(await one_round(title, coalition, heralds, **timing))
        by_id = {h.user_id: h.name for h in heralds}
        print()
        print(
            f"=== {rooms} rooms ({args.rooms} member rooms and the coordination room, "
            f"{len(coalition.encrypted)} encrypted), {k} federating Synapses, G = {args.stagger} s, heartbeat {args.heartbeat} s ==="
        )
        for r in rounds:
            print("\n".join(describe(r, rooms, by_id)))
        print()
        for many in rounds[1:]:
            print("\n".join(ratios(rounds[0], many, k)))
        ok = all(set(r.copies.values()) == {1} for r in rounds)
        print(f"\nexactly one copy in every room, every round: {'yes' if ok else 'NO'}")
    finally:
        for herald in heralds:
            herald.stop()
        for client in people:
            await client.close()
        stop_all(servers)
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs and databases kept in {work}")


if __name__ == "__main__":
    asyncio.run(main())
