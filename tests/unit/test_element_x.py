"""Every renderer of every registered feature writes HTML that Element X shows, and its plain
body and its HTML carry the same words.

The renderers are found, not listed: every public function returning a ``Message`` in a
``render*`` module of a registered feature's package (and the herald's planned phase messages,
whose HTML the pure plan writes). Their arguments are drawn by hypothesis from their type hints;
the few domain types whose rules random values rarely meet (a Matrix user id, a phase key, an
aware time) get a strategy here. A new feature's renderers are checked without a line here; if
hypothesis cannot draw one's arguments, this test fails and names it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import bots
from bots.herald.control_view import ControlView
from bots.herald.render_phases import say
from bots.runtime.message import (
    Message,
    Span,
    bold,
    code,
    element_x_problems,
    html_text,
    italic,
    link,
    mention,
    text,
)
from bots.runtime.registry import REGISTRY
from protocols.coalition.liveness import HeartbeatBook
from protocols.coalition.registry import Registry
from protocols.dayofaction.intake import RoomCounts
from protocols.herald import MemberRoom, ProtocolTemplate
from protocols.herald.board import DeliveryLike, DeliveryView
from protocols.herald.plan import PlannedMessage, make_plan
from protocols.herald.templates import AckRule, Phase
from protocols.mandates import Mandate
from protocols.recurrence_types import Recurrence
from protocols.schedule import Recurring

ZONES = st.sampled_from(
    [ZoneInfo(z) for z in ("UTC", "Europe/Warsaw", "America/Mexico_City", "Asia/Kolkata")]
)
MOMENTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))
USER_IDS = st.from_regex(r"@[a-z0-9._=-]{1,12}:[a-z]{1,8}\.(org|net)", fullmatch=True)
# Words: no digits or bullets (the comparison strips list markers "1." and "•").
WORDS = st.text(
    st.characters(blacklist_categories=("Nd", "Cs", "Cc"), blacklist_characters="•$"), min_size=1, max_size=30
).filter(lambda s: s.strip() != "")

PHASES = st.builds(
    Phase,
    key=st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    offset=st.sampled_from(["-2d", "-4h", "0", "+30m", "+2h"]),
    title=WORDS,
    message=WORDS,
    checklist=st.lists(WORDS, max_size=3).map(tuple),
    ack=st.one_of(st.just(AckRule()), st.builds(AckRule, needed=st.just(True), within=st.just("2h"))),
)
TEMPLATES = st.builds(
    ProtocolTemplate,
    name=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    description=WORDS,
    phases=st.lists(PHASES, min_size=1, max_size=4, unique_by=lambda p: p.key).map(tuple),
)
MANDATES = st.builds(
    Mandate, room=st.just("!r:x.org"), role=WORDS, holder=USER_IDS, start=MOMENTS, expires=MOMENTS
)

SPANS = st.one_of(
    WORDS.map(text),
    WORDS.map(bold),
    WORDS.map(italic),
    WORDS.map(code),
    USER_IDS.map(mention),
    st.tuples(st.from_regex(r"https://[a-z]{1,8}\.org/[a-z]{0,5}", fullmatch=True), WORDS).map(
        lambda u: link(*u)
    ),
)
DELIVERIES = st.builds(
    DeliveryView,
    txn_id=st.just("t"),
    room_id=st.sampled_from(["!room0:x.org", "!room1:x.org"]),
    phase_key=st.from_regex(r"[a-z]{1,3}", fullmatch=True),
    state=st.sampled_from(["pending", "sent", "failed", "cancelled"]),
    due_at=MOMENTS,
    ack_by=st.none() | MOMENTS,
    acked_at=st.none() | MOMENTS,
)

# A herald's view of its control room: an empty registry of founders (its facts are the
# coalition tests' business; here only how the list reads matters).
CONTROL_VIEWS = st.builds(
    ControlView,
    room_id=st.just("!control:x.org"),
    registry=st.frozensets(USER_IDS, max_size=3).map(Registry.empty),
    heartbeats=st.just(HeartbeatBook()),
    joined=st.frozensets(USER_IDS, max_size=3),
    coalition=st.none() | WORDS,
    private=st.just([]),
)

# Types whose own rules random values seldom meet. Anything else is drawn from its hints.
STRATEGIES: dict[type, st.SearchStrategy[typing.Any]] = {
    ZoneInfo: ZONES,
    datetime: MOMENTS,
    Phase: PHASES,
    ProtocolTemplate: TEMPLATES,
    Mandate: MANDATES,
    Span: SPANS,  # type: ignore[type-abstract]
    DeliveryLike: DELIVERIES,  # type: ignore[type-abstract]
    ControlView: CONTROL_VIEWS,
    # Its field's type is imported only for type checking (the modules build on each other).
    Recurring: st.builds(Recurring, recurrence=st.from_type(Recurrence)),
    # An intake survey's counts in one room: a few questions, a few answers each (small, so a
    # loaded machine draws them in time).
    RoomCounts: st.builds(
        RoomCounts,
        room=st.just("!room:x.org"),
        answered=st.integers(0, 50),
        counts=st.lists(
            st.tuples(WORDS, st.lists(st.tuples(WORDS, st.integers(0, 50)), max_size=3).map(tuple)),
            max_size=3,
        ).map(tuple),
    ),
}


def _renderers() -> list[tuple[str, Callable[..., Message]]]:
    for module in pkgutil.iter_modules(bots.__path__):
        if module.ispkg and module.name != "runtime":
            try:
                importlib.import_module(f"bots.{module.name}")
            except ModuleNotFoundError as exc:  # a package still being written: not a feature yet
                if not (exc.name or "").startswith(f"bots.{module.name}."):
                    raise
    found: list[tuple[str, Callable[..., Message]]] = []
    for name in REGISTRY.names():
        package = importlib.import_module(REGISTRY.find(name).__module__.rsplit(".", 1)[0])
        for sub in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if not sub.name.startswith("render"):
                continue
            mod = importlib.import_module(f"{package.__name__}.{sub.name}")
            for fname, fn in sorted(vars(mod).items()):
                if (
                    inspect.isfunction(fn)
                    and fn.__module__ == mod.__name__
                    and not fname.startswith("_")
                    and inspect.signature(fn).return_annotation in (Message, "Message")
                ):
                    found.append((f"{mod.__name__}.{fname}", fn))
    return found


RENDERERS = _renderers()


def _words(text: str) -> str:
    """The words of a text, without the list and line markers the plain body adds."""
    return re.sub(r"\s+|•|☐|:|\d+\.", "", text)


def _link_targets(html: str) -> str:
    """A link's target is a value too: the plain body writes ``label (url)``."""
    return re.sub(
        r'<a href="([^"]*)">(.*?)</a>',
        lambda m: (
            m.group(2)
            if m.group(2) == m.group(1) or "matrix.to" in m.group(1)
            else f"{m.group(2)} ({m.group(1)})"
        ),
        html,
    )


