"""The one message builder: user text never becomes markup, plain and HTML say the same words."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bots.runtime.keys import key
from bots.runtime.message import Message, bold, code, escape, italic, link, mention

HOSTILE = "<script>alert(1)</script> & @room *bold* <b>x</b> \"q\" 'a'"


def words(html: str) -> str:
    """The visible text of our HTML subset (tags dropped, entities decoded)."""
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", "", html))


def test_hostile_user_text_is_text_in_every_construct() -> None:
    msg = (
        Message.of("Title: ", bold(HOSTILE), " ", code(HOSTILE))
        .bullets([HOSTILE, ["x ", bold(HOSTILE)]])
        .definitions([(HOSTILE, HOSTILE)])
        .numbered([HOSTILE, bold(HOSTILE)])
        .preformatted(HOSTILE)
    )
    assert "<script>" not in msg.html
    assert "&lt;script&gt;" in msg.html
    assert "&amp;" in msg.html and " & " not in msg.html
    assert "<b>" not in msg.html
    assert "@room" in msg.plain and "matrix.to" not in msg.html
    assert "*bold*" in msg.plain and "<em>" not in msg.html
    assert msg.mentions == ()
    assert HOSTILE in msg.plain


def test_only_the_allowed_tags_appear() -> None:
    msg = (
        Message.of(bold("a"), code("b"), link("https://example.org/?a=1&b=2", "site"), mention("@ann:x.org"))
        .bullets(["c"])
        .definitions([("d", "e")])
        .numbered([italic("f")])
        .preformatted("g\nh")
    )
    tags = set(re.findall(r"</?([a-z]+)", msg.html))
    assert tags == {"p", "strong", "code", "a", "ul", "ol", "li", "em", "pre"}
    assert 'href="https://example.org/?a=1&amp;b=2"' in msg.html


# No digits or bullets in the words: the comparison strips the plain text's list markers
# ("1.", "•"), and ".0" then "1." would read as a marker that is not there.
_WORDS = st.text(st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="•"), max_size=40)


@given(st.lists(_WORDS, min_size=1, max_size=5))
def test_plain_and_html_carry_the_same_words(texts: list[str]) -> None:
    msg = (
        Message.of(*texts)
        .bullets(texts)
        .definitions([(t, t) for t in texts])
        .numbered(texts)
        .preformatted(texts[0])
    )
    squash = lambda s: re.sub(r"\s+|•|:|\d+\.", "", s)  # noqa: E731 - list and line markers only
    assert squash(words(msg.html)) == squash(msg.plain)


def test_mentions_ping_only_who_is_named() -> None:
    msg = Message.of("For ", mention("@ann:x.org", "Ann"), " and @bob:x.org").bullets([mention("@ann:x.org")])
    assert msg.mentions == ("@ann:x.org",)
    assert "Ann" in msg.plain and "@bob:x.org" in msg.plain
    assert msg.html.count("matrix.to") == 2


def test_bad_links_and_mentions_are_refused() -> None:
    with pytest.raises(ValueError):
        link("javascript:alert(1)", "x")
    with pytest.raises(ValueError):
        mention("@room")


def test_escape_is_the_one_escape() -> None:
    assert escape('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"


def test_keys_are_stable_short_and_namespaced() -> None:
    assert key("lottery", "$ev", 1) == key("lottery", "$ev", 1)
    assert key("lottery", "$ev", 1) != key("herald", "$ev", 1)
    assert key("lottery", "a", "b") != key("lottery", "ab")
    assert len(key("lottery", "x" * 1000)) == len("lottery-") + 24
    with pytest.raises(ValueError):
        key("Bad Name", "x")
    with pytest.raises(ValueError):
        key("lottery")
