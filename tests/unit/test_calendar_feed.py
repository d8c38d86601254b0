"""Tier 1: the public feed (RFC 5545) for edits and cancellation, read back twice: by the
icalendar library and by a small strict parser written here from the RFC, which shares no code
with it (line folding at 75 octets, CRLF, BEGIN/END nesting, escaped text, TZID times)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.calendar_feed import (
    MEMBER_GROUP,
    PRIVATE_PLACE,
    FeedCache,
    FeedError,
    FeedEvent,
    FeedWords,
    build_feed,
    calendar_name,
    fill,
    parse_followed,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


@dataclass
class Component:
    name: str
    props: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    children: list[Component] = field(default_factory=list)

    def one(self, name: str) -> tuple[dict[str, str], str]:
        found = [(p, v) for n, p, v in self.props if n == name]
        assert len(found) == 1, f"{self.name} has {len(found)} {name}"
        return found[0]

    def value(self, name: str) -> str:
        return self.one(name)[1]

    def has(self, name: str) -> bool:
        return any(n == name for n, _, _ in self.props)


_NAME = re.compile(r"[A-Za-z0-9-]+")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append({"n": "\n", "N": "\n"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _content_line(line: str) -> tuple[str, dict[str, str], str]:
    m = _NAME.match(line)
    assert m, line
    name, rest, params = m.group(0).upper(), line[m.end() :], {}
    while rest.startswith(";"):
        pm = re.match(r';([A-Za-z0-9-]+)=("[^"]*"|[^";:,]*)', rest)
        assert pm, line
        params[pm.group(1).upper()] = pm.group(2).strip('"')
        rest = rest[pm.end() :]
    assert rest.startswith(":"), line
    return name, params, rest[1:]


def strict_parse(data: bytes) -> Component:
    """The one VCALENDAR in ``data``, read as RFC 5545 says, failing on anything loose."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "lines end in CRLF"
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert len(line.encode("utf-8")) <= 75, f"a line longer than 75 octets: {line!r}"
    logical: list[str] = []
    for line in physical:
        if line[:1] in (" ", "\t"):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    root = Component("")
    stack = [root]
    for line in logical:
        name, params, value = _content_line(line)
        if name == "BEGIN":
            child = Component(value.upper())
            stack[-1].children.append(child)
            stack.append(child)
        elif name == "END":
            assert stack[-1].name == value.upper(), f"END:{value} closes {stack[-1].name}"
            stack.pop()
        else:
            stack[-1].props.append((name, params, value))
    assert len(stack) == 1 and len(root.children) == 1 and root.children[0].name == "VCALENDAR"
    return root.children[0]


def strict_time(params: dict[str, str], value: str) -> datetime:
    if value.endswith("Z"):
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert "TZID" in params, "a local time without TZID is floating"
    return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=ZoneInfo(params["TZID"]))


