"""Care rotas: a duty that keeps turning among volunteers, fair by construction.

"Mutual aid funds, child care rotations, and decompression rituals after intense actions are not
luxuries." (seed) A rota has a name, a :class:`~protocols.recurrence.Recurrence`, a size (how many
people a turn needs) and a *pool*: the volunteers who joined it, not everyone in the room.

Fairness. Each member has a *level*: the turns they hold or did in this rota, plus a credit given
when they join, come back or are excused (below). A turn goes to the members of the lowest level
among those who can take it; ties are broken by chance. So nobody takes a second turn while
someone present in the pool has had none. Turns are given some way ahead (``commit(ahead=...)``),
so a place freed later in a near turn may only have someone already high to go to; then places
move along a chain of turns ahead (the highest gives one to someone who can take it, who gives
one of theirs on, to someone two levels lower), so that among members present throughout levels
never differ by more than one, as long as a turn needs fewer people than they are (when a turn
needs every one of them, each does every turn whatever happened before). Chance is
reproducible: a rota draws a seed once, from the ``random.Random`` passed to :func:`new_rota`,
and turn ``n`` breaks its ties with ``Random(f"{seed}:{n}:...")``. That is why :func:`upcoming`
shows the turns ahead exactly as they will be given, if nothing changes.

Absence is not debt. Someone away (``!rota away``) or stepped back (``!stepback``) is skipped;
each turn of theirs given to someone else keeps their level (a credit), and a member who joins or
comes back after turns were given without them starts at the lowest level of those who stayed.
So nobody owes the turns they missed, and nobody jumps the queue by leaving.

Swaps and takes. A holder offers a turn (:func:`offer`); anyone else in the pool who can be there
takes it (:func:`take`). The turn and its count move to the taker, unless that would put the taker
two levels ahead of someone: then, if the taker holds a later turn, the two swap turns (an
:class:`Exchanged`, counts unchanged), and otherwise the take is refused with a message saying
why. A turn still offered, or short of people, when it comes near is flagged to the room
(:func:`due_flags`), never silently dropped.

Forgetting. :func:`fold_history` turns the history older than the retention into counts per
member (:func:`counts_from_history`): how many turns each did, never which.

The rules live in :mod:`protocols.rota_state`, :mod:`protocols.rota_turns` and
:mod:`protocols.rota_swaps`; this module is the one callers import.

Pure: ``now``, the room's step-backs and (for ``after each gathering``) the gatherings are passed
in; every function returns a new :class:`Rota` and changes nothing when it raises.
"""

from __future__ import annotations

from protocols.rota_state import (
    MAX_REMIND,
    MAX_SIZE,
    NAME_PATTERN,
    Exchanged,
    Flag,
    Preview,
    Rota,
    RotaError,
    RotaSpec,
    StepBacks,
    Taken,
    TakeResult,
    Turn,
    counts_from_history,
    eligible,
    levels,
    new_rota,
    parse_name,
    parse_remind,
    parse_rota_spec,
    parse_size,
    resize,
    turn_counts,
)
from protocols.rota_swaps import (
    due_flags,
    due_reminders,
    fold_history,
    forget_member,
    mark_flagged,
    mark_reminded,
    offer,
    open_offers,
    take,
    turn_on,
    withdraw,
)
from protocols.rota_turns import come_back, commit, join, leave, release, set_away, upcoming

__all__ = [
    "MAX_REMIND",
    "MAX_SIZE",
    "NAME_PATTERN",
    "Exchanged",
    "Flag",
    "Preview",
    "Rota",
    "RotaError",
    "RotaSpec",
    "StepBacks",
    "TakeResult",
    "Taken",
    "Turn",
    "come_back",
    "commit",
    "counts_from_history",
    "due_flags",
    "due_reminders",
    "eligible",
    "fold_history",
    "forget_member",
    "join",
    "leave",
    "levels",
    "mark_flagged",
    "mark_reminded",
    "new_rota",
    "offer",
    "open_offers",
    "parse_name",
    "parse_remind",
    "parse_rota_spec",
    "parse_size",
    "release",
    "resize",
    "set_away",
    "take",
    "turn_counts",
    "turn_on",
    "upcoming",
    "withdraw",
]
