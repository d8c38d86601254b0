"""Tier 2 fuzz: every declared command, with generated arguments, and malformed envelopes,
through the runtime with every feature enabled.

The commands come from the runtime's own CommandTable, so a command added later is fuzzed
without touching this file. Inputs are drawn from a seeded ``random.Random`` (set
``AFFINITY_FUZZ_SEED``; ``AFFINITY_FUZZ_N`` for more inputs than the default). For each input:

- no unhandled error: no "Sorry, something went wrong" reply, no ERROR log line;
- no hang: no single input takes more than ``HANG_S`` (a hang detector, far above any honest
  handling time even on a loaded machine; speed is measured in bench/, never here);
- no half-applied change: a command that was refused leaves every table as it was;
- no unescaped HTML: every ``formatted_body`` is well-formed and never carries the fuzzer's
  own tags (``<script>``, ``<i data-fz>``) unescaped; every message carries ``m.mentions``.

A failure names the seed, the input number and the input, so it can be replayed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar

from bots.config import BotConfig, ConfigError, parse_config
from bots.runtime import metrics
from bots.runtime.bot import FeatureFactory
from bots.runtime.ids import RoomID
from bots.runtime.registry import REGISTRY, factories_for
from bots.runtime.router import Command
from tests.bot.fakes import BOT, ROOM, FakeBot, add_room, close, fake_bot

SEED = int(os.environ.get("AFFINITY_FUZZ_SEED", "20261202"))
FAKE_OUTAGE = "the fake homeserver makes no raw call"  # tests/bot/fakes.py FakeMatrix.api
INPUTS = int(os.environ.get("AFFINITY_FUZZ_N", "2000"))
HANG_S = 15.0
ENVELOPE_SHARE = 0.2  # of the inputs, malformed or odd envelopes rather than commands

ALICE = "@alice:test.example"  # moderator of ROOM
BOB = "@bob:test.example"  # member, no power
CAROL = "@carol:test.example"  # moderator of OTHER
MALLORY = "@mallory:elsewhere.example"  # not on an allowed server
DAN = "@dan:test.example"
EVE = "@eve:test.example"
OTHER = RoomID("!other:test.example")
DM_ALICE = RoomID("!dm-alice:test.example")
DM_BOB = RoomID("!dm-bob:test.example")
SENDERS = [ALICE, ALICE, ALICE, BOB, BOB, CAROL, DAN, MALLORY]
ROOMS = [ROOM, ROOM, ROOM, OTHER, DM_ALICE, DM_BOB]

T = TypeVar("T")
SORRY = "Sorry, something went wrong"
MARKUP = ["<script>alert(1)</script>", "<i data-fz>x</i>", "</p><script>", "<b>", "&lt;script&gt;"]
HOSTILE = [
    *MARKUP,
    "@room",
    "@alice:test.example",
    "\ud800",
    "\udfff tail",
    "a\u202eb",
    "\u200b",
    "🏳️‍🌈",
    "\x00",
    "\\",
    '"',
    "'",
    "''",
    '""',
    "`",
    "*x*",
    "[a](http://x)",
    "-",
    "--",
    "0",
    "-1",
    "NaN",
    "1e309",
    "x" * 300,
    "ÿ" * 40,
    "\t",
    "#",
    "!",
    "!ping",
    "%s",
    "{}",
    "{0}",
    "$(id)",
    "null",
]
# Each pool: (valid values, invalid ones). Mostly valid values reach past the usage line into
# the features; the invalid ones test the refusals.
Pool = tuple[list[str], list[str]]
INTS: Pool = (
    ["1", "2", "3", "5", "10"],
    ["0", "-1", "1000", "99999999999999999999", "1" * 60, "٣", "²", "1.5", "0x10"],
)
DURATIONS: Pool = (
    ["30s", "90m", "1h", "48h", "7d", "2w", "1d12h"],
    ["0m", "99999999999d", "1" * 40 + "m", "m", "5", "-5m"],
)
DATES: Pool = (
    ["2026-12-01", "2026-11-23", "2026-11-22", "2027-06-15"],
    ["2026-02-30", "9999-12-31", "0001-01-01", "1969-12-31", "2026-13-01", "26-1-1", "2030-01-01"],
)
TIMES: Pool = (["18:00", "12:05", "12:00", "00:00", "23:59", "9:05"], ["24:00", "noon", "25:61"])
ZONES: Pool = (
    ["UTC", "Europe/Paris", "America/New_York", "Pacific/Kiritimati", "Etc/GMT+12"],
    ["Nowhere/Land", "a" * 300, "../etc", "utc", "/etc/passwd"],
)
WEEKDAYS: Pool = (["monday", "tue", "Sunday", "FRIDAY"], ["funday", "8"])
ROOM_REFS: Pool = (
    [ROOM, OTHER, "#alias:test.example", "https://matrix.to/#/!other:test.example"],
    [
        DM_ALICE,
        "!nope:test.example",
        "#missing:test.example",
        "room",
        "https://matrix.to/#/%23alias%3Atest.example",
    ],
)
USERS: Pool = ([ALICE, BOB, CAROL], [MALLORY, str(BOT), "alice", "@x", "@:", "@a:b:c"])
ON_OFF: Pool = (["on", "off"], ["yes", "maybe"])
LOCAL_KEYS: Pool = (["meeting_point", "timezone", "language"], ["x", "meeting-point"])
TEMPLATES: Pool = (["rapid-response"], ["blockade", "nope", "../x"])
OPTIONS: Pool = (
    ["UTC", "Europe/Paris", "draw"],
    ["voices", "order", "until", "2026-12-31", "speakers", "3", "nodraw"],
)
MIN_MAX: Pool = (["3-5", "2-4", "2"], ["5-3", "0-0", "a-b", "1-99999"])


def markup_safe(html: str) -> list[str]:
    """What is wrong with a formatted_body: unbalanced tags, or the fuzzer's markup unescaped."""
    problems = [f"unescaped {m!r}" for m in ("<script", "<i data-fz", "</p><script") if m in html]

    class Balance(HTMLParser):
        VOID = frozenset({"br", "hr", "img", "wbr"})

        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.stack: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in self.VOID:
                self.stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            if tag in self.VOID:
                return
            if not self.stack or self.stack[-1] != tag:
                problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            else:
                self.stack.pop()

    parser = Balance()
    parser.feed(html)
    parser.close()
    if parser.stack:
        problems.append(f"unclosed {parser.stack}")
    return problems


