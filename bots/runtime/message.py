"""One message, two renderings: the plain ``body`` and the HTML ``formatted_body`` come from one
source, so they always carry the same words, and user text is escaped in exactly one place.

    msg = (
        Message()
        .paragraph("Drawn for ", bold(role), ": ", mention(holder))
        .bullets(["a voice", "another"])
        .definitions([("facilitator", "@ann:example.org"), ("timekeeper", "nobody yet")])
    )
    msg.plain, msg.html, msg.mentions

Every ``str`` handed to the builder is *text*, never markup: ``<script>``, ``&``, ``*`` and
``@room`` come out as those characters. The HTML uses only what Element X renders (paragraphs,
lists, ``strong``, ``code``, links): no tables. People are pinged only through :func:`mention`,
which also fills ``m.mentions``; a user id typed as text pings nobody.

Why not Markdown: Markdown reads user text as markup (``*`` becomes emphasis, ``<b>`` passes
through), so each call site would have to escape for it; here nothing needs escaping by hand.
:func:`escape` is the one HTML escape of the tree.
"""

from __future__ import annotations

import html as _html
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote

from bots.runtime.ids import UserID, is_user_id


def escape(text: str) -> str:
    """Text -> HTML text (``<``, ``>``, ``&`` and both quotes). The one escape of the tree."""
    return _html.escape(text, quote=True)


# -- inline spans ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Span(ABC):
    """A piece of a line. ``plain`` and ``html`` render it; ``users`` are the people it pings."""

    @abstractmethod
    def plain(self) -> str: ...

    @abstractmethod
    def html(self) -> str: ...

    def users(self) -> tuple[UserID, ...]:
        return ()


Inline = str | Span


@dataclass(frozen=True)
class _Text(Span):
    text: str

    def plain(self) -> str:
        return self.text

    def html(self) -> str:
        return escape(self.text).replace("\n", "<br/>")


@dataclass(frozen=True)
class _Bold(Span):
    parts: tuple[Span, ...]

    def plain(self) -> str:
        return "".join(p.plain() for p in self.parts)

    def html(self) -> str:
        return "<strong>" + "".join(p.html() for p in self.parts) + "</strong>"

    def users(self) -> tuple[UserID, ...]:
        return tuple(u for p in self.parts for u in p.users())


@dataclass(frozen=True)
class _Italic(Span):
    parts: tuple[Span, ...]

    def plain(self) -> str:
        return "".join(p.plain() for p in self.parts)

    def html(self) -> str:
        return "<em>" + "".join(p.html() for p in self.parts) + "</em>"

    def users(self) -> tuple[UserID, ...]:
        return tuple(u for p in self.parts for u in p.users())


@dataclass(frozen=True)
class _Struck(Span):
    parts: tuple[Span, ...]

    def plain(self) -> str:
        return "".join(p.plain() for p in self.parts)

    def html(self) -> str:
        return "<del>" + "".join(p.html() for p in self.parts) + "</del>"

    def users(self) -> tuple[UserID, ...]:
        return tuple(u for p in self.parts for u in p.users())


@dataclass(frozen=True)
class _Code(Span):
    text: str

    def plain(self) -> str:
        return self.text

    def html(self) -> str:
        return f"<code>{escape(self.text)}</code>"


@dataclass(frozen=True)
class _Link(Span):
    url: str
    label: tuple[Span, ...]

    def plain(self) -> str:
        label = "".join(p.plain() for p in self.label)
        return self.url if not label or label == self.url else f"{label} ({self.url})"

    def html(self) -> str:
        label = "".join(p.html() for p in self.label) or escape(self.url)
        return f'<a href="{escape(self.url)}">{label}</a>'


@dataclass(frozen=True)
class _Mention(Span):
    user_id: UserID
    name: str | None

    def plain(self) -> str:
        return self.name or self.user_id

    def html(self) -> str:
        href = "https://matrix.to/#/" + quote(self.user_id, safe="@:")
        return f'<a href="{escape(href)}">{escape(self.name or self.user_id)}</a>'

    def users(self) -> tuple[UserID, ...]:
        return (self.user_id,)


