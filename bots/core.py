"""Commands every bot has: ``!ping`` and ``!help``, generated from the declarations.

``!help`` names each group of commands by its router's title (a contract feature's ``title``;
"Basics" for these), so no central table names a feature.
"""

from __future__ import annotations

from bots.runtime.context import Context
from bots.runtime.errors import UsageError
from bots.runtime.message import Message, bold, code
from bots.runtime.router import Router, Words

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
            hint = table.suggest(name)
            tip = f" Did you mean {', '.join('!' + h for h in hint)}?" if hint else ""
            raise UsageError(f"There is no command !{name}.{tip} Type !help for the list.")
        answer = Message()
        for c in matches:
            answer = answer.paragraph(code(c.usage), f" — {c.help}")
        await ctx.reply(answer.plain, answer.html)
        return
    titles = {router.feature: router.title}
    titles.update({f.router.feature: f.router.title for f in ctx.bot.features if f.router is not None})
    listing = Message()
    for feature, commands in table.by_feature().items():
        listing = listing.paragraph(bold(titles.get(feature, feature)), ":").bullets(
            [(code(c.usage), f" — {c.help}") for c in commands]
        )
    await ctx.reply(listing.plain, listing.html)
