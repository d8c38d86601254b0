"""Tier 2: the public calendar through the runtime (fake homeserver, real HTTP on loopback).

Events added, edited and cancelled by chat and who may do it; the public addresses, rotation and
off; the listener's ETag/304 and 404; nothing identifying a person in the bodies; a room's
public name and its opt-out; forgetting; the herald's old rows copied once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import icalendar
from multidict import CIMultiDict

from bots.calendar import CalendarFeature
from bots.herald import HeraldFeature
from bots.runtime.ids import RoomID
from bots.runtime.offline import forget_contract_features
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot

ALICE = "@alice:test.example"  # moderator of the coordination room
BOB = "@bob:test.example"  # moderator and liaison of room B
DAN = "@dan:test.example"  # member of room B, no power
ROOM_B = "!b:test.example"
ROOM_C = "!c:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PUBLIC = "features:\n  calendar:\n    public: {listen: '127.0.0.1:0', base_url: 'https://cal.example.net'}\n"


def calendar(bot: FakeBot) -> CalendarFeature:
    return next(f for f in bot.features if isinstance(f, CalendarFeature))


async def coalition(tmp_path: Path, config: str = PUBLIC) -> FakeBot:
    """Coalition 'spring' coordinated from ROOM, with room B (Lyon group) and C as members."""
    bot = await fake_bot(
        tmp_path,
        [HeraldFeature, CalendarFeature],
        members=[ALICE],
        moderators=[ALICE],
        now=NOW,
        config_extra=config,
    )
    await add_room(bot, ROOM_B, [BOB, DAN], moderators=[BOB])
    await add_room(bot, ROOM_C, ["@carol:test.example"], moderators=["@carol:test.example"])
    bot.fake.names.update({ROOM: "Coordination", ROOM_B: "Lyon group"})  # C has no name
    await bot.say(ROOM, ALICE, "!coalition create spring")
    for room, who in ((ROOM_B, BOB), (ROOM_C, "@carol:test.example")):
        [token] = await bot.say(ROOM, ALICE, "!coalition invite")
        found = re.search(r"cj-[a-z2-7]{32}", token.body)
        assert found, token.body
        await bot.say(room, who, f"!coalition join {found.group(0)}")
    await bot.say(ROOM_B, BOB, "!local set timezone Europe/Paris")
    return bot


async def addresses(bot: FakeBot, command: str = "!calendar link") -> tuple[str, str]:
    """The local page and feed addresses from the bot's answer (base_url -> the listener)."""
    [reply] = await bot.say(ROOM, ALICE, command)
    page = re.search(r"https://cal\.example\.net/c/([A-Za-z0-9_-]{32})/", reply.body)
    assert page, reply.body
    assert f"webcal://cal.example.net/c/{page.group(1)}/events.ics" in reply.body
    local = f"http://127.0.0.1:{calendar(bot).port}/c/{page.group(1)}/"
    return local, local + "events.ics"


async def get(url: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers, allow_redirects=False) as r:
        return r.status, CIMultiDict(r.headers), await r.read()


def vevents(feed: bytes) -> dict[str, icalendar.Event]:
    return {str(e["summary"]): e for e in icalendar.Calendar.from_ical(feed).walk("VEVENT")}


def assert_names_nobody(body: bytes) -> None:
    text = body.decode()
    for marker in ("test.example", "@alice", "@bob", "!b:", "!c:", ROOM):
        assert marker not in text, marker


