"""From a checked event to the code that answers it: a command goes to its handler, a reaction
and any other message to the features' hooks. :meth:`Dispatch._guarded` is the one place where
typed errors become replies and anything else becomes a log line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from nio import AsyncClient

from bots.runtime import metrics
from bots.runtime.commands import CommandContext
from bots.runtime.context import Context
from bots.runtime.envelope import Envelope
from bots.runtime.errors import UserError
from bots.runtime.i18n import _, catalogued
from bots.runtime.i18n_rooms import direct_chats_of, follow
from bots.runtime.i18n_rules import said
from bots.runtime.ids import EventID, RoomID
from bots.runtime.message import Message, code
from bots.runtime.router import CommandTable
from bots.runtime.sync import log_failure
from protocols.errors import RuleError
from protocols.timespec import TimeSpecError
from storage.db import Database
from storage.room_settings import RoomSettings

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime
    from bots.runtime.feature import Feature

log = logging.getLogger(__name__)


def strip_reply_fallback(body: str) -> str:
    """Element quotes the replied-to message as '> ' lines before the reply itself."""
    if not body.startswith("> "):
        return body.strip()
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).strip()


async def _reaction(feature: Feature, ctx: Context, target: EventID, key: str) -> None:
    await feature.ready()
    await feature.on_reaction(CommandContext.of(ctx, feature.host), target, key)


async def _message(feature: Feature, ctx: Context) -> bool:
    await feature.ready()
    return await feature.on_message(CommandContext.of(ctx, feature.host))


class Dispatch:
    """Part of :class:`~bots.runtime.bot.BotRuntime`: events to commands and feature hooks."""

    client: AsyncClient | None
    features: list[Feature]
    commands: CommandTable
    clock: Callable[[], datetime]
    db: Database

    if TYPE_CHECKING:  # provided by the other parts of the runtime

        def allowed(self, user_id: str) -> bool: ...
        def is_direct(self, room_id: RoomID) -> bool: ...

    async def _dispatch(self, room_id: RoomID, env: Envelope, decrypted: bool) -> None:
        content = env.content
        if not self.allowed(env.sender):
            return
        room = self.client.rooms.get(room_id) if self.client is not None else None
        ctx = Context(
            bot=cast("BotRuntime", self),  # this part of the runtime is the runtime
            room_id=room_id,
            sender=env.sender,
            event_id=env.event_id,
            body="",
            now=self.clock(),
            is_direct=self.is_direct(room_id),
            encrypted=decrypted or bool(room is not None and room.encrypted),
            source=env.source,
        )
        for feature in self.features:
            try:  # a hook that fails must not keep the event from the others or from commands
                await feature.ready()
                await feature.on_event(CommandContext.of(ctx, feature.host), env.source)
            except Exception as exc:
                log_failure(env.event_id, exc)
        relation = env.relation
        if env.type == "m.reaction":
            # parse_envelope made sure an annotation has a string target and key.
            assert relation is not None and relation.event_id is not None and relation.key is not None
            target = EventID(relation.event_id)
            for feature in self.features:
                await self._guarded(ctx, _reaction, feature, ctx, target, relation.key)
            return
        if env.type != "m.room.message" or content.get("msgtype") not in ("m.text", "m.emote"):
            return  # never answer notices, including other bots'
        if relation is not None and relation.rel_type == "m.replace":
            return  # an edit is not a new command
        ctx.body = strip_reply_fallback(str(content.get("body", "")))
        if ctx.body.startswith("!"):
            await self._command(ctx)
            return
        for feature in self.features:
            consumed = await self._guarded(ctx, _message, feature, ctx)
            if consumed:
                return

    async def _command(self, ctx: Context) -> None:
        for feature in self.features:  # several bots share the room: one of them answers
            try:
                ctx.quiet = ctx.quiet or not await feature.answers_in(ctx.room_id, ctx.event_id)
            except Exception as exc:  # a failing hook leaves the answer to this bot
                log_failure(ctx.event_id, exc)
        refusal = self.commands.too_long(ctx.body)
        if refusal is not None:
            metrics.COMMANDS.labels("unknown", "usage").inc()
            await ctx.reply(refusal)
            return
        command, name, words = self.commands.match(ctx.body)
        if command is None:
            if not name:
                return
            family = self.commands.family(name)
            if family:  # "!ghost" alone: say which of its commands there are
                metrics.COMMANDS.labels("unknown", "usage").inc()
                usages = Message().bullets([code(c.usage), " — ", catalogued(c.help)] for c in family)
                await ctx.reply(Message.of(_("!{name} needs one of:", name=name)).extend(usages))
                return
            hint = ", ".join("!" + h for h in self.commands.suggest(name))
            metrics.COMMANDS.labels("unknown", "usage").inc()
            await ctx.reply(
                _(
                    "Unknown command !{name}. Did you mean {hint}? Type !help for the list.",
                    name=name,
                    hint=hint,
                )
                if hint
                else _("Unknown command !{name}. Type !help for the list.", name=name)
            )
            return
        if command.where == "room" and ctx.is_direct:
            await ctx.reply(_("!{name} works in a group room, not in a direct chat.", name=command.name))
            return

        async def run() -> None:
            await ctx.require_power(command.power)
            args, kwargs = command.parse(words)
            await command.handler(ctx, *args, **kwargs)

        ok = await self._guarded(ctx, run)
        if ok is not False and not ctx.is_direct:  # their DMs with the bot follow this room's language
            await follow(RoomSettings(self.db), ctx.room_id, await direct_chats_of(ctx.bot, ctx.sender))
        metrics.COMMANDS.labels(command.name, "ok" if ok is not False else "failed").inc()

    async def _guarded(self, ctx: Context, func: Any, *args: Any) -> Any:
        """The one place typed errors become replies and anything else becomes a log line."""
        try:
            result = await func(*args)
            return True if result is None else result
        except (UserError, RuleError, TimeSpecError) as exc:
            # A usage error, a refusal by the suite, by a rule of the ritual, or an unreadable
            # time or zone. Its text is written for the person who asked (translatable if it
            # was raised with one, bots/runtime/i18n.py).
            await ctx.reply(said(exc))
        except Exception as exc:  # the runtime never dies of one event
            log_failure(ctx.event_id, exc)
            await ctx.reply(
                _("Sorry, something went wrong handling that. The operator can find it in the logs.")
            )
        return False
