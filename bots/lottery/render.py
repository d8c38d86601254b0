"""The lottery's messages, built from the stored records as :class:`Message` (plain text and
HTML from one source; nothing is escaped by hand, no tables).

Pure functions (no Matrix, no database): the feature decides what to say, these say it. Times
are shown in the room's zone; a member the message is about is a mention (a pill).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.runtime.message import Inline, Message, bold, code, mention
from protocols.lottery import DrawInputs, PublishedDraw, canonical_json
from protocols.mandates import Mandate
from protocols.timespec import format_duration, format_local
from storage.lottery_draws import Completion
from storage.lottery_options import Options
from storage.lottery_roles import RoomSetup

ALGORITHM_DOC = "docs/lottery-algorithm.md"


def commitment(
    inputs: DrawInputs, digest: str, window: timedelta, reveal_at: datetime, zone: ZoneInfo
) -> Message:
    """The notice posted first: what is drawn, among whom, and the hash that fixes the seed."""
    record = canonical_json(inputs.to_json()).decode()
    msg = Message().paragraph(
        bold(f"Draw {inputs.draw_id}"),
        f": {', '.join(inputs.roles)}, among {len(inputs.pool)} ({', '.join(inputs.pool)}).",
    )
    notes = [
        f"{role} only among the {len(ms)} who hold its skill" for role, ms in sorted(inputs.eligible.items())
    ]
    notes += [
        f"{role}: {', '.join(ms)} shadowed it last and go{'es' if len(ms) == 1 else ''} first"
        for role, ms in sorted(inputs.first.items())
    ]
    if inputs.shadows:
        notes.append(
            f"with a shadow for {', '.join(r for r in inputs.roles if r in inputs.shadows)}, among those who never held it"
        )
    if notes:
        msg = msg.paragraph("; ".join(notes) + ".")
    return (
        msg.paragraph("Commitment: ", code(digest))
        .paragraph(
            "Add your chance: ",
            bold("react to this message or reply to it"),
            f" within {format_duration(window)} (until {format_local(reveal_at, zone)}). Then I "
            "reveal my seed and the result; anyone can check it with ",
            code(f"!verify {inputs.draw_id}"),
            ".",
        )
        .paragraph("Inputs:")
        .preformatted(record)
    )


def result(done: Completion, zone: ZoneInfo) -> Message:
    """The reveal: who holds what until when (each holder pinged), the seed, and how to check."""
    published = done.published
    draw_id = published.inputs.draw_id
    lines: list[list[Inline]] = []
    for m in done.granted:
        line: list[Inline] = [f"{m.role} → ", mention(m.holder), f" (until {format_local(m.expires, zone)})"]
        shadow = published.assignment.shadow(m.role)
        if shadow is not None:
            line += [", shadow: ", mention(shadow), " (beside the holder, and first in the pool next time)"]
        elif m.role in published.inputs.shadows:
            line.append(", no shadow: everyone in the pool has held it")
        lines.append(line)
    lines += [[f"{role} was filled meanwhile and stays as it is"] for role in done.skipped]
    count = len(published.contributions)
    return (
        Message()
        .paragraph(bold(f"Draw {draw_id} result:"))
        .bullets(lines)
        .paragraph("Seed: ", code(published.seed.hex()))
        .paragraph(
            f"With {count} contribution{'' if count == 1 else 's'} from members. Check it: ",
            code(f"!verify {draw_id}"),
            " (or offline, see ",
            code(ALGORITHM_DOC),
            ").",
        )
    )


def verified(published: PublishedDraw, problems: Sequence[str]) -> Message:
    """``!verify``: the verdict, then the whole record as JSON (what the offline program reads;
    the last line of the plain text)."""
    draw_id = published.inputs.draw_id
    record = canonical_json(published.to_json()).decode()
    if problems:
        verdict = f"Draw {draw_id} does NOT check out: " + "; ".join(problems) + "."
    else:
        picks = ", ".join(f"{role} → {holder}" for role, holder in published.assignment.picks)
        picks += "".join(f", {role} shadow → {who}" for role, who in published.assignment.shadows)
        verdict = (
            f"Draw {draw_id} checks out: the seed matches the commitment {published.commitment}, "
            f"and recomputing from the inputs, the seed and {len(published.contributions)} "
            f"contributions gives the published result ({picks})."
        )
    return (
        Message()
        .paragraph(verdict)
        .paragraph(
            "To recompute it yourself, save the JSON below and run the program in ",
            code(ALGORITHM_DOC),
            ".",
        )
        .preformatted(record)
    )


def roles(
    setup: RoomSetup,
    options: Options,
    mandates: Mapping[str, Mandate],
    pending: Sequence[str],
    now: datetime,
    zone: ZoneInfo,
    shadows: Mapping[str, tuple[str, datetime]] | None = None,
    needs: Mapping[str, str] | None = None,
) -> Message:
    """``!roles``: each role (with the skill it requires) with its holder and expiry (local
    time) and its shadow, then the room's settings."""
    rows: list[tuple[str, str]] = []
    for name in setup.roles:
        needed = (needs or {}).get(name)
        role = f"{name} (needs {needed})" if needed else name
        mandate = mandates.get(name)
        shadow = (shadows or {}).get(name)
        if mandate is None or not mandate.active(now):
            rows.append((role, "vacant" + (f" ({shadow[0]} shadowed it and goes first)" if shadow else "")))
            continue
        until = f"{mandate.holder} until {format_local(mandate.expires, zone)}"
        if shadow is not None and shadow[1] > now:
            until += f", shadowed by {shadow[0]}"
        if mandate.renewal is not None:
            until += f" (renewal proposed by {mandate.renewal.proposed_by}, awaiting confirmation)"
        rows.append((role, until))
    settings = (
        f"Mandates last {format_duration(setup.term)}; the window for chance is "
        f"{format_duration(options.commit_window)}; a role that ends is "
        f"{'drawn again at once' if options.redraw else 'left vacant until !draw'}. "
        f"Times in {zone.key}."
    )
    if pending:
        settings += " Draw open now: " + ", ".join(pending) + "."
    return Message().paragraph("Roles:").definitions(rows).paragraph(settings)


