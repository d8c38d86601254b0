"""Herald: day-of-action protocols broadcast across a coalition's rooms (pure rules).

- ``templates``: the YAML template schema and loading with file/line/key errors;
- ``local``: a room's local details (``!local set``);
- ``plan``: the broadcast plan, amendments, stand-downs and the run's state machine;
- ``board``: the acknowledgement board and the escalation ladder;
- ``wording``: what each run message says, as facts the herald words (the calendar is
  its own feature: ``protocols/calendar_events.py``).
"""

from __future__ import annotations

from protocols.herald.board import (
    Cell,
    DeliveryView,
    Escalation,
    cell_status,
    escalations_due,
    next_escalation_at,
)
from protocols.herald.local import LOCAL_KEYS, LocalDetailError, validate_local
from protocols.herald.plan import (
    Cancellation,
    MemberRoom,
    PlanError,
    PlannedMessage,
    RunState,
    check_can_amend,
    check_can_cancel,
    check_can_confirm,
    make_amendment,
    make_cancellation,
    make_plan,
    new_run_id,
    run_is_done,
    txn_id_for,
)
from protocols.herald.templates import (
    ALLOWED_VARIABLES,
    ProtocolTemplate,
    TemplateError,
    TemplateIssue,
    load_library,
    load_template,
    parse_template,
    shipped_library,
)

__all__ = [
    "ALLOWED_VARIABLES",
    "LOCAL_KEYS",
    "Cancellation",
    "Cell",
    "DeliveryView",
    "Escalation",
    "LocalDetailError",
    "MemberRoom",
    "PlanError",
    "PlannedMessage",
    "ProtocolTemplate",
    "RunState",
    "TemplateError",
    "TemplateIssue",
    "cell_status",
    "check_can_amend",
    "check_can_cancel",
    "check_can_confirm",
    "escalations_due",
    "load_library",
    "load_template",
    "make_amendment",
    "make_cancellation",
    "make_plan",
    "new_run_id",
    "next_escalation_at",
    "parse_template",
    "run_is_done",
    "shipped_library",
    "txn_id_for",
    "validate_local",
]
