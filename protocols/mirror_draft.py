"""The blind mirror's DM conversation, as pure rules: three prompts, the draft shown before
``submit``, and the limits on what a reflection may be. A draft is a small state machine
(:func:`start_draft`, :func:`draft_step`); nothing here stores or sends anything. Each step says
what happened (:data:`StepKind`); the bot says it in the person's language (bots/mirror/render.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from protocols.mirror import MirrorError, MirrorRound

MAX_ANSWER = 2000
MAX_REFLECTION = 4000


@dataclass(frozen=True)
class Prompt:
    question: str  # what the bot asks (in English; bots/mirror/render.py asks it in the DM's language)
    heading: str  # how the answer is titled in the composed reflection (stored as written here)


PROMPTS: tuple[Prompt, ...] = (
    Prompt("What did you observe? Describe what the group did, as you saw it.", "Observed"),
    Prompt("What are you grateful for in their work?", "Grateful for"),
    Prompt("What might they try next?", "Might try next"),
)


DraftStage = Literal["answering", "review", "submitted", "cancelled"]
# What a step did, for the reply: the first prompt of a new draft, the next prompt, the first
# prompt again, the draft discarded, the whole draft to review, the reflection taken.
StepKind = Literal["started", "next", "restarted", "cancelled", "review", "submitted"]

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
    """The draft after one message, what happened (what to reply), and (on submit) the text to
    store. After ``started``, ``next`` and ``restarted`` the prompt to ask is the draft's
    :attr:`Draft.prompt_index`."""

    draft: Draft
    kind: StepKind
    submit_text: str | None = field(default=None)


def compose(answers: Sequence[str]) -> str:
    """The reflection as stored and published: each answer under its heading."""
    return "\n\n".join(
        f"{prompt.heading}:\n{answer}" for prompt, answer in zip(PROMPTS, answers, strict=False)
    )


def start_draft(round_: MirrorRound) -> DraftStep:
    """``reflect <code>`` on an open round: a fresh draft and the first prompt."""
    return DraftStep(Draft(round_.id, round_.code), "started")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text).strip()


def _check_answer(answers: tuple[str, ...], text: str) -> str:
    # Length is checked before any other work, so a 100 KB paste costs nothing but the error.
    if len(text) > MAX_ANSWER:
        raise MirrorError(
            "That answer is {length} characters; each answer can have at most {most}. "
            "Shorten it and send it again.",
            length=len(text),
            most=MAX_ANSWER,
        )
    answer = _clean(text)
    if not answer:
        raise MirrorError("That answer is empty. Write a few words, or reply cancel to stop.")
    total = len(compose((*answers, answer)))
    if total > MAX_REFLECTION:
        room = max(0, len(answer) - (total - MAX_REFLECTION))
        raise MirrorError(
            "With this answer the reflection would be {total} characters; the whole "
            "reflection can have at most {most}. Shorten this answer to about "
            "{room} characters and send it again.",
            total=total,
            most=MAX_REFLECTION,
            room=room,
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
        return DraftStep(replace(draft, stage="cancelled", answers=()), "cancelled")
    if word == "restart":
        return DraftStep(Draft(draft.round_id, draft.code), "restarted")
    if draft.stage == "review":
        if word == "submit":
            return DraftStep(replace(draft, stage="submitted"), "submitted", compose(draft.answers))
        raise MirrorError("Reply submit to send your reflection, restart, or cancel.")
    if word in _KEYWORDS:
        raise MirrorError(
            "Answer this prompt first ({number} of {count}), or reply cancel.",
            number=draft.prompt_index + 1,
            count=len(PROMPTS),
        )
    answers = (*draft.answers, _check_answer(draft.answers, text))
    if len(answers) < len(PROMPTS):
        return DraftStep(replace(draft, answers=answers), "next")
    return DraftStep(replace(draft, answers=answers, stage="review"), "review")


def check_reflection_text(text: str) -> str:
    """A composed reflection about to be stored: not empty, not over the limit."""
    if len(text) > MAX_REFLECTION:
        raise MirrorError(
            "The reflection is {length} characters; at most {most} are taken.",
            length=len(text),
            most=MAX_REFLECTION,
        )
    if not text.strip():
        raise MirrorError("The reflection is empty; there is nothing to send.")
    return text