async def test_events_by_chat_reach_the_feed_and_page_with_etags(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        page_url, feed_url = await addresses(bot)
        [added] = await bot.say(
            ROOM_B, BOB, "!event add Rally at 2026-11-30 18:00 until 2026-11-30 20:00 where Place Bellecour"
        )
        assert "as #1" in added.body, added.body
        await bot.say(
            ROOM_C, "@carol:test.example", "!event add Teach-in at 2026-12-01 10:00 UTC where Hall 2 private"
        )
        status, headers, feed = await get(feed_url)
        assert status == 200 and headers["Content-Type"].startswith("text/calendar")
        assert "Set-Cookie" not in headers and headers["Cache-Control"].startswith("public")
        assert headers["Server"] == "Affinity" and "no-referrer" == headers["Referrer-Policy"]
        rally = vevents(feed)["Rally"]
        uid, etag = str(rally["uid"]), headers["ETag"]
        assert int(rally["sequence"]) == 0 and str(rally["status"]) == "CONFIRMED"
        assert rally["dtstart"].dt.tzinfo.key == "Europe/Paris" and rally["dtstart"].dt.hour == 18
        assert rally["dtend"].dt.hour == 20
        assert str(vevents(feed)["Teach-in"]["location"]) == "Place shared with participants"
        assert b"Hall 2" not in feed
        # unchanged: 304 by ETag and by date
        assert (await get(feed_url, **{"If-None-Match": etag}))[0] == 304
        assert (await get(feed_url, **{"If-Modified-Since": headers["Last-Modified"]}))[0] == 304

        [edited] = await bot.say(ROOM_B, BOB, "!event edit 1 at 2026-11-30 19:00")
        assert "changed" in edited.body
        status, headers2, feed = await get(feed_url, **{"If-None-Match": etag})
        assert status == 200 and headers2["ETag"] != etag
        rally, stamp = vevents(feed)["Rally"], rally["last-modified"].dt
        assert str(rally["uid"]) == uid and int(rally["sequence"]) == 1
        assert rally["last-modified"].dt > stamp  # grows though the clock stood still
        stamp = rally["last-modified"].dt
        assert rally["dtstart"].dt.hour == 19 and rally["dtend"].dt.hour == 21  # the end moved with it

        status, _, page = await get(page_url)
        html = page.decode()
        assert status == 200 and "Rally" in html and "Lyon group" in html and "a member group" in html
        assert "<script" not in html and "Place shared with participants" in html
        assert_names_nobody(page)
        assert_names_nobody(feed)

        [cancel] = await bot.say(ROOM_B, BOB, "!event cancel 1 storm warning")
        assert "cancelled" in cancel.body
        _, _, feed = await get(feed_url)
        rally = vevents(feed)["Rally"]
        assert (
            str(rally["status"]) == "CANCELLED" and int(rally["sequence"]) == 2 and str(rally["uid"]) == uid
        )
        assert rally["last-modified"].dt > stamp
        assert "Rally" not in (await get(page_url))[2].decode()
        [listing] = await bot.say(ROOM, ALICE, "!events")
        assert "Teach-in" in listing.body and "Rally" not in listing.body
    finally:
        await close(bot)


async def test_who_may_do_what_and_bad_input_changes_nothing(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        feature = calendar(bot)
        [weak] = await bot.say(ROOM_B, DAN, "!event add Mine at 2026-12-01 10:00")
        assert "liaison or a moderator" in weak.body
        [member] = await bot.say(ROOM_B, BOB, "!calendar link")
        assert "coordination room" in member.body
        [person] = await bot.say(ROOM_B, BOB, "!event add Ask @bob:test.example at 2026-12-01 10:00")
        assert "names nobody" in person.body
        [past] = await bot.say(ROOM_B, BOB, "!event add Old at 2026-01-01 10:00")
        assert "in the past" in past.body
        await add_room(bot, "!out:test.example", [BOB], moderators=[BOB])
        [outside] = await bot.say("!out:test.example", BOB, "!event add Rally at 2026-12-01 10:00")
        assert "not in a coalition" in outside.body
        assert await feature.events.list_for("spring") == []

        await bot.say(ROOM_B, BOB, "!event add Rally at 2026-12-01 10:00")
        [other] = await bot.say(ROOM_C, "@carol:test.example", "!event cancel 1")
        assert "listed no event #1" in other.body
        [bad_field] = await bot.say(ROOM_B, BOB, "!event edit 1 colour red")
        assert "not a field" in bad_field.body
        [bad_end] = await bot.say(ROOM_B, BOB, "!event edit 1 until 2026-12-01 09:00")
        assert "must come after" in bad_end.body
        [stored] = await feature.events.list_for("spring")
        assert stored.sequence == 0 and stored.ends_at is None
        [off] = await bot.say(ROOM, ALICE, "!calendar off")
        assert "not published" in off.body
    finally:
        await close(bot)


async def test_rotate_and_off_retire_addresses_and_opt_out_hides_the_name(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        page_url, feed_url = await addresses(bot)
        again, _ = await addresses(bot)
        assert again == page_url  # link again: the same addresses
        await bot.say(ROOM_B, BOB, "!event add Rally at 2026-12-01 10:00")
        assert "Lyon group" in (await get(page_url))[2].decode()
        [opt] = await bot.say(ROOM_B, BOB, "!local set public_name off")
        assert "a member group" in opt.body
        page = (await get(page_url))[2].decode()
        assert "Lyon group" not in page and "a member group" in page
        [denied] = await bot.say(ROOM_B, DAN, "!local set public_name on")
        assert "power level" in denied.body
        await bot.say(ROOM_B, BOB, "!local set public_name on")
        assert "Lyon group" in (await get(page_url))[2].decode()
        assert await calendar(bot).rooms.shows_name(ROOM_B)  # opting back in keeps no record
        row = await bot.db.fetchone("SELECT COUNT(*) FROM calendar_room")
        assert row is not None and row[0] == 0
        # A room whose name holds a Matrix id (or an alias, or no name) is "a member group".
        for name in ("Friends of @bob:test.example", "#lyon:test.example", ""):
            bot.fake.names[ROOM_B] = name
            calendar(bot).changed("spring")
            page = (await get(page_url))[2].decode()
            assert "test.example" not in page and "Lyon" not in page and "a member group" in page, name

        new_page, new_feed = await addresses(bot, "!calendar rotate")
        assert new_page != page_url
        assert (await get(feed_url))[0] == 404 and (await get(page_url))[0] == 404
        assert (await get(new_feed))[0] == 200
        [off] = await bot.say(ROOM, ALICE, "!calendar off")
        assert "404" in off.body
        assert (await get(new_feed))[0] == 404 and (await get(new_page))[0] == 404
    finally:
        await close(bot)


async def test_without_a_listener_the_link_says_how_to_set_one(tmp_path: Path) -> None:
    bot = await coalition(tmp_path, config="")
    try:
        [reply] = await bot.say(ROOM, ALICE, "!calendar link")
        assert "features.calendar.public" in reply.body
        [added] = await bot.say(ROOM_B, BOB, "!event add Rally at 2026-12-01 10:00")
        assert "#1" in added.body
    finally:
        await close(bot)


async def test_forgetting_events_and_a_room_that_removed_the_bot(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        feature = calendar(bot)
        _, feed_url = await addresses(bot)
        await bot.say(ROOM_B, BOB, "!event add Rally at 2026-11-23 10:00")
        await bot.say(ROOM_C, "@carol:test.example", "!event add Camp at 2026-12-20 10:00")
        await bot.say(ROOM_C, "@carol:test.example", "!local set public_name off")
        # the sweeper, past the retention of the first event only
        assert await feature.forget_expired(NOW + timedelta(days=31)) == 1
        assert [e.title for e in await feature.events.list_for("spring")] == ["Camp"]
        await feature.forget_room(RoomID(ROOM_C))
        assert await feature.events.list_for("spring") == []
        await feature.forget_room(RoomID(ROOM))
        assert (await get(feed_url))[0] == 404
        for table in ("calendar_event", "calendar_publish", "calendar_follow", "calendar_room"):
            row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            assert row is not None and row[0] == 0, table
    finally:
        await close(bot)


async def test_the_herald_s_old_events_are_copied_once_with_their_old_uid(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        feature = calendar(bot)
        await bot.db.execute(
            "INSERT INTO herald_event (bot, coalition, room_id, title, starts_at, place, created_at)"
            " VALUES (?, 'spring', ?, 'Picnic', ?, 'Park', ?)",
            (str(bot.user_id), ROOM_B, (NOW + timedelta(days=3)).timestamp(), NOW.timestamp()),
        )
        await bot.db.execute("DELETE FROM calendar_imported")
        await feature.start()
        await feature.start()  # a second start copies nothing more
        [picnic] = await feature.events.list_for("spring")
        assert picnic.title == "Picnic" and picnic.zone == "Europe/Paris" and picnic.uid.endswith("@affinity")
        await feature.stop()
    finally:
        await close(bot)


async def test_a_room_s_bound_on_events_and_affinity_forget_offline(tmp_path: Path) -> None:
    config = PUBLIC + "    max_events_per_room: 2\n"
    bot = await coalition(tmp_path, config)
    try:
        feature = calendar(bot)
        await bot.say(ROOM_B, BOB, "!event add One at 2026-11-23 10:00 until 12:00")
        await bot.say(ROOM_B, BOB, "!event add Two at 2026-12-02 10:00")
        [full] = await bot.say(ROOM_B, BOB, "!event add Three at 2026-12-03 10:00")
        assert "a room lists at most 2 upcoming events" in full.body
        [other] = await bot.say(ROOM_C, "@carol:test.example", "!event add Mine at 2026-12-03 10:00")
        assert "as #3" in other.body
        [one, *_] = await feature.events.list_for("spring")
        assert one.ends_at is not None and one.ends_at - one.starts_at == timedelta(hours=2)
        # `affinity forget` runs the calendar's forgetting with no homeserver and no herald.
        await bot.outbox.stop()
        runs = bot.app.bots[0].model_copy(update={"features": ["herald", "calendar"]})
        offline = bot.app.model_copy(update={"bots": [runs]})
        counts = await forget_contract_features(offline, bot.db, NOW + timedelta(days=32))
        assert counts["calendar"] == 1
        assert [e.title for e in await feature.events.list_for("spring")] == ["Two", "Mine"]
    finally:
        await close(bot)


async def test_the_feed_and_page_write_their_own_words_in_the_calendar_s_language(tmp_path: Path) -> None:
    bot = await coalition(tmp_path, PUBLIC + "    language: pl\n")
    try:
        page_url, feed_url = await addresses(bot)
        # Room C has no name: its group is "a member group"; the place is private; it ends the next day.
        await bot.say(
            ROOM_C,
            "@carol:test.example",
            "!event add Nocna warta at 2026-12-01 22:00 UTC until 2026-12-02 02:00 UTC where Hall 2 private",
        )
        await bot.say(ROOM_B, BOB, "!event add Rally at 2026-12-03 18:00")
        status, _, feed = await get(feed_url)
        cal = icalendar.Calendar.from_ical(feed)
        assert status == 200 and str(cal["x-wr-calname"]) == "Kalendarz koalicji spring"
        warta, rally = vevents(feed)["Nocna warta"], vevents(feed)["Rally"]
        assert str(warta["location"]) == "Miejsce podane uczestnikom"
        assert str(warta["description"]) == "Organizuje: grupa członkowska."
        assert str(rally["description"]) == "Organizuje: Lyon group."
        html = (await get(page_url))[2].decode()
        assert "<dd>Miejsce podane uczestnikom</dd>" in html and "<dd>grupa członkowska</dd>" in html
        assert "22:00 – 2 gru 02:00" in html  # a range that ends on another day, by CLDR
        await bot.say(ROOM_B, BOB, "!event cancel 2 burza")
        feed = (await get(feed_url))[2]
        assert str(vevents(feed)["Rally"]["description"]) == "Organizuje: Lyon group.\nOdwołane: burza"
        # (PRODID names the software, not the calendar: it stays as it is)
        words = "\n".join(line for line in feed.decode().splitlines() if not line.startswith("PRODID"))
        for body in (words, html):
            for english in ("coalition calendar", "Place shared", "a member group", "Held by", "Cancelled"):
                assert english not in body, english
        # The rooms still speak their own language (English here) when they list the events.
        [listing] = await bot.say(ROOM_C, "@carol:test.example", "!events")
        assert "(a member group)" in listing.body and "Hall 2" in listing.body
    finally:
        await close(bot)


async def test_a_cancelled_event_stays_a_while_and_past_events_drop_off_after_the_retention(
    tmp_path: Path,
) -> None:
    bot = await coalition(tmp_path, PUBLIC + "retention:\n  events: 10d\n")
    try:
        page_url, feed_url = await addresses(bot)
        await bot.say(ROOM_B, BOB, "!event add Early at 2026-11-23 10:00 until 12:00")
        await bot.say(ROOM_C, "@carol:test.example", "!event add Camp at 2026-12-20 10:00")
        await bot.say(ROOM_B, BOB, "!event add Picnic at 2026-11-24 10:00")
        await bot.say(ROOM_C, "@carol:test.example", "!event cancel 2 no site")
        await bot.say(ROOM_B, BOB, "!event cancel 3")

        async def feed_now() -> dict[str, str]:
            status, _, feed = await get(feed_url)
            assert status == 200
            return {title: str(e["status"]) for title, e in vevents(feed).items()}

        assert await feed_now() == {"Early": "CONFIRMED", "Camp": "CANCELLED", "Picnic": "CANCELLED"}
        # 8 days on: Picnic was cancelled over 7 days ago and is over, so calendars had their
        # week to remove it; Camp is still ahead, so it stays cancelled; Early is over but
        # within the retention (10 days here), so it stays in the feed, off the page.
        bot.now = NOW + timedelta(days=8)
        assert await feed_now() == {"Early": "CONFIRMED", "Camp": "CANCELLED"}
        assert "No upcoming actions" in (await get(page_url))[2].decode()
        # 12 days on: Early ended 11 days ago, past the configured retention, before any sweep.
        bot.now = NOW + timedelta(days=12)
        assert await feed_now() == {"Camp": "CANCELLED"}
        # Camp would have ended and was cancelled long ago: gone.
        bot.now = datetime(2026, 12, 20, 10, 1, tzinfo=UTC)
        assert await feed_now() == {}
        assert len(await calendar(bot).events.list_for("spring")) == 3  # the sweeper deletes, later
    finally:
        await close(bot)


async def test_the_page_loads_nothing_from_elsewhere_and_sets_no_cookie(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        page_url, feed_url = await addresses(bot)
        await bot.say(ROOM_B, BOB, "!event add Rally at 2026-12-01 10:00 where https://maps.example.org/x")
        for url in (page_url, feed_url, page_url.rstrip("/"), page_url + "nothing"):
            status, headers, _ = await get(url)
            assert "Set-Cookie" not in headers, url
            csp = headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src" not in csp, url
            assert (
                headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
            )
        status, headers, body = await get(page_url)
        html = body.decode()
        assert (
            status == 200
            and headers["Vary"] == "Accept-Encoding"
            and "max-age=300" in headers["Cache-Control"]
        )
        # Nothing the browser would fetch: no script, image, frame, font, external style or import.
        for tag in (
            "<script",
            "<img",
            "<iframe",
            "<object",
            "<embed",
            '<link rel="stylesheet"',
            "@import",
            "url(",
        ):
            assert tag not in html, tag
        assert not re.search(r"\ssrc=", html)
        # Links go to the feed beside it and its webcal form; a place is text, not a link.
        hrefs = set(re.findall(r'href="([^"]*)"', html))
        assert hrefs == {
            "events.ics",
            re.sub(r"^http://127\.0\.0\.1:\d+", "webcal://cal.example.net", feed_url),
        }
        assert "https://maps.example.org/x</dd>" in html
    finally:
        await close(bot)
