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
import html
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from protocols.errors import RuleError
from protocols.timespec import TimeSpecError, format_duration, format_local, parse_duration

# --- constants ----------------------------------------------------------------------------

MIN_K = 3  # below three, "anonymous" among two is a guess away from named
MAX_K = 500
MIN_OPEN = timedelta(minutes=10)
MAX_OPEN = timedelta(days=30)  # reflections wait encrypted at rest; not for months
DEFAULT_RETENTION = timedelta(days=7)
CODE_LENGTH = 6
# No 0/o, 1/i/l: codes are read off a screen and typed into a DM.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
MAX_ANSWER = 2000
MAX_REFLECTION = 4000
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


@dataclass(frozen=True)
class Prompt:
    question: str  # what the bot asks
    heading: str  # how the answer is titled in the composed reflection


PROMPTS: tuple[Prompt, ...] = (
    Prompt("What did you observe? Describe what the group did, as you saw it.", "Observed"),
    Prompt("What are you grateful for in their work?", "Grateful for"),
    Prompt("What might they try next?", "Might try next"),
)

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
        raise MirrorError(f"Name the room to reflect on: {OPEN_USAGE}")
    room, rest = words[0], list(words[1:])
    close_after: timedelta | None = None
    k: int | None = None
    seen: set[str] = set()
    while rest:
        option = rest.pop(0).lower()
        if option not in ("closes", "min"):
            raise MirrorError(f"Unexpected '{option}'. Usage: {OPEN_USAGE}")
        if option in seen:
            raise MirrorError(f"'{option}' is given twice. Usage: {OPEN_USAGE}")
        seen.add(option)
        if not rest:
            raise MirrorError(f"'{option}' needs a value. Usage: {OPEN_USAGE}")
        value = rest.pop(0)
        if option == "closes":
            try:
                close_after = parse_duration(value)
            except TimeSpecError as exc:
                raise MirrorError(str(exc)) from exc
        else:
            if not re.fullmatch(r"\d{1,6}", value):
                raise MirrorError(f"'min' takes a whole number, like min 4 (not '{value}')")
            k = int(value)
    return OpenArgs(room, close_after, k)


def check_k(k: int) -> None:
    """k is the fewest reflections that are ever released; at least 3."""
    if k < MIN_K:
        raise MirrorError(
            f"min must be at least {MIN_K}: with fewer reflections, one could be traced to "
            f"its author. Use min {MIN_K} or more."
        )
    if k > MAX_K:
        raise MirrorError(f"min can be at most {MAX_K}.")


def plan_round(
    reflecting_room: str,
    reflected_room: str,
    now: datetime,
    close_after: timedelta,
    k: int,
) -> RoundRequest:
    """Validate an opening: another room, a sensible window, k >= 3."""
    if reflecting_room == reflected_room:
        raise MirrorError(
            "A blind mirror reflects another group: name a room other than this one."
        )
    check_k(k)
    if close_after < MIN_OPEN:
        raise MirrorError(
            f"A round must stay open at least {format_duration(MIN_OPEN)}, so people have "
            "time to write."
        )
    if close_after > MAX_OPEN:
        raise MirrorError(
            f"A round can stay open at most {format_duration(MAX_OPEN)}: reflections should "
            "not wait long."
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
            f"This room already has {in_room} blind-mirror rounds or requests going on (at most "
            f"{MAX_ACTIVE_PER_ROOM}). Wait until one is released, withheld or declined."
        )
    if about_room >= MAX_ACTIVE_PER_ROOM:
        raise MirrorError(
            f"That room already has {about_room} blind-mirror rounds or requests about it (at "
            f"most {MAX_ACTIVE_PER_ROOM}). Try again once one of them is over."
        )
    if by_opener >= MAX_ACTIVE_PER_OPENER:
        raise MirrorError(
            f"You already have {by_opener} blind-mirror rounds or requests going on (at most "
            f"{MAX_ACTIVE_PER_OPENER}). Wait until one is over."
        )


