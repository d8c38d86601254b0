"""Tier 1: what the rooms are told about a blind mirror (bots/mirror/render.py), pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bots.mirror.render import (
    render_opened,
    render_release,
    render_request,
    render_requested,
    render_status,
    render_withheld,
)
from protocols.mirror import ConsentRequest, MirrorRound

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ROUND = MirrorRound(
    id=7,
    code="k7m2qx",
    reflecting_room="!a:x.org",
    reflected_room="!b:x.org",
    k=3,
    closes_at=NOW + timedelta(days=3),
    state="open",
)


def _request(**changes: object) -> ConsentRequest:
    base = ConsentRequest(
        1, "k7m2qx", "!group:x", "!kitchen:x", "@mod:x", 3, timedelta(days=2), NOW + timedelta(hours=24)
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_render_opened_tells_how_and_promises() -> None:
    notice = render_opened(ROUND, "#b:x.org", ZoneInfo("Europe/Paris"), timedelta(days=7))
    assert "reflect k7m2qx" in notice.plain
    assert "at least 3" in notice.plain and "removed after 1w" in notice.plain
    assert "2026-04-23 14:00 CEST" in notice.plain
    assert "<code>reflect k7m2qx</code>" in notice.html


def test_render_status_shows_no_counts() -> None:
    released = replace(ROUND, code="abcdef", state="released", redact_at=NOW + timedelta(days=7))
    withheld = replace(ROUND, code="ghjkmn", state="withheld")
    text = render_status([ROUND, released, withheld], NOW, ZoneInfo("UTC")).plain
    assert "k7m2qx" in text and "open until 2026-04-23 12:00 UTC" in text
    assert "released, visible until 2026-04-27" in text
    assert "withheld" in text
    assert "No blind-mirror rounds" in render_status([], NOW, ZoneInfo("UTC")).plain


def test_render_withheld() -> None:
    notice = render_withheld(ROUND)
    assert "fewer than 3" in notice.plain and "none" in notice.plain


def test_render_release_packs_every_text_once_and_escapes() -> None:
    texts = ["<b>bold</b> & co", *(f"{i}" * 3000 for i in range(1, 5))]
    notices = render_release(ROUND, texts, "#a:x.org", timedelta(days=7))
    assert len(notices) > 1
    assert all(f"part {i} of {len(notices)}" in n.plain for i, n in enumerate(notices, 1))
    joined = "".join(n.plain for n in notices)
    for text in texts:
        assert joined.count(text) == 1
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in notices[0].html
    assert "<b>bold" not in notices[0].html
    for notice in notices:
        assert len(notice.plain.encode()) + len(notice.html.encode()) < 60_000
    # Order is kept as given (the caller shuffled).
    positions = [joined.index(t) for t in texts]
    assert positions == sorted(positions)
    single = render_release(ROUND, ["a", "b", "c"], "#a:x.org", timedelta(days=7))
    assert len(single) == 1 and "part" not in single[0].plain


def test_the_openers_reply_names_no_room_and_the_request_says_what_accepting_means() -> None:
    request = _request()
    reply = render_requested(request, ZoneInfo("UTC")).plain
    assert "!kitchen:x" not in reply and "k7m2qx" in reply and "only if one of them accepts" in reply
    asked = render_request(request, "Marshals", ZoneInfo("UTC"))
    assert "A moderator of Marshals asks" in asked.plain and "!mirror accept k7m2qx" in asked.plain
    assert "are told this room's name" in asked.plain and "anonymous reflections" not in asked.plain
    assert "<p>" in asked.html and "Marshals" in asked.html


@pytest.mark.parametrize(
    ("eligible", "fresh", "small", "fresh_note"),
    [(10, 0, False, False), (5, 0, True, False), (10, 3, False, True), (None, 0, False, False)],
)
def test_the_announcement_says_who_can_take_part_and_warns(
    eligible: int | None, fresh: int, small: bool, fresh_note: bool
) -> None:
    round_ = MirrorRound(1, "k7m2qx", "!group:x", "!kitchen:x", 3, NOW + timedelta(days=1), "open")
    notice = render_opened(round_, "Kitchen crew", ZoneInfo("UTC"), timedelta(days=7), eligible, fresh)
    assert ("members of this room can take part" in notice.plain) == (eligible is not None)
    assert ("a reflection is easy to trace" in notice.plain) == small
    assert (f"{fresh} of them joined in the last 1d" in notice.plain) == fresh_note
    assert "<code>reflect k7m2qx</code>" in notice.html