@dataclass
class Harvest:
    """Identifiers the bot handed out (codes, run ids, draw ids, tokens, event ids), reused as
    arguments so that the fuzz reaches past "no such thing"."""

    words: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def take(self, text: str) -> None:
        for word in re.findall(r"\b(?:cj-[a-z2-7]{8,}|[A-Za-z0-9]{5,12}|\d{1,4})\b", text):
            if len(self.words) > 200:
                self.words.pop(random.Random(len(self.words)).randrange(len(self.words)))
            self.words.append(word)


class Fuzzer:
    def __init__(self, bot: FakeBot, rng: random.Random) -> None:
        self.bot = bot
        self.rng = rng
        self.harvest = Harvest()
        self.commands: list[Command] = list(bot.commands.commands.values())
        self.keywords = sorted({p.name for c in self.commands for p in c.params if p.kind == "keyword"})

    # -- values ---------------------------------------------------------------------------

    def pick(self, pool: Sequence[T]) -> T:
        return self.rng.choice(pool)

    def hostile(self) -> str:
        return self.pick(HOSTILE)

    def text(self) -> str:
        words = [
            self.pick(["rally", "meet", "at", "the", "gate", "where", "bring", "water"])
            for _ in range(self.rng.randint(1, 5))
        ]
        for _ in range(self.rng.randint(0, 2)):
            words.insert(self.rng.randint(0, len(words)), self.hostile())
        return " ".join(words)

    def choose(self, pool: Pool) -> str:
        valid, invalid = pool
        return self.pick(valid if self.rng.random() < 0.8 else invalid)

    def when(self) -> str:
        parts = [self.choose(DATES), self.choose(TIMES)]
        if self.rng.random() < 0.4:
            parts.append(self.choose(ZONES))
        if self.rng.random() < 0.1:
            parts = [f"{parts[0]}T{parts[1]}"]
        return " ".join(parts)

    def value(self, metavar: str, convert: Any) -> str:
        r = self.rng.random()
        if r < 0.08:
            return self.hostile()
        name = getattr(convert, "__name__", "")
        if metavar in ("run", "code", "token", "draw-id", "id", "n") and self.harvest.words and r < 0.7:
            return self.pick(self.harvest.words)
        if r < 0.15 and self.harvest.words:
            return self.pick(self.harvest.words)
        pools: dict[str, Pool] = {
            "duration": DURATIONS,
            "min-max": MIN_MAX,
            "room": ROOM_REFS,
            "date": DATES,
            "time": TIMES,
            "zone": ZONES,
            "weekday": WEEKDAYS,
            "user": USERS,
            "on-off": ON_OFF,
            "key": LOCAL_KEYS,
            "template": TEMPLATES,
            "zone-and-options": OPTIONS,
            "n": INTS,
            "id": INTS,
            "k": INTS,
            "draw-id": INTS,
            "rooms": (["rooms"], ["norooms", "x"]),
        }
        if name == "parse_duration":
            return self.choose(DURATIONS)
        if name == "_int":
            return self.choose(INTS)
        if name == "RoomRef":
            return self.choose(ROOM_REFS)
        if metavar in pools:
            return self.choose(pools[metavar])
        if metavar == "when":
            return self.when()
        if name == "Words" or metavar in ("text", "title", "value", "reason", "place", "command"):
            return self.text()
        return self.pick(
            ["spring", "chair", "alpha", "notetaker", "facilitator", "timekeeper", "x", "a" * 70]
        )

    def command_body(self, command: Command) -> str:
        words = [f"!{command.name}"]
        rests: list[str] = []
        for p in command.params:
            if p.optional and self.rng.random() < 0.4:
                continue
            if p.kind == "keyword":
                rests += [self.pick([p.name, p.name.upper()]), self.value(p.metavar, p.convert)]
            elif p.kind == "rest":
                words += [
                    self.value(p.metavar, p.convert) for _ in range(self.rng.choice([0, 0, 1, 1, 2, 3]))
                ]
            else:
                words.append(self.value(p.metavar, p.convert))
        words += rests
        if self.rng.random() < 0.1:
            words.insert(self.rng.randint(1, len(words)), self.pick(self.keywords or ["at"]))
        if self.rng.random() < 0.1:
            words.append(self.hostile())
        if self.rng.random() < 0.05:
            tail = words[1:]
            self.rng.shuffle(tail)
            words = words[:1] + tail
        if self.rng.random() < 0.03:
            return " ".join(words)[: self.rng.randint(1, 12)]
        return " ".join(words)

    def free_text(self) -> str:
        """Not a command: what DMs and replies carry (mirror conversations, lottery replies)."""
        r = self.rng.random()
        if r < 0.3 and self.harvest.words:
            return f"{self.pick(['reflect', 'submit', 'cancel', 'yes', 'no', 'skip'])} {self.pick(self.harvest.words)}"
        return self.pick(
            ["submit", "cancel", "yes", "no", "help", "skip", "back", self.text(), self.hostile()]
        )

    # -- events ---------------------------------------------------------------------------

    def event(self, body: str, room: str, sender: str, **content: Any) -> dict[str, Any]:
        return {
            "type": "m.room.message",
            "event_id": f"$fz{next(self.bot._ids)}",
            "sender": sender,
            "origin_server_ts": int(self.bot.now.timestamp() * 1000),
            "content": {"msgtype": "m.text", "body": body, **content},
        }

    def random_json(self, depth: int = 0) -> Any:
        choices: list[Any] = [
            None,
            True,
            False,
            0,
            -1,
            2**63,
            1.5,
            "",
            "x",
            "$evt",
            "\ud800",
            "@room",
            self.hostile(),
        ]
        if depth < 3:
            choices += [
                [self.random_json(depth + 1)],
                {"event_id": self.random_json(depth + 1)},
                {
                    "rel_type": self.pick(["m.annotation", "m.replace", "m.thread", 5]),
                    "event_id": self.random_json(depth + 1),
                    "key": self.random_json(depth + 1),
                },
            ]
        return self.rng.choice(choices)

    def envelope(self) -> tuple[RoomID, Any]:
        room = RoomID(self.pick(ROOMS))
        sender = self.pick(SENDERS)
        kind = self.rng.random()
        target = (
            self.pick(self.harvest.events) if self.harvest.events and self.rng.random() < 0.7 else "$nope"
        )
        if kind < 0.35:
            key: Any = self.pick(["✅", "👍", "🎲", "✋", "x", "", self.hostile()])
            relates: Any = {"rel_type": "m.annotation", "event_id": target, "key": key}
            if self.rng.random() < 0.3:
                relates = self.random_json()
            event: dict[str, Any] = {
                "type": "m.reaction",
                "event_id": f"$fz{next(self.bot._ids)}",
                "sender": sender,
                "origin_server_ts": int(self.bot.now.timestamp() * 1000),
                "content": {"m.relates_to": relates},
            }
        else:
            body = (
                self.command_body(self.pick(self.commands)) if self.rng.random() < 0.5 else self.free_text()
            )
            event = self.event(body, room, sender)
            if self.rng.random() < 0.5:
                event["content"]["m.relates_to"] = self.pick(
                    [
                        self.random_json(),
                        {"m.in_reply_to": {"event_id": target}},
                        {"rel_type": "m.thread", "event_id": target, "m.in_reply_to": {"event_id": target}},
                        {"rel_type": "m.replace", "event_id": target},
                    ]
                )
        # Break one more field, often.
        if self.rng.random() < 0.6:
            where = self.pick(
                [
                    "sender",
                    "origin_server_ts",
                    "content",
                    "type",
                    "event_id",
                    "unsigned",
                    "state_key",
                    "msgtype",
                    "body",
                ]
            )
            if where in ("msgtype", "body"):
                if isinstance(event.get("content"), dict):
                    event["content"][where] = self.random_json()
            else:
                event[where] = self.random_json()
        return room, event


