"""A refusal in the room's language: what an exception says, as a span to reply with.

A :class:`~bots.runtime.errors.UserError` raised with a translatable says it; a rule's refusal
(:class:`~protocols.errors.RuleError`, pure code that cannot import the catalogue) carries its
English sentence and values, looked up here; anything else says its text as it is.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import timedelta

from bots.runtime.i18n import Value, _, catalogued, duration
from bots.runtime.ids import UserID
from bots.runtime.message import Span, escape
from protocols.errors import RuleError

# Exceptions of Python itself are never sentences for a person (only the rules' own errors are
# read into the catalogue from protocols/, bots/runtime/i18n_extract.py).
BUILTIN_ERRORS = frozenset(name for name in dir(builtins) if name.endswith("Error"))


def said(exc: BaseException) -> Span | str:
    """What ``exc`` tells the person who asked, in the language being rendered."""
    if exc.args and isinstance(exc.args[0], Span):
        return exc.args[0]
    if isinstance(exc, RuleError):
        template = getattr(exc, "template", None)
        values = getattr(exc, "values", None) or {}
        if isinstance(template, str) and values:
            return _(template, **{k: _plain_value(v) for k, v in values.items()})
        return catalogued(str(exc))
    return str(exc)


def said_clause(exc: BaseException) -> Span:
    """:func:`said` without its closing full stop, to go before more words (``...: usage``)."""
    return _Clause(said(exc))


@dataclass(frozen=True)
class _Clause(Span):
    sentence: Span | str

    def plain(self) -> str:
        text = self.sentence if isinstance(self.sentence, str) else self.sentence.plain()
        return text.rstrip(".")

    def html(self) -> str:
        if isinstance(self.sentence, str):
            return escape(self.plain())
        return self.sentence.html().rstrip(".")

    def users(self) -> tuple[UserID, ...]:
        return () if isinstance(self.sentence, str) else self.sentence.users()


def _plain_value(value: object) -> Value:
    if isinstance(value, timedelta):  # a length of time, in words of the language
        return duration(value)
    if isinstance(value, BaseException):  # another rule's refusal, inside this one
        return said_clause(value)
    if isinstance(value, Span | str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return str(value)