def check(msg: Message) -> None:
    problems = element_x_problems(msg.html)
    assert not problems, problems
    if msg.html:
        assert _words(html_text(_link_targets(msg.html))) == _words(msg.plain)


def test_renderers_are_found_for_every_feature() -> None:
    features = {name.split(".")[1] for name, _ in RENDERERS}
    assert {"lottery", "ghostchair", "mirror", "herald"} <= features
    assert len(RENDERERS) > 30


ROOMS = st.lists(
    st.tuples(ZONES, st.dictionaries(st.sampled_from(["meeting_point", "local_contact"]), WORDS)),
    min_size=1,
    max_size=3,
)


def _plan(template: ProtocolTemplate, rooms: list[tuple[ZoneInfo, dict[str, str]]]) -> list[PlannedMessage]:
    now = datetime(2030, 5, 1, 12, tzinfo=UTC)
    members = [MemberRoom(f"!room{i}:x.org", zone, details) for i, (zone, details) in enumerate(rooms)]
    return make_plan("run_1", template, now + timedelta(days=3), members, now, render=say)


# Parameters that only make sense together: a phase message's text and HTML come from the plan.
PLANNED = st.builds(_plan, TEMPLATES, ROOMS).flatmap(st.sampled_from)
COUPLED: dict[tuple[str, ...], Callable[[PlannedMessage], tuple[typing.Any, ...]]] = {
    ("body", "rich"): lambda m: (m.body, m.html),
}


@pytest.mark.parametrize("name,renderer", RENDERERS, ids=[n for n, _ in RENDERERS])
def test_every_renderer_writes_element_x_html(name: str, renderer: Callable[..., Message]) -> None:
    rendered = 0
    with _registered(STRATEGIES):
        arguments = _arguments(renderer)

        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
        @given(arguments)
        def each(kwargs: dict[str, typing.Any]) -> None:
            nonlocal rendered
            try:
                msg = renderer(**kwargs)
            except (ValueError, LookupError, OverflowError):
                # Arguments outside the renderer's own precondition (an empty list, a share
                # that is not among the counts, a pause of two thousand years): drawn values need
                # not be consistent records.
                reject()
            rendered += 1
            check(msg)

        each()
    assert rendered > 0, f"{name}: no drawn arguments were ever accepted"


