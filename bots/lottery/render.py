"""The lottery's messages, built from the stored records as :class:`Message` (plain text and
HTML from one source; nothing is escaped by hand, no tables).

Pure functions (no Matrix, no database): the feature decides what to say, these say it. Times
are shown in the room's zone; a member the message is about is a mention (a pill).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bots.runtime.i18n import _, duration, ngettext, when
from bots.runtime.message import Inline, Message, bold, code, mention
from protocols.lottery import DrawInputs, PublishedDraw, canonical_json
from protocols.mandates import Mandate
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
        bold(_("Draw {id}", id=inputs.draw_id)),
        _(
            ": {roles}, among {count} ({pool}).",
            roles=", ".join(inputs.roles),
            count=str(len(inputs.pool)),
            pool=", ".join(inputs.pool),
        ),
    )
    notes: list[Inline] = [
        _("{role} only among the {count} who hold its skill", role=role, count=str(len(ms)))
        for role, ms in sorted(inputs.eligible.items())
    ]
    notes += [
        ngettext(
            "{role}: {members} shadowed it last and goes first",
            "{role}: {members} shadowed it last and go first",
            len(ms),
            role=role,
            members=", ".join(ms),
        )
        for role, ms in sorted(inputs.first.items())
    ]
    if inputs.shadows:
        notes.append(
            _(
                "with a shadow for {roles}, among those who never held it",
                roles=", ".join(r for r in inputs.roles if r in inputs.shadows),
            )
        )
    if notes:
        joined: list[Inline] = []
        for note in notes:
            joined += [note, "; "]
        msg = msg.paragraph(*joined[:-1], ".")
    return (
        msg.paragraph(_("Commitment: {digest}", digest=code(digest)))
        .paragraph(
            _(
                "Add your chance: {how} within {window} (until {when}). Then I reveal my seed and "
                "the result; anyone can check it with {command}.",
                how=bold(_("react to this message or reply to it")),
                window=duration(window),
                when=when(reveal_at, zone),
                command=code(f"!verify {inputs.draw_id}"),
            )
        )
        .paragraph(_("Inputs:"))
        .preformatted(record)
    )


def result(done: Completion, zone: ZoneInfo) -> Message:
    """The reveal: who holds what until when (each holder pinged), the seed, and how to check."""
    published = done.published
    draw_id = published.inputs.draw_id
    lines: list[list[Inline]] = []
    for m in done.granted:
        line: list[Inline] = [
            _(
                "{role} → {holder} (until {when})",
                role=m.role,
                holder=mention(m.holder),
                when=when(m.expires, zone),
            )
        ]
        shadow = published.assignment.shadow(m.role)
        if shadow is not None:
            line.append(
                _(
                    ", shadow: {shadow} (beside the holder, and first in the pool next time)",
                    shadow=mention(shadow),
                )
            )
        elif m.role in published.inputs.shadows:
            line.append(_(", no shadow: everyone in the pool has held it"))
        lines.append(line)
    lines += [[_("{role} was filled meanwhile and stays as it is", role=role)] for role in done.skipped]
    count = len(published.contributions)
    return (
        Message()
        .paragraph(bold(_("Draw {id} result:", id=draw_id)))
        .bullets(lines)
        .paragraph(_("Seed: {seed}", seed=code(published.seed.hex())))
        .paragraph(
            ngettext(
                "With {n} contribution from members. Check it: {command} (or offline, see {doc}).",
                "With {n} contributions from members. Check it: {command} (or offline, see {doc}).",
                count,
                command=code(f"!verify {draw_id}"),
                doc=code(ALGORITHM_DOC),
            )
        )
    )


def verified(published: PublishedDraw, problems: Sequence[str]) -> Message:
    """``!verify``: the verdict, then the whole record as JSON (what the offline program reads;
    the last line of the plain text)."""
    draw_id = published.inputs.draw_id
    record = canonical_json(published.to_json()).decode()
    verdict: Inline
    if problems:
        verdict = _("Draw {id} does NOT check out: {problems}.", id=draw_id, problems="; ".join(problems))
    else:
        picks = ", ".join(f"{role} → {holder}" for role, holder in published.assignment.picks)
        picks += "".join(f", {role} shadow → {who}" for role, who in published.assignment.shadows)
        verdict = _(
            "Draw {id} checks out: the seed matches the commitment {commitment}, and recomputing "
            "from the inputs, the seed and {count} contributions gives the published result ({picks}).",
            id=draw_id,
            commitment=published.commitment,
            count=str(len(published.contributions)),
            picks=picks,
        )
    return (
        Message()
        .paragraph(verdict)
        .paragraph(
            _(
                "To recompute it yourself, save the JSON below and run the program in {doc}.",
                doc=code(ALGORITHM_DOC),
            )
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
    rows: list[tuple[Inline, list[Inline]]] = []
    for name in setup.roles:
        needed = (needs or {}).get(name)
        role: Inline = _("{role} (needs {skill})", role=name, skill=needed) if needed else name
        mandate = mandates.get(name)
        shadow = (shadows or {}).get(name)
        if mandate is None or not mandate.active(now):
            rows.append(
                (
                    role,
                    [
                        _("vacant ({who} shadowed it and goes first)", who=shadow[0])
                        if shadow
                        else _("vacant")
                    ],
                )
            )
            continue
        until: list[Inline] = [
            _("{holder} until {when}", holder=mandate.holder, when=when(mandate.expires, zone))
        ]
        if shadow is not None and shadow[1] > now:
            until.append(_(", shadowed by {who}", who=shadow[0]))
        if mandate.renewal is not None:
            until.append(
                _(" (renewal proposed by {who}, awaiting confirmation)", who=mandate.renewal.proposed_by)
            )
        rows.append((role, until))
    settings: list[Inline] = [
        _(
            "Mandates last {term}; the window for chance is {window}; a role that ends is {what}. "
            "Times in {zone}.",
            term=duration(setup.term),
            window=duration(options.commit_window),
            what=_("drawn again at once") if options.redraw else _("left vacant until !draw"),
            zone=zone.key,
        )
    ]
    if pending:
        settings += [" ", _("Draw open now: {roles}.", roles=", ".join(pending))]
    return Message().paragraph(_("Roles:")).definitions(rows).paragraph(*settings)


def reminder(mandate: Mandate, zone: ZoneInfo) -> Message:
    return Message.of(
        mention(mandate.holder),
        _(
            ": your mandate as {role} ends {when}. Time to hand over. To renew it, someone "
            "proposes !renew {role} and another member confirms with the same command.",
            role=mandate.role,
            when=when(mandate.expires, zone),
        ),
    )


def vacancy(mandates: Sequence[Mandate], redraw: bool) -> Message:
    names = ", ".join(m.role for m in mandates)
    who = ", ".join(f"{m.role} ({m.holder})" for m in mandates)
    return Message.of(
        ngettext(
            "The mandate of {who} ended: {names} is vacant now. Thank you for holding it.",
            "The mandates of {who} ended: {names} are vacant now. Thank you for holding them.",
            len(mandates),
            who=who,
            names=names,
        ),
        " ",
        _("I draw again now.") if redraw else _("Draw again with !draw when you are ready."),
    )


def numbered(title: Inline, people: Sequence[str]) -> Message:
    return Message.of(title).numbered(people)


def groups(
    title: Inline, label: Callable[[int], Inline], grouped: Sequence[Sequence[str]], note: Inline = ""
) -> Message:
    """``Triad 1: a, b, c`` lines (one line each in plain text, a list in HTML); ``label``
    names the n-th group (``Triad 1``) in the room's language."""
    msg = Message.of(title).definitions((label(i), ", ".join(g)) for i, g in enumerate(grouped, start=1))
    return msg.paragraph(note) if note else msg


def triad(number: int) -> Inline:
    return _("Triad {number}", number=number)


def cell(number: int) -> Inline:
    return _("Cell {number}", number=number)


def cell_welcome(index: int, count: int, members: Sequence[str], sunset: datetime, zone: ZoneInfo) -> Message:
    return Message.of(
        _(
            "Welcome to cell {index} of {count}: {members}. This room was drawn by chance and "
            "closes {when}: then I post a closing note and leave. What you build here is yours to "
            "carry on, or to let go.",
            index=str(index),
            count=str(count),
            members=", ".join(members),
            when=when(sunset, zone),
        )
    )


def cell_closing(index: int) -> Message:
    return Message.of(
        _(
            "Cell {index} has reached its sunset. Thank you for meeting. I am leaving this room now; "
            "you may stay, or let it go: practice disappearance.",
            index=str(index),
        )
    )
