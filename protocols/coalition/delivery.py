"""Leaderless delivery: "the message is its own lock".

No herald claims a message before sending it: a claim in state is visible no sooner than the
message itself, and Matrix has no compare-and-swap. Instead every herald that may send a message
waits its turn, and looks at the room first:

- **Rank.** For each delivery key (run, key, room), the live heralds joined to that room are
  ordered by rendezvous hashing, ``sha256(key ‖ user id)``. Every herald computes the same order
  with no coordination, different keys spread over different heralds' first turns, and removing
  a herald only changes the keys it ranked first.
- **Turn.** A herald sends at ``due + G x (heralds ahead of it that it believes alive)``. With all
  alive, rank r waits r x G, so the first copy is normally seen by everyone else before their
  turn and exactly one copy is sent.
- **Hold back** only if the room already shows the key, sent by a registered herald, with the
  plan's digest, or the run was cancelled (or, for an escalation, the phase it chases was
  acknowledged). Nothing else (rank, liveness, suspicion) ever stops a send; it only delays it.
  Hence the invariant: a reachable room never ends up with zero copies.
- **Duplicates** (partitions, races, a homeserver that persisted a send then died) are resolved
  after the fact: the canonical copy is the earliest by ``(origin_server_ts, event_id)``, and each
  herald redacts its own non-canonical copies, so every herald reaches the same verdict.

Time comes in as ``now``; what the herald sees comes in as :class:`SeenCopy` values built by the
runtime (including its own sends, from its outbox, so it never sends one key twice).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from protocols.coalition.liveness import DEFAULT_STALENESS, HeartbeatBook
from protocols.coalition.planhash import message_digest
from protocols.coalition.registry import Registry
from protocols.coalition.shapes import event_envelope, is_count, is_phase_key, is_room_id, is_run_id

DEFAULT_STAGGER = timedelta(seconds=45)
# The plan's key for the stand-down message (``protocols.herald.plan.make_cancellation``): the one
# key of a cancelled run that is still delivered.
STAND_DOWN_KEY = "cancel"
MARKER = "org.affinity.herald"
_RANK_DOMAIN = b"org.affinity.herald.rank/1"


@dataclass(frozen=True, order=True)
class DeliveryKey:
    """One message to one room: the unit of delivery, ranking and de-duplication."""

    run_id: str
    key: str  # a phase key, ``amend-<n>`` or ``cancel``
    room_id: str

    def text(self) -> str:
        return f"{self.run_id}/{self.key}/{self.room_id}"


def rank(key: DeliveryKey, heralds: Iterable[str]) -> tuple[str, ...]:
    """The heralds in sending order for ``key`` (highest rendezvous score first)."""
    prefix = _RANK_DOMAIN + b"\0" + key.text().encode("utf-8") + b"\0"

    def score(user_id: str) -> tuple[bytes, str]:
        return (hashlib.sha256(prefix + user_id.encode("utf-8")).digest(), user_id)

    return tuple(sorted(set(heralds), key=score, reverse=True))


@dataclass(frozen=True)
class SeenCopy:
    """A message of the run as a herald sees it in the room. ``digest`` is computed by the
    reader from the copy's content (:func:`parse_copy`); None when it could not be read (an
    encrypted copy this herald cannot decrypt), which never counts as delivered."""

    key: DeliveryKey
    sender: str
    event_id: str
    origin_server_ts: int
    digest: str | None

    def order(self) -> tuple[int, str]:
        return (self.origin_server_ts, self.event_id)


def copy_marker(key: DeliveryKey, rev: int) -> dict[str, Any]:
    """The block a herald adds to each message it sends (under ``org.affinity.herald``)."""
    return {"run": key.run_id, "key": key.key, "rev": rev}


def parse_copy(event: Any, room_id: str) -> SeenCopy | None:
    """The copy an ``m.room.message`` in ``room_id`` is, or None if it is not one (or is an
    edit: an edit replaces what a client shows but is not a delivery of its own)."""
    envelope = event_envelope(event)
    if envelope is None or not is_room_id(room_id):
        return None
    kind, sender, event_id, ts, content = envelope
    marker = content.get(MARKER)
    if kind != "m.room.message" or not isinstance(marker, dict):
        return None
    relates = content.get("m.relates_to")
    if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
        return None
    run_id, key, rev = marker.get("run"), marker.get("key"), marker.get("rev")
    if not is_run_id(run_id) or not is_phase_key(key) or not is_count(rev):
        return None
    body = content.get("body")
    html = content.get("formatted_body")
    digest = (
        message_digest(body, html)
        if isinstance(body, str) and (html is None or isinstance(html, str))
        else None
    )
    assert isinstance(run_id, str) and isinstance(key, str)
    return SeenCopy(DeliveryKey(run_id, key, room_id), sender, event_id, ts, digest)


def delivered_copies(
    key: DeliveryKey, copies: Iterable[SeenCopy], registered: Iterable[str], expected_digest: str
) -> list[SeenCopy]:
    """The copies that prove ``key`` delivered, earliest first: the right key, a registered
    herald as sender, and the plan's digest. Anything else (a room member imitating the bot, a
    herald posting the key with other text, an unreadable copy) proves nothing."""
    senders = frozenset(registered)
    matching = sorted(
        (
            c
            for c in copies
            if c.key == key and c.sender in senders and c.digest is not None and c.digest == expected_digest
        ),
        key=lambda c: (c.order(), c.sender),
    )
    # One event id is one event: a twin with another timestamp (seen through a forging server)
    # must not count twice, and which twin is kept may not depend on the order they arrived in.
    found: dict[str, SeenCopy] = {}
    for c in matching:
        found.setdefault(c.event_id, c)
    return list(found.values())


def canonical_copy(
    key: DeliveryKey, copies: Iterable[SeenCopy], registered: Iterable[str], expected_digest: str
) -> SeenCopy | None:
    """The copy every herald agrees to keep: the earliest by ``(origin_server_ts, event_id)``."""
    found = delivered_copies(key, copies, registered, expected_digest)
    return found[0] if found else None


def own_duplicates(
    me: str,
    key: DeliveryKey,
    copies: Iterable[SeenCopy],
    registered: Iterable[str],
    expected_digest: str,
) -> tuple[str, ...]:
    """Event ids of this herald's own copies of ``key`` that are not canonical: redact these.

    Each herald only ever redacts its own messages (no herald needs power over another's), and
    all heralds pick the same canonical copy, so exactly one copy stays once views agree.
    """
    found = delivered_copies(key, copies, registered, expected_digest)
    return tuple(c.event_id for c in found[1:] if c.sender == me)


class Action(Enum):
    SEND = "send"  # send now
    WAIT = "wait"  # look again at ``at`` (or on any change of what this herald sees)
    HOLD = "hold"  # never send: delivered with the plan's digest, cancelled, or (escalation) acked
    NOT_MINE = "not_mine"  # this herald is not a live herald joined to the room


@dataclass(frozen=True)
class Decision:
    key: DeliveryKey
    action: Action
    at: datetime | None  # SEND/WAIT: this herald's turn; HOLD/NOT_MINE: None
    rank: int | None  # position among the room's live heralds (0 = first), None if not one
    reason: str
    canonical: SeenCopy | None = None


@dataclass(frozen=True)
class PlannedKey:
    """A key to deliver, when, and the digest its copies must have (from a verified plan).

    ``unless_acked`` names the ``(room, key)`` whose acknowledgement makes this message moot:
    set for escalations, which are keys like any other (so each is sent once, by one herald)
    but are not needed once the room has acknowledged the phase they chase.
    """

    key: DeliveryKey
    due_at: datetime
    digest: str
    unless_acked: tuple[str, str] | None = None


_ESCALATION = re.compile(r"esc([1-9])-(.+)")


def escalation_key(phase_key: str, step: int) -> str:
    """The key of escalation ``step`` (1-9) for a phase: ``esc1-go``."""
    if not 1 <= step <= 9:
        raise ValueError("escalation steps are numbered 1 to 9")
    return f"esc{step}-{phase_key}"


def escalated_phase(key: str) -> str | None:
    """The phase an escalation key chases, or None if ``key`` is not an escalation."""
    match = _ESCALATION.fullmatch(key)
    return match.group(2) if match else None


def is_cancelled_key(key: DeliveryKey, cancelled_runs: Iterable[str]) -> bool:
    """Cancelling a run stops every message of it except its stand-down and the escalations
    that chase the stand-down: people must not turn up to a called-off action."""
    if key.run_id not in frozenset(cancelled_runs):
        return False
    return STAND_DOWN_KEY not in (key.key, escalated_phase(key.key))


def decide(
    planned: PlannedKey,
    *,
    me: str,
    candidates: Iterable[str],
    alive: Iterable[str],
    copies: Iterable[SeenCopy],
    registered: Iterable[str],
    cancelled: bool,
    now: datetime,
    stagger: timedelta = DEFAULT_STAGGER,
    acked: Iterable[tuple[str, str]] = (),
    down_since: Mapping[str, datetime] | None = None,
) -> Decision:
    """What this herald does about one key now.

    ``candidates`` are the live registered heralds joined to the key's room, ``alive`` the
    heralds whose heartbeat this herald received recently (itself included only if its own beat
    came back), ``registered`` the heralds whose copies count, ``acked`` the run's acknowledged
    ``(room, key)`` pairs (``Registry.acked``). A herald that does not see itself
    alive is self-suspect: its sync may be stalled and its view of the others stale, so it counts
    everyone ahead of it as alive. The design's rule there was "rank-0 duties only", which can
    leave a room with no copy when every herald is self-suspect; waiting for all turns keeps the
    no-zero-copy invariant and still lets the others go first.
    """
    key = planned.key
    if now.tzinfo is None or planned.due_at.tzinfo is None:
        raise ValueError("delivery times must be aware datetimes")
    if stagger <= timedelta(0):
        raise ValueError("the stagger must be positive")
    if cancelled:
        return Decision(key, Action.HOLD, None, None, "the run was cancelled")
    canonical = canonical_copy(key, copies, registered, planned.digest)
    if canonical is not None:
        return Decision(key, Action.HOLD, None, None, "delivered", canonical)
    if planned.unless_acked is not None and planned.unless_acked in frozenset(acked):
        return Decision(key, Action.HOLD, None, None, "acknowledged: no escalation needed")
    order = rank(key, candidates)
    if me not in order:
        return Decision(key, Action.NOT_MINE, None, None, "not a live herald joined to this room")
    position = order.index(me)
    ahead = order[:position]
    believed = frozenset(alive)
    turns = len(ahead) if me not in believed else sum(1 for h in ahead if h in believed)
    turn_at = planned.due_at + stagger * turns
    if me in believed and down_since:
        # A herald ahead that went down after the due time hands its turn on from then, one
        # stagger per live herald between it and this one: otherwise every herald behind it
        # would find its turn past at the same moment and all would send at once.
        for i, h in enumerate(ahead):
            since = down_since.get(h)
            if h not in believed and since is not None:
                between = sum(1 for x in ahead[i + 1 :] if x in believed)
                turn_at = max(turn_at, since + stagger * between)
    if now >= turn_at:
        return Decision(key, Action.SEND, turn_at, position, "my turn, not delivered yet")
    return Decision(key, Action.WAIT, turn_at, position, f"{turns} herald(s) ahead may send first")


@dataclass(frozen=True)
class HeraldView:
    """Everything one herald knows when it decides, gathered by the runtime.

    ``registered`` is ``Registry.admitted``; ``live`` is ``Registry.live_heralds``; ``joined``
    maps each member room to the heralds this herald sees joined there; ``alive`` comes from
    ``HeartbeatBook.alive``; ``copies`` are the run's messages seen in the rooms plus this
    herald's own sends from its outbox; ``cancelled_runs`` from ``Registry.is_cancelled``;
    ``acked`` from ``Registry.acked`` for each run.
    """

    me: str
    now: datetime
    registered: frozenset[str]
    live: frozenset[str]
    joined: Mapping[str, frozenset[str]]
    alive: frozenset[str]
    copies: tuple[SeenCopy, ...]
    cancelled_runs: frozenset[str]
    stagger: timedelta = DEFAULT_STAGGER
    acked: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=dict)  # by run
    down_since: Mapping[str, datetime] = field(default_factory=dict)  # HeartbeatBook.down_since


def decide_all(view: HeraldView, planned: Iterable[PlannedKey]) -> list[Decision]:
    """One decision per planned key, in key order; the runtime sends the SENDs, wakes up at the
    earliest WAIT, and re-decides whenever a heartbeat, a copy or a cancellation arrives."""
    decisions = []
    for item in sorted(planned, key=lambda p: (p.due_at, p.key)):
        room_heralds = view.joined.get(item.key.room_id, frozenset()) & view.live
        decisions.append(
            decide(
                item,
                me=view.me,
                candidates=room_heralds,
                alive=view.alive,
                copies=[c for c in view.copies if c.key == item.key],
                registered=view.registered,
                cancelled=is_cancelled_key(item.key, view.cancelled_runs),
                now=view.now,
                stagger=view.stagger,
                acked=view.acked.get(item.key.run_id, frozenset()),
                down_since=view.down_since,
            )
        )
    return decisions


def next_wake(decisions: Iterable[Decision]) -> datetime | None:
    """The earliest moment a WAIT decision should be looked at again."""
    return min((d.at for d in decisions if d.action is Action.WAIT and d.at is not None), default=None)


def redactions(view: HeraldView, planned: Iterable[PlannedKey]) -> list[str]:
    """Every own duplicate this herald should redact, across the planned keys."""
    out: list[str] = []
    for item in planned:
        out += own_duplicates(view.me, item.key, view.copies, view.registered, item.digest)
    return out


def herald_view(
    registry: Registry,
    heartbeats: HeartbeatBook,
    *,
    me: str,
    now: datetime,
    joined: Mapping[str, Iterable[str]],
    copies: Iterable[SeenCopy],
    staleness: timedelta = DEFAULT_STALENESS,
    stagger: timedelta = DEFAULT_STAGGER,
) -> HeraldView:
    """The view :func:`decide_all` needs, from the folded registry and the heartbeat book.

    ``joined`` (room -> heralds joined there) and ``copies`` come from the runtime's sync of the
    member rooms; everything about who counts, who is alive, what is cancelled and what was
    acknowledged comes from the control room.
    """
    return HeraldView(
        me=me,
        now=now,
        registered=registry.admitted,
        live=registry.live_heralds,
        joined={room: frozenset(heralds) for room, heralds in joined.items()},
        alive=heartbeats.alive(now, staleness),
        copies=tuple(copies),
        cancelled_runs=registry.cancelled_runs,
        stagger=stagger,
        acked={run_id: registry.acked(run_id) for run_id in registry.acks},
        down_since=heartbeats.down_since(now, staleness),
    )
