"""Commands every bot has: ``!ping``, ``!help`` (generated from the declarations) and
``!language``.

``!help`` names each group of commands by its router's title (a contract feature's ``title``;
"Basics" for these), so no central table names a feature. Titles and help texts are declared in
English and shown in the room's language from the message catalogue (bots/runtime/i18n.py).
"""

from __future__ import annotations

from bots.runtime.context import Context
from bots.runtime.errors import UsageError, UserError
from bots.runtime.i18n import SHIPPED, LanguageError, _, catalogued, check_language, language_name
from bots.runtime.i18n_rooms import room_language, set_room_language
from bots.runtime.message import Message, bold, code
from bots.runtime.router import Router, Words
from storage.room_settings import RoomSettings

router = Router("core", "Basics")


@router.command("ping", help="Check that the bot is alive")
async def ping(ctx: Context) -> None:
    await ctx.reply("pong")


@router.command("help", help="List the commands, or explain one (e.g. !help draw)")
async def help_(ctx: Context, command: Words | None = None) -> None:
    table = ctx.bot.commands
    if command:
        name = command.lstrip("!").lower()
        matches = table.family(name)
        if not matches:
            hint = ", ".join("!" + h for h in table.suggest(name))
            raise UsageError(
                _(
                    "There is no command !{name}. Did you mean {hint}? Type !help for the list.",
                    name=name,
                    hint=hint,
                )
                if hint
                else _("There is no command !{name}. Type !help for the list.", name=name)
            )
        answer = Message()
        for c in matches:
            answer = answer.paragraph(code(c.usage), " — ", catalogued(c.help))
        await ctx.reply(answer)
        return
    titles = {router.feature: router.title}
    titles.update({f.router.feature: f.router.title for f in ctx.bot.features if f.router is not None})
    listing = Message()
    for feature, commands in table.by_feature().items():
        listing = listing.paragraph(bold(catalogued(titles.get(feature, feature))), ":").bullets(
            [(code(c.usage), " — ", catalogued(c.help)) for c in commands]
        )
    await ctx.reply(listing)


@router.command(
    "language", help="Show the language I answer in here, or set it (moderators; in a DM, your own)"
)
async def language(ctx: Context, code_: Words | None = None) -> None:
    settings = RoomSettings(ctx.bot.db)
    if code_ is None:
        now = await room_language(settings, ctx.room_id)
        shipped = ", ".join(f"{lang} ({language_name(lang)})" for lang in SHIPPED)
        await ctx.reply(
            Message.of(_("I answer here in {language}.", language=language_name(now))).paragraph(
                _(
                    "Languages I speak: {languages}. Change it with {command}.",
                    languages=shipped,
                    command=code("!language <code>"),
                )
            )
        )
        return
    try:
        check_language(code_)
    except LanguageError as exc:
        raise UserError(exc.args[0]) from None
    if not ctx.is_direct:  # a room's language is a moderator's choice; a DM's is its member's
        await ctx.require_power("moderator")
    chosen = await set_room_language(settings, ctx.room_id, code_, ctx.is_direct)
    await ctx.reply(_("From now on I answer here in {language}.", language=language_name(chosen)))
