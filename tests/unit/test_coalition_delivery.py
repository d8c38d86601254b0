"""Leaderless delivery: the decision rule, its invariants, and simulated runs with faults."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.coalition.delivery import (
    Action,
    DeliveryKey,
    HeraldView,
    PlannedKey,
    SeenCopy,
    canonical_copy,
    copy_marker,
    decide,
    decide_all,
    escalated_phase,
    escalation_key,
    is_cancelled_key,
    next_wake,
    own_duplicates,
    parse_copy,
    rank,
    redactions,
)
from protocols.coalition.liveness import Heartbeat, HeartbeatBook, parse_heartbeat
from protocols.coalition.planhash import message_digest
from protocols.coalition.registry import HEARTBEAT

G = timedelta(seconds=45)
DUE = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
KEY = DeliveryKey("r42", "p3", "!abc:x.example")
DIGEST = message_digest("Phase 3: go", "<p>Phase 3: go</p>")
OTHER_DIGEST = message_digest("Phase 3: stay home", None)
HERALDS = ("@h1:one.example", "@h2:two.example", "@h3:three.example")
ORDER = rank(KEY, HERALDS)  # the sending order for KEY
FIRST, SECOND, THIRD = ORDER
PLANNED = PlannedKey(KEY, DUE, DIGEST)
_ids = iter(range(10**9))


def copy(
    sender: str,
    *,
    digest: str | None = DIGEST,
    key: DeliveryKey = KEY,
    ts: int = 1,
    event_id: str | None = None,
) -> SeenCopy:
    return SeenCopy(key, sender, event_id or f"$c{next(_ids)}", ts, digest)


def run_decide(
    me: str,
    *,
    now: datetime = DUE,
    alive: tuple[str, ...] = HERALDS,
    copies: tuple[SeenCopy, ...] = (),
    cancelled: bool = False,
    candidates: tuple[str, ...] = HERALDS,
) -> tuple[Action, datetime | None]:
    d = decide(
        PLANNED,
        me=me,
        candidates=candidates,
        alive=alive,
        copies=copies,
        registered=HERALDS,
        cancelled=cancelled,
        now=now,
        stagger=G,
    )
    return d.action, d.at


# --- table-driven ------------------------------------------------------------------------------

CASES: list[tuple[str, dict[str, Any], tuple[Action, datetime | None]]] = [
    ("rank 0 sends at T", {"me": FIRST}, (Action.SEND, DUE)),
    ("rank 1 waits one turn", {"me": SECOND}, (Action.WAIT, DUE + G)),
    ("rank 2 waits two turns", {"me": THIRD}, (Action.WAIT, DUE + 2 * G)),
    ("rank 1 sends once its turn comes", {"me": SECOND, "now": DUE + G}, (Action.SEND, DUE + G)),
    ("a dead rank 0 is skipped", {"me": SECOND, "alive": (SECOND, THIRD)}, (Action.SEND, DUE)),
    ("only live heralds ahead count", {"me": THIRD, "alive": (SECOND, THIRD)}, (Action.WAIT, DUE + G)),
    ("before T nobody sends", {"me": FIRST, "now": DUE - timedelta(seconds=1)}, (Action.WAIT, DUE)),
    (
        "delivered by a herald with the plan's digest",
        {"me": SECOND, "now": DUE + G, "copies": (copy(FIRST),)},
        (Action.HOLD, None),
    ),
    (
        "the herald's own send (from its outbox) counts",
        {"me": FIRST, "copies": (copy(FIRST),)},
        (Action.HOLD, None),
    ),
    (
        "right key, wrong text: not delivered",
        {"me": FIRST, "copies": (copy(SECOND, digest=OTHER_DIGEST),)},
        (Action.SEND, DUE),
    ),
    (
        "a room member imitating the bot",
        {"me": FIRST, "copies": (copy("@eve:x.example"),)},
        (Action.SEND, DUE),
    ),
    (
        "an encrypted copy this herald cannot read",
        {"me": FIRST, "copies": (copy(SECOND, digest=None),)},
        (Action.SEND, DUE),
    ),
    (
        "another key's copy",
        {"me": FIRST, "copies": (copy(SECOND, key=DeliveryKey("r42", "p4", KEY.room_id)),)},
        (Action.SEND, DUE),
    ),
    ("cancelled: even rank 0 holds back", {"me": FIRST, "cancelled": True}, (Action.HOLD, None)),
    ("not joined to the room", {"me": THIRD, "candidates": (FIRST, SECOND)}, (Action.NOT_MINE, None)),
    (
        "self-suspect: waits for everyone ahead, dead or not",
        {"me": THIRD, "alive": (), "now": DUE + G},
        (Action.WAIT, DUE + 2 * G),
    ),
    ("self-suspect rank 0 still does its duty", {"me": FIRST, "alive": ()}, (Action.SEND, DUE)),
    ("a herald alone in the room sends at once", {"me": THIRD, "candidates": (THIRD,)}, (Action.SEND, DUE)),
]


@pytest.mark.parametrize(("why", "args", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decision_rule(why: str, args: dict[str, Any], expected: tuple[Action, datetime | None]) -> None:
    assert run_decide(**args) == expected, why


def test_a_hold_names_the_canonical_copy_and_bad_inputs_are_refused() -> None:
    early, late = copy(SECOND, ts=5, event_id="$b"), copy(FIRST, ts=5, event_id="$a")
    d = decide(
        PLANNED,
        me=THIRD,
        candidates=HERALDS,
        alive=HERALDS,
        copies=[early, late],
        registered=HERALDS,
        cancelled=False,
        now=DUE,
    )
    assert d.canonical == late  # same timestamp: the smaller event id
    with pytest.raises(ValueError, match="aware"):
        decide(
            PLANNED,
            me=FIRST,
            candidates=HERALDS,
            alive=HERALDS,
            copies=[],
            registered=HERALDS,
            cancelled=False,
            now=datetime(2026, 5, 1),
        )
    with pytest.raises(ValueError, match="stagger"):
        decide(
            PLANNED,
            me=FIRST,
            candidates=HERALDS,
            alive=HERALDS,
            copies=[],
            registered=HERALDS,
            cancelled=False,
            now=DUE,
            stagger=timedelta(0),
        )


def test_a_cancelled_run_still_delivers_its_stand_down() -> None:
    assert is_cancelled_key(KEY, ["r42"])
    assert not is_cancelled_key(DeliveryKey("r42", "cancel", KEY.room_id), ["r42"])
    assert not is_cancelled_key(KEY, ["r43"])


def test_ranking_is_shared_and_spreads_first_turns() -> None:
    assert rank(KEY, reversed(HERALDS)) == ORDER
    assert rank(KEY, [*HERALDS, HERALDS[0]]) == ORDER
    # Removing a herald keeps the others' relative order (rendezvous hashing).
    assert rank(KEY, [h for h in HERALDS if h != SECOND]) == (FIRST, THIRD)
    firsts = {rank(DeliveryKey("r42", "p1", f"!room{i}"), HERALDS)[0] for i in range(30)}
    assert firsts == set(HERALDS)


def test_duplicates_each_herald_redacts_only_its_own() -> None:
    a = copy(FIRST, ts=10, event_id="$a")
    b = copy(SECOND, ts=7, event_id="$b")
    c = copy(SECOND, ts=12, event_id="$c")
    fake = copy("@eve:x.example", ts=1, event_id="$e")
    copies = [a, b, c, fake]
    assert canonical_copy(KEY, copies, HERALDS, DIGEST) == b
    assert own_duplicates(FIRST, KEY, copies, HERALDS, DIGEST) == ("$a",)
    assert own_duplicates(SECOND, KEY, copies, HERALDS, DIGEST) == ("$c",)
    assert own_duplicates(THIRD, KEY, copies, HERALDS, DIGEST) == ()


def test_parse_copy_reads_the_marker_and_digests_what_the_room_shows() -> None:
    event: dict[str, Any] = {
        "type": "m.room.message",
        "sender": FIRST,
        "event_id": "$x",
        "origin_server_ts": 9,
        "content": {
            "msgtype": "m.notice",
            "body": "Phase 3: go",
            "format": "org.matrix.custom.html",
            "formatted_body": "<p>Phase 3: go</p>",
            "org.affinity.herald": copy_marker(KEY, 7),
        },
    }
    seen = parse_copy(event, KEY.room_id)
    assert seen == SeenCopy(KEY, FIRST, "$x", 9, DIGEST)
    lying = {**event, "content": {**event["content"], "body": "Phase 3: stay home"}}
    assert parse_copy(lying, KEY.room_id) is not None
    assert parse_copy(lying, KEY.room_id).digest != DIGEST  # type: ignore[union-attr]
    edit = {
        **event,
        "content": {**event["content"], "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}},
    }
    assert parse_copy(edit, KEY.room_id) is None
    assert parse_copy({**event, "content": {"body": "hi"}}, KEY.room_id) is None
    assert parse_copy({**event, "type": "m.reaction"}, KEY.room_id) is None
    no_body = {**event, "content": {"org.affinity.herald": copy_marker(KEY, 1)}}
    assert parse_copy(no_body, KEY.room_id).digest is None  # type: ignore[union-attr]
    assert parse_copy("junk", KEY.room_id) is None


def test_decide_all_uses_the_rooms_joined_live_heralds() -> None:
    other = DeliveryKey("r42", "p3", "!other")
    view = HeraldView(
        me=SECOND,
        now=DUE,
        registered=frozenset(HERALDS),
        live=frozenset({SECOND, THIRD}),
        joined={KEY.room_id: frozenset(HERALDS)},
        alive=frozenset(HERALDS),
        copies=(),
        cancelled_runs=frozenset(),
        stagger=G,
    )
    decisions = decide_all(view, [PLANNED, PlannedKey(other, DUE, DIGEST)])
    by_key = {d.key: d for d in decisions}
    assert by_key[other].action is Action.NOT_MINE  # not joined there
    # FIRST is not live (never declared itself on duty): it is out of the ranking.
    expected_rank = rank(KEY, [SECOND, THIRD]).index(SECOND)
    assert by_key[KEY].rank == expected_rank
    assert next_wake(decisions) == (None if expected_rank == 0 else DUE + G)
    dup = HeraldView(
        **{**view.__dict__, "copies": (copy(FIRST, ts=1, event_id="$1"), copy(SECOND, ts=2, event_id="$2"))}
    )
    assert redactions(dup, [PLANNED]) == ["$2"]
    cancelled = HeraldView(**{**view.__dict__, "cancelled_runs": frozenset({"r42"})})
    assert {d.action for d in decide_all(cancelled, [PLANNED])} == {Action.HOLD}


def test_heartbeats_are_timed_on_the_readers_clock() -> None:
    t0 = DUE
    book = HeartbeatBook().record(Heartbeat(FIRST, 5, False), t0)
    assert book.alive(t0 + timedelta(seconds=89)) == {FIRST}
    assert book.alive(t0 + timedelta(seconds=90)) == frozenset()
    # The same beat replayed by sync is not a sign of life; an older one neither.
    assert book.record(Heartbeat(FIRST, 5, False), t0 + G) == book
    assert book.record(Heartbeat(FIRST, 4, False), t0 + G) == book
    fresh = book.record(Heartbeat(FIRST, 6, False), t0 + G)
    assert fresh.alive(t0 + timedelta(seconds=100)) == {FIRST}
    # A last will at the same seq marks it dead until its next beat.
    dead = fresh.record(Heartbeat(FIRST, 6, True), t0 + G)
    assert dead.alive(t0 + G) == frozenset()
    assert dead.record(Heartbeat(FIRST, 7, False), t0 + 2 * G).alive(t0 + 2 * G) == {FIRST}


def test_parse_heartbeat_refuses_other_peoples_keys_and_bad_shapes() -> None:
    base = {"type": HEARTBEAT, "sender": FIRST, "state_key": FIRST, "event_id": "$h", "origin_server_ts": 1}
    assert parse_heartbeat({**base, "content": {"seq": 3, "status": "up"}}) == Heartbeat(FIRST, 3, False)
    assert parse_heartbeat({**base, "content": {"status": "dead"}}) == Heartbeat(FIRST, 0, True)
    assert parse_heartbeat({**base, "state_key": SECOND, "content": {"seq": 3, "status": "up"}}) is None
    assert parse_heartbeat({**base, "content": {"seq": "3", "status": "up"}}) is None
    assert parse_heartbeat({**base, "content": {"seq": 3, "status": "maybe"}}) is None
    book = HeartbeatBook().record_events([{**base, "content": {"seq": 1, "status": "up"}}, "junk"], DUE)
    assert book.alive(DUE) == {FIRST}


# --- properties --------------------------------------------------------------------------------

POOL = [f"@h{i}:s{i}.example" for i in range(6)]
heralds_st = st.lists(st.sampled_from(POOL), min_size=1, max_size=6, unique=True)
keys_st = st.builds(
    DeliveryKey,
    st.sampled_from(["r1", "r2"]),
    st.sampled_from(["p1", "amend-1"]),
    st.sampled_from(["!a", "!b:x", "!c"]),
)


def _junk_copies(key: DeliveryKey, heralds: list[str]) -> st.SearchStrategy[list[SeenCopy]]:
    """Copies that prove nothing: wrong text, unreadable, another key, or not from a herald."""
    other_key = DeliveryKey(key.run_id, "other", key.room_id)
    one = st.one_of(
        st.builds(
            SeenCopy,
            st.just(key),
            st.sampled_from(heralds),
            st.text(max_size=3).map(lambda s: "$" + s),
            st.integers(0, 100),
            st.sampled_from([None, OTHER_DIGEST]),
        ),
        st.builds(
            SeenCopy,
            st.just(other_key),
            st.sampled_from(heralds),
            st.just("$o"),
            st.integers(0, 9),
            st.just(DIGEST),
        ),
        st.builds(
            SeenCopy,
            st.just(key),
            st.just("@eve:evil.example"),
            st.just("$e"),
            st.integers(0, 9),
            st.just(DIGEST),
        ),
    )
    return st.lists(one, max_size=5)


@settings(max_examples=80, deadline=None)
@given(st.data(), heralds_st, keys_st)
def test_no_herald_holds_back_without_a_delivered_copy_and_all_send_eventually(
    data: st.DataObject, heralds: list[str], key: DeliveryKey
) -> None:
    junk = data.draw(_junk_copies(key, heralds))
    planned = PlannedKey(key, DUE, DIGEST)
    latest = DUE + G * (len(heralds) - 1)
    for me in heralds:
        alive = data.draw(st.frozensets(st.sampled_from(heralds)))
        now = DUE + timedelta(seconds=data.draw(st.integers(-3600, 3600)))
        d = decide(
            planned,
            me=me,
            candidates=heralds,
            alive=alive,
            copies=junk,
            registered=heralds,
            cancelled=False,
            now=now,
            stagger=G,
        )
        assert d.action in (Action.SEND, Action.WAIT)
        assert d.at is not None and DUE <= d.at <= latest
        # Whatever it believes about the others, by T + (N-1)G every herald sends.
        late = decide(
            planned,
            me=me,
            candidates=heralds,
            alive=alive,
            copies=junk,
            registered=heralds,
            cancelled=False,
            now=latest,
            stagger=G,
        )
        assert late.action is Action.SEND


def simulate(
    heralds: list[str],
    key: DeliveryKey,
    *,
    alive_views: Mapping[str, frozenset[str]],
    crashed: frozenset[str],
    latency: Mapping[tuple[str, str], timedelta | None],
    skew: Mapping[str, timedelta] | None = None,
) -> list[tuple[datetime, SeenCopy]]:
    """Every herald runs the rule: each looks at T and again at its turn, on its own clock
    (real time + ``skew``); a copy sent by s is seen by r after ``latency[s, r]`` (None: never,
    a partition). Returns the copies sent, at real times."""
    clock = {h: (skew or {}).get(h, timedelta(0)) for h in heralds}
    sent: list[tuple[datetime, SeenCopy]] = []
    wake = {h: DUE - clock[h] for h in heralds if h not in crashed}  # real times
    planned = PlannedKey(key, DUE, DIGEST)
    while wake:
        me = min(wake, key=lambda h: (wake[h], h))
        now = wake.pop(me)
        visible = []
        for at, c in sent:
            lag = timedelta(0) if c.sender == me else latency[(c.sender, me)]
            if lag is not None and at + lag <= now:
                visible.append(c)
        d = decide(
            planned,
            me=me,
            candidates=heralds,
            alive=alive_views[me],
            copies=visible,
            registered=heralds,
            cancelled=False,
            now=now + clock[me],
            stagger=G,
        )
        if d.action is Action.SEND:
            ms = int((now - DUE).total_seconds() * 1000) + 10**12
            sent.append((now, SeenCopy(key, me, f"${me}", ms, DIGEST)))
        elif d.action is Action.WAIT:
            assert d.at is not None and d.at > now + clock[me]
            wake[me] = d.at - clock[me]
    return sent


@settings(max_examples=80, deadline=None)
@given(st.data(), heralds_st, keys_st)
def test_no_faults_exactly_one_copy(data: st.DataObject, heralds: list[str], key: DeliveryKey) -> None:
    # Everyone alive in everyone's view; every copy seen by the others within less than G.
    lag = st.integers(0, int(G.total_seconds() * 1000) - 1).map(lambda ms: timedelta(milliseconds=ms))
    latency = {(s, r): data.draw(lag) for s in heralds for r in heralds}
    sent = simulate(
        heralds,
        key,
        alive_views={h: frozenset(heralds) for h in heralds},
        crashed=frozenset(),
        latency=latency,
    )
    assert len(sent) == 1
    assert sent[0][0] == DUE and sent[0][1].sender == rank(key, heralds)[0]


@settings(max_examples=80, deadline=None)
@given(st.data(), heralds_st, keys_st)
def test_clock_skew_under_the_margin_still_gives_exactly_one_copy(
    data: st.DataObject, heralds: list[str], key: DeliveryKey
) -> None:
    # The design's libfaketime case: clocks off by up to 20 s each way, copies seen within 4 s.
    # Rank r's turn is r x G on its own clock, so latency + twice the skew < G keeps one copy.
    skew = {h: timedelta(milliseconds=data.draw(st.integers(-20_000, 20_000))) for h in heralds}
    lag = st.integers(0, 4_999).map(lambda ms: timedelta(milliseconds=ms))
    latency = {(s, r): data.draw(lag) for s in heralds for r in heralds}
    sent = simulate(
        heralds,
        key,
        alive_views={h: frozenset(heralds) for h in heralds},
        crashed=frozenset(),
        latency=latency,
        skew=skew,
    )
    assert len(sent) == 1 and sent[0][1].sender == rank(key, heralds)[0]


@settings(max_examples=80, deadline=None)
@given(st.data(), heralds_st, keys_st)
def test_with_any_faults_at_least_one_copy_at_most_n_and_bounded_lateness(
    data: st.DataObject, heralds: list[str], key: DeliveryKey
) -> None:
    crashed = data.draw(st.frozensets(st.sampled_from(heralds), max_size=len(heralds) - 1))
    alive_views = {h: data.draw(st.frozensets(st.sampled_from(heralds))) for h in heralds}
    lag = st.none() | st.integers(0, 10 * 45_000).map(lambda ms: timedelta(milliseconds=ms))
    latency = {(s, r): data.draw(lag) for s in heralds for r in heralds}
    sent = simulate(heralds, key, alive_views=alive_views, crashed=crashed, latency=latency)
    assert 1 <= len(sent) <= len(heralds)
    assert len({c.sender for _, c in sent}) == len(sent)  # nobody sends a key twice
    assert min(at for at, _ in sent) <= DUE + G * (len(heralds) - 1)
    # Once every herald sees every copy, all agree on one to keep and the rest are redacted.
    copies = [c for _, c in sent]
    keep = canonical_copy(key, copies, heralds, DIGEST)
    redacted = [e for h in heralds for e in own_duplicates(h, key, copies, heralds, DIGEST)]
    assert keep is not None and keep.event_id not in redacted
    assert len(redacted) == len(copies) - 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.builds(
            SeenCopy,
            st.just(KEY),
            st.sampled_from(HERALDS),
            st.sampled_from(["$1", "$2", "$3", "$4"]),
            st.integers(0, 3),
            st.just(DIGEST),
        ),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_every_herald_picks_the_same_canonical_copy_in_any_order(
    copies: list[SeenCopy], rnd: random.Random
) -> None:
    shuffled = list(copies)
    rnd.shuffle(shuffled)
    assert canonical_copy(KEY, copies, HERALDS, DIGEST) == canonical_copy(KEY, shuffled, HERALDS, DIGEST)


@settings(max_examples=60, deadline=None)
@given(st.data(), heralds_st, keys_st)
def test_a_cancelled_key_is_never_sent(data: st.DataObject, heralds: list[str], key: DeliveryKey) -> None:
    junk = data.draw(_junk_copies(key, heralds))
    for me in heralds:
        d = decide(
            PlannedKey(key, DUE, DIGEST),
            me=me,
            candidates=heralds,
            alive=data.draw(st.frozensets(st.sampled_from(heralds))),
            copies=junk,
            registered=heralds,
            cancelled=True,
            now=DUE + G * 10,
            stagger=G,
        )
        assert d.action is Action.HOLD


def test_escalations_are_keys_that_an_acknowledgement_makes_moot() -> None:
    esc = DeliveryKey("r42", escalation_key("p3", 1), KEY.room_id)
    assert esc.key == "esc1-p3" and escalated_phase(esc.key) == "p3" and escalated_phase("p3") is None
    planned = PlannedKey(esc, DUE, DIGEST, unless_acked=(KEY.room_id, "p3"))
    kwargs: dict[str, Any] = {
        "me": rank(esc, HERALDS)[0],
        "candidates": HERALDS,
        "alive": HERALDS,
        "copies": [],
        "registered": HERALDS,
        "cancelled": False,
        "now": DUE,
    }
    assert decide(planned, **kwargs).action is Action.SEND
    held = decide(planned, **kwargs, acked=[(KEY.room_id, "p3")])
    assert held.action is Action.HOLD and "acknowledged" in held.reason
    # Another room's ack, or another phase's, does not silence it.
    assert decide(planned, **kwargs, acked=[("!other", "p3"), (KEY.room_id, "p2")]).action is Action.SEND
    with pytest.raises(ValueError):
        escalation_key("p3", 0)


def test_a_cancelled_run_still_chases_its_stand_down() -> None:
    assert is_cancelled_key(DeliveryKey("r42", "esc1-p3", KEY.room_id), ["r42"])
    assert not is_cancelled_key(DeliveryKey("r42", "esc1-cancel", KEY.room_id), ["r42"])
    assert not is_cancelled_key(DeliveryKey("r42", "esc2-cancel", KEY.room_id), ["r42"])


def test_decide_all_reads_the_runs_acks() -> None:
    esc = PlannedKey(
        DeliveryKey("r42", "esc1-p3", KEY.room_id), DUE, DIGEST, unless_acked=(KEY.room_id, "p3")
    )
    view = HeraldView(
        me=FIRST,
        now=DUE,
        registered=frozenset(HERALDS),
        live=frozenset(HERALDS),
        joined={KEY.room_id: frozenset(HERALDS)},
        alive=frozenset(HERALDS),
        copies=(),
        cancelled_runs=frozenset(),
        stagger=G,
        acked={"r42": frozenset({(KEY.room_id, "p3")})},
    )
    assert [d.action for d in decide_all(view, [esc])] == [Action.HOLD]
    assert [d.action for d in decide_all(HeraldView(**{**view.__dict__, "acked": {}}), [esc])] != [
        Action.HOLD
    ]


def test_a_herald_going_down_after_the_due_time_hands_its_turn_on_one_stagger_at_a_time() -> None:
    """The first herald goes down 30 s after the due time: the second sends from then, the
    third one stagger later, not both at once (their turns, counted from the due time, would
    both be past)."""
    staleness = timedelta(seconds=20)
    book = HeartbeatBook().record(Heartbeat(FIRST, 1, False), DUE + timedelta(seconds=10))
    down = book.down_since(DUE + timedelta(seconds=31), staleness)
    assert down == {FIRST: DUE + timedelta(seconds=30)}
    assert book.down_since(DUE + timedelta(seconds=29), staleness) == {}
    now = DUE + timedelta(seconds=31)

    def turn(me: str) -> tuple[Action, datetime | None]:
        d = decide(
            PLANNED,
            me=me,
            candidates=HERALDS,
            alive=(SECOND, THIRD),
            copies=(),
            registered=HERALDS,
            cancelled=False,
            now=now,
            stagger=G,
            down_since=down,
        )
        return d.action, d.at

    assert turn(SECOND) == (Action.SEND, DUE + timedelta(seconds=30))
    assert turn(THIRD) == (Action.WAIT, DUE + timedelta(seconds=30) + G)
    # A herald that was already down at the due time changes nothing: the turns stand.
    early = {FIRST: DUE - timedelta(minutes=5)}
    d = decide(
        PLANNED,
        me=THIRD,
        candidates=HERALDS,
        alive=(SECOND, THIRD),
        copies=(),
        registered=HERALDS,
        cancelled=False,
        now=DUE + G,
        stagger=G,
        down_since=early,
    )
    assert (d.action, d.at) == (Action.SEND, DUE + G)