def _span(part: Inline) -> Span:
    return _Text(part) if isinstance(part, str) else part


def text(value: str) -> Span:
    return _Text(value)


def bold(*parts: Inline) -> Span:
    return _Bold(tuple(_span(p) for p in parts))


def italic(*parts: Inline) -> Span:
    return _Italic(tuple(_span(p) for p in parts))


def struck(*parts: Inline) -> Span:
    """Struck through (what no longer holds); plain text keeps the words."""
    return _Struck(tuple(_span(p) for p in parts))


def code(value: str) -> Span:
    """Text shown as code (a command, an id). Plain text keeps it as it is."""
    return _Code(value)


def link(url: str, *label: Inline) -> Span:
    """A link; only ``https``, ``http`` and ``matrix:`` URLs (anything else is a ValueError)."""
    if not url.startswith(("https://", "http://", "matrix:")):
        raise ValueError("a link must be an https, http or matrix: URL")
    return _Link(url, tuple(_span(p) for p in label))


def mention(user_id: str, name: str | None = None) -> Span:
    """Pings ``user_id`` (it goes into ``m.mentions``) and shows ``name`` or the id."""
    if not is_user_id(user_id):
        raise ValueError("a mention needs a Matrix user id like @name:example.org")
    return _Mention(UserID(user_id), name)


# -- blocks and the message ------------------------------------------------------------------

Line = tuple[Span, ...]


def _line(parts: Iterable[Inline] | Inline) -> Line:
    if isinstance(parts, str | Span):
        return (_span(parts),)
    return tuple(_span(p) for p in parts)


def _plain(line: Line) -> str:
    return "".join(s.plain() for s in line)


def _html_line(line: Line) -> str:
    return "".join(s.html() for s in line)


@dataclass(frozen=True)
class _Block:
    kind: str  # "p", "ul", "ol", "dl", "pre"
    lines: tuple[Line, ...]
    terms: tuple[Line, ...] = ()

    def plain(self) -> str:
        if self.kind == "p":
            return _plain(self.lines[0])
        if self.kind == "ul":
            return "\n".join(f"• {_plain(item)}" for item in self.lines)
        if self.kind == "ol":
            return "\n".join(f"{n}. {_plain(item)}" for n, item in enumerate(self.lines, start=1))
        if self.kind == "pre":
            return _plain(self.lines[0])
        return "\n".join(f"{_plain(t)}: {_plain(v)}" for t, v in zip(self.terms, self.lines, strict=True))

    def html(self) -> str:
        if self.kind == "p":
            return f"<p>{_html_line(self.lines[0])}</p>"
        if self.kind in ("ul", "ol"):
            items = "".join(f"<li>{_html_line(item)}</li>" for item in self.lines)
            return f"<{self.kind}>{items}</{self.kind}>"
        if self.kind == "pre":
            return f"<pre><code>{escape(_plain(self.lines[0]))}</code></pre>"
        pairs = (
            f"<li><strong>{_html_line(t)}</strong>: {_html_line(v)}</li>"
            for t, v in zip(self.terms, self.lines, strict=True)
        )
        return "<ul>" + "".join(pairs) + "</ul>"


