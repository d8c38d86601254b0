"""The ghost chair's command grammar: one converter per kind of word, each refusing bad input
with the reason (the runtime adds the usage line). What follows a gathering's time (a zone,
then ``draw``, ``remind <duration>``, ``care <duration>``, ``until <YYYY-MM-DD>`` in any order)
is read by the pure parser :func:`protocols.gathering.parse_zone_and_options`, wrapped here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from bots.runtime.converters import ArgumentError, Converter
from bots.runtime.i18n_rules import said_clause
from protocols.errors import RuleError
from protocols.gathering import (
    ZoneAndOptions,
    parse_date,
    parse_gathering_id,
    parse_zone_and_options,
)
from protocols.ghostchair import parse_voice_number
from protocols.schedule import parse_hhmm, parse_weekday
from protocols.timespec import parse_zone

T = TypeVar("T")


def _explained(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` whose refusals (the rules' errors, a time's among them) read as argument
    errors, in the room's language."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except RuleError as exc:
            raise ArgumentError(said_clause(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "convert")
    return convert


def _every_options(text: str) -> ZoneAndOptions:
    return parse_zone_and_options(text.split(), weekly=True)


def _at_options(text: str) -> ZoneAndOptions:
    return parse_zone_and_options(text.split(), weekly=False)


Weekday = Annotated[int, Converter(_explained(parse_weekday), "word", "weekday")]
TimeOfDay = Annotated[time, Converter(_explained(parse_hhmm), "word", "time")]
Day = Annotated[date, Converter(_explained(parse_date), "word", "date")]
Zone = Annotated[ZoneInfo, Converter(_explained(parse_zone), "word", "zone")]
EveryOptions = Annotated[ZoneAndOptions, Converter(_explained(_every_options), "words", "zone-and-options")]
AtOptions = Annotated[ZoneAndOptions, Converter(_explained(_at_options), "words", "zone-and-options")]
GatheringId = Annotated[int, Converter(_explained(parse_gathering_id), "word", "id")]
VoiceNumber = Annotated[int, Converter(_explained(parse_voice_number), "word", "n")]
