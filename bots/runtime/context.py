"""What a command handler gets: who, where, when, and a way to answer. No globals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bots.runtime.envelope import clean_text
from bots.runtime.errors import PermissionDenied
from bots.runtime.i18n import _
from bots.runtime.i18n_rooms import render
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.message import Message, Span
from bots.runtime.outbox import Delivery
from storage.room_settings import RoomSettings

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime


def notice(
    text: str,
    html: str | None = None,
    reply_to: EventID | None = None,
    thread: str | None = None,
    mentions: Sequence[str] = (),
) -> dict[str, Any]:
    """An ``m.notice`` content, optionally replying to an event (inside its thread, if the event
    was in one), with an HTML body if given.

    Every notice carries intentional mentions (``m.mentions``): the users named in ``mentions``,
    else nobody. Without the key, clients fall back to scanning the text, so a user-supplied
    ``@room`` or display name quoted in a notice would ping people.
    """
    content: dict[str, Any] = {"msgtype": "m.notice", "body": clean_text(text)}
    if html is not None:
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = clean_text(html)
    content["m.mentions"] = {"user_ids": list(dict.fromkeys(mentions))} if mentions else {}
    if reply_to is not None:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        if thread is not None:
            # A reply inside a thread: Element shows it there, not in the main timeline.
            content["m.relates_to"].update(
                {"rel_type": "m.thread", "event_id": thread, "is_falling_back": False}
            )
    return content


def thread_of(source: dict[str, Any]) -> str | None:
    """The root of the thread an event was sent in, if any."""
    content = source.get("content")
    relates = content.get("m.relates_to") if isinstance(content, dict) else None
    if not isinstance(relates, dict):
        return None
    if relates.get("rel_type") == "m.thread" and isinstance(relates.get("event_id"), str):
        return str(relates["event_id"])
    return None


@dataclass
class Context:
    bot: BotRuntime
    room_id: RoomID
    sender: UserID
    event_id: EventID
    body: str
    now: datetime
    is_direct: bool = False
    encrypted: bool = False
    source: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False  # another bot in the room answers this command (Feature.answers_in)
    _replies: int = 0

    async def reply(self, text: str | Message | Span, *, wait: bool = False) -> Delivery | None:
        """Answer the command with a notice that replies to it (a ``Message`` or a translatable
        sentence is rendered in the room's language, bots/runtime/i18n.py; a ``str`` is sent as
        plain text). There is no way to pass HTML: it comes only from a ``Message``.

        The transaction id comes from the command's event id and the reply's position (the one
        key scheme, bots/runtime/keys.py), so a command handled again after a crash produces the
        same ids and the homeserver drops the duplicates.
        """
        if self.quiet:
            return None
        self._replies += 1
        txn = key("runtime", self.event_id, "reply", self._replies)
        if isinstance(text, str):
            plain, html = text, None
        else:
            plain, html = await render(RoomSettings(self.bot.db), self.room_id, text)
        content = notice(plain, html, self.event_id, thread_of(self.source))
        if wait:
            return await self.bot.outbox.send(self.room_id, content, txn)
        await self.bot.outbox.enqueue(self.room_id, content, txn)
        return None

    async def power_of(self, user_id: str) -> int:
        return await self.bot.power_of(self.room_id, user_id)

    async def require_power(self, level: int | str | None) -> None:
        needed = self.bot.power_needed(level)
        if needed is None:
            return
        have = await self.power_of(self.sender)
        if have < needed:
            raise PermissionDenied(
                _(
                    "this needs power level {needed} in this room (you have {have}); ask a moderator",
                    needed=needed,
                    have=have,
                )
            )