def check_request(found: ConsentRequest | None, code: str, room_id: str, now: datetime) -> ConsentRequest:
    """The request a ``!mirror accept|decline <code>`` in ``room_id`` refers to.

    A request for another room is answered exactly like an unknown code, so that the reply
    says nothing about rooms the asker may not be in.
    """
    if found is None or found.reflected_room != room_id or now >= found.expires_at:
        raise MirrorError(
            f"No blind-mirror request with the code {code} is waiting in this room. Codes are "
            "in the bot's request message here, and expire after "
            f"{format_duration(REQUEST_TTL)}."
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
            f"'{text.strip()[:20]}' is not a round code: codes are {CODE_LENGTH} letters and "
            "digits, like 'reflect k7m2qx'. Copy it from the room's announcement."
        )
    return code


def check_can_reflect(found: MirrorRound | None, code: str, now: datetime) -> MirrorRound:
    """The round a ``reflect <code>`` (or a ``submit``) refers to, if it still takes reflections."""
    if found is None:
        raise MirrorError(
            f"No round has the code {code}. Check the code in the room's announcement."
        )
    if found.state != "open" or now >= found.closes_at:
        raise MirrorError(
            f"Round {code} has closed and takes no more reflections. Nothing was sent."
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


# --- drafts (a per-conversation state machine) --------------------------------------------

DraftStage = Literal["answering", "review", "submitted", "cancelled"]

_KEYWORDS = ("submit", "cancel", "restart")  # a message that is exactly one is never an answer
# Control characters other than newline and tab carry nothing a reader needs, and would bloat
# the published event (JSON escapes them six bytes each).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Draft:
    """One member's reflection in progress. Held in memory only (see storage.mirror.DraftBook)."""

    round_id: int
    code: str
    answers: tuple[str, ...] = ()
    stage: DraftStage = "answering"

    @property
    def prompt_index(self) -> int:
        return len(self.answers)


@dataclass(frozen=True)
class DraftStep:
    """The draft after one message, what to reply, and (on submit) the text to store."""

    draft: Draft
    reply: str
    submit_text: str | None = field(default=None)


def compose(answers: Sequence[str]) -> str:
    """The reflection as stored and published: each answer under its heading."""
    return "\n\n".join(
        f"{prompt.heading}:\n{answer}" for prompt, answer in zip(PROMPTS, answers, strict=False)
    )


def _ask(index: int) -> str:
    return f"({index + 1}/{len(PROMPTS)}) {PROMPTS[index].question}"


def render_draft(draft: Draft) -> str:
    """The composed reflection and what to do next, shown before ``submit``."""
    return (
        "Your reflection, as it would be published (without your name):\n\n"
        f"{compose(draft.answers)}\n\n"
        "Reply submit to send it, restart to write it again, or cancel to discard it."
    )


def start_draft(round_: MirrorRound) -> DraftStep:
    """``reflect <code>`` on an open round: a fresh draft and the first prompt."""
    draft = Draft(round_.id, round_.code)
    intro = (
        f"Blind mirror {round_.code}: three short prompts, then you see the whole draft before "
        "anything is sent. Your name is never stored with it. Reply cancel at any time to "
        "discard it.\n\n"
    )
    return DraftStep(draft, intro + _ask(0))


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text).strip()


def _check_answer(answers: tuple[str, ...], text: str) -> str:
    # Length is checked before any other work, so a 100 KB paste costs nothing but the error.
    if len(text) > MAX_ANSWER:
        raise MirrorError(
            f"That answer is {len(text)} characters; each answer can have at most {MAX_ANSWER}. "
            "Shorten it and send it again."
        )
    answer = _clean(text)
    if not answer:
        raise MirrorError("That answer is empty. Write a few words, or reply cancel to stop.")
    total = len(compose((*answers, answer)))
    if total > MAX_REFLECTION:
        room = max(0, len(answer) - (total - MAX_REFLECTION))
        raise MirrorError(
            f"With this answer the reflection would be {total} characters; the whole "
            f"reflection can have at most {MAX_REFLECTION}. Shorten this answer to about "
            f"{room} characters and send it again."
        )
    return answer


