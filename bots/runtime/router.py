"""Commands declared once: the function's signature is its grammar, and help is generated from it.

    router = Router("lottery")

    @router.command("roles term", help="Set the mandate length", power="moderator")
    async def roles_term(ctx: Context, term: Duration) -> None: ...

Grammar, read from the signature after ``ctx``:
- a positional parameter takes one word (``str``, ``int``, ``Duration``, ``RoomRef``);
  ``Words`` takes every word up to the first keyword; a default makes it optional;
- ``*rest: str`` takes all remaining words of the leading part;
- a keyword-only parameter is introduced by its own name as a word (``at``, ``closes``,
  ``where``, ``min``) and takes every word up to the next keyword; a default makes it optional;
- the ``<name>`` of the usage line is the parameter's name, or the converter's (``When`` shows
  ``<when>``), or one declared with ``Annotated[..., Metavar("place")]``
  (bots/runtime/converters.py; :func:`params_of` reads them all).

Bad arguments raise ``UsageError`` with the usage line; the dispatcher catches every typed
error in one place (see bots/runtime/dispatch.py).
"""

from __future__ import annotations

import inspect
import shlex
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bots.runtime.converters import ArgumentError, Duration, RoomRef, Words, as_text, converter_for
from bots.runtime.errors import UsageError
from bots.runtime.i18n import Translatable, _
from bots.runtime.i18n_rules import said_clause
from bots.runtime.message import Span
from protocols.errors import RuleError

__all__ = ["Command", "CommandTable", "Duration", "Param", "RoomRef", "Router", "Words", "params_of"]

# The longest command the bot reads. Commands are a line or two; a bound keeps one message from
# making any parser (or the word splitter) work on megabytes while every bot waits.
MAX_COMMAND_LENGTH = 4_000

Handler = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "word", "words", "rest", "keyword"
    convert: Callable[[str], Any]
    optional: bool
    default: Any
    metavar: str


@dataclass
class Command:
    name: str
    help: str
    handler: Handler
    feature: str
    power: str | int | None
    where: str
    params: list[Param] = field(default_factory=list)

    @property
    def usage(self) -> str:
        parts = [f"!{self.name}"]
        for p in self.params:
            if p.kind == "keyword":
                piece = f"{p.name} <{p.metavar}>"
            elif p.kind == "rest":
                piece = f"<{p.metavar}>..."
            else:
                piece = f"<{p.metavar}>"
            parts.append(f"[{piece}]" if p.optional else piece)
        return " ".join(parts)

    def parse(self, words: list[str]) -> tuple[list[Any], dict[str, Any]]:
        keywords = {p.name: p for p in self.params if p.kind == "keyword"}
        lead: list[str] = []
        segments: dict[str, list[str]] = {}
        current: list[str] = lead
        for word in words:
            key = word.lower()
            if key in keywords and key not in segments:
                current = segments.setdefault(key, [])
            else:
                current.append(word)
        args: list[Any] = []
        leading = [p for p in self.params if p.kind != "keyword"]
        queue = list(lead)
        for p in leading:
            if p.kind == "rest":
                args.extend(self._convert(p, w) for w in queue)
                if not queue and not p.optional:
                    raise self._missing(p.metavar)
                queue = []
            elif p.kind == "words":
                if queue:
                    args.append(self._convert(p, " ".join(queue)))
                    queue = []
                elif p.optional:
                    args.append(p.default)
                else:
                    raise self._missing(p.metavar)
            elif queue:
                args.append(self._convert(p, queue.pop(0)))
            elif p.optional:
                args.append(p.default)
            else:
                raise self._missing(p.metavar)
        if queue:
            raise UsageError(
                _("unexpected '{words}'. Usage: {usage}", words=" ".join(queue), usage=self.usage)
            )
        kwargs: dict[str, Any] = {}
        for name, p in keywords.items():
            if name in segments:
                if not segments[name]:
                    raise UsageError(_("'{name}' needs a value. Usage: {usage}", name=name, usage=self.usage))
                kwargs[name] = self._convert(p, " ".join(segments[name]))
            elif not p.optional:
                raise self._missing(f"{name} <{p.metavar}>", keyword=True)
        return args, kwargs

    def _missing(self, what: str, keyword: bool = False) -> UsageError:
        shown = f"'{what}'" if keyword else f"<{what}>"
        return UsageError(_("missing {what}. Usage: {usage}", what=shown, usage=self.usage))

    def _convert(self, p: Param, text: str) -> Any:
        try:
            return p.convert(text)
        except ArgumentError as exc:  # a converter that says why (translatable, or text)
            said = exc.args[0] if exc.args and isinstance(exc.args[0], Span) else str(exc)
            raise UsageError(_("{problem}. Usage: {usage}", problem=said, usage=self.usage)) from exc
        except RuleError as exc:  # a time word, or a rule's refusal of the word: it says why
            raise UsageError(
                _("{problem}. Usage: {usage}", problem=said_clause(exc), usage=self.usage)
            ) from exc
        except ValueError as exc:
            raise UsageError(
                _(
                    "'{text}' is not a valid <{metavar}>. Usage: {usage}",
                    text=text,
                    metavar=p.metavar,
                    usage=self.usage,
                )
            ) from exc


