"""Intake surveys: at most five short questions, answered by DM, shown only as counts.

A question is a choice among named categories (why people come, language, access needs) or a
small number (seats offered or needed). An answer out of range is refused with what would fit.
The coordination room sees answers only as counts per room, and for a room only once at least
:data:`K` people answered there; a single answer is never shown, and a room below the threshold
shows only that it is below it (not how far).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from protocols.errors import RuleError

K = 3
MAX_QUESTIONS = 5
MAX_OPTIONS = 12
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
_OPTION = re.compile(r"^[a-z0-9][a-z0-9 _-]{0,31}$")


class IntakeError(RuleError):
    """An intake rule refused the input (a template's survey, or an answer)."""


@dataclass(frozen=True)
class Question:
    key: str
    prompt: str
    options: tuple[str, ...] = ()  # a choice; empty: a number from lo to hi
    lo: int = 0
    hi: int = 0

    @property
    def is_choice(self) -> bool:
        return bool(self.options)

    def hint(self) -> str:
        if self.is_choice:
            return " / ".join(f"{i}. {o}" for i, o in enumerate(self.options, 1))
        return f"a number from {self.lo} to {self.hi}"


# What a template's survey may ask when it names a question by its key only.
STANDARD: dict[str, Question] = {
    "why": Question("why", "Why do you come?", ("solidarity", "the cause", "friends", "first time", "other")),
    "area": Question(
        "area", "Where do you leave from?", ("north", "south", "east", "west", "centre", "elsewhere")
    ),
    "seats": Question("seats", "Seats you offer (a positive number) or need (0 if none)?", (), 0, 8),
    "access": Question(
        "access", "Any access needs?", ("none", "step-free", "quiet space", "sign language", "other")
    ),
    "language": Question(
        "language", "Which language do you prefer?", ("en", "de", "fr", "es", "pl", "other")
    ),
}


def survey(spec: Sequence[str | Mapping[str, object]]) -> tuple[Question, ...]:
    """A template's survey: each entry a standard key or a mapping ``{key, prompt, options}`` or
    ``{key, prompt, min, max}``. At most five questions, keys distinct."""
    if not spec:
        raise IntakeError("A survey needs at least one question.")
    if len(spec) > MAX_QUESTIONS:
        raise IntakeError(f"A survey has at most {MAX_QUESTIONS} questions ({len(spec)} given).")
    out: list[Question] = []
    for entry in spec:
        q = STANDARD.get(entry) if isinstance(entry, str) else _custom(entry)
        if q is None:
            raise IntakeError(
                f"Unknown survey question '{entry}': use one of {', '.join(STANDARD)} or a mapping."
            )
        if any(o.key == q.key for o in out):
            raise IntakeError(f"Survey question '{q.key}' is asked twice.")
        out.append(q)
    return tuple(out)


def _custom(entry: Mapping[str, object]) -> Question:
    key, prompt = str(entry.get("key", "")), str(entry.get("prompt", "")).strip()
    if not _KEY.match(key) or not 1 <= len(prompt) <= 200:
        raise IntakeError(
            "A survey question needs a key (lower-case, short) and a prompt of 1 to 200 characters."
        )
    options = entry.get("options")
    if options is not None:
        if not isinstance(options, list | tuple) or not 2 <= len(options) <= MAX_OPTIONS:
            raise IntakeError(f"'{key}': a choice has 2 to {MAX_OPTIONS} options.")
        names = tuple(str(o).strip().lower() for o in options)
        if any(not _OPTION.match(o) for o in names) or len(set(names)) != len(names):
            raise IntakeError(f"'{key}': options are short, distinct, lower-case words.")
        return Question(key, prompt, names)
    lo, hi = entry.get("min"), entry.get("max")
    if not isinstance(lo, int) or not isinstance(hi, int) or not 0 <= lo < hi <= 100:
        raise IntakeError(f"'{key}': a number question needs min and max, 0 <= min < max <= 100.")
    return Question(key, prompt, (), lo, hi)


def answer(question: Question, text: str) -> str:
    """The stored form of an answer (an option, or a number as text); out of range is refused."""
    word = " ".join(text.strip().lower().split())
    if question.is_choice:
        if word.isdigit() and 1 <= int(word) <= len(question.options):
            return question.options[int(word) - 1]
        if word in question.options:
            return word
        raise IntakeError(
            "'{text}' is not one of the answers: {hint}.", text=text.strip()[:40], hint=question.hint()
        )
    if not re.fullmatch(r"\d{1,3}", word) or not question.lo <= int(word) <= question.hi:
        raise IntakeError(
            "'{text}' is out of range: a number from {lo} to {hi}.",
            text=text.strip()[:40],
            lo=question.lo,
            hi=question.hi,
        )
    return word


@dataclass(frozen=True)
class RoomCounts:
    room: str
    answered: int  # shown only when >= K
    counts: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # question -> (answer, count)


def aggregate(
    questions: Sequence[Question], answers: Mapping[str, Sequence[Mapping[str, str]]], k: int = K
) -> tuple[list[RoomCounts], int]:
    """Counts per room for the rooms where at least ``k`` people finished the survey, and how many
    rooms are below the threshold (shown as a number of rooms, never with their sizes).

    ``answers``: room -> one mapping per respondent (question key -> stored answer)."""
    if k < 2:
        raise IntakeError("The threshold is at least 2: a single answer is never shown.")
    shown: list[RoomCounts] = []
    below = 0
    for room in sorted(answers):
        people = answers[room]
        if len(people) < k:
            below += 1 if people else 0
            continue
        per_q: list[tuple[str, tuple[tuple[str, int], ...]]] = []
        for q in questions:
            tally: dict[str, int] = {}
            for person in people:
                value = person.get(q.key)
                if value is not None:
                    tally[value] = tally.get(value, 0) + 1
            order = q.options if q.is_choice else tuple(sorted(tally, key=int))
            per_q.append((q.key, tuple((v, tally[v]) for v in order if v in tally)))
        shown.append(RoomCounts(room, len(people), tuple(per_q)))
    return shown, below
