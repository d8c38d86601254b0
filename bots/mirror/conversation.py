"""The DM side of the blind mirror: ``reflect <code>``, three prompts, the draft, ``submit``.

Drafts live in memory only (:class:`storage.mirror.DraftBook`): no text of a person reaches the
disk before ``submit``, and then only sealed, under a keyed hash of their id. Every reply in the
conversation (refusals too) is sent straight to the homeserver, not through the outbox, so the
database keeps no row saying when the bot answered in which DM: such times, next to a copy of
the database, would order the authors. Alongside each draft this module remembers, also in
memory only, which messages of the conversation quote it (the person's answers, the bot's
rendering of the draft), so they can be redacted when the conversation ends: submitted,
cancelled, replaced, abandoned, or cut short by the round's close. Then the DM's room keys are
also deleted from the bot's encryption store (``Host.discard_room_keys``, :mod:`bots.runtime.roomkeys`).

Who may take part is checked when the draft starts and again at ``submit``: a member of the
reflecting room now (asked of the homeserver, not stored) who was one when the round opened.

Nothing here logs a user id, a DM room id or a message text.
"""

from __future__ import annotations

import logging
import re
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bots.mirror.render import STARTING_AGAIN, UNENCRYPTED, dm, draft_discarded, draft_reply, render_cut
from bots.runtime.commands import CommandContext
from bots.runtime.errors import Forbidden, MatrixError, NotFound, UserError
from bots.runtime.i18n import _
from bots.runtime.i18n_rules import said
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Inline, Message
from protocols.errors import RuleError
from protocols.mirror import (
    CODE_ALPHABET,
    CODE_LENGTH,
    MirrorRound,
    check_can_reflect,
    parse_code,
)
from protocols.mirror_draft import Draft, DraftStep, draft_step, start_draft
from storage.mirror import DraftBook

if TYPE_CHECKING:
    from bots.mirror.base import MirrorBase

log = logging.getLogger(__name__)

_CODE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$", re.IGNORECASE)
_KEYWORDS = ("submit", "cancel", "restart")


@dataclass
class Trail:
    """What to redact when a conversation ends: (room, event) of the person's messages, and of
    the bot's messages that quote the draft."""

    room: RoomID  # where the conversation last was: where a note about it goes
    theirs: list[tuple[RoomID, EventID]] = field(default_factory=list)
    echoes: list[tuple[RoomID, EventID]] = field(default_factory=list)