def params_of(func: Callable[..., Any]) -> list[Param]:
    """The grammar of a handler ``(self, ctx, ...)`` (or a bound method ``(ctx, ...)``)."""
    hints = typing.get_type_hints(func, include_extras=True)
    names = list(inspect.signature(func).parameters.items())
    skip = 2 if names and names[0][0] == "self" else 1
    params: list[Param] = []
    for name, sp in names[skip:]:
        conv, declared = converter_for(hints.get(name, str))
        optional = sp.default is not inspect.Parameter.empty
        kind = conv.kind
        if conv.convert is as_text and (
            sp.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD
            or any(q.kind is inspect.Parameter.KEYWORD_ONLY for _, q in names)
            or name != names[-1][0]
        ):
            raise TypeError(f"{name}: Text is the last parameter of a command without keywords")
        if sp.kind is inspect.Parameter.VAR_POSITIONAL:
            kind, optional = "rest", True
        elif sp.kind is inspect.Parameter.KEYWORD_ONLY:
            kind = "keyword"
        metavar = declared or name.rstrip("_").replace("_", "-")
        params.append(
            Param(name.rstrip("_"), kind, conv.convert, optional, sp.default if optional else None, metavar)
        )
    return params


class Router:
    """The commands of one feature, under the title ``!help`` shows them with."""

    def __init__(self, feature: str, title: str | None = None) -> None:
        self.feature = feature
        self.title = title or feature.capitalize()
        self.commands: list[Command] = []

    def command(
        self, name: str, *, help: str, power: str | int | None = None, where: str = "any"
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            cmd = Command(name, help, handler, self.feature, power, where, params_of(handler))
            self.commands.append(cmd)
            return handler

        return register


class CommandTable:
    """All routers joined: finds the command a message names (longest name wins)."""

    def __init__(self, routers: list[Router]) -> None:
        self.commands: dict[str, Command] = {}
        for router in routers:
            for cmd in router.commands:
                if cmd.name in self.commands:
                    raise ValueError(f"command !{cmd.name} declared twice")
                self.commands[cmd.name] = cmd

    @staticmethod
    def too_long(body: str) -> Translatable | None:
        """The refusal for a command over :data:`MAX_COMMAND_LENGTH` characters, else None."""
        if len(body) <= MAX_COMMAND_LENGTH:
            return None
        return _(
            "That command is {length} characters long; commands are limited to {limit} characters. Nothing was changed.",
            length=len(body),
            limit=MAX_COMMAND_LENGTH,
        )

    def match(self, body: str) -> tuple[Command | None, str, list[str]]:
        """``"!roles set a b"`` -> (the ``roles set`` command, "roles set", ["a", "b"])."""
        text = body.strip()[1:]
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        for n in range(min(3, len(words)), 0, -1):
            name = " ".join(words[:n]).lower()
            if name in self.commands:
                return self.commands[name], name, words[n:]
        return None, words[0].lower() if words else "", words[1:]

    def family(self, name: str) -> list[Command]:
        """The command called ``name`` and those under it (``ghost`` -> ``ghost add``, ...)."""
        return [c for n, c in self.commands.items() if n == name or n.startswith(name + " ")]

    def by_feature(self) -> dict[str, list[Command]]:
        out: dict[str, list[Command]] = {}
        for cmd in self.commands.values():
            out.setdefault(cmd.feature, []).append(cmd)
        return out

    def suggest(self, name: str) -> list[str]:
        import difflib

        return difflib.get_close_matches(name, list(self.commands), n=3, cutoff=0.6)
