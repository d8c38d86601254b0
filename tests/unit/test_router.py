"""The router's grammar: a converter's own explanation reaches the person; titles for !help."""

from __future__ import annotations

from typing import Annotated

import pytest

from bots.runtime import converters, router
from bots.runtime.commands import params_of
from bots.runtime.context import Context
from bots.runtime.converters import ArgumentError, IntRange, Metavar, Words
from bots.runtime.errors import UsageError
from bots.runtime.router import Command, Param, Router


async def _noop(ctx: Context) -> None:
    return None


def test_a_converter_that_says_why_is_quoted_with_the_usage() -> None:
    size = Param("size", "word", IntRange(1, 50), False, None, "n")
    cmd = Command("pool size", "Set the pool size", _noop, "lottery", None, "any", [size])
    with pytest.raises(UsageError) as err:
        cmd.parse(["99"])
    assert str(err.value) == "99 is out of range: use a number from 1 to 50. Usage: !pool size <n>"
    with pytest.raises(UsageError, match=r"^'x' is not a whole number\. Usage: !pool size <n>$"):
        cmd.parse(["x"])
    assert cmd.parse(["7"]) == ([7], {})
    assert issubclass(ArgumentError, ValueError)  # still caught as bad input anywhere else


def test_a_plain_value_error_still_names_the_metavar() -> None:
    def count(text: str) -> int:
        raise ValueError(text)

    cmd = Command("count", "Count", _noop, "x", None, "any", [Param("k", "word", count, False, None, "k")])
    with pytest.raises(UsageError, match=r"^'z' is not a valid <k>\. Usage: !count <k>$"):
        cmd.parse(["z"])


def test_routers_have_titles_and_the_grammar_types_live_in_converters() -> None:
    assert Router("lottery", "Role lottery").title == "Role lottery"
    assert Router("ghostchair").title == "Ghostchair"
    assert router.Words is converters.Words and router.RoomRef is converters.RoomRef
    assert router.Duration is converters.Duration


def test_a_router_reads_the_same_grammar_as_contract_commands() -> None:
    """No metavar table in the router: names come from the parameter, its converter or a
    declared Metavar, exactly as for a contract feature's command (commands.params_of)."""
    router = Router("x")

    @router.command("meet", help="Meet")
    async def meet(  # type: ignore[misc]
        ctx: Context,
        size: Annotated[int, IntRange(2, 9)],
        *,
        at: Words,
        where: Annotated[Words, Metavar("place")] | None = None,
    ) -> None:
        return None

    [cmd] = router.commands
    assert cmd.usage == "!meet <n> at <at> [where <place>]"
    assert cmd.params == params_of(meet)
    assert cmd.parse(["3", "at", "noon", "where", "the", "old", "mill"]) == (
        [3],
        {"at": "noon", "where": "the old mill"},
    )