def draft_step(draft: Draft, text: str) -> DraftStep:
    """Advance a draft by one DM. ``cancel`` discards it and ``restart`` empties it (any stage);
    bad answers raise and leave the draft as it was.

    A message that is exactly a keyword (``submit``, ``cancel``, ``restart``, any case) is taken
    as the keyword, never as an answer.
    """
    if draft.stage in ("submitted", "cancelled"):
        raise MirrorError("This reflection is finished. Start a new one with reflect <code>.")
    word = text.strip().lower() if len(text) <= 20 else ""
    if word == "cancel":
        return DraftStep(
            replace(draft, stage="cancelled", answers=()),
            "Discarded. Nothing was sent or kept.",
        )
    if word == "restart":
        return DraftStep(Draft(draft.round_id, draft.code), "Starting again.\n\n" + _ask(0))
    if draft.stage == "review":
        if word == "submit":
            return DraftStep(
                replace(draft, stage="submitted"),
                f"Thank you. Your reflection is in round {draft.code}. It will be released, "
                "shuffled with the others, only if enough people take part. Sending "
                f"reflect {draft.code} again lets you replace it while the round is open.",
                compose(draft.answers),
            )
        raise MirrorError("Reply submit to send your reflection, restart, or cancel.")
    if word in _KEYWORDS:
        raise MirrorError(
            f"Answer this prompt first ({draft.prompt_index + 1} of {len(PROMPTS)}), "
            "or reply cancel."
        )
    answers = (*draft.answers, _check_answer(draft.answers, text))
    if len(answers) < len(PROMPTS):
        return DraftStep(replace(draft, answers=answers), _ask(len(answers)))
    done = replace(draft, answers=answers, stage="review")
    return DraftStep(done, render_draft(done))


def check_reflection_text(text: str) -> str:
    """A composed reflection about to be stored: not empty, not over the limit."""
    if len(text) > MAX_REFLECTION:
        raise MirrorError(
            f"The reflection is {len(text)} characters; at most {MAX_REFLECTION} are taken."
        )
    if not text.strip():
        raise MirrorError("The reflection is empty; there is nothing to send.")
    return text


# --- what the rooms see -------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    body: str
    html: str


