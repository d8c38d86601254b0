"""The control room's event kinds (namespace ``org.affinity.herald``), state and private.

State kinds are readable by every homeserver in the control room (``reveal`` decides their
content); private kinds go only into encrypted timeline events.
"""

from __future__ import annotations

NS = "org.affinity.herald"
# State kinds (visible to every homeserver in the control room; see reveal.py for their content).
INSTANCE = f"{NS}.instance"  # state key: the herald's own user id (owned key)
ADMISSION = f"{NS}.admission"  # state key: the admitted user id without its "@"
HEARTBEAT = f"{NS}.heartbeat"  # state key: the herald's own user id (owned key)
COORDINATION = f"{NS}.coordination"  # state key: a coordination room id
MEMBER_ROOM = f"{NS}.room"  # state key: a member room id
RUN = f"{NS}.run"  # state key: run id
CANCEL = f"{NS}.cancel"  # state key: run id; its mere presence cancels the run
ACKS = f"{NS}.acks"  # state key: the herald's own user id (owned key, grow-only set)
# An open invitation, so that any herald accepts it: state key the SHA-256 of its token; an
# empty content means spent (or withdrawn). Not a registry fact (``bots.herald.invitations``).
INVITE = f"{NS}.invite"
# Private kinds: timeline only, encrypted by the runtime.
PLAN = f"{NS}.plan"
AMEND = f"{NS}.amend"
LIAISON = f"{NS}.liaison"
PLAN_PART = f"{NS}.plan_part"  # the plan's texts, in parts (plan_parts.py); not registry facts

STATE_KINDS = frozenset({INSTANCE, ADMISSION, HEARTBEAT, COORDINATION, MEMBER_ROOM, RUN, CANCEL, ACKS})
TIMELINE_KINDS = frozenset({PLAN, AMEND, LIAISON})


def admission_state_key(user_id: str) -> str:
    """The admission key for a user: its id without "@", because Matrix lets only the user itself
    write a state key that starts with "@", and an admission is written by another herald."""
    return user_id[1:]
