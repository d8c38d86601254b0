"""Tier 2: ``!calendar follow`` against feeds this test serves on loopback: merged and labelled,
refreshed, a failing feed keeps its last good copy; an address that is private, huge, slow,
redirects too often or is not a calendar gets a clear error and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from aiohttp import web

from bots.calendar.feature import REFRESH_JOB
from protocols.calendar_feed import FeedEvent, build_feed
from tests.bot.test_calendar import ALICE, ROOM, addresses, calendar, close, coalition, get

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ALLOW = (
    "features:\n  calendar:\n"
    "    public: {listen: '127.0.0.1:0', base_url: 'https://cal.example.net'}\n"
    "    follow: {allow_private: true, max_bytes: 20000, timeout: 2s, max_redirects: 2}\n"
)


def north(*titles: str) -> bytes:
    return build_feed(
        "north",
        [
            FeedEvent(
                f"n{i}@affinity", t, NOW + timedelta(days=2 + i), None, "UTC", "Market", False, 0, NOW, NOW
            )
            for i, t in enumerate(titles)
        ],
    )


class Feeds:
    """A loopback server with one path per kind of answer."""

    def __init__(self) -> None:
        self.good = north("Teach-in")
        self.fail = False
        self.never = asyncio.Event()
        self.base = ""

    async def serve(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind == "good.ics":
            if self.fail:
                return web.Response(status=500)
            return web.Response(body=self.good, content_type="text/calendar")
        if kind == "huge.ics":
            return web.Response(body=b"BEGIN:VCALENDAR\r\n" + b"X" * 50_000, content_type="text/calendar")
        if kind == "endless.ics":  # no length declared: the bytes read are counted
            stream = web.StreamResponse(headers={"Content-Type": "text/calendar"})
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            await stream.write(b"BEGIN:VCALENDAR\r\n")
            for _ in range(100):
                await stream.write(b"X" * 1_000)
            await stream.write_eof()
            return stream
        if kind == "slow.ics":
            await self.never.wait()  # never answers: the bot's own time limit ends it
        if kind == "page.html":
            return web.Response(text="<html><body>not a calendar</body></html>", content_type="text/html")
        if kind.startswith("loop"):
            raise web.HTTPFound(f"{self.base}/loop{int(kind[4:] or 0) + 1}")
        if kind == "to-ftp":
            raise web.HTTPFound("ftp://example.org/x.ics")
        return web.Response(status=404)


@pytest.fixture
async def feeds() -> AsyncIterator[Feeds]:
    state = Feeds()
    app = web.Application()
    app.router.add_get("/{kind}", state.serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield state
    state.never.set()
    await runner.cleanup()


async def test_a_followed_feed_is_merged_labelled_refreshed_and_kept_when_it_fails(
    tmp_path: Path, feeds: Feeds
) -> None:
    bot = await coalition(tmp_path, ALLOW)
    try:
        page_url, feed_url = await addresses(bot)
        [ok] = await bot.say(ROOM, ALICE, f"!calendar follow {feeds.base}/good.ics")
        assert "Following “north coalition calendar”: 1 event merged" in ok.body, ok.body
        page = (await get(page_url))[2].decode()
        assert "Teach-in" in page and "Listed by" in page and "north coalition calendar" in page
        [teach] = icalendar.Calendar.from_ical((await get(feed_url))[2]).walk("VEVENT")
        assert (
            str(teach["uid"]) == "n0@affinity"
            and str(teach["x-affinity-source"]) == "north coalition calendar"
        )

        # refreshed on a schedule: the feature's own job, every follow.every
        [job] = [j for j in bot.scheduler.job_ids() if j.endswith(REFRESH_JOB)]
        feeds.good = north("Teach-in", "Picnic")
        await bot.fire(job)
        assert "Picnic" in (await get(page_url))[2].decode()
        feeds.fail = True
        await bot.fire(job)
        [kept] = await calendar(bot).follows.list_for("spring")
        assert kept.failures == 1 and b"Picnic" in kept.body
        feeds.fail, feeds.good = False, b"<html><body>moved</body></html>"  # answers, but no calendar
        await bot.fire(job)
        [kept] = await calendar(bot).follows.list_for("spring")
        assert kept.failures == 2 and b"Picnic" in kept.body
        assert "Picnic" in (await get(page_url))[2].decode()

        [listing] = await bot.say(ROOM, ALICE, "!events")
        assert "Picnic" in listing.body and "from north coalition calendar" in listing.body
        [gone] = await bot.say(ROOM, ALICE, "!calendar unfollow")
        assert "Unfollowed 1 feed" in gone.body
        assert "Teach-in" not in (await get(page_url))[2].decode()
    finally:
        await close(bot)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("huge.ics", "larger than 20,000 bytes"),
        ("endless.ics", "larger than 20,000 bytes"),
        ("slow.ics", "did not answer within 2 seconds"),
        ("page.html", "did not give an iCalendar feed"),
        ("loop0", "redirects more than 2 times"),
        ("to-ftp", "only http and https"),
        ("missing.ics", "HTTP 404"),
    ],
)
async def test_a_bad_feed_is_refused_and_changes_nothing(
    tmp_path: Path, feeds: Feeds, path: str, error: str
) -> None:
    bot = await coalition(tmp_path, ALLOW)
    try:
        [refused] = await bot.say(ROOM, ALICE, f"!calendar follow {feeds.base}/{path}")
        assert error in refused.body and "Nothing was changed" in refused.body, refused.body
        assert await calendar(bot).follows.list_for("spring") == []
    finally:
        await close(bot)


async def test_private_addresses_are_refused_unless_the_operator_allows_them(
    tmp_path: Path, feeds: Feeds
) -> None:
    bot = await coalition(tmp_path)  # follow.allow_private is off by default
    try:
        port = feeds.base.rsplit(":", 1)[1]
        for url in (
            f"{feeds.base}/good.ics",
            f"http://localhost:{port}/good.ics",
            f"http://[::1]:{port}/good.ics",
        ):
            [refused] = await bot.say(ROOM, ALICE, f"!calendar follow {url}")
            assert "private or local address" in refused.body, refused.body
        [scheme] = await bot.say(ROOM, ALICE, "!calendar follow file:///etc/passwd")
        assert "only http and https" in scheme.body
        assert await calendar(bot).follows.list_for("spring") == []
    finally:
        await close(bot)
