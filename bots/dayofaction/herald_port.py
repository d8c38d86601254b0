"""The narrow interface the day-of-action features need from the herald.

Slots, intake and rides never import the herald: they ask this bot's running feature that
implements :class:`HeraldPort` (``host.peer``), and register a :class:`RunListener` for the
moments they act on. Whatever implements the port (the herald, or a test's stand-in) speaks only
these dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, cast, runtime_checkable

from bots.runtime.errors import UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _
from bots.runtime.ids import EventID, RoomID, UserID


@dataclass(frozen=True)
class RunInfo:
    """One run of a protocol, as the day-of-action features see it."""

    run_id: str
    template: str
    coalition: str
    action_at: datetime
    forget_at: datetime  # the run's retention end: every record about it goes then
    member_rooms: tuple[RoomID, ...]
    coordination_rooms: tuple[RoomID, ...]
    drill: bool = False


@dataclass(frozen=True)
class RunSpec:
    """What a run's template says for the day-of-action features."""

    checklist: tuple[str, ...] = ()  # every checklist item; ``marshal: 2`` is a slot
    slots_close: datetime | None = None  # before it, an over-subscribed slot is drawn
    survey: tuple[str | Mapping[str, object], ...] = ()  # intake questions (at most five)
    checklist_phase: str | None = None  # the phase whose message carries the checklist


@dataclass(frozen=True)
class PhaseSent:
    run_id: str
    room_id: RoomID
    phase: str
    event_id: EventID | None
    at: datetime
    checklist: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CoalitionInfo:
    name: str
    member_rooms: tuple[RoomID, ...]
    coordination_rooms: tuple[RoomID, ...]


@dataclass(frozen=True)
class PhaseView:
    """A template's phase for a drill: its text already rendered for ``room``."""

    key: str
    title: str
    offset: timedelta
    text: str
    ack_within: timedelta | None  # None: no acknowledgement asked


class RunListener:
    """What a day-of-action feature hears from the herald; a feature overrides what it acts on
    (each call is best effort: a listener that fails is logged by the herald and never stops a
    delivery)."""

    async def run_phase_sent(self, sent: PhaseSent) -> None:
        """A phase's message landed in a member room."""

    async def run_acked(self, run_id: str, room_id: RoomID, phase: str, by: UserID, at: datetime) -> None:
        """A room acknowledged a phase (``by`` its liaison or a member)."""

    async def run_ended(self, run_id: str) -> None:
        """The run is over and forgotten by the herald: forget everything about it."""


@runtime_checkable
class HeraldPort(Protocol):
    """The herald, as the day-of-action features use it."""

    async def dayofaction_runs(self, room_id: RoomID) -> Sequence[RunInfo]:
        """Runs not yet ended in which ``room_id`` is a member room or a coordination room."""
        ...

    async def dayofaction_run(self, run_id: str) -> RunInfo | None: ...

    async def dayofaction_spec(self, run_id: str) -> RunSpec: ...

    async def dayofaction_liaison(self, room_id: RoomID) -> UserID | None: ...

    def dayofaction_listen(self, listener: RunListener) -> None: ...

    async def dayofaction_set_liaison(self, room_id: RoomID, user_id: UserID | None) -> None:
        """Make ``user_id`` the room's liaison for the herald (None: nobody), as the room's
        lottery decided."""
        ...

    async def dayofaction_coalitions(self, room_id: RoomID) -> Sequence[CoalitionInfo]:
        """The coalitions ``room_id`` is in, as a member or a coordination room."""
        ...

    async def dayofaction_phases(
        self, template: str, room_id: RoomID, action_at: datetime
    ) -> Sequence[PhaseView] | None:
        """A template's phases rendered for a room (None: no such template)."""
        ...


def herald_port(host: Host) -> HeraldPort | None:
    """This bot's feature that implements the port (the herald), or None."""
    return host.peer(cast("type[HeraldPort]", HeraldPort))


def require_port(host: Host) -> HeraldPort:
    port = herald_port(host)
    if port is None:
        raise UserError(_("This bot does not run the herald, so there is no day of action here."))
    return port


async def run_for(host: Host, room_id: RoomID, named: str | None) -> RunInfo:
    """The run a command means: the one named, else the room's only run not yet ended."""
    port = require_port(host)
    if named is not None:
        run = await port.dayofaction_run(named)
        if run is None or (room_id not in run.member_rooms and room_id not in run.coordination_rooms):
            raise UserError(_("There is no run '{run}' for this room. See !protocol status.", run=named))
        return run
    runs = list(await port.dayofaction_runs(room_id))
    if not runs:
        raise UserError(_("No day of action is running for this room."))
    if len(runs) > 1:
        ids = ", ".join(sorted(r.run_id for r in runs))
        raise UserError(_("Several runs are on for this room ({ids}): name one with 'run <id>'.", ids=ids))
    return runs[0]
