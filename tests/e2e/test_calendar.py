"""The public calendar end to end against Synapse: events added, edited and cancelled by chat,
the feed fetched over HTTP from the bot's own listener after each step, a 304 on an unchanged
feed, a rotated token giving 404 on the old address, no Matrix id or homeserver name anywhere
in the bodies, and the page the bot serves rendered in headless Chromium with scripts off."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import icalendar
import pytest
from aiohttp import web
from multidict import CIMultiDict

from bots.devserver import Homeserver
from protocols.calendar_feed import FeedEvent, build_feed
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, until
from tests.e2e.test_calendar_browser import browser, check_page_shape, keep

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def room(owner: Any, bot: BotHarness, name: str) -> str:
    created = await owner.api(
        "POST",
        "/_matrix/client/v3/createRoom",
        {"name": name, "invite": [bot.user_id], "preset": "private_chat", "room_version": "10"},
    )
    room_id = str(created["room_id"])
    await owner.wait_joined(room_id, bot.user_id, timeout=45)
    return room_id


async def fetch(url: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers, allow_redirects=False) as r:
        return r.status, CIMultiDict(r.headers), await r.read()


def vevents(feed: bytes) -> dict[str, icalendar.Event]:
    return {str(e["summary"]): e for e in icalendar.Calendar.from_ical(feed).walk("VEVENT")}


def the_event(feed: bytes) -> icalendar.Event:
    [event] = icalendar.Calendar.from_ical(feed).walk("VEVENT")
    return event


async def test_events_by_chat_in_the_feed_and_the_page_over_http(synapse: Homeserver, tmp_path: Path) -> None:
    port = free_port()
    bot = BotHarness(
        synapse,
        tmp_path / "bot",
        features=["herald", "calendar"],
        extra={
            "features": {
                "calendar": {
                    "public": {"listen": f"127.0.0.1:{port}", "base_url": f"http://127.0.0.1:{port}"},
                    # the followed feed is served by this test on loopback
                    "follow": {"allow_private": True},
                }
            }
        },
    )
    await bot.start()
    alice = await person(synapse, tmp_path)  # a coordinator
    bob = await person(synapse, tmp_path)  # the Lyon group's moderator
    try:
        coord = await room(alice, bot, "Coordination")
        lyon = await room(bob, bot, "Lyon group")
        assert "coordinates it" in await ask(alice, coord, "!coalition create e2ecal")
        token = re.search(r"cj-[a-z2-7]{32}", await ask(alice, coord, "!coalition invite"))
        assert token, "no invitation"
        assert "joined coalition e2ecal" in await ask(bob, lyon, f"!coalition join {token.group(0)}")

        link = await ask(alice, coord, "!calendar link")
        found = re.search(rf"http://127\.0\.0\.1:{port}/c/([A-Za-z0-9_-]{{32}})/", link)
        assert found, link
        page_url = found.group(0)
        feed_url = page_url + "events.ics"
        assert f"webcal://127.0.0.1:{port}/c/{found.group(1)}/events.ics" in link

        day = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")
        added = await ask(
            bob, lyon, f"!event add Rally at {day} 18:00 Europe/Paris until {day} 20:00 where Town hall"
        )
        assert "as #1" in added, added
        status, headers, feed = await fetch(feed_url)
        assert status == 200 and headers["Content-Type"].startswith("text/calendar")
        first = the_event(feed)
        uid = str(first["uid"])
        assert int(first["sequence"]) == 0 and str(first["location"]) == "Town hall"
        assert first["dtstart"].dt.hour == 18 and first["dtend"].dt.hour == 20
        assert headers["Cache-Control"].startswith("public, max-age=") and "Set-Cookie" not in headers
        # unchanged: 304, no body (by ETag, and by date)
        status, _, nothing = await fetch(feed_url, **{"If-None-Match": headers["ETag"]})
        assert status == 304 and nothing == b""
        assert (await fetch(feed_url, **{"If-Modified-Since": headers["Last-Modified"]}))[0] == 304

        assert "changed" in await ask(bob, lyon, "!event edit 1 title Big rally")
        status, _, feed = await fetch(feed_url, **{"If-None-Match": headers["ETag"]})
        edited = the_event(feed)
        assert status == 200 and str(edited["summary"]) == "Big rally"
        assert str(edited["uid"]) == uid and int(edited["sequence"]) == 1
        assert edited["last-modified"].dt > first["last-modified"].dt

        # Another coalition's feed (served here on loopback) merged in and labelled.
        other = build_feed(
            "north",
            [
                FeedEvent(
                    "north-1@x",
                    "Teach-in",
                    datetime.now(UTC) + timedelta(days=4),
                    None,
                    "UTC",
                    "Hall",
                    False,
                    0,
                    datetime.now(UTC),
                    datetime.now(UTC),
                )
            ],
        )
        app = web.Application()

        async def north(_: web.Request) -> web.Response:
            return web.Response(body=other, content_type="text/calendar")

        app.router.add_get("/north.ics", north)
        runner = web.AppRunner(app)
        await runner.setup()
        feed_port = free_port()
        await web.TCPSite(runner, "127.0.0.1", feed_port).start()
        try:
            followed = await ask(alice, coord, f"!calendar follow http://127.0.0.1:{feed_port}/north.ics")
            assert "Following “north coalition calendar”: 1 event merged" in followed, followed
        finally:
            await runner.cleanup()

        # The page the bot serves, in a real browser with scripts off.
        async with browser(tmp_path / "chromium") as tab:
            page = await tab.render(page_url)
        keep("calendar_page_e2e_phone.png", page.screenshot)
        check_page_shape(page)
        assert "Big rally" in page.html and "Lyon group" in page.html and "Town hall" in page.html
        assert "18:00–20:00" in page.html and "e2ecal coalition calendar" in page.title
        assert "Teach-in" in page.html and "north coalition calendar" in page.html

        assert "cancelled" in await ask(bob, lyon, "!event cancel 1 weather")
        _, _, feed = await fetch(feed_url)
        cancelled = vevents(feed)["Big rally"]
        assert str(cancelled["status"]) == "CANCELLED" and str(cancelled["uid"]) == uid
        assert int(cancelled["sequence"]) == 2 and cancelled["last-modified"].dt > edited["last-modified"].dt
        _, _, html = await fetch(page_url)
        assert b"Big rally" not in html

        # Nothing that identifies a person, a room or the member's homeserver.
        for body in (feed, html, page.html.encode()):
            text = body.decode()
            for secret in (synapse.server_name, alice.user_id, bob.user_id, coord, lyon, bot.user_id):
                assert secret not in text, secret
            assert not re.search(r"[@!#][\w.=-]+:[\w.-]+", text), "a Matrix id"

        rotated = await ask(alice, coord, "!calendar rotate")
        assert "old addresses no longer work" in rotated
        assert (await fetch(feed_url))[0] == 404 and (await fetch(page_url))[0] == 404
        new = re.search(rf"http://127\.0\.0\.1:{port}/c/[A-Za-z0-9_-]{{32}}/", rotated)
        assert new and new.group(0) != page_url
        await until(lambda: _ok(new.group(0) + "events.ics"), "the new address serves the feed")
        assert "404" in await ask(alice, coord, "!calendar off")
        assert (await fetch(new.group(0) + "events.ics"))[0] == 404
    finally:
        await bot.stop()
        await alice.close()
        await bob.close()


async def _ok(url: str) -> bool:
    return (await fetch(url))[0] == 200
