"""What the herald remembers: coalitions and their rooms, local details, runs, deliveries, events.

Four repositories, one per aggregate, each in its own module: :class:`Coalitions` (a coalition,
its member rooms and invitations: ``storage.herald_coalitions``), :class:`LocalDetails` (one
room's ``!local`` values: ``storage.herald_local``), :class:`HeraldRuns` (a run with every
planned message, its delivery, acknowledgement and escalation, and its amendments:
``storage.herald_runs``, its forgetting in ``storage.herald_run_retention``) and
:class:`HeraldEvents` (the coalition calendar: ``storage.herald_events``). Times are stored as
UTC unix seconds. A room's time zone and language are room settings (``storage.room_settings``).
"""

from __future__ import annotations

from storage.herald_coalitions import Coalition, Coalitions, InviteUse, JoinResult, Member, token_hash
from storage.herald_events import HeraldEvents, StoredEvent
from storage.herald_local import LocalDetails
from storage.herald_runs import Amendment, Delivery, HeraldRuns, Run

__all__ = [
    "Amendment",
    "Coalition",
    "Coalitions",
    "Delivery",
    "HeraldEvents",
    "HeraldRuns",
    "InviteUse",
    "JoinResult",
    "LocalDetails",
    "Member",
    "Run",
    "StoredEvent",
    "token_hash",
]
