"""The rides' messages, in the language of the room or the DM they go to (bots/runtime/i18n.py).
Times of day are HH:MM, read the same in every shipped language."""

from __future__ import annotations

from collections.abc import Sequence

from bots.runtime.i18n import Value, _, ngettext
from bots.runtime.message import Message, Span, bold, code, mention
from protocols.dayofaction.rides import format_clock


def offer_kept(seats: int, area: str, at: int, run_id: str) -> Message:
    return Message.of(
        ngettext(
            "Offer kept: {n} seat from {area} at {time} for run {run}. When a rider fits, I ask you by "
            "DM; names are shared only there, once you approve.",
            "Offer kept: {n} seats from {area} at {time} for run {run}. When a rider fits, I ask you by "
            "DM; names are shared only there, once you approve.",
            seats,
            area=bold(area),
            time=format_clock(at),
            run=code(run_id),
        )
    )


def need_kept(seats: int, area: str, at: int | None, run_id: str) -> Message:
    if at is None:
        return Message.of(
            ngettext(
                "Need kept: {n} seat from {area} for run {run}. When a driver approves, I tell you both "
                "by DM who the other is.",
                "Need kept: {n} seats from {area} for run {run}. When a driver approves, I tell you both "
                "by DM who the other is.",
                seats,
                area=bold(area),
                run=code(run_id),
            )
        )
    return Message.of(
        ngettext(
            "Need kept: {n} seat from {area} around {time} for run {run}. When a driver approves, I "
            "tell you both by DM who the other is.",
            "Need kept: {n} seats from {area} around {time} for run {run}. When a driver approves, I "
            "tell you both by DM who the other is.",
            seats,
            area=bold(area),
            time=format_clock(at),
            run=code(run_id),
        )
    )


def per_area(run_id: str, rows: Sequence[tuple[str, int, int]]) -> Message:
    msg = Message.of(
        _("Rides for run {run} per area (free seats offered / seats still needed):", run=code(run_id))
    )
    lines: list[Span] = [
        _("{area}: {offered} offered, {needed} needed", area=a, offered=o, needed=n) for a, o, n in rows
    ]
    return msg.bullets(lines or [_("nothing yet")])


def approved(rider: str, seats: int, area: str) -> Message:
    return Message.of(
        ngettext(
            "Approved. Your rider: {rider} ({n} seat, from {area}).",
            "Approved. Your rider: {rider} ({n} seats, from {area}).",
            seats,
            rider=mention(rider),
            area=area,
        )
    )


def taken(driver: str, area: str, at: int) -> Message:
    return Message.of(
        _(
            "A driver takes you: {driver}, leaving {area} at {time}.",
            driver=mention(driver),
            area=area,
            time=format_clock(at),
        )
    )


def declined() -> Message:
    return Message.of(_("Declined; the rider never learns who you are."))


def proposal(need_id: int, run_id: str, seats: int, area: str, around: int | None, leaves: int) -> Message:
    values: dict[str, Value] = {
        "id": code(str(need_id)),
        "run": run_id,
        "area": area,
        "leaves": format_clock(leaves),
    }
    if around is None:
        head = ngettext(
            "Ride proposal {id} (run {run}): a rider needs {n} seat from {area}; your offer leaves at "
            "{leaves}.",
            "Ride proposal {id} (run {run}): a rider needs {n} seats from {area}; your offer leaves at "
            "{leaves}.",
            seats,
            **values,
        )
    else:
        head = ngettext(
            "Ride proposal {id} (run {run}): a rider needs {n} seat from {area}, around {time}; your "
            "offer leaves at {leaves}.",
            "Ride proposal {id} (run {run}): a rider needs {n} seats from {area}, around {time}; your "
            "offer leaves at {leaves}.",
            seats,
            time=format_clock(around),
            **values,
        )
    return Message.of(head).paragraph(
        _(
            "Approve with {approve} or decline with {decline}. You learn each other's name only if you "
            "approve.",
            approve=code(f"!ride approve {need_id}"),
            decline=code(f"!ride decline {need_id}"),
        )
    )
