"""One answer per command where several heralds share a room.

Every herald joined to a coalition's room reads every command there. :func:`answered_once`
wraps each of the herald's commands: the herald ranked first for the command (see
``Heartbeats.answers``) runs it as before; the others do nothing, except for the commands that
record a room's own facts (its local details, its liaison, its acknowledgement), which every
herald applies, silently, so that any of them can later plan or deliver with them.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, cast

from bots.runtime.commands import CommandContext
from bots.runtime.errors import UserError
from bots.runtime.host import Host
from protocols.errors import RuleError

_DECLARED = "__affinity_command__"
# Handlers every herald runs (silently unless it answers): they record what a room said of itself.
APPLIED_BY_ALL = frozenset({"local_set", "coalition_liaison", "ack"})


class _Silent:
    """A host whose replies go nowhere: a herald that does not answer still applies a command."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)

    async def post(self, *_: Any, **__: Any) -> None:
        return None


def _gated(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(method)
    async def gate(self: Any, ctx: CommandContext, *args: Any, **kwargs: Any) -> None:
        if await self.answers(str(ctx.room_id), str(ctx.event_id)):
            await method(self, ctx, *args, **kwargs)
            return
        if method.__name__ not in APPLIED_BY_ALL:
            return
        quiet = replace(ctx, host=cast(Host, _Silent(ctx.host)))
        try:
            await method(self, quiet, *args, **kwargs)
        except (UserError, RuleError):
            return  # the answering herald says why

    return gate


def answered_once(cls: type) -> None:
    """Wrap every declared command of ``cls`` (in place)."""
    for attr in dir(cls):
        method = getattr(cls, attr, None)
        if callable(method) and hasattr(method, _DECLARED):
            setattr(cls, attr, _gated(method))
