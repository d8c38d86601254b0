"""A herald whose homeserver was away holds what the others may have sent meanwhile: its server
gets their copies by federation catch-up, a minute or more after it answers again, and a look at
a room before then finds nothing. Tested on the herald's own decision step, without a homeserver
(the end-to-end proof is ``make test-redundancy``'s homeserver-stopped fault)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bots.herald.leaderless import CATCH_UP_PATIENCE, LeaderlessDelivery
from bots.herald.self_doubt import SelfDoubt
from bots.runtime.errors import TransportError
from protocols.coalition.delivery import Action, Decision, DeliveryKey, HeraldView
from protocols.coalition.liveness import Heartbeat, HeartbeatBook
from tests.bot.test_herald_leaderless import delivery

ME, OTHER = "@herald:c.example", "@herald:a.example"
ROOM = "!group:b.example"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Config:
    stagger: timedelta = timedelta(seconds=20)
    heartbeat: timedelta = timedelta(seconds=3)


@dataclass
class Host:
    user_id: str = ME
    away: bool = False
    reads: list[str] = field(default_factory=list)

    async def api(self, method: str, path: str, body: Any = None, query: Any = None) -> dict[str, Any]:
        self.reads.append(path)
        if self.away:
            raise TransportError("connection refused")
        return {"chunk": [], "end": None}


def herald(host: Host) -> Any:
    h: Any = object.__new__(LeaderlessDelivery)
    h.config, h.host = Config(), host
    return h


def view() -> HeraldView:
    heralds = frozenset({ME, OTHER})
    return HeraldView(ME, NOW, heralds, heralds, {ROOM: heralds}, heralds, (), frozenset())


def first_on_time() -> tuple[list[Decision], dict[DeliveryKey, Any]]:
    d = delivery("<p>RAPID RESPONSE — gather now</p>")
    k = DeliveryKey(d.run_id, d.phase_key, d.room_id)
    return [Decision(k, Action.SEND, NOW, 0, "first")], {k: d}


async def test_a_first_and_on_time_send_waits_while_the_homeserver_is_away() -> None:
    host = Host(away=True)
    h = herald(host)
    h.doubt.write_failed = NOW - timedelta(seconds=5)
    decisions, by_key = first_on_time()
    assert await h._lagging_rooms(decisions, by_key, view(), NOW, frozenset({ME, OTHER})) == {ROOM}


async def test_after_the_return_it_holds_for_the_catch_up_patience_then_looks_at_the_room() -> None:
    host = Host()
    h = herald(host)
    h.doubt.server_back_at = NOW
    decisions, by_key = first_on_time()
    later = NOW + CATCH_UP_PATIENCE - timedelta(seconds=1)
    held = await h._lagging_rooms(decisions, by_key, view(), later, frozenset({ME, OTHER}))
    assert held == {ROOM} and host.reads == []  # no look: the server has not caught up
    after = NOW + CATCH_UP_PATIENCE
    assert await h._lagging_rooms(decisions, by_key, view(), after, frozenset({ME, OTHER})) == set()


async def test_alone_in_its_coalition_a_herald_back_from_an_outage_does_not_wait() -> None:
    h = herald(Host())
    h.doubt.server_back_at = NOW
    decisions, by_key = first_on_time()
    assert await h._lagging_rooms(decisions, by_key, view(), NOW, frozenset({ME})) == set()


def test_its_own_beat_from_before_the_failure_is_not_a_return() -> None:
    h = herald(Host())
    book = HeartbeatBook().record(Heartbeat(ME, 7, False), NOW - timedelta(seconds=2))
    h.doubt.suspect_since = NOW - timedelta(seconds=1)  # a write failed after that beat
    until = h._suspect_until(frozenset({ME, OTHER}), book, NOW)
    assert until == NOW - timedelta(seconds=1) + Config.stagger and h.doubt.back_at is None
    book = book.record(Heartbeat(ME, 8, False), NOW + timedelta(seconds=3))  # a new beat came back
    h._suspect_until(frozenset({ME, OTHER}), book, NOW + timedelta(seconds=3))
    assert h.doubt.back_at == NOW + timedelta(seconds=3) and h.doubt.suspect_since is None


def test_a_beat_that_gets_no_answer_then_one_that_is_written_mark_the_servers_return() -> None:
    doubt = SelfDoubt()
    doubt.beat_started(NOW, timedelta(seconds=20))
    doubt.beat_failed(NOW, unanswered=False)  # refused (an error reply): in doubt, server up
    assert doubt.in_doubt and doubt.write_failed is None
    doubt.beat_failed(NOW + timedelta(seconds=3), unanswered=True)
    doubt.beat_failed(NOW + timedelta(seconds=6), unanswered=True)
    assert doubt.suspect_since == NOW and doubt.write_failed == NOW + timedelta(seconds=3)
    doubt.beat_written(NOW + timedelta(seconds=9))
    assert not doubt.in_doubt and doubt.write_failed is None
    assert doubt.back_at == doubt.server_back_at == NOW + timedelta(seconds=9)
    doubt.beat_started(NOW + timedelta(seconds=40), timedelta(seconds=20))  # a stall of 40 s
    assert doubt.back_at == NOW + timedelta(seconds=40)
    assert doubt.server_back_at == NOW + timedelta(seconds=9)  # no server outage in a stall