@dataclass(frozen=True)
class Message:
    """An immutable message; each builder method returns a longer copy."""

    blocks: tuple[_Block, ...] = field(default=())

    @classmethod
    def of(cls, *parts: Inline) -> Message:
        """A one-paragraph message."""
        return cls().paragraph(*parts)

    def paragraph(self, *parts: Inline) -> Message:
        return Message((*self.blocks, _Block("p", (_line(parts),))))

    def bullets(self, items: Iterable[Iterable[Inline] | Inline]) -> Message:
        lines = tuple(_line(item) for item in items)
        return self if not lines else Message((*self.blocks, _Block("ul", lines)))

    def numbered(self, items: Iterable[Iterable[Inline] | Inline]) -> Message:
        """An ordered list (a speaking order): ``1. ...`` in plain text."""
        lines = tuple(_line(item) for item in items)
        return self if not lines else Message((*self.blocks, _Block("ol", lines)))

    def preformatted(self, value: str) -> Message:
        """A block shown as it is, in a monospace font (a draw's inputs to verify)."""
        return Message((*self.blocks, _Block("pre", ((_Text(value),),))))

    def definitions(
        self, pairs: Iterable[tuple[Iterable[Inline] | Inline, Iterable[Inline] | Inline]]
    ) -> Message:
        """``term: value`` lines (a list in HTML: Element X renders no tables)."""
        listed = [(_line(t), _line(v)) for t, v in pairs]
        if not listed:
            return self
        terms, values = zip(*listed, strict=True)
        return Message((*self.blocks, _Block("dl", tuple(values), tuple(terms))))

    def extend(self, other: Message) -> Message:
        return Message((*self.blocks, *other.blocks))

    @property
    def plain(self) -> str:
        return "\n".join(b.plain() for b in self.blocks)

    @property
    def html(self) -> str:
        return "".join(b.html() for b in self.blocks)

    @property
    def mentions(self) -> tuple[UserID, ...]:
        """Everyone a :func:`mention` names, once each, in order."""
        seen: dict[UserID, None] = {}
        for block in self.blocks:
            for line in (*block.terms, *block.lines):
                for span in line:
                    for user in span.users():
                        seen.setdefault(user, None)
        return tuple(seen)


def lines(texts: Sequence[str]) -> Message:
    """Plain lines of text, one paragraph each (the simplest migration of ``"\\n".join``)."""
    msg = Message()
    for t in texts:
        msg = msg.paragraph(t)
    return msg


# -- what Element X shows ----------------------------------------------------------------------

# The HTML subset Element X renders (its formatted-body parser keeps these and drops the rest,
# tables included), with the attributes each may carry. ``span`` only for ``data-mx-*``
# (spoilers, colours); ``a`` only with an ``href``.
ELEMENT_X_TAGS: frozenset[str] = frozenset(
    {"a", "b", "strong", "i", "em", "u", "del", "code", "pre", "ul", "ol", "li", "p", "br"}
    | {"blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "span"}
)
_VOID = frozenset({"br"})
_ATTRIBUTES: dict[str, tuple[str, ...]] = {"a": ("href",), "ol": ("start",), "code": ("class",)}
_URL_SCHEMES = ("https://", "http://", "matrix:", "mxc://")


class _SubsetCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ELEMENT_X_TAGS:
            self.problems.append(f"<{tag}> is not shown by Element X")
        for name, value in attrs:
            if tag == "span" and name.startswith("data-mx-"):
                continue
            if name not in _ATTRIBUTES.get(tag, ()):
                self.problems.append(f"<{tag} {name}=...> is not an attribute Element X keeps")
            elif name == "href" and not (value or "").startswith(_URL_SCHEMES):
                self.problems.append(f"<a href={value!r}> is not a link Element X follows")
            elif name == "class" and not (value or "").startswith("language-"):
                self.problems.append(f"<code class={value!r}>: only language-* classes")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.problems.append(f"<{tag}/> is not an element that may be empty")
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes nothing open (open: {', '.join(self.open) or 'none'})")
            return
        self.open.pop()

    def handle_comment(self, data: str) -> None:
        self.problems.append("an HTML comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"a declaration <!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.problems.append("a processing instruction")


def element_x_problems(html: str) -> list[str]:
    """What in ``html`` Element X would not show as written: tags outside its subset, other
    attributes, unbalanced tags. Empty when the HTML is fine."""
    check = _SubsetCheck()
    check.feed(html)
    check.close()
    problems = check.problems
    if check.open:
        problems.append(f"left open: {', '.join(check.open)}")
    return problems


def html_text(html: str) -> str:
    """The visible text of HTML in the subset: tags dropped, ``<br>`` a line break, entities
    decoded (what a reader of the formatted body sees, for comparing with the plain body)."""
    return _html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", "\n", html)))
