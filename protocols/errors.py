from __future__ import annotations

from datetime import timedelta
from typing import Self


class RuleError(ValueError):
    """A rule of the ritual refused the input; str(exc) is shown to the user.

    Raised as ``RuleError("There is no slot '{name}'.", name=text)``: the English sentence with
    named placeholders and their values, so the runtime can show it in the room's language (the
    sentence is a message id of the catalogue, bots/runtime/i18n_rules.py); ``str(exc)`` is the
    English with the values filled in. A value may be text, a whole number, a length of time (a
    ``timedelta``, said as ``1h30m`` in English and in words in another language) or another
    rule's error (said as that error says itself, without its closing full stop)."""

    def __init__(self, message: str, **values: object) -> None:
        english = {k: _english(v) for k, v in values.items()}
        super().__init__(message.format(**english) if values else message)
        self.template = message
        self.values = values

    @classmethod
    def restated(cls, exc: RuleError) -> Self:
        """Another rule's refusal as this kind of error, in the same words (and languages)."""
        return cls(exc.template, **exc.values)


def _english(value: object) -> object:
    if isinstance(value, timedelta):
        from protocols.timespec import format_duration  # timespec's errors are RuleErrors

        return format_duration(value)
    if isinstance(value, BaseException):
        return str(value).rstrip(".")
    return value
