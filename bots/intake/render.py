"""The intake survey's messages, in the language of the room or the DM they go to
(bots/runtime/i18n.py). A template's own questions are its words; the standard ones are
translated (bots/intake/standard.py)."""

from __future__ import annotations

from collections.abc import Sequence

from bots.intake import standard
from bots.runtime.i18n import _, ngettext
from bots.runtime.i18n_join import concat, joined
from bots.runtime.message import Inline, Message, Span, bold, code
from protocols.dayofaction import intake as rules


def hint(q: rules.Question) -> Inline:
    """How to answer a question: its numbered options, or its range."""
    if q.is_choice:
        return standard.choices(q)
    return _("a number from {lo} to {hi}", lo=q.lo, hi=q.hi)


def invitation(run_id: str, questions: int) -> Message:
    return Message.of(
        ngettext(
            "A short survey for run {run} ({n} question, by encrypted DM): opt in with {command} or "
            "react ✋ here. The coalition sees only counts per room, and only once at least {k} "
            "people in a room answered.",
            "A short survey for run {run} ({n} questions, by encrypted DM): opt in with {command} or "
            "react ✋ here. The coalition sees only counts per room, and only once at least {k} "
            "people in a room answered.",
            questions,
            run=code(run_id),
            command=code("!intake me"),
            k=rules.K,
        )
    )


def invited(rooms: int, run_id: str) -> Message:
    return Message.of(
        ngettext(
            "Invited {n} member room to the survey of run {run}.",
            "Invited {n} member rooms to the survey of run {run}.",
            rooms,
            run=code(run_id),
        )
    )


def counts(run_id: str, shown: Sequence[tuple[str, rules.RoomCounts]], below: int) -> Message:
    msg = Message.of(
        _("Survey of run {run}: counts per room, from {k} answers on.", run=code(run_id), k=rules.K)
    )
    for name, rc in shown:
        lines: list[Span] = [
            _(
                "{question}: {answers}",
                question=q,
                answers=joined([concat(standard.option(q, v), f" {n}") for v, n in pairs]),
            )
            for q, pairs in rc.counts
        ]
        msg = msg.paragraph(bold(name), " ", _("({n} answered)", n=rc.answered)).bullets(lines)
    if not shown:
        msg = msg.paragraph(_("No room has {k} answers yet, so nothing is shown.", k=rules.K))
    if below:
        msg = msg.paragraph(
            ngettext(
                "{n} room has fewer than {k} answers so far (not shown).",
                "{n} rooms have fewer than {k} answers so far (not shown).",
                below,
                k=rules.K,
            )
        )
    return msg


def question(step: int, total: int, q: rules.Question) -> Message:
    return Message.of(
        _(
            "Question {number} of {total}: {prompt}",
            number=step + 1,
            total=total,
            prompt=bold(standard.prompt(q)),
        )
    ).paragraph(_("Answer with {how}.", how=hint(q)))


def again(problem: Inline, q: rules.Question) -> Message:
    return Message.of(problem, " ", standard.prompt(q))


def not_an_answer(typed: str, q: rules.Question, problem: Inline) -> Inline:
    """The rule's refusal of an answer, with a choice's options in the reader's language."""
    if not q.is_choice:
        return problem
    return _("'{text}' is not one of the answers: {hint}.", text=typed.strip()[:40], hint=hint(q))


def finished() -> Message:
    return Message.of(_("Thank you: your answers are in, counted with the others of your room."))


def opted_in() -> Message:
    return Message.of(_("Thank you: the questions are in our direct chat."))
