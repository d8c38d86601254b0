"""The lottery's messages: plain text and HTML, built from the stored records.

Pure functions (no Matrix, no database): the feature decides what to say, these say it. Times
are shown in the room's zone; user ids are shown as they are (Element turns them into pills).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.runtime.context import escape
from protocols.lottery import DrawInputs, PublishedDraw, canonical_json
from protocols.mandates import Mandate
from protocols.timespec import format_duration, format_local
from storage.lottery import Completion, RoomSetup
from storage.lottery_rooms import Options

Message = tuple[str, str]
ALGORITHM_DOC = "docs/lottery-algorithm.md"


def _list(items: Iterable[str], ordered: bool = False) -> str:
    tag = "ol" if ordered else "ul"
    return f"<{tag}>" + "".join(f"<li>{item}</li>" for item in items) + f"</{tag}>"


def commitment(
    inputs: DrawInputs, digest: str, window: timedelta, reveal_at: datetime, zone: ZoneInfo
) -> Message:
    """The notice posted first: what is drawn, among whom, and the hash that fixes the seed."""
    roles = ", ".join(inputs.roles)
    people = ", ".join(inputs.pool)
    record = canonical_json(inputs.to_json()).decode()
    text = (
        f"Draw {inputs.draw_id}: {roles}, among {len(inputs.pool)} "
        f"({people}).\n"
        f"Commitment: {digest}\n"
        f"Add your chance: react to this message or reply to it within {format_duration(window)} "
        f"(until {format_local(reveal_at, zone)}). Then I reveal my seed and the result; "
        f"anyone can check it with !verify {inputs.draw_id}.\n"
        f"Inputs: {record}"
    )
    html = (
        f"<p><b>Draw {escape(inputs.draw_id)}</b>: {escape(roles)}, among {len(inputs.pool)} "
        f"({escape(people)}).</p>"
        f"<p>Commitment: <code>{digest}</code></p>"
        f"<p>Add your chance: <b>react to this message or reply to it</b> within "
        f"{format_duration(window)} (until {escape(format_local(reveal_at, zone))}). Then I reveal "
        "my seed and the result; anyone can check it with "
        f"<code>!verify {escape(inputs.draw_id)}</code>.</p>"
        f"<p>Inputs:</p><pre><code>{escape(record)}</code></pre>"
    )
    return text, html


def result(done: Completion, zone: ZoneInfo) -> Message:
    """The reveal: who holds what until when, the seed, and how to check."""
    published = done.published
    draw_id = published.inputs.draw_id
    lines = [
        f"{m.role} → {m.holder} (until {format_local(m.expires, zone)})" for m in done.granted
    ]
    skipped = [f"{role} was filled meanwhile and stays as it is" for role in done.skipped]
    count = len(published.contributions)
    chance = f"{count} contribution{'' if count == 1 else 's'} from members"
    text = (
        f"Draw {draw_id} result:\n"
        + "\n".join(f"  {line}" for line in lines + skipped)
        + f"\nSeed: {published.seed.hex()}\n"
        f"With {chance}. Check it: !verify {draw_id} (or offline, see {ALGORITHM_DOC})."
    )
    html = (
        f"<p><b>Draw {escape(draw_id)} result</b></p>"
        + _list(escape(line) for line in lines + skipped)
        + f"<p>Seed: <code>{published.seed.hex()}</code><br>With {chance}. Check it: "
        f"<code>!verify {escape(draw_id)}</code> "
        f"(or offline, see <code>{ALGORITHM_DOC}</code>).</p>"
    )
    return text, html


def verified(published: PublishedDraw, problems: Sequence[str]) -> Message:
    """``!verify``: the verdict, then the whole record as JSON (what the offline program reads)."""
    draw_id = published.inputs.draw_id
    record = canonical_json(published.to_json()).decode()
    if problems:
        verdict = f"Draw {draw_id} does NOT check out: " + "; ".join(problems) + "."
    else:
        picks = ", ".join(f"{role} → {holder}" for role, holder in published.assignment.picks)
        verdict = (
            f"Draw {draw_id} checks out: the seed matches the commitment {published.commitment}, "
            f"and recomputing from the inputs, the seed and {len(published.contributions)} "
            f"contributions gives the published result ({picks})."
        )
    hint = f"To recompute it yourself, save the JSON below and run the program in {ALGORITHM_DOC}."
    text = f"{verdict}\n{hint}\n{record}"
    html = f"<p>{escape(verdict)}</p><p>{escape(hint)}</p><pre><code>{escape(record)}</code></pre>"
    return text, html


def roles(
    setup: RoomSetup,
    options: Options,
    mandates: Mapping[str, Mandate],
    pending: Sequence[str],
    now: datetime,
    zone: ZoneInfo,
) -> Message:
    """``!roles``: each role with its holder and expiry (local time), then the room's settings."""
    rows: list[tuple[str, str, str]] = []
    for role in setup.roles:
        mandate = mandates.get(role)
        if mandate is None or not mandate.active(now):
            rows.append((role, "vacant", ""))
            continue
        until = format_local(mandate.expires, zone)
        if mandate.renewal is not None:
            until += f" (renewal proposed by {mandate.renewal.proposed_by}, awaiting confirmation)"
        rows.append((role, mandate.holder, until))
    settings = (
        f"Mandates last {format_duration(setup.term)}; the window for chance is "
        f"{format_duration(options.commit_window)}; a role that ends is "
        f"{'drawn again at once' if options.redraw else 'left vacant until !draw'}. "
        f"Times in {zone.key}."
    )
    if pending:
        settings += " Draw open now: " + ", ".join(pending) + "."
    text = (
        "Roles:\n"
        + "\n".join(f"  {r}: {h}" + (f" until {u}" if u else "") for r, h, u in rows)
        + "\n"
        + settings
    )
    html = (
        "<table><tr><th>role</th><th>holder</th><th>until</th></tr>"
        + "".join(
            f"<tr><td>{escape(r)}</td><td>{escape(h)}</td><td>{escape(u)}</td></tr>"
            for r, h, u in rows
        )
        + f"</table><p>{escape(settings)}</p>"
    )
    return text, html


