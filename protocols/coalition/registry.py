"""The coalition registry, folded from the control room's events with no leader and no database.

Each herald reads the control room (state and its decrypted timeline) and folds the events into a
:class:`Registry`. Two heralds that have seen the same events hold equal registries whatever the
order they saw them in, and two partial views combine with :meth:`Registry.merge`: the registry is
a state-based CRDT. That is what lets a coalition lose any herald, any homeserver or the room that
founded it and still agree on who takes part, which runs exist and which rooms acknowledged.

How it is built, and why:

- An event becomes zero or more :class:`Fact` s. A fact lives in a *register* named by
  ``(kind, key, sender)``; a register keeps one fact, chosen by a total order fixed per kind
  (the latest write for plain records, the earliest claim for revisions and acknowledgements,
  the highest generation for admissions). Merging is the union of facts followed by that choice,
  which is commutative, associative and idempotent because a maximum under a total order is.
- Facts are kept even when their sender is not (yet) a herald: the admission that makes it one
  may arrive later. Who counts is decided when the registry is *read*: a sender counts once it is
  one of the control room's creators or was admitted by someone who counts (a fixpoint). So an
  event from someone who is never admitted changes nothing that any reader can see.
- Cancellation is a fact of its own kind, not a flag inside a record a later write could flip:
  once any counting sender cancels a run, the run is cancelled in every registry that ever saw
  that event, merged with anything.
- Plans, local details, liaisons and acknowledgement texts are private; only
  :mod:`protocols.coalition.reveal` decides what may go into state. Private kinds are read only
  from timeline events (the runtime decrypts them), and a private kind sent as *state* is ignored,
  so putting a plan in state never helps anyone.

Nothing here raises on hostile input: an event of the wrong shape is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from protocols.coalition.facts import _RUN_KINDS, Fact, Key, _compact, facts_from_event
from protocols.coalition.kinds import (
    ACKS,
    ADMISSION,
    AMEND,
    CANCEL,
    COORDINATION,
    HEARTBEAT,
    INSTANCE,
    LIAISON,
    MEMBER_ROOM,
    NS,
    PLAN,
    PLAN_PART,
    RUN,
    STATE_KINDS,
    TIMELINE_KINDS,
    admission_state_key,
)
from protocols.coalition.shapes import is_user_id, ms_to_datetime, server_of

__all__ = [
    "ACKS",
    "ADMISSION",
    "AMEND",
    "CANCEL",
    "COORDINATION",
    "HEARTBEAT",
    "INSTANCE",
    "LIAISON",
    "MEMBER_ROOM",
    "NS",
    "PLAN",
    "PLAN_PART",
    "RUN",
    "STATE_KINDS",
    "TIMELINE_KINDS",
    "Fact",
    "Herald",
    "MemberRoom",
    "Registry",
    "RegistryView",
    "Revision",
    "Run",
    "admission_state_key",
    "facts_from_event",
]


@dataclass(frozen=True)
class Herald:
    """A bot that delivers for the coalition. ``added_by`` is None for the control room's
    creators; ``active`` is the herald's own declaration that it is on duty."""

    user_id: str
    homeserver: str
    added_by: str | None
    generation: int
    retired: bool
    active: bool

    @property
    def live(self) -> bool:
        """Takes part in delivery: admitted, not retired, and says it is on duty."""
        return self.active and not self.retired


@dataclass(frozen=True)
class MemberRoom:
    room_id: str
    homeserver: str
    active: bool
    liaison: str | None


@dataclass(frozen=True)
class Revision:
    """The canonical plan hash of one revision: the earliest claim by ``(ts, event_id)``."""

    rev: int
    plan_hash: str
    sender: str
    event_id: str


@dataclass(frozen=True)
class Run:
    run_id: str
    template: str | None  # None until the private plan event has been read
    action_time: datetime | None
    revisions: tuple[Revision, ...]  # by rev; revisions after the first are the amendments
    forked_revs: frozenset[int]  # revs claimed with different plan hashes: tell the humans
    cancelled: bool

    @property
    def rev(self) -> int:
        return self.revisions[-1].rev

    @property
    def plan_hash(self) -> str:
        return self.revisions[-1].plan_hash

    @property
    def amendments(self) -> tuple[Revision, ...]:
        return self.revisions[1:]


