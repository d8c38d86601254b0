"""Commands declared as methods of their feature, bound at construction.

    class Lottery(ContractFeature):
        @command("roles term", help="Set the mandate length", power="moderator", where="room")
        async def roles_term(self, ctx: CommandContext, term: Duration) -> None:
            await self.rooms.set_term(ctx.room_id, term)       # its repositories, via self
            await ctx.reply(Message.of("Mandates now last ", format_duration(term), "."))

``@command`` only records the declaration on the function. When a feature is built,
:func:`bound_commands` turns each declared method of *that instance* into a router ``Command``
(the same grammar and usage lines as bots/runtime/router.py), so a handler reaches its feature
through ``self``: no lookup by name, no ``type: ignore``, and ``commands.py`` and ``feature.py``
no longer import each other.

A handler gets a :class:`CommandContext`, not the runtime: who, where, when, and a way to reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from keyword import iskeyword
from typing import Any

from bots.runtime.context import Context, thread_of
from bots.runtime.converters import Deferred, PendingText, as_text
from bots.runtime.errors import PermissionDenied
from bots.runtime.host import Host
from bots.runtime.i18n import _
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.keys import key as make_key
from bots.runtime.message import Message
from bots.runtime.router import Command, params_of

_DECLARED = "__affinity_command__"


@dataclass(frozen=True)
class Declaration:
    name: str
    help: str
    power: str | int | None
    where: str  # "any", "room" (not in a direct chat)


def command(
    name: str, *, help: str, power: str | int | None = None, where: str = "any"
) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Awaitable[None]]]:
    """Declare a method as the handler of ``!name``; its signature after ``ctx`` is the grammar."""
    if where not in ("any", "room"):
        raise ValueError(f"where must be 'any' or 'room', not {where!r}")

    def mark(func: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        setattr(func, _DECLARED, Declaration(name.lower(), help, power, where))
        return func

    return mark


@dataclass
class CommandContext:
    """What a handler gets: the command's sender, room, event and time, and a way to answer."""

    host: Host
    room_id: RoomID
    sender: UserID
    event_id: EventID
    now: datetime
    is_direct: bool
    encrypted: bool
    thread: str | None = None
    body: str = ""  # the message as typed (for on_message; a command's words arrive as arguments)
    reply_to: EventID | None = None  # the event this message replies to (m.in_reply_to), if any
    _replies: int = field(default=0, repr=False)

    def key(self, *parts: object) -> str:
        """A stable key for a further message this command sends (same command, same key)."""
        return make_key(self.host.feature, self.event_id, *parts)

    async def reply(self, message: Message, *, wait: bool = False) -> EventID | None:
        """Answer with a notice replying to the command. The n-th reply of a command has the same
        key after a crash, so the homeserver drops the duplicate."""
        self._replies += 1
        return await self.host.post(
            self.room_id,
            message,
            self.key("reply", self._replies),
            reply_to=self.event_id,
            thread=self.thread,
            wait=wait,
        )

    async def require_power(self, level: int | str | None) -> None:
        needed = self.host.power_needed(level)
        if needed is None:
            return
        have = await self.host.power_of(self.room_id, self.sender)
        if have < needed:
            raise PermissionDenied(
                _(
                    "this needs power level {needed} in this room (you have {have}); ask a moderator",
                    needed=needed,
                    have=have,
                )
            )

    @classmethod
    def of(cls, ctx: Context, host: Host) -> CommandContext:
        return cls(
            host,
            ctx.room_id,
            ctx.sender,
            ctx.event_id,
            ctx.now,
            ctx.is_direct,
            ctx.encrypted,
            thread_of(ctx.source),
            ctx.body,
            _reply_target(ctx.source),
        )


def _reply_target(source: dict[str, Any]) -> EventID | None:
    content = source.get("content")
    relates = content.get("m.relates_to") if isinstance(content, dict) else None
    replied = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
    target = replied.get("event_id") if isinstance(replied, dict) else None
    return EventID(target) if isinstance(target, str) else None


class BoundCommand(Command):
    """A router ``Command`` whose last parameter may be :data:`~bots.runtime.converters.Text`
    (converters that explain themselves, :class:`ArgumentError`, are the router's own)."""

    def parse(self, words: list[str]) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = super().parse(words)
        leading = [p for p in self.params if p.kind != "keyword"]
        for i, p in enumerate(leading):
            if p.convert is as_text and i < len(args) and args[i] is not p.default:
                args[i] = PendingText(len(self.name.split()) + i, args[i])
        return args, kwargs


Before = Callable[[], Awaitable[None]]


def bound_commands(feature: object, name: str, host: Host, before: Before | None = None) -> list[Command]:
    """Every ``@command`` method of ``feature``, bound to it, as router commands of ``name``.

    ``before`` runs ahead of each handler (the contract uses it to make sure the feature's
    migrations have run). Deferred arguments (times, rooms) are resolved here, with the host and
    the command's room, so a handler receives finished values.
    """
    found: list[Command] = []
    for attr in sorted(dir(type(feature))):
        declaration = getattr(getattr(type(feature), attr, None), _DECLARED, None)
        if not isinstance(declaration, Declaration):
            continue
        method = getattr(feature, attr)
        handler = _handler(method, host, before)
        found.append(
            BoundCommand(
                declaration.name,
                declaration.help,
                handler,
                name,
                declaration.power,
                declaration.where,
                params_of(getattr(type(feature), attr)),
            )
        )
    return found


def _handler(
    method: Callable[..., Awaitable[None]], host: Host, before: Before | None
) -> Callable[..., Awaitable[None]]:
    async def handle(ctx: Context, *args: Any, **kwargs: Any) -> None:
        if before is not None:
            await before()
        call = CommandContext.of(ctx, host)
        args = tuple([await _resolved(a, call) for a in args])
        # A keyword that is a Python word (``from``) is declared as ``from_`` (router.params_of).
        kwargs = {(k + "_" if iskeyword(k) else k): await _resolved(v, call) for k, v in kwargs.items()}
        await method(call, *args, **kwargs)

    handle.__name__ = getattr(method, "__name__", "handler")
    return handle


async def _resolved(value: Any, ctx: CommandContext) -> Any:
    return await value.resolve(ctx) if isinstance(value, Deferred) else value
