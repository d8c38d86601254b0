"""Pieces of a sentence joined into one span, so a list of names, mentions or times can be one
placeholder of a translated sentence (``_("{who} cannot make it", who=joined(people, _(" and ")))``)
and the translation may put it anywhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bots.runtime.ids import UserID
from bots.runtime.message import Inline, Span, escape


@dataclass(frozen=True)
class _Joined(Span):
    parts: tuple[Inline, ...]

    def plain(self) -> str:
        return "".join(p if isinstance(p, str) else p.plain() for p in self.parts)

    def html(self) -> str:
        return "".join(escape(p) if isinstance(p, str) else p.html() for p in self.parts)

    def users(self) -> tuple[UserID, ...]:
        return tuple(u for p in self.parts if isinstance(p, Span) for u in p.users())


def concat(*parts: Inline) -> Span:
    """The parts one after another, as one span."""
    return _Joined(tuple(parts))


def joined(parts: Sequence[Inline], separator: Inline = ", ") -> Span:
    """``parts`` with ``separator`` between them (the separator may itself be translated)."""
    out: list[Inline] = []
    for i, part in enumerate(parts):
        if i:
            out.append(separator)
        out.append(part)
    return _Joined(tuple(out))
