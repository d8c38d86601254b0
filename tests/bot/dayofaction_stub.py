"""A stand-in herald for the day-of-action features' tests: it implements only the narrow port
(bots/dayofaction/herald_port.py) over runs a test sets up, and sends a phase as the herald would
(a notice in each member room, then the listeners). Named by module path in a bot's features."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bots.dayofaction.feature import DayOfActionFeature
from bots.dayofaction.herald_port import CoalitionInfo, PhaseSent, PhaseView, RunInfo, RunListener, RunSpec
from bots.runtime.contract import ContractFeature, NoConfig
from bots.runtime.host import Host
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.message import Message
from bots.runtime.registry import register


@register
class StubHerald(ContractFeature[NoConfig]):
    name = "dayofaction_stub"
    title = "Day of action (test stand-in for the herald)"

    def __init__(self, host: Host, config: NoConfig) -> None:
        super().__init__(host, config)
        self.runs: dict[str, RunInfo] = {}
        self.specs: dict[str, RunSpec] = {}
        self.liaisons: dict[RoomID, UserID] = {}
        self.listeners: list[RunListener] = []
        self.coalitions: list[CoalitionInfo] = []
        self.templates: dict[str, list[PhaseView]] = {}

    def add_run(self, run: RunInfo, spec: RunSpec) -> None:
        self.runs[run.run_id] = run
        self.specs[run.run_id] = spec

    async def send_phase(
        self, run_id: str, phase: str, text: str, checklist: Sequence[str] = ()
    ) -> dict[RoomID, EventID | None]:
        run = self.runs[run_id]
        sent: dict[RoomID, EventID | None] = {}
        autonomy = self.host.peer(DayOfActionFeature)  # as the herald asks: declines
        declined = await autonomy.declined_rooms(run_id) if autonomy else {}
        for room in run.member_rooms:
            if room in declined:
                continue
            body = Message.of(text).bullets(list(checklist)) if checklist else Message.of(text)
            event = await self.host.post(room, body, key(self.name, run_id, phase, room), wait=True)
            sent[room] = event
            for listener in self.listeners:
                await listener.run_phase_sent(
                    PhaseSent(run_id, room, phase, event, self.host.clock(), tuple(checklist))
                )
        return sent

    async def end_run(self, run_id: str) -> None:
        self.runs.pop(run_id, None)
        for listener in self.listeners:
            await listener.run_ended(run_id)

    async def dayofaction_runs(self, room_id: RoomID) -> Sequence[RunInfo]:
        now = self.host.clock()
        return [
            r
            for r in self.runs.values()
            if r.forget_at > now and (room_id in r.member_rooms or room_id in r.coordination_rooms)
        ]

    async def dayofaction_run(self, run_id: str) -> RunInfo | None:
        return self.runs.get(run_id)

    async def dayofaction_spec(self, run_id: str) -> RunSpec:
        return self.specs.get(run_id, RunSpec())

    async def dayofaction_liaison(self, room_id: RoomID) -> UserID | None:
        return self.liaisons.get(room_id)

    async def ack(self, run_id: str, room: str, phase: str, by: str) -> None:
        for listener in self.listeners:
            await listener.run_acked(run_id, RoomID(room), phase, UserID(by), self.host.clock())

    async def dayofaction_coalitions(self, room_id: RoomID) -> Sequence[CoalitionInfo]:
        return [c for c in self.coalitions if room_id in c.member_rooms or room_id in c.coordination_rooms]

    async def dayofaction_phases(
        self, template: str, room_id: RoomID, action_at: datetime
    ) -> Sequence[PhaseView] | None:
        return self.templates.get(template)

    async def dayofaction_set_liaison(self, room_id: RoomID, user_id: UserID | None) -> None:
        if user_id is None:
            self.liaisons.pop(room_id, None)
        else:
            self.liaisons[room_id] = user_id

    def dayofaction_listen(self, listener: RunListener) -> None:
        if listener not in self.listeners:
            self.listeners.append(listener)


def stub_of(features: Sequence[object]) -> StubHerald:
    """The running stand-in among a bot's features (through its bridge)."""
    for f in features:
        if isinstance(f, StubHerald):
            return f
    raise LookupError("the bot runs no dayofaction_stub")


def run_info(
    run_id: str, action_at: datetime, forget_at: datetime, members: Sequence[str], coordination: Sequence[str]
) -> RunInfo:
    return RunInfo(
        run_id,
        "national-day-of-action",
        "north",
        action_at,
        forget_at,
        tuple(RoomID(r) for r in members),
        tuple(RoomID(r) for r in coordination),
    )