def reminder(mandate: Mandate, zone: ZoneInfo) -> Message:
    text = (
        f"{mandate.holder}: your mandate as {mandate.role} ends "
        f"{format_local(mandate.expires, zone)}. "
        f"Time to hand over. To renew it, someone proposes !renew {mandate.role} and another "
        "member confirms with the same command."
    )
    return text, f"<p>{escape(text)}</p>"


def vacancy(mandates: Sequence[Mandate], redraw: bool) -> Message:
    names = ", ".join(m.role for m in mandates)
    who = ", ".join(f"{m.role} ({m.holder})" for m in mandates)
    plural = len(mandates) > 1
    text = (
        f"The mandate{'s' if plural else ''} of {who} ended: {names} {'are' if plural else 'is'} "
        "vacant now. Thank you for holding "
        f"{'them' if plural else 'it'}. "
        + ("I draw again now." if redraw else "Draw again with !draw when you are ready.")
    )
    return text, f"<p>{escape(text)}</p>"


def numbered(title: str, people: Sequence[str]) -> Message:
    text = title + "\n" + "\n".join(f"  {i}. {p}" for i, p in enumerate(people, start=1))
    return text, f"<p>{escape(title)}</p>" + _list((escape(p) for p in people), ordered=True)


def groups(title: str, label: str, grouped: Sequence[Sequence[str]], note: str = "") -> Message:
    lines = [f"{label} {i}: " + ", ".join(g) for i, g in enumerate(grouped, start=1)]
    text = title + "\n" + "\n".join(f"  {line}" for line in lines) + (f"\n{note}" if note else "")
    html = (
        f"<p>{escape(title)}</p>"
        + _list(escape(line) for line in lines)
        + (f"<p>{escape(note)}</p>" if note else "")
    )
    return text, html


def cell_welcome(
    index: int, count: int, members: Sequence[str], sunset: datetime, zone: ZoneInfo
) -> Message:
    text = (
        f"Welcome to cell {index} of {count}: {', '.join(members)}. This room was drawn by chance "
        f"and closes {format_local(sunset, zone)}: then I post a closing note and leave. "
        "What you build here is yours to carry on, or to let go."
    )
    return text, f"<p>{escape(text)}</p>"


def cell_closing(index: int) -> Message:
    text = (
        f"Cell {index} has reached its sunset. Thank you for meeting. I am leaving this room now; "
        "you may stay, or let it go: practice disappearance."
    )
    return text, f"<p>{escape(text)}</p>"