@dataclass
class Finding:
    number: int
    what: str
    detail: str

    def __str__(self) -> str:
        return f"#{self.number} {self.what}: {self.detail}"


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


SKIP_TABLES = {"handled_event", "outbox", "sqlite_sequence", "sync_checkpoint", "room_joined", "room_kind"}


def dump(reader: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows but the runtime's bookkeeping, read through a second, read-only
    connection (WAL: it sees what the bot committed; much faster than going through aiosqlite)."""
    names = [r[0] for r in reader.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        n: sorted((tuple(r) for r in reader.execute(f'SELECT * FROM "{n}"')), key=repr)
        for n in names
        if n not in SKIP_TABLES
    }


def failed_count(name: str) -> float:
    return float(metrics.COMMANDS.labels(name, "failed")._value.get())


def built_in(name: str) -> bool:
    """A registered feature of this build (``bots.<name>``), not one a test registered."""
    try:
        REGISTRY.find(name)
    except ConfigError:
        return False
    return True


def every_feature(tmp_path: Path) -> list[FeatureFactory]:
    """Every feature of this build (the registry's), so a new one is fuzzed without touching
    this file."""
    # The built-ins are named in BotConfig's default (imported on demand: none may be loaded yet).
    defaults = BotConfig.model_validate({"user_id": str(BOT), "password": "x"}).features
    names = sorted(set(defaults) | {n for n in REGISTRY.names() if built_in(n)})
    config = parse_config(
        f'homeserver: http://localhost:1\ndata_dir: "{tmp_path}"\n'
        f'bots:\n  - user_id: "{BOT}"\n    password: x\n    features: [{", ".join(names)}]\n'
    )
    return factories_for(config, 0)


async def everything_bot(tmp_path: Path) -> FakeBot:
    bot = await fake_bot(
        tmp_path,
        every_feature(tmp_path),
        members=[ALICE, BOB],
        moderators=[ALICE],
    )
    # The mirror derives its at-rest key from the operator's pickle key (set by start()).
    bot.pickle_key = "fuzz-operator-secret-0123456789"  # type: ignore[attr-defined]
    mirror = next((f for f in bot.features if f.name == "mirror"), None)
    if mirror is not None and hasattr(mirror, "_rounds"):
        mirror._rounds = None  # built at start, before the key was set

    async def quick_flush() -> None:
        # The outbox's own drain polls every 50 ms; thousands of inputs need a finer poll.
        deadline = time.monotonic() + 5
        while await bot.outbox.pending_count() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)

    bot.flush = quick_flush  # type: ignore[method-assign]
    await add_room(bot, OTHER, [ALICE, CAROL], moderators=[CAROL])
    await add_room(bot, DM_ALICE, [ALICE], direct=True)
    await add_room(bot, DM_BOB, [BOB], direct=True)
    bot.fake.members[ROOM] += [CAROL, DAN, EVE]
    bot.fake.aliases["#alias:test.example"] = OTHER
    bot.fake.names.update({ROOM: "Main <i data-fz>room</i>", OTHER: "Other &amp; \ud800 room"})
    # Some state to fuzz against: a coalition coordinated from ROOM with OTHER as a member.
    await bot.say(ROOM, ALICE, "!coalition create spring")
    [invite] = await bot.say(ROOM, ALICE, "!coalition invite")
    token = re.search(r"cj-[a-z2-7]{32}", invite.body)
    if token is not None:
        await bot.say(OTHER, CAROL, f"!coalition join {token.group(0)}")
    await bot.say(ROOM, ALICE, "!gathering at 2026-12-01 18:00 UTC")
    return bot


async def run_fuzz(
    bot: FakeBot, database: Path, seed: int, count: int, tried: set[str] | None = None
) -> list[Finding]:
    reader = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    rng = random.Random(seed)
    fuzz = Fuzzer(bot, rng)
    for s in bot.fake.sent:  # what the set-up handed out (tokens, ids)
        fuzz.harvest.take(s.body)
    errors = Errors()
    logging.getLogger().addHandler(errors)
    findings: list[Finding] = []
    try:
        for n in range(count):
            if rng.random() < 0.02:
                # Time passes and something scheduled fires, as it would between messages.
                bot.now += timedelta(minutes=rng.choice([1, 5, 30, 60 * 24, 60 * 24 * 8]))
                jobs = list(bot.scheduler.job_ids())
                if jobs:
                    await bot.fire(rng.choice(jobs))
            command: Command | None = None
            if rng.random() < ENVELOPE_SHARE:
                room, event = fuzz.envelope()
                shown = repr(event)[:400]
            else:
                room, sender = RoomID(rng.choice(ROOMS)), rng.choice(SENDERS)
                if rng.random() < 0.85:
                    command = rng.choice(fuzz.commands)
                    body = fuzz.command_body(command)
                else:
                    body = fuzz.free_text()
                if room in (DM_ALICE, DM_BOB):
                    sender = ALICE if room == DM_ALICE else BOB
                elif rng.random() < 0.5:  # mostly the room's moderator: past the power checks
                    sender = ALICE if room == ROOM else CAROL
                event = fuzz.event(body, room, sender)
                shown = f"{sender} in {room}: {body[:300]!r}"
                matched, _, _ = bot.commands.match(body) if body.startswith("!") else (None, "", [])
                command = matched if body.strip().startswith("!") else None
                if command is not None and tried is not None:
                    tried.add(command.name)
            before_db = dump(reader) if command is not None else None
            before_failed = failed_count(command.name) if command is not None else 0.0
            before_sent = len(bot.fake.sent)
            before_errors = len(errors.records)
            try:
                async with asyncio.timeout(HANG_S):
                    await bot.handle(room, event)
                    await bot.flush()
            except TimeoutError:
                findings.append(Finding(n, "hung", f"over {HANG_S:.0f}s <- {shown}"))
                continue
            except Exception as exc:
                findings.append(Finding(n, "raised", f"{type(exc).__name__}: {exc!s:.200} <- {shown}"))
                continue
            logged = [record.getMessage() for record in errors.records[before_errors:]]
            # The fake homeserver refuses raw client-server calls (a control room's state, say) as
            # an outage would: the apology is then the right answer, and the e2e tier covers the
            # call against Synapse. Every other error or apology is a finding.
            outage = bool(logged) and all(FAKE_OUTAGE in message for message in logged)
            for message in [] if outage else logged:
                findings.append(Finding(n, "logged an error", f"{message[:300]} <- {shown}"))
            sent = bot.fake.sent[before_sent:]
            for s in sent:
                fuzz.harvest.take(s.body)
                fuzz.harvest.events.append(s.event_id)
                if SORRY in s.body and not outage:
                    findings.append(Finding(n, "apologised", shown))
                if s.event_type == "m.room.message" and "m.mentions" not in s.content:
                    findings.append(Finding(n, "no m.mentions", f"{s.body[:80]!r} <- {shown}"))
                if "formatted_body" in s.content:
                    for problem in markup_safe(s.html):
                        findings.append(Finding(n, "bad HTML", f"{problem} in {s.html[:200]!r} <- {shown}"))
            fuzz.harvest.events.append(event.get("event_id", "$x") if isinstance(event, dict) else "$x")
            del fuzz.harvest.events[:-50]
            if command is not None and before_db is not None and failed_count(command.name) > before_failed:
                after_db = dump(reader)
                if after_db != before_db:
                    changed = sorted(
                        t for t in set(after_db) | set(before_db) if after_db.get(t) != before_db.get(t)
                    )
                    findings.append(Finding(n, "refused but changed", f"tables {changed} <- {shown}"))
    finally:
        logging.getLogger().removeHandler(errors)
        reader.close()
    return findings


async def test_fuzz_every_command_and_malformed_envelopes(tmp_path: Path) -> None:
    bot = await everything_bot(tmp_path)
    try:
        assert len(bot.commands.commands) > 20  # every feature's commands are in the table
        tried: set[str] = set()
        findings = await run_fuzz(bot, tmp_path / "affinity.db", SEED, INPUTS, tried)
        if INPUTS >= 1000:
            assert tried == set(bot.commands.commands), "every declared command was fuzzed"
    finally:
        await close(bot)
    unique: dict[tuple[str, str], Finding] = {}
    for f in findings:
        unique.setdefault((f.what, f.detail.split(" <- ")[0][:60]), f)
    report = "\n".join(str(f) for f in list(unique.values())[:25])
    assert not findings, f"seed {SEED}: {len(findings)} findings, e.g.\n{report}"


def test_the_html_check_can_fail() -> None:
    assert markup_safe("<p>fine &lt;script&gt;</p>") == []
    assert markup_safe("<p><script>x</script></p>")
    assert markup_safe("<p><b>unclosed</p>")
    assert markup_safe("<i data-fz>x</i>")
