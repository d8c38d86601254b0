"""Commands every bot has: ``!ping`` and ``!help``, generated from the declarations."""

from __future__ import annotations

from bots.runtime.context import Context, escape
from bots.runtime.errors import UsageError
from bots.runtime.router import Router, Words

router = Router("core")

FEATURE_TITLES = {
    "core": "Basics",
    "lottery": "Role lotteries",
    "ghostchair": "Ghost chair and gatherings",
    "mirror": "Blind mirrors",
    "herald": "Day-of-action protocols",
}


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
        text = "\n".join(f"{c.usage} — {c.help}" for c in matches)
        html = "<ul>" + "".join(f"<li><code>{escape(c.usage)}</code> — {escape(c.help)}</li>" for c in matches) + "</ul>"
        await ctx.reply(text, html)
        return
    lines: list[str] = []
    html_parts: list[str] = []
    for feature, commands in table.by_feature().items():
        title = FEATURE_TITLES.get(feature, feature)
        lines.append(f"{title}:")
        lines.extend(f"  {c.usage} — {c.help}" for c in commands)
        html_parts.append(f"<p><b>{escape(title)}</b></p><ul>")
        html_parts.extend(f"<li><code>{escape(c.usage)}</code> — {escape(c.help)}</li>" for c in commands)
        html_parts.append("</ul>")
    await ctx.reply("\n".join(lines), "".join(html_parts))