def reminder(mandate: Mandate, zone: ZoneInfo) -> Message:
    return Message.of(
        mention(mandate.holder),
        f": your mandate as {mandate.role} ends {format_local(mandate.expires, zone)}. "
        f"Time to hand over. To renew it, someone proposes !renew {mandate.role} and another "
        "member confirms with the same command.",
    )


def vacancy(mandates: Sequence[Mandate], redraw: bool) -> Message:
    names = ", ".join(m.role for m in mandates)
    who = ", ".join(f"{m.role} ({m.holder})" for m in mandates)
    plural = len(mandates) > 1
    return Message.of(
        f"The mandate{'s' if plural else ''} of {who} ended: {names} {'are' if plural else 'is'} "
        f"vacant now. Thank you for holding {'them' if plural else 'it'}. "
        + ("I draw again now." if redraw else "Draw again with !draw when you are ready.")
    )


def numbered(title: str, people: Sequence[str]) -> Message:
    return Message.of(title).numbered(people)


def groups(title: str, label: str, grouped: Sequence[Sequence[str]], note: str = "") -> Message:
    """``Triad 1: a, b, c`` lines (one line each in plain text, a list in HTML)."""
    msg = Message.of(title).definitions(
        (f"{label} {i}", ", ".join(g)) for i, g in enumerate(grouped, start=1)
    )
    return msg.paragraph(note) if note else msg


def cell_welcome(index: int, count: int, members: Sequence[str], sunset: datetime, zone: ZoneInfo) -> Message:
    return Message.of(
        f"Welcome to cell {index} of {count}: {', '.join(members)}. This room was drawn by chance "
        f"and closes {format_local(sunset, zone)}: then I post a closing note and leave. "
        "What you build here is yours to carry on, or to let go."
    )


def cell_closing(index: int) -> Message:
    return Message.of(
        f"Cell {index} has reached its sunset. Thank you for meeting. I am leaving this room now; "
        "you may stay, or let it go: practice disappearance."
    )