def _arguments(fn: Callable[..., Message]) -> st.SearchStrategy[dict[str, typing.Any]]:
    """The keyword arguments of a renderer, drawn from its type hints (and :data:`COUPLED`)."""
    hints = _hints(fn)
    names = list(inspect.signature(fn).parameters)
    single: dict[str, st.SearchStrategy[typing.Any]] = {}
    module = inspect.getmodule(fn)
    # The keys of the module's own tables (a sharing mode, a status) are words it expects.
    known = sorted(
        {k for table in vars(module).values() if isinstance(table, dict) for k in table if isinstance(k, str)}
    )
    for pname in names:
        hint = hints[pname]
        if hint is str:  # words, a user id for a parameter that is one, a key of its tables
            single[pname] = st.one_of(WORDS, USER_IDS, *([st.sampled_from(known)] if known else []))
        else:
            single[pname] = _valid(st.from_type(hint))
    drawn = st.fixed_dictionaries(single)
    for together, split in COUPLED.items():
        if set(together) <= set(names):
            drawn = st.tuples(drawn, PLANNED.map(split)).map(
                lambda pair, together=together: {**pair[0], **dict(zip(together, pair[1], strict=True))}
            )
    return drawn


def _hints(fn: Callable[..., Message]) -> dict[str, typing.Any]:
    """The type hints of ``fn``, with the names its module imports only for type checking."""
    try:
        return typing.get_type_hints(fn)
    except NameError:
        module = inspect.getmodule(fn)
        tree = ast.parse(inspect.getsource(module)) if module is not None else ast.Module([], [])
        checking: dict[str, typing.Any] = {}
        for node in tree.body:
            if isinstance(node, ast.If) and ast.unparse(node.test) in (
                "TYPE_CHECKING",
                "typing.TYPE_CHECKING",
            ):
                exec(compile(ast.Module(node.body, []), "<type-checking imports>", "exec"), checking)
        return typing.get_type_hints(fn, localns=checking)


@st.composite
def _valid(draw: st.DrawFn, values: st.SearchStrategy[typing.Any]) -> typing.Any:
    """A drawn value whose own checks passed (a weekday of -1 is not a schedule to render)."""
    try:
        return draw(values)
    except (ValueError, ValidationError):
        reject()


class _registered:
    """Register the domain strategies for the test's duration (hypothesis keeps a global table)."""

    def __init__(self, table: dict[type, st.SearchStrategy[typing.Any]]) -> None:
        self.table = table

    def __enter__(self) -> None:
        for t, s in self.table.items():
            st.register_type_strategy(t, s)

    def __exit__(self, *exc: object) -> None:
        from hypothesis.strategies._internal import types

        for t in self.table:
            types._global_type_lookup.pop(t, None)


@settings(max_examples=30, deadline=None)
@given(TEMPLATES, ROOMS)
def test_planned_phase_messages_are_element_x_html(
    template: ProtocolTemplate, rooms: list[tuple[ZoneInfo, dict[str, str]]]
) -> None:
    for planned in _plan(template, rooms):
        problems = element_x_problems(planned.html)
        assert not problems, problems
        assert _words(html_text(planned.html)) == _words(planned.body)


def test_the_check_names_what_element_x_would_not_show() -> None:
    assert element_x_problems("<table><tr><td>x</td></tr></table>") == [
        "<table> is not shown by Element X",
        "<tr> is not shown by Element X",
        "<td> is not shown by Element X",
    ]
    assert element_x_problems('<p onclick="x">a</p>') == [
        "<p onclick=...> is not an attribute Element X keeps"
    ]
    assert element_x_problems('<a href="javascript:x">a</a>') == [
        "<a href='javascript:x'> is not a link Element X follows"
    ]
    assert element_x_problems("<p><strong>a</p></strong>") != []
    assert element_x_problems("<p>a") == ["left open: p"]
    assert element_x_problems('<span data-mx-spoiler="">a</span><br/><ol start="3"><li>x</li></ol>') == []
    every = Message.of(bold("a"), code("b"), mention("@ann:x.org")).bullets(["c"]).numbered(["d"])
    assert element_x_problems(every.html) == []
