"""A room's local details (``!local set <key> <value>``): the parts of a protocol that stay local.

The coalition shares the date and the rhythm; each room fills in where it meets, whom to call
and in which language. Values end up inside messages sent to many rooms, so they are kept to
one short line of text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from protocols.errors import RuleError
from protocols.timespec import TimeSpecError, parse_zone

LOCAL_KEYS: dict[str, str] = {
    "meeting_point": "where your group meets, e.g. 'Town hall steps, Market Square'",
    "local_contact": "who people call on the day, e.g. '@ana:example.org or +33 6 12 34 56 78'",
    "language": "the language of your briefings, e.g. 'French' or 'fr'",
    "timezone": "your room's IANA time zone, e.g. Europe/Paris",
}
_MAX_LENGTH = {"meeting_point": 200, "local_contact": 200, "language": 40, "timezone": 64}
# What a message shows when a room has not set a detail: visible, and says how to fix it.
NOT_SET = "[not set yet: !local set {key} <value>]"


class LocalDetailError(RuleError):
    """A ``!local set`` key or value was refused."""


def validate_local(key: str, value: str) -> tuple[str, str]:
    """Check one local detail; returns the normalised ``(key, value)``.

    Keys are case-insensitive; the time zone is normalised to its IANA name.
    """
    norm_key = key.strip().lower().replace("-", "_")
    if norm_key not in LOCAL_KEYS:
        raise LocalDetailError(
            "'{key}' is not a local detail. Use one of: {keys}", key=key, keys=", ".join(LOCAL_KEYS)
        )
    text = " ".join(value.split())  # one line: newlines would break the message layout
    if not text:
        raise LocalDetailError("{key} needs a value: {hint}", key=norm_key, hint=LOCAL_KEYS[norm_key])
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in text):
        raise LocalDetailError("{key} contains control characters; type plain text", key=norm_key)
    limit = _MAX_LENGTH[norm_key]
    if len(text) > limit:
        raise LocalDetailError("{key} is too long: at most {limit} characters", key=norm_key, limit=limit)
    if norm_key == "timezone":
        try:
            text = parse_zone(text).key
        except TimeSpecError as exc:
            raise LocalDetailError.restated(exc) from exc
    elif norm_key == "language" and not all(ch.isalpha() or ch in " -()" for ch in text):
        raise LocalDetailError("language is a name or a tag made of letters, e.g. French or fr")
    return norm_key, text


def local_value(details: Mapping[str, str], key: str) -> str:
    """The value to show in a message, or a visible hint that it is missing."""
    value = details.get(key, "")
    return value if value else NOT_SET.format(key=key)
