"""What a room brings to a draw: its setup as moderators type it (its roles, how long a mandate
lasts, how long members have to add their chance, whether a role is drawn again when its mandate
ends), who is in its pool, and which roles a ``!draw`` draws.

Pure: each function checks one thing and refuses it with a :class:`LotteryError` that says
what to do. The draw itself (commit, weights, reveal, verify) is :mod:`protocols.lottery`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from protocols.lottery import LotteryError
from protocols.timespec import TimeSpecError, format_duration, parse_duration

DEFAULT_ROLES: tuple[str, ...] = ("facilitator", "timekeeper", "liaison", "care", "mediation")
DEFAULT_TERM = timedelta(days=7)
MIN_TERM = timedelta(hours=1)
# Mandates are short on purpose ("week long mandates that self delete"); a quarter is the most.
MAX_TERM = timedelta(days=90)
MAX_ROLES = 20
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# "!draw care shadow": the word that asks for shadows, so no role may be called that.
SHADOW_WORD = "shadow"


# --- room setup ----------------------------------------------------------------------------


def parse_roles(words: Sequence[str]) -> tuple[str, ...]:
    """The roles a moderator typed (``!roles set a b c``), cleaned and checked.

    Names are lower-cased; commas between names are allowed. Duplicates are refused rather
    than dropped, so a typo does not silently shrink the list.
    """
    names = [part.strip().lower() for word in words for part in word.split(",") if part.strip()]
    if not names:
        raise LotteryError("Name at least one role, like: !roles set facilitator timekeeper care")
    if len(names) > MAX_ROLES:
        raise LotteryError("At most {most} roles: a lottery needs a list people can read.", most=MAX_ROLES)
    seen: set[str] = set()
    for name in names:
        if not ROLE_PATTERN.match(name):
            raise LotteryError(
                "'{name}' is not a role name: use a letter first, then letters, digits or '-', at most "
                "32 characters.",
                name=name,
            )
        if name in seen:
            raise LotteryError("'{name}' is named twice: name each role once.", name=name)
        if name == SHADOW_WORD:
            raise LotteryError("'shadow' cannot be a role: !draw <role> shadow asks for a shadow.")
        seen.add(name)
    return tuple(names)


def parse_term(text: str) -> timedelta:
    """A mandate length as typed (``!roles term 7d``), between ``MIN_TERM`` and ``MAX_TERM``."""
    return check_term(_duration(text))


def check_term(term: timedelta) -> timedelta:
    """A mandate length (``!roles term 7d``) between ``MIN_TERM`` and ``MAX_TERM``."""
    return _bounded(
        term,
        MIN_TERM,
        MAX_TERM,
        f"A mandate lasts between {format_duration(MIN_TERM)} and {format_duration(MAX_TERM)}: "
        "short terms keep roles rotating.",
    )


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except TimeSpecError as exc:
        raise LotteryError.restated(exc) from exc


def _bounded(value: timedelta, low: timedelta, high: timedelta, out_of_bounds: str) -> timedelta:
    if not low <= value <= high:
        raise LotteryError(out_of_bounds)
    return value


# --- per-room options ----------------------------------------------------------------------

# The commitment window: long enough to react, short enough that a meeting does not wait.
MIN_WINDOW = timedelta(seconds=5)
MAX_WINDOW = timedelta(hours=1)


def parse_window(text: str) -> timedelta:
    """A commitment window as typed (``!roles window 30s``), within the bounds above."""
    return check_window(_duration(text))


def check_window(window: timedelta) -> timedelta:
    """A commitment window (``!roles window 30s``) within the bounds above."""
    return _bounded(
        window,
        MIN_WINDOW,
        MAX_WINDOW,
        f"The window for adding chance lasts between {format_duration(MIN_WINDOW)} and "
        f"{format_duration(MAX_WINDOW)}.",
    )


def parse_switch(text: str) -> bool:
    """``on``/``off`` (also yes/no, true/false) as typed in ``!roles redraw on``."""
    value = text.strip().lower()
    if value in ("on", "yes", "true"):
        return True
    if value in ("off", "no", "false"):
        return False
    raise LotteryError(
        "'{text}' is neither on nor off: write !roles redraw on or !roles redraw off.", text=text
    )


# --- the pool ------------------------------------------------------------------------------


def pool(
    members: Iterable[str],
    stepped_back: Mapping[str, datetime | None],
    bots: Iterable[str],
    now: datetime,
) -> tuple[str, ...]:
    """Who can be drawn: joined members, minus bots, minus those who stepped back.

    A step-back with ``until=None`` lasts until ``!stepin``; one whose ``until`` has passed no
    longer counts. Sorted, so the same room always gives the same pool.
    """
    excluded_bots = set(bots)
    out: set[str] = set()
    for member in members:
        if member in excluded_bots:
            continue
        if member in stepped_back:
            until = stepped_back[member]
            if until is None or until > now:
                continue
        out.add(member)
    return tuple(sorted(out))


def roles_to_draw(
    room_roles: Sequence[str], held_roles: Iterable[str], requested: Sequence[str] = ()
) -> tuple[str, ...]:
    """The roles a ``!draw`` draws: the vacant ones, or the named ones (which must be vacant)."""
    held = set(held_roles)
    if not requested:
        vacant = tuple(role for role in room_roles if role not in held)
        if not room_roles:
            raise LotteryError("This room has no roles yet: a moderator sets them with !roles set.")
        if not vacant:
            raise LotteryError(
                "Every role is held. A holder can end their mandate early with !release <role>."
            )
        return vacant
    wanted: list[str] = []
    for raw in requested:
        role = raw.strip().lower()
        if role not in room_roles:
            raise LotteryError(
                "'{typed}' is not a role here. Roles: {roles}.", typed=raw, roles=", ".join(room_roles)
            )
        if role in held:
            raise LotteryError(
                "'{role}' is held. Its holder can end the mandate early with !release {role}.", role=role
            )
        if role not in wanted:
            wanted.append(role)
    return tuple(wanted)