def event(**changes: object) -> FeedEvent:
    base = FeedEvent(
        uid="5b0c7e1f@affinity",
        title="Rally; bring banners, \\ and friends",
        starts_at=datetime(2026, 11, 30, 17, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 30, 19, 0, tzinfo=UTC),
        zone="Europe/Paris",
        place="Place Bellecour, by the statue",
        private=False,
        sequence=0,
        created_at=NOW,
        modified_at=NOW,
        holder="Lyon group",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def vevents(data: bytes) -> list[Component]:
    cal = strict_parse(data)
    assert cal.value("VERSION") == "2.0" and cal.has("PRODID")
    zones = {c.value("TZID") for c in cal.children if c.name == "VTIMEZONE"}
    found = [c for c in cal.children if c.name == "VEVENT"]
    for e in found:
        for key in ("UID", "DTSTAMP", "DTSTART", "SEQUENCE", "LAST-MODIFIED", "STATUS"):
            e.one(key)
        params, _ = e.one("DTSTART")
        assert params.get("TZID") in zones | {None}, "every TZID has its VTIMEZONE"
    return found


def test_an_edit_keeps_the_uid_and_raises_sequence_and_last_modified() -> None:
    first = event()
    later = NOW + timedelta(hours=3)
    edited = replace(first, starts_at=first.starts_at + timedelta(hours=1), sequence=1, modified_at=later)
    before, after = vevents(build_feed("spring", [first])), vevents(build_feed("spring", [edited]))
    assert before[0].value("UID") == after[0].value("UID") == first.uid
    assert int(after[0].value("SEQUENCE")) == int(before[0].value("SEQUENCE")) + 1
    assert strict_time(*after[0].one("LAST-MODIFIED")) > strict_time(*before[0].one("LAST-MODIFIED"))
    assert strict_time(*after[0].one("DTSTART")) == datetime(2026, 11, 30, 19, 0, tzinfo=PARIS)
    assert after[0].one("DTSTART")[0]["TZID"] == "Europe/Paris"
    assert strict_time(*after[0].one("DTEND")) == datetime(2026, 11, 30, 20, 0, tzinfo=PARIS)
    # icalendar reads the same.
    [lib] = icalendar.Calendar.from_ical(build_feed("spring", [edited])).walk("VEVENT")
    assert str(lib["uid"]) == first.uid and int(lib["sequence"]) == 1
    assert lib["dtstart"].dt == datetime(2026, 11, 30, 19, 0, tzinfo=PARIS)
    assert lib["last-modified"].dt == later


def test_a_cancelled_event_stays_as_status_cancelled_with_the_same_uid() -> None:
    cancelled = event(cancelled=True, sequence=2, reason="storm warning", modified_at=NOW + timedelta(days=1))
    [strict] = vevents(build_feed("spring", [cancelled]))
    assert strict.value("STATUS") == "CANCELLED" and strict.value("UID") == cancelled.uid
    assert strict.value("SEQUENCE") == "2"
    assert "Cancelled: storm warning" in _unescape(strict.value("DESCRIPTION"))
    [lib] = icalendar.Calendar.from_ical(build_feed("spring", [cancelled])).walk("VEVENT")
    assert str(lib["status"]) == "CANCELLED" and str(lib["uid"]) == cancelled.uid


def test_text_is_escaped_and_a_private_place_is_not_published() -> None:
    data = build_feed("spring", [event(private=True), event(uid="other@affinity", place=None)])
    first, second = vevents(data)
    assert _unescape(first.value("SUMMARY")) == "Rally; bring banners, \\ and friends"
    assert _unescape(first.value("LOCATION")) == PRIVATE_PLACE
    assert b"Bellecour" not in data
    assert not second.has("LOCATION")
    assert _unescape(first.value("DESCRIPTION")) == "Held by Lyon group."


def test_the_same_events_give_the_same_bytes_in_any_order() -> None:
    events = [event(), event(uid="b@affinity", starts_at=NOW + timedelta(days=1), zone="UTC", ends_at=None)]
    assert build_feed("spring", events) == build_feed("spring", list(reversed(events)))
    [utc] = [e for e in vevents(build_feed("spring", events)) if e.value("UID") == "b@affinity"]
    assert utc.value("DTSTART").endswith("Z") and not utc.has("DTEND")


def test_a_cached_build_gives_the_same_bytes_and_keeps_only_what_it_used() -> None:
    cache = FeedCache()
    events = [event(uid=f"{i}@x", zone=["Europe/Paris", "UTC", "Asia/Tokyo"][i % 3]) for i in range(6)]
    assert build_feed("spring", events, cache=cache) == build_feed("spring", events)
    assert set(cache.zones) == {"Europe/Paris", "Asia/Tokyo"} and len(cache.events) == 6
    edited = [replace(events[0], title="Moved", sequence=1), *events[1:3]]
    assert build_feed("spring", edited, cache=cache) == build_feed("spring", edited)
    assert set(cache.events) == set(edited) and set(cache.zones) == {"Europe/Paris", "Asia/Tokyo"}


@settings(deadline=None, max_examples=50)  # no timing in the assertion: the machine may be busy
@given(st.text(min_size=1, max_size=120).filter(lambda t: t.strip()))
def test_any_title_reads_back_the_same_through_both_parsers(title: str) -> None:
    clean = " ".join(title.split())
    data = build_feed("spring", [event(title=clean)])
    [strict] = vevents(data)
    assert _unescape(strict.value("SUMMARY")) == clean
    [lib] = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(lib["summary"]) == clean


def test_a_followed_feed_is_read_labelled_and_secondhand_events_are_left_out() -> None:
    theirs = build_feed(
        "north",
        [
            event(uid="n1@affinity", title="Teach-in with @ana:example.org", holder="Leeds group"),
            event(uid="echo@affinity", source="spring coalition calendar"),
            event(uid="mine@affinity"),
        ],
    )
    assert calendar_name(theirs) == "north coalition calendar"
    found = parse_followed(theirs, "north coalition calendar", max_events=10, own_uids=["mine@affinity"])
    assert [e.uid for e in found] == ["n1@affinity"]
    [n1] = found
    assert n1.title == "Teach-in with [hidden]" and n1.source == "north coalition calendar"
    assert n1.zone == "Europe/Paris" and n1.starts_at == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    # and merged into our feed it is marked, so a feed following ours does not take it back
    merged = build_feed("spring", [*found, event()])
    assert [e.uid for e in parse_followed(merged, "spring", max_events=10)] == [event().uid]


@pytest.mark.parametrize(
    "body",
    [b"<html><body>hello</body></html>", b"BEGIN:VCARD\r\nEND:VCARD\r\n", b"\x00\xff\xfe", b""],
)
def test_what_is_not_a_calendar_is_refused(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_followed(body, "x", max_events=10)


def test_a_followed_feed_with_too_many_events_is_refused() -> None:
    many = build_feed("big", [event(uid=f"{i}@x") for i in range(12)])
    with pytest.raises(FeedError, match="more than 10 events"):
        parse_followed(many, "big", max_events=10)


POLISH = FeedWords(
    calendar="Kalendarz koalicji {name}",
    held="Organizuje: {holder}.",
    listed="Źródło: {source}.",
    cancelled="Odwołane.",
    cancelled_because="Odwołane: {reason}",
    private_place="Miejsce podane uczestnikom",
    member_group="grupa członkowska",
)


def test_the_feed_writes_its_own_words_as_given_and_a_cache_follows_them() -> None:
    events = [
        event(private=True, holder=MEMBER_GROUP, cancelled=True),
        event(uid="n@x", source="{holder} north", holder="{holder} north", reason="x"),
    ]
    cache = FeedCache()
    english = build_feed("spring", events, cache=cache)
    polish = build_feed("spring", events, cache=cache, words=POLISH)
    assert polish == build_feed("spring", events, words=POLISH) != english  # the cache kept no English
    cal = strict_parse(polish)
    assert _unescape(cal.value("X-WR-CALNAME")) == "Kalendarz koalicji spring"
    mine, theirs = vevents(polish)
    assert _unescape(mine.value("LOCATION")) == "Miejsce podane uczestnikom"
    assert _unescape(mine.value("DESCRIPTION")) == "Organizuje: grupa członkowska.\nOdwołane."
    assert _unescape(theirs.value("DESCRIPTION")) == "Źródło: {holder} north."  # a value is not read again
    assert fill("{a} and {b} {c}", a="{b}", b="2") == "{b} and 2 {c}"


@pytest.mark.parametrize(
    ("zone", "local"),
    [
        ("Europe/Paris", datetime(2027, 7, 14, 18, 0)),  # summer time, +02:00
        ("Europe/Paris", datetime(2027, 1, 14, 18, 0)),  # winter, +01:00
        ("Europe/Paris", datetime(2027, 3, 28, 3, 30)),  # the hour after the change
        ("America/New_York", datetime(2027, 11, 7, 12, 0)),  # the day it falls back
        ("Australia/Sydney", datetime(2027, 1, 10, 9, 0)),  # southern summer
        ("Asia/Tokyo", datetime(2027, 6, 1, 9, 0)),  # no summer time
    ],
)
def test_each_zone_s_vtimezone_alone_gives_the_right_instant(zone: str, local: datetime) -> None:
    """A calendar app that knows no IANA zone reads the time from the VTIMEZONE the feed carries:
    built from that component only (not from the TZID's name), it gives the same UTC instant."""
    starts = local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    data = build_feed("spring", [event(zone=zone, starts_at=starts, ends_at=starts + timedelta(hours=2))])
    [strict] = vevents(data)
    params, value = strict.one("DTSTART")
    assert params["TZID"] == zone and value == f"{local:%Y%m%dT%H%M%S}"
    [vtimezone] = icalendar.Calendar.from_ical(data).walk("VTIMEZONE")
    assert str(vtimezone["tzid"]) == zone
    from_component = vtimezone.to_tz(lookup_tzid=False)
    assert local.replace(tzinfo=from_component).astimezone(UTC) == starts
