"""The standard survey questions (protocols/dayofaction/intake.py ``STANDARD``) in the language
of the room or DM they are read in: their prompts and their options. A template's own
questions are its own words and stay as written; the stored answer is always the English
option, so counts add up across languages."""

from __future__ import annotations

from bots.runtime.i18n import SHIPPED, Translatable, _, rendering
from bots.runtime.i18n_join import concat, joined
from bots.runtime.message import Inline, Span
from protocols.dayofaction import intake as rules

PROMPTS: dict[str, Translatable] = {
    "why": _("Why do you come?"),
    "area": _("Where do you leave from?"),
    "seats": _("Seats you offer (a positive number) or need (0 if none)?"),
    "access": _("Any access needs?"),
    "language": _("Which language do you prefer?"),
}

# The options of the standard questions (a language option is its tag, the same everywhere).
OPTIONS: dict[str, Translatable] = {
    "solidarity": _("solidarity"),
    "the cause": _("the cause"),
    "friends": _("friends"),
    "first time": _("first time"),
    "other": _("other"),
    "north": _("north"),
    "south": _("south"),
    "east": _("east"),
    "west": _("west"),
    "centre": _("centre"),
    "elsewhere": _("elsewhere"),
    "none": _("none"),
    "step-free": _("step-free"),
    "quiet space": _("quiet space"),
    "sign language": _("sign language"),
}


def is_standard(q: rules.Question) -> bool:
    return rules.STANDARD.get(q.key) == q


def prompt(q: rules.Question) -> Inline:
    """The question as the reader reads it."""
    return PROMPTS[q.key] if is_standard(q) and q.key in PROMPTS else q.prompt


def option(key: str, value: str) -> Inline:
    """A stored answer of question ``key`` as the reader reads it."""
    standard = rules.STANDARD.get(key)
    if standard is not None and value in standard.options and value in OPTIONS:
        return OPTIONS[value]
    return value


def choices(q: rules.Question) -> Span:
    """``1. solidarity / 2. the cause / ...`` in the reader's language."""
    return joined(
        [concat(f"{i}. ", option(q.key, o) if is_standard(q) else o) for i, o in enumerate(q.options, 1)],
        " / ",
    )


def typed(q: rules.Question, text: str) -> str:
    """An option typed in any shipped language (``przyjaciele``) -> its stored English form;
    anything else as it was typed (the rule then judges it)."""
    if not is_standard(q):
        return text
    word = " ".join(text.strip().lower().split())
    for value in q.options:
        label = OPTIONS.get(value)
        if label is None:
            continue
        for language in SHIPPED:
            with rendering(language):
                if label.plain().lower() == word:
                    return value
    return text