class Conversations:
    """Every DM conversation about a reflection in progress, keyed by user id, in memory."""

    def __init__(self, feature: MirrorBase) -> None:
        self.feature = feature
        self.host = feature.host
        self.drafts = DraftBook()
        self._trails: dict[str, Trail] = {}

    # -- dispatch ---------------------------------------------------------------------------

    async def on_message(self, ctx: CommandContext) -> bool:
        """Take a DM that belongs to a reflection; False for anything else (other features').

        Refusals are answered here, straight to the homeserver like every reply of the
        conversation (see the module docstring), not by the runtime through the outbox.
        """
        try:
            return await self._on_message(ctx)
        except (UserError, RuleError) as exc:
            await self.say(ctx, said(exc))
            return True
        except Exception as exc:
            # By event id; the exception's message is left out (it may quote the message).
            log.error(
                "handling event %s failed: %s\n%s",
                ctx.event_id,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            await self.say(
                ctx,
                _("Sorry, something went wrong handling that. The operator can find it in the logs."),
            )
            return True

    async def _on_message(self, ctx: CommandContext) -> bool:
        if not ctx.is_direct:
            return False
        words = ctx.body.split()
        draft = self.drafts.get(ctx.sender)
        # With a draft open, an answer may well begin with "reflect": only "reflect <code>"
        # exactly starts a new draft then.
        starts = (
            bool(words)
            and words[0].lower() == "reflect"
            and (draft is None or (len(words) == 2 and bool(_CODE.match(words[1]))))
        )
        if draft is None and not starts:
            if ctx.body.strip().lower() in _KEYWORDS:
                await self.say(
                    ctx,
                    _(
                        "There is no reflection in progress. Start one with reflect <code>; the "
                        "code is in the announcement in your group's room."
                    ),
                )
                return True
            return False
        trail = self._trails.get(ctx.sender)
        if trail is not None and not starts:
            # Whatever they send while writing may quote the reflection: redact it at the end.
            trail.theirs.append((ctx.room_id, ctx.event_id))
            trail.room = ctx.room_id
        if self.feature.config.require_encrypted_dm and not ctx.encrypted:
            await self.say(ctx, UNENCRYPTED)
            return True
        if starts:
            await self._start(ctx, words)
        else:
            assert draft is not None
            await self._step(ctx, draft)
        return True

    # -- steps ------------------------------------------------------------------------------

    async def _start(self, ctx: CommandContext, words: list[str]) -> None:
        if len(words) != 2:
            raise UserError(
                _(
                    "Send reflect and the round code, like reflect k7m2qx; the code is in the "
                    "announcement in your group's room."
                )
            )
        code = parse_code(words[1])
        round_ = check_can_reflect(await self.feature.rounds.get_by_code(code), code, ctx.now)
        await self.check_member(round_, ctx.sender)
        if not await self.feature.rounds.is_eligible(round_.id, ctx.sender):
            raise UserError(
                _(
                    "Only members who were in the room when round {code} opened can take part. "
                    "Nothing was kept.",
                    code=round_.code,
                )
            )
        previous = self.drafts.get(ctx.sender)
        note: Inline | None = None
        if previous is not None:
            await self.end(ctx.sender)
            note = draft_discarded(previous.code) if previous.code != round_.code else STARTING_AGAIN
        step = start_draft(round_)
        self.drafts.put(ctx.sender, step.draft, ctx.now)
        self._trails[ctx.sender] = Trail(ctx.room_id, [(ctx.room_id, ctx.event_id)])
        await self.say(ctx, draft_reply(step, before=note))

    async def _step(self, ctx: CommandContext, draft: Draft) -> None:
        step = draft_step(draft, ctx.body)  # a bad answer raises and leaves the draft as it was
        if step.submit_text is not None:
            await self._submit(ctx, draft, step)
            return
        self.drafts.put(ctx.sender, step.draft, ctx.now)
        if step.draft.stage == "cancelled":
            await self.say(ctx, draft_reply(step))
            await self.end(ctx.sender)
        elif step.draft.stage == "review":
            await self._show_draft(ctx, draft_reply(step))
        else:
            await self.say(ctx, draft_reply(step))

    async def say(self, ctx: CommandContext, text: Inline | Message) -> EventID | None:
        """Reply in the DM straight to the homeserver, never through the outbox.

        The outbox writes each message to the database with the time, next to the DM it goes
        to; for this conversation that would leave, per author, when they wrote (their "thank
        you" at ``submit``, say), and one copy of the database would order the authors. Sent
        unstored, nothing of the conversation touches the disk; the price is no retry across a
        crash (the person sends their message again).
        """
        ctx._replies += 1  # the same numbering as ctx.reply: stable ids if handled again
        return await self.host.send_unstored(
            ctx.room_id, dm(text), ctx.key("dm", ctx._replies), reply_to=ctx.event_id, thread=ctx.thread
        )

    async def _show_draft(self, ctx: CommandContext, text: Message) -> None:
        """Show the draft (see :meth:`say`: it quotes the whole reflection, so above all it
        must not reach the database before ``submit``). The event is remembered to redact it
        when the conversation ends."""
        event = await self.host.send_unstored(ctx.room_id, dm(text), ctx.key("draft"), reply_to=ctx.event_id)
        if event is not None:
            trail = self._trails.setdefault(ctx.sender, Trail(ctx.room_id))
            trail.echoes.append((ctx.room_id, event))
            return
        await self.say(
            ctx,
            _(
                "I could not show you the draft just now. Reply submit to send it as you wrote "
                "it, restart to write it again, or cancel."
            ),
        )

    async def _submit(self, ctx: CommandContext, draft: Draft, step: DraftStep) -> None:
        text = step.submit_text or ""
        try:
            round_ = check_can_reflect(await self.feature.rounds.get(draft.round_id), draft.code, ctx.now)
            await self.check_member(round_, ctx.sender)
            replaced = await self.feature.rounds.submit(round_.code, ctx.sender, text, ctx.now)
        except (RuleError, UserError):
            # The round closed, or they are no longer a member: this draft can never be taken.
            self.drafts.discard(ctx.sender)
            await self.end(ctx.sender)
            raise
        self.drafts.discard(ctx.sender)
        await self.say(ctx, draft_reply(step, replaced=replaced))
        await self.end(ctx.sender)

    async def check_member(self, round_: MirrorRound, user_id: str) -> None:
        """Only members of the reflecting room take part; asked of the homeserver, not stored."""
        try:
            members = await self.host.members(RoomID(round_.reflecting_room))
        except (Forbidden, NotFound) as exc:
            raise UserError(
                _(
                    "I am no longer in the room where round {code} was opened, so I cannot take "
                    "reflections for it. Nothing was kept.",
                    code=round_.code,
                )
            ) from exc
        if user_id not in members:
            raise UserError(
                _(
                    "Only members of the room where round {code} was opened can take part. Nothing was kept.",
                    code=round_.code,
                )
            )

    # -- endings ----------------------------------------------------------------------------

    async def end(self, user_id: str) -> None:
        """The conversation is over: drop the draft, redact what quoted it, and delete the
        DM's room keys from the encryption store (a new outbound session for what follows)."""
        self.drafts.discard(user_id)
        trail = self._trails.pop(user_id, None)
        if trail is not None:
            await self._redact(trail)
            rooms = {trail.room, *(r for r, _ in trail.theirs), *(r for r, _ in trail.echoes)}
            for room in rooms:
                self.host.discard_room_keys(room)

    async def end_round(self, round_: MirrorRound) -> None:
        """The round closed: unfinished drafts for it can never be submitted."""
        for user in list(self._trails):
            draft = self.drafts.get(user)
            if draft is None or draft.round_id != round_.id:
                continue
            room = self._trails[user].room
            # Said before the keys go, so that this last message is under the old session too.
            await self.host.send_unstored(
                room, render_cut(round_), key("mirror", "cut", room, round_.id, round_.code)
            )
            await self.end(user)
        self.drafts.discard_round(round_.id)

    async def forget_idle(self, now: datetime) -> int:
        """Drafts nobody touched for ``draft_idle`` are dropped, and their messages redacted."""
        dropped = self.drafts.forget_older_than(now - self.feature.config.draft_idle)
        for user in [u for u in list(self._trails) if self.drafts.get(u) is None]:
            await self.end(user)
        return dropped

    async def _redact(self, trail: Trail) -> None:
        """Redact the bot's own echoes always, and the person's messages where we have power
        (in a DM the person created, we usually do not: nothing to do then)."""
        targets = list(trail.echoes)
        powers: dict[RoomID, bool] = {}
        for room, event in trail.theirs:
            if room not in powers:
                powers[room] = await self._can_redact_others(room)
            if powers[room]:
                targets.append((room, event))
        for room, event in targets:
            if not await self.host.redact_unstored(room, event, key("mirror", "dm", room, event)):
                log.debug("a DM redaction did not go through")

    async def _can_redact_others(self, room: RoomID) -> bool:
        try:
            table = await self.host.power_table(room)
        except MatrixError:
            return False
        return table.of(self.host.user_id) >= table.needed_for("redact")
