"""``features.calendar`` in the YAML: the public listener (off unless ``public`` is set), how
often followed feeds are fetched and within which limits."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from bots.config import Strict
from bots.runtime.i18n import LanguageError, check_language
from protocols.calendar_follow import FollowLimits


class PublicConfig(Strict):
    """Where the bot serves the public pages and feeds, and the address people reach them at.

    ``listen`` is ``host:port`` on this machine (keep it on loopback behind the reverse proxy);
    ``base_url`` is what the proxy serves it as, e.g. ``https://calendar.example.org``.
    """

    listen: str = "127.0.0.1:8088"
    base_url: str

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("listen is host:port, e.g. 127.0.0.1:8088")
        return value

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("base_url is the public http(s) address, e.g. https://calendar.example.org")
        return value.rstrip("/")

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class FollowConfig(Strict):
    """``!calendar follow``: how often, and the bounds of one fetch."""

    every: timedelta = timedelta(hours=1)
    max_bytes: int = Field(default=1_000_000, ge=1_000, le=20_000_000)
    timeout: timedelta = timedelta(seconds=10)
    max_redirects: int = Field(default=3, ge=0, le=10)
    max_events: int = Field(default=1_000, ge=1, le=10_000)
    # Loopback, private and link-local addresses are refused unless this is on (tests, closed networks).
    allow_private: bool = False
    max_follows: int = Field(default=10, ge=1, le=100)

    def limits(self) -> FollowLimits:
        return FollowLimits(
            self.max_bytes, self.timeout, self.max_redirects, self.max_events, self.allow_private
        )


class CalendarConfig(Strict):
    public: PublicConfig | None = None
    follow: FollowConfig = FollowConfig()
    # How long a built page or feed is served before it is built again (room names, what is
    # upcoming); a change made by a command rebuilds it at once.
    rebuild_after: timedelta = timedelta(minutes=1)
    # What a calendar app is told about how often to poll (REFRESH-INTERVAL, Cache-Control).
    refresh: timedelta = timedelta(hours=1)
    max_events_per_room: int = Field(default=50, ge=1, le=1_000)
    max_events_per_coalition: int = Field(default=1_000, ge=1, le=10_000)
    # The language of what the public page and the iCal feed write themselves (en, es, pl, de);
    # titles, places and reasons stay as the liaisons typed them.
    language: str = "en"

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        try:
            return check_language(value)
        except LanguageError as exc:
            raise ValueError(str(exc)) from None
