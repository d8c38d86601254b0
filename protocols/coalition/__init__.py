"""Coalitions without a center (issue 12): the pure core of the leaderless herald.

- ``registry``: the control room's registry folded from its events, a CRDT (merge laws hold);
- ``reveal``: the only way to build control-room state: an allow-list of ids, hashes and flags;
- ``planhash``: the salted canonical hash of a run's messages and the digest of one copy;
- ``liveness``: heartbeats timed on the reader's clock;
- ``delivery``: "the message is its own lock": rank, turn, hold back, redact own duplicates;
- ``plan_parts``: a run's rendered plan shared among heralds as encrypted-timeline parts;
- ``upgrade``: what a single-herald coalition writes into its new control room.

Where this departs from ``shared/designs/leaderless-herald.md`` (and why):

1. *Who is a herald.* The design let ``herald.instance/@bot`` register a bot, but any member of
   the control room may write its own @-key. Here the control room's creators are heralds, and
   others become heralds through ``org.affinity.herald.admission`` (keyed by the user id without
   "@", so another herald can write it) from a herald: a fixpoint, order-free. Retiring is final
   per ``generation``; re-admitting takes a higher one. Known limit: without causal order, a
   retired herald's later admissions still count; the runtime must also ban it from the room.
2. *What state reveals.* The design put the action time, phase texts and rooms with liaisons in
   ``herald.run`` state, which every homeserver in the room reads in clear. Here run state is
   ``{rev, plan_hash, cancelled}``; template, action time and amendments are the private
   timeline kinds ``plan``/``amend``, and a room's liaison (a person) is the private ``liaison``
   kind. Private kinds sent as state are ignored. Run ids and phase keys still show in ack sets.
3. *Cancellation is final* by construction: its own fact kind (from ``run.cancelled``, an
   ``amend`` with ``cancel``, or the new ``org.affinity.herald.cancel/<run>`` key, whose mere
   presence counts), so no later last-writer-wins write can flip it back.
4. *Acks* are one owned state key per herald holding all its runs (``{"runs": {run: {room:
   [keys]}}}``); the appendix's ``{"run": ..}`` held one run at a time and ack event ids.
5. *Plan hash.* One salted hash per revision over (room, key, due ms, digest of body and
   formatted_body), instead of per-phase unsalted ``text_sha256`` in state (which would let a
   reader confirm a guessed text). A copy's digest is computed from what the room shows, never
   taken from its marker; the marker is ``{run, key, rev}``.
6. *Keys carry no revision.* A key's text never changes (amendments are new ``amend-N`` keys, as
   in ``protocols.herald.plan``); with the rev in the key every amendment would resend phases.
7. *Self-suspicion delays, never silences.* The design's "rank-0 duties only" leaves a room with
   zero copies if every herald is self-suspect; a self-suspect herald instead waits for all
   heralds ahead of it, dead or alive.
8. *Copies that prove delivery* come from any admitted herald (retired ones too: order-free) with
   the plan's digest; an undecryptable copy proves nothing (a duplicate over silence).
9. *Heartbeats* refresh only on a higher ``seq``: sync replays state after a restart, and a
   replayed beat is not a sign of life. A last will at the same ``seq`` wins.
10. *Escalations* are planned keys ``esc<n>-<phase>`` in the room that owes the ack, held back
   also once that phase is acknowledged (the one addition to the hold-back rule). A note to the
   coordination room names silent rooms only when it is due, so it cannot be planned and hashed
   ahead: it stays with the runtime.
"""

from __future__ import annotations

from protocols.coalition.delivery import (
    DEFAULT_STAGGER,
    STAND_DOWN_KEY,
    Action,
    Decision,
    DeliveryKey,
    HeraldView,
    PlannedKey,
    SeenCopy,
    canonical_copy,
    copy_marker,
    decide,
    decide_all,
    delivered_copies,
    escalated_phase,
    escalation_key,
    herald_view,
    is_cancelled_key,
    next_wake,
    own_duplicates,
    parse_copy,
    rank,
    redactions,
)
from protocols.coalition.liveness import (
    DEFAULT_HEARTBEAT,
    DEFAULT_STALENESS,
    Heartbeat,
    HeartbeatBook,
    parse_heartbeat,
)
from protocols.coalition.plan_parts import SharedMessage, SharedPlan, assemble_plan, plan_parts
from protocols.coalition.planhash import (
    PlanEntry,
    VerifiedPlan,
    entry_for,
    message_digest,
    plan_entries,
    plan_hash,
    verify_plan,
)
from protocols.coalition.registry import (
    Fact,
    Herald,
    MemberRoom,
    Registry,
    RegistryView,
    Revision,
    Run,
    admission_state_key,
    facts_from_event,
)
from protocols.coalition.reveal import (
    PrivateEvent,
    RevealError,
    StateWrite,
    acks_state,
    admission_state,
    amend_event,
    cancel_state,
    check_state,
    coordination_state,
    heartbeat_state,
    instance_state,
    liaison_event,
    member_room_state,
    plan_event,
    run_state,
)
from protocols.coalition.upgrade import Upgrade, upgrade_single_herald

__all__ = [
    "DEFAULT_HEARTBEAT",
    "DEFAULT_STAGGER",
    "DEFAULT_STALENESS",
    "STAND_DOWN_KEY",
    "Action",
    "Decision",
    "DeliveryKey",
    "Fact",
    "Heartbeat",
    "HeartbeatBook",
    "Herald",
    "HeraldView",
    "MemberRoom",
    "PlanEntry",
    "PlannedKey",
    "PrivateEvent",
    "Registry",
    "RegistryView",
    "RevealError",
    "Revision",
    "Run",
    "SeenCopy",
    "SharedMessage",
    "SharedPlan",
    "StateWrite",
    "Upgrade",
    "VerifiedPlan",
    "acks_state",
    "admission_state",
    "admission_state_key",
    "amend_event",
    "assemble_plan",
    "cancel_state",
    "canonical_copy",
    "check_state",
    "coordination_state",
    "copy_marker",
    "decide",
    "decide_all",
    "delivered_copies",
    "entry_for",
    "escalated_phase",
    "escalation_key",
    "facts_from_event",
    "heartbeat_state",
    "herald_view",
    "instance_state",
    "is_cancelled_key",
    "liaison_event",
    "member_room_state",
    "message_digest",
    "next_wake",
    "own_duplicates",
    "parse_copy",
    "parse_heartbeat",
    "plan_entries",
    "plan_event",
    "plan_hash",
    "plan_parts",
    "rank",
    "redactions",
    "run_state",
    "upgrade_single_herald",
    "verify_plan",
]
