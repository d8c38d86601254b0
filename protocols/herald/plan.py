"""Turning a template into a broadcast plan, and the run's state machine (confirm, amend, cancel).

Plan, then act: ``make_plan`` returns one :class:`PlannedMessage` per (phase, room), each with a
transaction id derived only from the run, the phase and the room. The outbox sends by that id, so
a broadcast interrupted by a crash and planned again sends every room each message exactly once.
Every instant is UTC; each room reads its messages in its own zone with its own local details,
in its own language: the plan states each message's facts (``protocols.herald.wording``) and
the caller's :data:`~protocols.herald.wording.Wording` says them.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from protocols.errors import RuleError
from protocols.herald.templates import ProtocolTemplate
from protocols.herald.wording import ENGLISH_VARIABLES, PhaseWords, UrgentWords, VariableWords, Wording
from protocols.timespec import format_local

RunState = Literal["planned", "confirmed", "cancelled", "done"]
RUN_STATES: tuple[RunState, ...] = ("planned", "confirmed", "cancelled", "done")

# A rapid-response call is started "now", and confirming takes a minute or two: an action time
# this little in the past is still accepted (its first phases go out at once).
PAST_GRACE = timedelta(minutes=15)
# A run is for a day of action, not an archive: one set further ahead is almost surely a typo,
# and bounding it lets every stored run expire (storage counts retention from the action).
MAX_RUN_AHEAD = timedelta(days=366)
# How long rooms have to acknowledge an amendment or a stand-down: both are urgent by nature.
URGENT_ACK_WITHIN = timedelta(hours=1)
MAX_NOTE_LENGTH = 2000
_RUN_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


class PlanError(RuleError):
    """A protocol run cannot be planned, amended or cancelled as asked."""


class MemberRoom(NamedTuple):
    """A coalition room as the plan sees it: where it is, its zone and its local details."""

    room_id: str
    zone: ZoneInfo
    details: Mapping[str, str]


@dataclass(frozen=True)
class PlannedMessage:
    """One message to one room; ``txn_id`` is stable for the same run, phase and room."""

    run_id: str
    phase_key: str
    room_id: str
    txn_id: str
    due_at: datetime  # UTC; for ``immediate`` messages, the confirm time
    immediate: bool  # the phase was already due when the run was confirmed
    body: str
    html: str
    ack_by: datetime | None  # None: this message needs no acknowledgement


@dataclass(frozen=True)
class Cancellation:
    """What cancelling a run does: stand-down messages out, pending phases never sent."""

    state: RunState
    messages: list[PlannedMessage]
    skip_txn_ids: list[str]


def new_run_id(entropy: bytes) -> str:
    """A short run id from caller-supplied entropy (8 characters, unambiguous when read aloud)."""
    digest = hashlib.sha256(entropy).digest()
    number = int.from_bytes(digest[:5], "big")
    return "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in range(7, -1, -1))


def room_hash(room_id: str) -> str:
    """The room part of a transaction id: does not reveal the room id, but is stable."""
    return hashlib.sha256(room_id.encode("utf-8")).hexdigest()[:12]


def txn_id_for(run_id: str, key: str, room_id: str) -> str:
    """``aff-<run>-<phase or amend-N or cancel>-<room hash>``."""
    return f"aff-{run_id}-{key}-{room_hash(room_id)}"


# --- state machine ------------------------------------------------------------------------


def check_can_confirm(run_id: str, state: RunState) -> None:
    if state != "planned":
        raise PlanError("run {run} is {state}; only a planned run can be confirmed", run=run_id, state=state)


def check_can_amend(run_id: str, state: RunState) -> None:
    if state == "planned":
        raise PlanError("run {run} is not confirmed yet: start it again with the change instead", run=run_id)
    if state != "confirmed":
        raise PlanError("run {run} is {state}; it can no longer be amended", run=run_id, state=state)


def check_can_cancel(run_id: str, state: RunState) -> None:
    if state not in ("planned", "confirmed"):
        raise PlanError("run {run} is already {state}; there is nothing to cancel", run=run_id, state=state)


def run_is_done(phase_states: Iterable[str]) -> bool:
    """A confirmed run is done once no message of it is still waiting to be sent."""
    return all(state != "pending" for state in phase_states)


# --- rendering ----------------------------------------------------------------------------


def render_variables(
    *,
    run_id: str,
    template: ProtocolTemplate,
    action_time: datetime,
    phase_time: datetime,
    room: MemberRoom,
    coalition: str,
    words: VariableWords = ENGLISH_VARIABLES,
) -> dict[str, str]:
    """Every allowed variable for one room (see ``templates.ALLOWED_VARIABLES``); a weekday and
    the hint for a local detail not set yet in the room's language, as ``words`` say them."""
    local = action_time.astimezone(room.zone)
    language = _language(room)

    def detail(key: str) -> str:
        return str(room.details.get(key) or "") or words.not_set(key, language)

    return {
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M"),
        "weekday": words.weekday(local, language),
        "zone": local.strftime("%Z"),
        "when": words.when(action_time, room.zone, language),
        "phase_time": words.when(phase_time, room.zone, language),
        "meeting_point": detail("meeting_point"),
        "local_contact": detail("local_contact"),
        "language": detail("language"),
        "timezone": room.zone.key,
        "coalition": coalition,
        "run_id": run_id,
        "template": template.name,
    }