def _html_text(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>")


def render_opened(
    round_: MirrorRound,
    reflected_label: str,
    zone: ZoneInfo,
    retention: timedelta,
    eligible: int | None = None,
    fresh: int = 0,
) -> Notice:
    """The announcement in the reflecting room: how to take part, and what is promised.

    ``eligible``: how many members may take part (those in the room now who are still in it at
    close); a small number gets a warning, since every account counts, a second one too.
    ``fresh``: how many of them joined within ``FRESH_JOIN`` before the round opened (warned).
    """
    closes = format_local(round_.closes_at, zone)
    lines = [
        f"Blind mirror {round_.code} is open: an anonymous reflection on {reflected_label}'s "
        f"work, until {closes}.",
        f"To take part, send me a direct message: reflect {round_.code}",
        f"Reflections are released together, shuffled, only if at least {round_.k} come in; "
        f"otherwise none is shown. They are removed after {format_duration(retention)}.",
    ]
    if eligible is not None:
        lines.append(
            f"{eligible} members of this room can take part: those here now, if they are still "
            "here at the close. Accounts that join later cannot, and reflections of members "
            "who leave before the close are dropped."
        )
        if eligible < SMALL_ROOM_FACTOR * round_.k:
            lines.append(
                f"Note: with {eligible} members for at least {round_.k} reflections, a "
                "reflection is easy to trace: the bot counts accounts, not people, so one "
                "person's second account would count as another member."
            )
        if fresh:
            lines.append(
                f"Note: {fresh} of them joined in the last {format_duration(FRESH_JOIN)}. "
                "The bot counts accounts: an account made for this round would count as a "
                "member, so check that you know who they are."
            )
    html_lines = [f"<p>{_html_text(line)}</p>" for line in lines]
    html_lines[1] = (
        f"<p>To take part, send me a direct message: <code>reflect {round_.code}</code></p>"
    )
    return Notice("\n".join(lines), "".join(html_lines))


def render_request(request: ConsentRequest, reflecting_label: str, zone: ZoneInfo) -> Notice:
    """The request posted in the room to be reflected upon: what would happen, and how to say
    yes or no. Nothing happens here unless a moderator of this room accepts."""
    lines = [
        f"A moderator of {reflecting_label} asks to hold a blind mirror about this room: its "
        "members would write reflections on this group's work, without names, posted here in "
        f"one batch (only if at least {request.k} come in), open for "
        f"{format_duration(request.close_after)} once accepted.",
        "If accepted, the members of "
        f"{reflecting_label} are told this room's name, so that they know whose work they "
        "reflect on.",
        f"A moderator of this room can accept with: !mirror accept {request.code}",
        f"or decline with: !mirror decline {request.code}",
        f"Without an answer the request lapses at {format_local(request.expires_at, zone)}.",
    ]
    return Notice("\n".join(lines), "".join(f"<p>{_html_text(line)}</p>" for line in lines))


def render_requested(request: ConsentRequest, zone: ZoneInfo) -> str:
    """The opener's reply: asked, not yet open. It does not name the other room (the reply is
    read by this room's members, who need not be in that one)."""
    return (
        f"I asked the moderators of the room you named to accept a blind mirror about it "
        f"(request {request.code}). The round opens, and is announced here, only if one of "
        f"them accepts before {format_local(request.expires_at, zone)}."
    )


def render_opened_there(
    round_: MirrorRound, reflecting_label: str, zone: ZoneInfo, retention: timedelta
) -> Notice:
    """The announcement in the room reflected upon, once a moderator there accepted."""
    body = (
        f"Blind mirror {round_.code} about this room is open, as accepted here: members of "
        f"{reflecting_label} write reflections, without names, until "
        f"{format_local(round_.closes_at, zone)}. If at least {round_.k} come in, they are "
        f"posted here in one batch and removed after {format_duration(retention)}."
    )
    return Notice(body, f"<p>{_html_text(body)}</p>")


def render_status(
    rounds: Sequence[MirrorRound],
    now: datetime,
    zone: ZoneInfo,
    requests: Sequence[tuple[ConsentRequest, str]] = (),
) -> str:
    """``!mirror status``. Deliberately without live counts (see the module docstring).

    ``requests``: waiting requests with what to say about them (the caller names the other
    room only where the reader is sure to be in it).
    """
    if not rounds and not requests:
        return "No blind-mirror rounds right now. A moderator can start one with " + OPEN_USAGE
    lines = [
        f"request {r.code} ({about}): waiting for consent until {format_local(r.expires_at, zone)}"
        for r, about in requests
    ]
    for r in rounds:
        if r.state == "open" and now < r.closes_at:
            what = f"open until {format_local(r.closes_at, zone)}, needs at least {r.k}"
        elif r.state in ("open", "closed"):
            what = "closed, release pending"
        elif r.state == "released":
            until = f" until {format_local(r.redact_at, zone)}" if r.redact_at else ""
            what = f"released, visible{until}"
        elif r.state == "withheld":
            what = f"withheld: fewer than {r.k} reflections, none shown"
        else:
            what = "expired"
        lines.append(f"{r.code} (about {r.reflected_room}): {what}")
    return "\n".join(lines)


def _eligible_note(round_: MirrorRound) -> str:
    if round_.eligible is None:
        return ""
    return (
        f" {round_.eligible} members could take part (those in the room when it opened and "
        "still in it at the close)."
    )


def render_withheld(round_: MirrorRound) -> Notice:
    """The close of a round with fewer than k reflections: nothing is shown, and why."""
    body = (
        f"Blind mirror {round_.code} closed with fewer than {round_.k} reflections, so none "
        "is shown: with so few, one could be traced to its author. Those that came in were "
        "destroyed unread." + _eligible_note(round_)
    )
    return Notice(body, f"<p>{_html_text(body)}</p>")


def render_release(
    round_: MirrorRound,
    ordered_texts: Sequence[str],
    reflecting_label: str,
    retention: timedelta,
) -> list[Notice]:
    """The batch, in the given (already shuffled) order, packed into as few messages as fit."""
    chunks: list[list[str]] = [[]]
    size = 0
    for text in ordered_texts:
        if chunks[-1] and size + len(text) > RELEASE_MESSAGE_BUDGET:
            chunks.append([])
            size = 0
        chunks[-1].append(text)
        size += len(text)
    total = len(chunks)
    notices = []
    for index, chunk in enumerate(chunks, start=1):
        part = f" (part {index} of {total})" if total > 1 else ""
        head = (
            f"Blind mirror {round_.code}{part}: {len(ordered_texts)} anonymous reflections from "
            f"{reflecting_label}, in random order. They will be removed after "
            f"{format_duration(retention)}." + _eligible_note(round_)
        )
        body = head + "".join(f"\n\n———\n\n{text}" for text in chunk)
        html_body = f"<p>{_html_text(head)}</p>" + "".join(
            f"<hr><blockquote>{_html_text(text)}</blockquote>" for text in chunk
        )
        notices.append(Notice(body, html_body))
    return notices
