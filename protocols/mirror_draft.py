"""The blind mirror's DM conversation, as pure rules: three prompts, the draft shown before
``submit``, and the limits on what a reflection may be. A draft is a small state machine
(:func:`start_draft`, :func:`draft_step`); nothing here stores or sends anything.
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
    question: str  # what the bot asks
    heading: str  # how the answer is titled in the composed reflection


PROMPTS: tuple[Prompt, ...] = (
    Prompt("What did you observe? Describe what the group did, as you saw it.", "Observed"),
    Prompt("What are you grateful for in their work?", "Grateful for"),
    Prompt("What might they try next?", "Might try next"),
)


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
            f"Answer this prompt first ({draft.prompt_index + 1} of {len(PROMPTS)}), or reply cancel."
        )
    answers = (*draft.answers, _check_answer(draft.answers, text))
    if len(answers) < len(PROMPTS):
        return DraftStep(replace(draft, answers=answers), _ask(len(answers)))
    done = replace(draft, answers=answers, stage="review")
    return DraftStep(done, render_draft(done))


def check_reflection_text(text: str) -> str:
    """A composed reflection about to be stored: not empty, not over the limit."""
    if len(text) > MAX_REFLECTION:
        raise MirrorError(f"The reflection is {len(text)} characters; at most {MAX_REFLECTION} are taken.")
    if not text.strip():
        raise MirrorError("The reflection is empty; there is nothing to send.")
    return text