# --- plan ---------------------------------------------------------------------------------


def _check_common(run_id: str, member_rooms: Sequence[MemberRoom], now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must be 1-40 letters, digits or _")
    ids = [room.room_id for room in member_rooms]
    if len(set(ids)) != len(ids):
        raise ValueError("member_rooms lists a room twice")


def make_plan(
    run_id: str,
    template: ProtocolTemplate,
    action_time_utc: datetime,
    member_rooms: Sequence[MemberRoom | tuple[str, ZoneInfo, Mapping[str, str]]],
    now: datetime,
    *,
    render: Wording,
    coalition: str = "",
    variable_words: VariableWords = ENGLISH_VARIABLES,
) -> list[PlannedMessage]:
    """Every (phase, room) message of a run, ordered by due time, then phase, then room, each
    said by ``render`` in its room's language (``variable_words`` says a weekday and a local detail
    not set yet in it).

    An action time more than ``PAST_GRACE`` in the past is refused. Phases whose time has
    already passed are due at ``now`` and flagged ``immediate``; their acknowledgement window
    starts at ``now``, so late rooms get the full time the template promises.
    """
    rooms = [MemberRoom(*room) for room in member_rooms]
    _check_common(run_id, rooms, now)
    if action_time_utc.tzinfo is None:
        raise ValueError("action_time_utc must be an aware datetime")
    if not rooms:
        raise PlanError("this coalition has no member rooms yet: invite one with !coalition invite")
    if action_time_utc < now - PAST_GRACE:
        raise PlanError(
            "the action time {when} is in the past: pick a time to come",
            when=format_local(action_time_utc, ZoneInfo("UTC")),
        )
    if action_time_utc > now + MAX_RUN_AHEAD:
        raise PlanError(
            "the action time {when} is more than a year ahead: a run is planned at most a year in advance",
            when=format_local(action_time_utc, ZoneInfo("UTC")),
        )
    plan: list[tuple[int, int, PlannedMessage]] = []
    for phase_index, template_phase in enumerate(template.phases):
        scheduled = action_time_utc + template_phase.offset
        immediate = scheduled <= now
        due = now if immediate else scheduled
        ack = template_phase.ack
        ack_by = due + ack.within if ack.needed and ack.within else None
        for room_index, room in enumerate(rooms):
            # The room's language picks the phase's text in it, if the template has one.
            phase = template_phase.in_language(str(room.details.get("language") or ""))
            variables = render_variables(
                run_id=run_id,
                template=template,
                action_time=action_time_utc,
                phase_time=scheduled,
                room=room,
                coalition=coalition,
                words=variable_words,
            )
            said = render(
                PhaseWords(
                    run_id=run_id,
                    template=template.name,
                    phase=phase,
                    message=string.Template(phase.message).substitute(variables).strip(),
                    checklist=tuple(
                        string.Template(i).substitute(variables).strip() for i in phase.checklist
                    ),
                    late_from=scheduled if immediate and scheduled < now else None,
                    ack_by=ack_by,
                    zone=room.zone,
                    language=_language(room),
                )
            )
            message = PlannedMessage(
                run_id=run_id,
                phase_key=phase.key,
                room_id=room.room_id,
                txn_id=txn_id_for(run_id, phase.key, room.room_id),
                due_at=due,
                immediate=immediate,
                body=said.plain,
                html=said.html,
                ack_by=ack_by,
            )
            plan.append((phase_index, room_index, message))
    plan.sort(key=lambda entry: (entry[2].due_at, entry[0], entry[1]))
    return [entry[2] for entry in plan]


def _check_note(text: str, required: bool) -> str:
    """An amendment's text (``required``) or a stand-down's reason."""
    cleaned = text.strip()
    if required and not cleaned:
        raise PlanError("say what changed: !protocol amend <run> <text>")
    if len(cleaned) > MAX_NOTE_LENGTH and required:
        raise PlanError("the amendment is too long: at most {limit} characters", limit=MAX_NOTE_LENGTH)
    if len(cleaned) > MAX_NOTE_LENGTH:
        raise PlanError("the reason is too long: at most {limit} characters", limit=MAX_NOTE_LENGTH)
    return cleaned


def _language(room: MemberRoom) -> str:
    return str(room.details.get("language") or "")


def _urgent_messages(
    *,
    run_id: str,
    key: str,
    amendment: int | None,
    note: str,
    template: ProtocolTemplate,
    action_time_utc: datetime,
    rooms: Sequence[MemberRoom],
    now: datetime,
    ack_within: timedelta,
    render: Wording,
) -> list[PlannedMessage]:
    ack_by = now + ack_within
    out: list[PlannedMessage] = []
    for room in rooms:
        said = render(
            UrgentWords(
                run_id=run_id,
                template=template.name,
                action_at=action_time_utc,
                amendment=amendment,
                note=note,
                ack_by=ack_by,
                zone=room.zone,
                language=_language(room),
            )
        )
        out.append(
            PlannedMessage(
                run_id=run_id,
                phase_key=key,
                room_id=room.room_id,
                txn_id=txn_id_for(run_id, key, room.room_id),
                due_at=now,
                immediate=True,
                body=said.plain,
                html=said.html,
                ack_by=ack_by,
            )
        )
    return out


def make_amendment(
    run_id: str,
    state: RunState,
    seq: int,
    text: str,
    template: ProtocolTemplate,
    action_time_utc: datetime,
    member_rooms: Sequence[MemberRoom | tuple[str, ZoneInfo, Mapping[str, str]]],
    now: datetime,
    *,
    render: Wording,
    ack_within: timedelta = URGENT_ACK_WITHIN,
) -> list[PlannedMessage]:
    """An "AMENDED" message to every room, due now, asking every room for a fresh acknowledgement.

    ``seq`` numbers the run's amendments from 1; it is part of the phase key (``amend-<seq>``)
    and so of each transaction id, which keeps two amendments apart and one amendment single.
    Earlier acknowledgements stay on record; the room owes a new one for ``amend-<seq>``.
    """
    rooms = [MemberRoom(*room) for room in member_rooms]
    _check_common(run_id, rooms, now)
    check_can_amend(run_id, state)
    if seq < 1:
        raise ValueError("amendment numbers start at 1")
    note = _check_note(text, required=True)
    return _urgent_messages(
        run_id=run_id,
        key=f"amend-{seq}",
        amendment=seq,
        note=note,
        template=template,
        action_time_utc=action_time_utc,
        rooms=rooms,
        now=now,
        ack_within=ack_within,
        render=render,
    )


def make_cancellation(
    run_id: str,
    state: RunState,
    reason: str,
    template: ProtocolTemplate,
    action_time_utc: datetime,
    member_rooms: Sequence[MemberRoom | tuple[str, ZoneInfo, Mapping[str, str]]],
    deliveries: Iterable[tuple[str, str]],
    now: datetime,
    *,
    render: Wording,
    ack_within: timedelta = URGENT_ACK_WITHIN,
) -> Cancellation:
    """Cancel a run: a "STAND DOWN" to every room, and every still-pending phase skipped.

    ``deliveries`` are the run's ``(txn_id, state)`` pairs so far. A run that was only planned
    (never confirmed) reached no room, so it gets no stand-down messages either.
    """
    rooms = [MemberRoom(*room) for room in member_rooms]
    _check_common(run_id, rooms, now)
    check_can_cancel(run_id, state)
    note = _check_note(reason, required=False)
    skip = [txn for txn, delivery_state in deliveries if delivery_state == "pending"]
    if state == "planned":
        return Cancellation(state="cancelled", messages=[], skip_txn_ids=skip)
    messages = _urgent_messages(
        run_id=run_id,
        key="cancel",
        amendment=None,
        note=note,
        template=template,
        action_time_utc=action_time_utc,
        rooms=rooms,
        now=now,
        ack_within=ack_within,
        render=render,
    )
    return Cancellation(state="cancelled", messages=messages, skip_txn_ids=skip)
