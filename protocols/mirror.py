"""Blind mirrors: anonymous reflections one group writes about another, released all at once.

A moderator opens a *round* in the reflecting room about another room; the round has a short
random code. Members DM the bot ``reflect <code>`` and answer three prompts; the draft is shown
before ``submit``. One reflection per person per round (a later one replaces the earlier while
the round is open). At close, if at least ``k`` reflections came in, all are released in one
batch, shuffled, after a random delay; with fewer than ``k`` nothing is released, because a
reflection among two could be traced to its author. Released messages are redacted after a
retention period.

Anonymity is the feature, so the rules here are built so that nothing released depends on
who submitted, or when:

- :func:`release_order` sorts the texts canonically before shuffling, so the order depends only
  on the set of texts and the caller's random source, never on submission order;
- :func:`release_delay` puts a random gap between the close and the release, so the release time
  says nothing about the last submission;
- status texts never show a live count (watching a counter move right after someone was seen
  typing would link them to a reflection).

Pure: time and randomness are passed in; nothing here reads the clock or a random source.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from protocols.errors import RuleError
from protocols.timespec import TimeSpecError, parse_duration

# --- constants ----------------------------------------------------------------------------

MIN_K = 3  # below three, "anonymous" among two is a guess away from named
MAX_K = 500
MIN_OPEN = timedelta(minutes=10)
MAX_OPEN = timedelta(days=30)  # reflections wait encrypted at rest; not for months
DEFAULT_RETENTION = timedelta(days=7)
CODE_LENGTH = 6
# No 0/o, 1/i/l: codes are read off a screen and typed into a DM.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
# How much reflection text one release message carries: keeps every event (body plus escaped
# HTML, in UTF-8 and JSON) well under Matrix's 64 KiB limit; one reflection always fits.
RELEASE_MESSAGE_BUDGET = 5000
# A request to reflect upon a room waits this long for a moderator there to accept it.
REQUEST_TTL = timedelta(hours=24)
# Rounds (and requests) at once: at most this many waiting or open about or in one room, and
# opened by one person. A round posts bot-authored text into another room: never a flood.
MAX_ACTIVE_PER_ROOM = 2
MAX_ACTIVE_PER_OPENER = 2
# Below this many eligible members per k, the announcement warns that a reflection is easy to
# trace (and that every account counts, sock accounts too).
SMALL_ROOM_FACTOR = 2
# Members who joined the reflecting room this recently before the round opened are pointed out
# in the announcement: an account made for the round would count as a member.
FRESH_JOIN = timedelta(days=1)


RoundState = Literal["open", "closed", "released", "withheld", "expired"]
ROUND_STATES: tuple[RoundState, ...] = ("open", "closed", "released", "withheld", "expired")


class MirrorError(RuleError):
    """A blind-mirror rule refused the input; the message says what to do instead."""


# --- rounds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundRequest:
    """A validated ``!mirror open``: what the storage creates a round from."""

    reflecting_room: str  # where the round was opened, whose members reflect
    reflected_room: str  # the group the mirror is held up to; releases go there
    k: int
    closes_at: datetime


@dataclass(frozen=True)
class MirrorRound:
    """A round as stored. ``release_at`` is set once closed with enough reflections;
    ``redact_at`` once released (or withheld: then it is when the round itself is forgotten)."""

    id: int
    code: str
    reflecting_room: str
    reflected_room: str
    k: int
    closes_at: datetime
    state: RoundState
    release_at: datetime | None = None
    redact_at: datetime | None = None
    opener: str = ""
    eligible: int | None = None  # members who could take part, counted at close


@dataclass(frozen=True)
class ConsentRequest:
    """A ``!mirror open`` waiting for a moderator of the room reflected upon to accept it.
    The round is planned again (and its window starts) only when accepted."""

    id: int
    code: str
    reflecting_room: str
    reflected_room: str
    opener: str
    k: int
    close_after: timedelta
    expires_at: datetime


@dataclass(frozen=True)
class OpenArgs:
    """``!mirror open <room> [closes <duration>] [min <k>]``; None means the configured default."""

    room: str
    close_after: timedelta | None = None
    k: int | None = None


OPEN_USAGE = "!mirror open <room> [closes <duration>] [min <k>]"


def parse_open_args(words: Sequence[str]) -> OpenArgs:
    """Parse the words after ``!mirror open``; options may come in either order, once each."""
    if not words:
        raise MirrorError("Name the room to reflect on: {usage}", usage=OPEN_USAGE)
    room, rest = words[0], list(words[1:])
    close_after: timedelta | None = None
    k: int | None = None
    seen: set[str] = set()
    while rest:
        option = rest.pop(0).lower()
        if option not in ("closes", "min"):
            raise MirrorError("Unexpected '{option}'. Usage: {usage}", option=option, usage=OPEN_USAGE)
        if option in seen:
            raise MirrorError("'{option}' is given twice. Usage: {usage}", option=option, usage=OPEN_USAGE)
        seen.add(option)
        if not rest:
            raise MirrorError("'{option}' needs a value. Usage: {usage}", option=option, usage=OPEN_USAGE)
        value = rest.pop(0)
        if option == "closes":
            try:
                close_after = parse_duration(value)
            except TimeSpecError as exc:
                raise MirrorError.restated(exc) from exc
        else:
            if not re.fullmatch(r"\d{1,6}", value):
                raise MirrorError("'min' takes a whole number, like min 4 (not '{value}')", value=value)
            k = int(value)
    return OpenArgs(room, close_after, k)


def check_k(k: int) -> None:
    """k is the fewest reflections that are ever released; at least 3."""
    if k < MIN_K:
        raise MirrorError(
            "min must be at least {least}: with fewer reflections, one could be traced to "
            "its author. Use min {least} or more.",
            least=str(MIN_K),
        )
    if k > MAX_K:
        raise MirrorError("min can be at most {most}.", most=str(MAX_K))


def plan_round(
    reflecting_room: str,
    reflected_room: str,
    now: datetime,
    close_after: timedelta,
    k: int,
) -> RoundRequest:
    """Validate an opening: another room, a sensible window, k >= 3."""
    if reflecting_room == reflected_room:
        raise MirrorError("A blind mirror reflects another group: name a room other than this one.")
    check_k(k)
    if close_after < MIN_OPEN:
        raise MirrorError(
            "A round must stay open at least {least}, so people have time to write.", least=MIN_OPEN
        )
    if close_after > MAX_OPEN:
        raise MirrorError(
            "A round can stay open at most {most}: reflections should not wait long.", most=MAX_OPEN
        )
    return RoundRequest(reflecting_room, reflected_room, k, now + close_after)


def check_quota(in_room: int, about_room: int, by_opener: int) -> None:
    """Refuse one more request or round when a room or an opener already has enough going on.

    ``in_room``: waiting requests and unreleased rounds opened in the reflecting room;
    ``about_room``: the same about the room reflected upon; ``by_opener``: the same opened by
    this person, anywhere.
    """
    if in_room >= MAX_ACTIVE_PER_ROOM:
        raise MirrorError(
            "This room already has {count} blind-mirror rounds or requests going on (at most "
            "{most}). Wait until one is released, withheld or declined.",
            count=in_room,
            most=MAX_ACTIVE_PER_ROOM,
        )
    if about_room >= MAX_ACTIVE_PER_ROOM:
        raise MirrorError(
            "That room already has {count} blind-mirror rounds or requests about it (at "
            "most {most}). Try again once one of them is over.",
            count=about_room,
            most=MAX_ACTIVE_PER_ROOM,
        )
    if by_opener >= MAX_ACTIVE_PER_OPENER:
        raise MirrorError(
            "You already have {count} blind-mirror rounds or requests going on (at most "
            "{most}). Wait until one is over.",
            count=by_opener,
            most=MAX_ACTIVE_PER_OPENER,
        )


def check_request(found: ConsentRequest | None, code: str, room_id: str, now: datetime) -> ConsentRequest:
    """The request a ``!mirror accept|decline <code>`` in ``room_id`` refers to.

    A request for another room is answered exactly like an unknown code, so that the reply
    says nothing about rooms the asker may not be in.
    """
    if found is None or found.reflected_room != room_id or now >= found.expires_at:
        raise MirrorError(
            "No blind-mirror request with the code {code} is waiting in this room. Codes are "
            "in the bot's request message here, and expire after {ttl}.",
            code=code,
            ttl=REQUEST_TTL,
        )
    return found


def new_code(entropy: bytes) -> str:
    """A short round code (6 characters, nothing that reads ambiguously) from caller entropy."""
    if len(entropy) < 8:
        raise ValueError("a round code needs at least 8 bytes of entropy")
    number = int.from_bytes(hashlib.sha256(entropy).digest(), "big")
    base = len(CODE_ALPHABET)
    chars = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, base)
        chars.append(CODE_ALPHABET[digit])
    return "".join(chars)


_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


def parse_code(text: str) -> str:
    """A code as a member typed it (any case, stray spaces) -> the stored form."""
    code = text.strip().lower()
    if not _CODE.match(code):
        raise MirrorError(
            "'{text}' is not a round code: codes are {length} letters and "
            "digits, like 'reflect k7m2qx'. Copy it from the room's announcement.",
            text=text.strip()[:20],
            length=CODE_LENGTH,
        )
    return code


def check_can_reflect(found: MirrorRound | None, code: str, now: datetime) -> MirrorRound:
    """The round a ``reflect <code>`` (or a ``submit``) refers to, if it still takes reflections."""
    if found is None:
        raise MirrorError(
            "No round has the code {code}. Check the code in the room's announcement.", code=code
        )
    if found.state != "open" or now >= found.closes_at:
        raise MirrorError(
            "Round {code} has closed and takes no more reflections. Nothing was sent.", code=code
        )
    return found


@dataclass(frozen=True)
class CloseDecision:
    """What closing a round does: release later (``release_at``) or withhold everything."""

    state: Literal["closed", "withheld"]
    release_at: datetime | None


def release_delay(rng: random.Random, low: timedelta, high: timedelta) -> timedelta:
    """A delay drawn uniformly from [low, high], whole seconds: when the batch goes out."""
    if low < timedelta(0) or high < low:
        raise ValueError("release delay range must satisfy 0 <= low <= high")
    span = int((high - low).total_seconds())
    return low + timedelta(seconds=rng.randint(0, span))


def decide_close(
    count: int,
    k: int,
    now: datetime,
    rng: random.Random,
    delay_low: timedelta,
    delay_high: timedelta,
) -> CloseDecision:
    """At close: at least k reflections -> release after a random delay; else withhold all."""
    if count < k:
        return CloseDecision("withheld", None)
    return CloseDecision("closed", now + release_delay(rng, delay_low, delay_high))


def release_order(texts: Sequence[str], rng: random.Random) -> list[str]:
    """The order reflections are published in: a function of the set of texts and rng only.

    Sorting first throws away whatever order the texts arrived in (submission order, or the
    storage's row order); the shuffle then decides alone.
    """
    ordered = sorted(texts)
    rng.shuffle(ordered)
    return ordered