@dataclass(frozen=True)
class RegistryView:
    """Everything a reader can learn from a registry; equal views mean equal behaviour."""

    heralds: Mapping[str, Herald]
    coordination_rooms: frozenset[str]
    member_rooms: Mapping[str, MemberRoom]
    runs: Mapping[str, Run]
    acks: Mapping[str, Mapping[str, frozenset[tuple[str, str]]]]  # run -> herald -> (room, key)


@dataclass(frozen=True)
class Registry:
    """The control room's registry as one herald knows it (see the module docstring).

    ``creators`` are the control room's creators (its ``m.room.create`` sender and, in room
    version 12, its ``additional_creators``): the heralds that founded the coalition and the root
    every later admission traces back to. The runtime reads them once from the create event.
    """

    creators: frozenset[str]
    facts: frozenset[Fact] = field(default_factory=frozenset)

    @classmethod
    def empty(cls, creators: Iterable[str]) -> Registry:
        found = frozenset(creators)
        if not found or not all(is_user_id(c) for c in found):
            raise ValueError("a control room has at least one creator, each a user id")
        return cls(found)

    def fold(self, events: Iterable[Any]) -> Registry:
        """This registry with ``events`` read in (state or decrypted timeline, any order)."""
        new = [fact for event in events for fact in facts_from_event(event)]
        return Registry(self.creators, _compact([*self.facts, *new]))

    def merge(self, other: Registry) -> Registry:
        """The registry that knows what both know. Only registries of one control room merge."""
        if other.creators != self.creators:
            raise ValueError("these registries belong to different control rooms")
        return Registry(self.creators, _compact(self.facts | other.facts))

    def forget_runs(self, run_ids: Iterable[str]) -> Registry:
        """This registry without anything about ``run_ids`` (retention: the sweeper, ``affinity
        forget``/``wipe``). Forgetting is local: a merge with a registry that still knows the run
        brings it back, so the runtime also clears the run's state in the control room (see
        ``reveal.cleared_state``) and rewrites its ack set without the run."""
        gone = frozenset(run_ids)
        kept = (f for f in self.facts if not (f.kind in _RUN_KINDS and f.key[0] in gone))
        return Registry(self.creators, frozenset(kept))

    # -- who counts --

    @cached_property
    def admitted(self) -> frozenset[str]:
        """Every sender whose writes count: creators, and whoever a counting sender admitted
        (retired heralds included, so a retirement never voids the runs they started)."""
        admitted = set(self.creators)
        admissions = [f for f in self.facts if f.kind == "admission"]
        grew = True
        while grew:
            grew = False
            for fact in admissions:
                target = str(fact.key[0])
                if fact.sender in admitted and target not in admitted:
                    admitted.add(target)
                    grew = True
        return frozenset(admitted)

    def _counting(self, kind: str) -> list[Fact]:
        return [f for f in self.facts if f.kind == kind and f.sender in self.admitted]

    def _latest_by_key(self, kind: str) -> dict[Key, Fact]:
        latest: dict[Key, Fact] = {}
        for fact in self._counting(kind):
            held = latest.get(fact.key)
            if held is None or fact.order() > held.order():
                latest[fact.key] = fact
        return latest

    # -- views --

    @cached_property
    def heralds(self) -> Mapping[str, Herald]:
        status: dict[str, Fact] = {}
        for fact in self._counting("admission"):
            target = str(fact.key[0])
            held = status.get(target)
            if held is None or fact.order() > held.order():
                status[target] = fact
        active = {str(f.key[0]): bool(f.value[0]) for f in self._counting("instance")}
        out: dict[str, Herald] = {}
        for user_id in sorted(self.admitted):
            latest = status.get(user_id)
            generation, retired = (
                (0, False) if latest is None else (int(latest.value[0] or 0), bool(latest.value[1]))
            )
            out[user_id] = Herald(
                user_id=user_id,
                homeserver=server_of(user_id),
                added_by=None if latest is None else latest.sender,
                generation=generation,
                retired=retired,
                active=active.get(user_id, False),
            )
        return out

    @cached_property
    def live_heralds(self) -> frozenset[str]:
        return frozenset(h.user_id for h in self.heralds.values() if h.live)

    @cached_property
    def coordination_rooms(self) -> frozenset[str]:
        return frozenset(str(k[0]) for k, f in self._latest_by_key("coordination").items() if f.value[0])

    @cached_property
    def member_rooms(self) -> Mapping[str, MemberRoom]:
        liaisons = {str(k[0]): f.value[0] for k, f in self._latest_by_key("liaison").items()}
        out: dict[str, MemberRoom] = {}
        for key, fact in sorted(self._latest_by_key("room").items()):
            room_id = str(key[0])
            liaison = liaisons.get(room_id)
            out[room_id] = MemberRoom(
                room_id=room_id,
                homeserver=str(fact.value[0]),
                active=bool(fact.value[1]),
                liaison=liaison if isinstance(liaison, str) else None,
            )
        return out

    @cached_property
    def runs(self) -> Mapping[str, Run]:
        claims: dict[str, dict[int, list[Fact]]] = {}
        for fact in self._counting("claim"):
            run_id, rev = str(fact.key[0]), int(fact.key[1])
            claims.setdefault(run_id, {}).setdefault(rev, []).append(fact)
        templates: dict[str, Fact] = {}
        for fact in self._counting("template"):
            held = templates.get(str(fact.key[0]))
            if held is None or fact.order() < held.order():
                templates[str(fact.key[0])] = fact
        times: dict[str, Fact] = {}
        for fact in self._counting("when"):
            # The highest revision that states a time wins; within it, the earliest claim.
            run_id = str(fact.key[0])
            held = times.get(run_id)
            if held is None or _later_time_claim(fact, held):
                times[run_id] = fact
        cancelled = self.cancelled_runs
        out: dict[str, Run] = {}
        for run_id in sorted(claims):
            revisions: list[Revision] = []
            forks: set[int] = set()
            for rev in sorted(claims[run_id]):
                facts = sorted(claims[run_id][rev], key=Fact.order)
                if len({str(f.key[2]) for f in facts}) > 1:
                    forks.add(rev)
                first = facts[0]
                revisions.append(Revision(rev, str(first.key[2]), first.sender, first.event_id))
            template = templates.get(run_id)
            when = times.get(run_id)
            out[run_id] = Run(
                run_id=run_id,
                template=None if template is None else str(template.value[0]),
                action_time=None if when is None else ms_to_datetime(int(when.value[0] or 0)),
                revisions=tuple(revisions),
                forked_revs=frozenset(forks),
                cancelled=run_id in cancelled,
            )
        return out

    @cached_property
    def cancelled_runs(self) -> frozenset[str]:
        """Runs cancelled by any counting sender, whether or not their plan was read yet."""
        return frozenset(str(f.key[0]) for f in self._counting("cancel"))

    def is_cancelled(self, run_id: str) -> bool:
        return run_id in self.cancelled_runs

    @cached_property
    def acks(self) -> Mapping[str, Mapping[str, frozenset[tuple[str, str]]]]:
        """``run -> herald -> {(room, key)}``: each herald's grow-only set."""
        out: dict[str, dict[str, set[tuple[str, str]]]] = {}
        for fact in self._counting("ack"):
            run_id, room_id, key = (str(part) for part in fact.key)
            out.setdefault(run_id, {}).setdefault(fact.sender, set()).add((room_id, key))
        return {run: {h: frozenset(s) for h, s in sorted(by.items())} for run, by in sorted(out.items())}

    def acked(self, run_id: str) -> frozenset[tuple[str, str]]:
        """Every ``(room, key)`` of a run acknowledged to any herald: the union of the G-Sets."""
        return frozenset().union(*self.acks.get(run_id, {}).values())

    def view(self) -> RegistryView:
        return RegistryView(
            heralds=dict(self.heralds),
            coordination_rooms=self.coordination_rooms,
            member_rooms=dict(self.member_rooms),
            runs=dict(self.runs),
            acks=self.acks,
        )


def _later_time_claim(fact: Fact, held: Fact) -> bool:
    rev, held_rev = int(fact.key[1]), int(held.key[1])
    return rev > held_rev or (rev == held_rev and fact.order() < held.order())
