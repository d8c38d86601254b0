"""The herald's chat surface: ``!coalition``, ``!local``, ``!protocol``, ``!ack``, ``!event(s)``.

Each handler validates everything before it writes, so a refused command changes nothing; the
rules (templates, plans, local details, events) live in ``protocols.herald``; their refusals
(``RuleError``) become the user's error message where every typed error does, in the runtime.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bots.runtime.context import Context, escape
from bots.runtime.errors import MatrixError, PermissionDenied, UserError
from bots.runtime.ids import RoomID, is_user_id, server_of
from bots.runtime.router import RoomRef, Router, Words
from protocols.herald import (
    CalendarEvent,
    ack_board,
    check_can_confirm,
    events_listing,
    events_to_ics,
    make_amendment,
    make_cancellation,
    make_plan,
    new_run_id,
    parse_event_add,
    validate_local,
)
from protocols.herald.consent import (
    INVITE_TTL,
    MAX_AMENDMENTS_PER_HOUR,
    MAX_EVENTS_PER_COALITION,
    MAX_EVENTS_PER_ROOM,
    MAX_LIVE_RUNS,
    MAX_MEMBERS,
    MAX_OPEN_INVITES,
    TOKEN_BYTES,
    check_coalition_name,
    check_invite_token,
    make_invite_token,
)
from protocols.timespec import format_duration, format_local, parse_when
from storage.herald import Coalition, Member, Run, token_hash

if TYPE_CHECKING:
    from bots.herald.feature import HeraldFeature

router = Router("herald")

def _herald(ctx: Context) -> HeraldFeature:
    return ctx.bot.feature("herald")  # type: ignore[return-value]


def _run_id(text: str) -> str:
    return text.strip().lower()


async def _membership(ctx: Context) -> tuple[Coalition, Member]:
    found = await _herald(ctx).membership(ctx.room_id)
    if found is None:
        raise UserError(
            "This room is not in a coalition. A coalition's coordination room invites a room "
            "(!coalition invite); a moderator here then types !coalition join <token>."
        )
    return found


async def _coordination(ctx: Context) -> Coalition:
    """The coalition this room coordinates, if the sender may coordinate it."""
    h = _herald(ctx)
    coordinated = await h.coalitions.coordinated_by(ctx.room_id)
    if not coordinated:
        raise UserError(
            "Only a coalition's coordination room can do this (the room that created it with "
            "!coalition create <name>); this room coordinates none."
        )
    if not h.is_coordinator(ctx.sender):
        raise PermissionDenied(
            "Starting, amending and cancelling protocols is limited to the coordinators this "
            "bot's operator named (access.coordinators); ask one of them."
        )
    return coordinated[0]


async def _run_in(ctx: Context, coalition: Coalition, run_id: str) -> Run:
    run = await _herald(ctx).runs.get(_run_id(run_id))
    if run is None or run.coalition != coalition.name:
        raise UserError(f"There is no run {run_id} in coalition {coalition.name}. !protocol status lists the latest.")
    return run


async def _require_liaison(ctx: Context, member: Member | None) -> None:
    if member is not None and member.liaison == ctx.sender:
        return
    try:
        await ctx.require_power("moderator")
    except PermissionDenied:
        raise PermissionDenied(
            "Only this room's liaison or a moderator can do this"
            + (f" (the liaison is {member.liaison})." if member is not None and member.liaison else ".")
        ) from None


# --- coalitions ---------------------------------------------------------------------------


async def _coordinators_of(ctx: Context, coalition: Coalition) -> list[str]:
    """Who coordinates: the coordination room's moderators the operator allows to coordinate."""
    h = _herald(ctx)
    room = RoomID(coalition.coordination_room)
    needed = ctx.bot.power_needed("moderator")
    if needed is None:
        return []
    try:  # the levels and creators once, not once per member: a room may be large
        members = await ctx.bot.human_members(room)
        levels = await ctx.bot.matrix.power_levels(room)
        creators = await ctx.bot.matrix.creators(room)
    except MatrixError:
        return []
    users = levels.get("users") or {}
    default = levels.get("users_default", 0)

    def power(user: str) -> int:
        try:
            return int(users.get(user, default))
        except (TypeError, ValueError):
            return 0

    found = [str(u) for u in members if (u in creators or power(u) >= needed) and h.is_coordinator(u)]
    return sorted(found)[:10]


async def _not_in_a_coalition(ctx: Context) -> None:
    current = await _herald(ctx).coalitions.coalitions_of(ctx.room_id)
    if current:
        raise UserError(
            f"This room is already in coalition {current[0].name}; a room takes part in one "
            "coalition at a time. Leave it first with !coalition leave."
        )


@router.command(
    "coalition create", help="Create a coalition coordinated from this room", power="moderator", where="room"
)
async def coalition_create(ctx: Context, name: str) -> None:
    h = _herald(ctx)
    wanted = check_coalition_name(name)
    await _not_in_a_coalition(ctx)
    homeserver = server_of(ctx.room_id) or server_of(ctx.sender)
    created = await h.coalitions.create(wanted, ctx.room_id, homeserver, ctx.sender, ctx.now)
    if created is None:
        raise UserError(
            f"A coalition named {wanted} already exists on this bot; pick another name. "
            "To join it, ask its coordination room for an invitation."
        )
    await ctx.reply(
        f"Coalition {wanted} created; this room coordinates it: its moderators start, amend and "
        "cancel protocol runs. Rooms join only by invitation: a coordinator types "
        "!coalition invite [room] here and passes the token to that room. "
        f"This room's liaison is {ctx.sender} (change with !coalition liaison <@user>)."
    )


@router.command(
    "coalition invite",
    help="Issue a one-time invitation to this room's coalition (optionally for one room)",
    power="moderator",
    where="room",
)
async def coalition_invite(ctx: Context, room: RoomRef | None = None) -> None:
    h = _herald(ctx)
    coalition = await _coordination(ctx)
    target: str | None = None
    if room is not None:
        try:
            target = str(await ctx.bot.matrix.resolve_room(room))
        except MatrixError:
            raise UserError(
                "The bot cannot find that room: use #alias:server, a room id or a matrix.to link."
            ) from None
        if target in {m.room_id for m in await h.coalitions.members(coalition.name)}:
            raise UserError(f"That room is already in coalition {coalition.name}.")
    if await h.coalitions.count_members(coalition.name) >= MAX_MEMBERS:
        raise UserError(
            f"Coalition {coalition.name} has {MAX_MEMBERS} rooms, the most one coalition may have; "
            "remove a room (!coalition remove <room>) before inviting another."
        )
    token = make_invite_token(secrets.token_bytes(TOKEN_BYTES))
    expires = ctx.now + INVITE_TTL
    if not await h.coalitions.add_invite(
        coalition.name, token_hash(token), target, ctx.sender, ctx.now, expires, MAX_OPEN_INVITES
    ):
        raise UserError(
            f"Coalition {coalition.name} already has {MAX_OPEN_INVITES} open invitations; "
            f"wait until some are used or expire ({format_duration(INVITE_TTL)} after they were issued)."
        )
    zone = await h.zone_of(ctx.room_id)
    which = "one room (the one named)" if target else "one room"
    await ctx.reply(
        f"Invitation to coalition {coalition.name}, for {which}, valid once until "
        f"{format_local(expires, zone)}:\n{token}\n"
        f"Pass it privately to a moderator of the joining room; they type there: !coalition join {token}"
    )


@router.command(
    "coalition join",
    help="Join a coalition with an invitation token from its coordination room",
    power="moderator",
    where="room",
)
async def coalition_join(ctx: Context, token: str) -> None:
    h = _herald(ctx)
    typed = check_invite_token(token)
    await _not_in_a_coalition(ctx)
    homeserver = server_of(ctx.room_id) or server_of(ctx.sender)
    used = await h.coalitions.use_invite(
        token_hash(typed), ctx.room_id, homeserver, ctx.sender, ctx.now, MAX_MEMBERS
    )
    if used.outcome == "other_room":
        raise UserError("This invitation was issued for another room; it works only there.")
    if used.outcome == "full":
        raise UserError(f"That coalition already has {MAX_MEMBERS} rooms, the most one coalition may have.")
    if used.coalition is None:
        raise UserError(
            "This invitation is not valid: it was never issued by this bot, was used already, or expired "
            f"(invitations last {format_duration(INVITE_TTL)}). Ask the coordination room for a new one."
        )
    coalition = used.coalition
    coordination = await h.label(coalition.coordination_room)
    coordinators = await _coordinators_of(ctx, coalition)
    who = ", ".join(coordinators) if coordinators else "its moderators"
    await ctx.reply(
        f"This room joined coalition {coalition.name}. It is coordinated from “{coordination}” "
        f"({coalition.coordination_room}) by {who}: protocol messages from this bot in this coalition come "
        f"from them. This room's liaison is {ctx.sender} (change with !coalition liaison <@user>). "
        "Fill in your local details with !local set meeting_point <place>, "
        "!local set local_contact <who>, !local set timezone <Area/City>. "
        "A moderator can take this room out at any time with !coalition leave."
    )
    label = await h.label(ctx.room_id)
    await ctx.bot.post(
        coalition.coordination_room,
        f"➕ {label} ({homeserver}) joined coalition {coalition.name} with an invitation; liaison {ctx.sender}.",
        None, key=ctx.key("coalition-joined"),
    )


@router.command(
    "coalition remove", help="Take a member room out of this room's coalition", power="moderator", where="room"
)
async def coalition_remove(ctx: Context, room: RoomRef) -> None:
    h = _herald(ctx)
    coalition = await _coordination(ctx)
    try:
        target = str(await ctx.bot.matrix.resolve_room(room))
    except MatrixError:
        raise UserError(
            "The bot cannot find that room: use #alias:server, a room id or a matrix.to link."
        ) from None
    if target == coalition.coordination_room:
        raise UserError("The coordination room cannot remove itself; it coordinates the coalition.")
    if not await h.coalitions.leave(coalition.name, target):
        raise UserError(f"That room is not in coalition {coalition.name}; !coalition rooms lists its rooms.")
    cancelled = await h.runs.cancel_room(target, coalition.name)
    label = await h.label(target)
    await ctx.reply(
        f"{label} is out of coalition {coalition.name}: it gets nothing further "
        f"({cancelled} pending messages to it will not be sent)."
    )
    await ctx.bot.post(
        target,
        f"This room was removed from coalition {coalition.name} by its coordination room: "
        "it gets no more of its protocol messages.",
        None, key=ctx.key("coalition-removed"),
    )


@router.command("coalition leave", help="Take this room out of its coalition", power="moderator", where="room")
async def coalition_leave(ctx: Context) -> None:
    h = _herald(ctx)
    coalition, _ = await _membership(ctx)
    if coalition.coordination_room == ctx.room_id:
        raise UserError(
            f"This room coordinates coalition {coalition.name}, so it cannot leave it; "
            "its member rooms would be left without coordinators."
        )
    await h.coalitions.leave(coalition.name, ctx.room_id)
    await h.runs.cancel_room(ctx.room_id, coalition.name)
    await ctx.reply(f"This room left coalition {coalition.name}: it gets no more of its protocol messages.")
    label = await h.label(ctx.room_id)
    await ctx.bot.post(
        coalition.coordination_room, f"➖ {label} left coalition {coalition.name}.",
        None, key=ctx.key("coalition-left"),
    )


@router.command("coalition rooms", help="List the coalition's rooms, their homeserver and liaison (member rooms only)")
async def coalition_rooms(ctx: Context) -> None:
    from bots.herald.render import rooms_table

    h = _herald(ctx)
    coalition, _ = await _membership(ctx)
    members = await h.coalitions.members(coalition.name)
    labelled = [(m, await h.label(m.room_id)) for m in members]
    text, html = rooms_table(coalition.name, coalition.coordination_room, labelled)
    await ctx.reply(text, html)


@router.command("coalition liaison", help="Name this room's liaison to the coalition", power="moderator", where="room")
async def coalition_liaison(ctx: Context, user: str) -> None:
    h = _herald(ctx)
    coalition, _ = await _membership(ctx)
    if not is_user_id(user):
        raise UserError(f"'{user}' is not a Matrix user id; write it like @name:example.org.")
    if user not in await ctx.bot.human_members(ctx.room_id):
        raise UserError(f"{user} is not in this room: invite them first, then name them liaison.")
    await h.coalitions.set_liaison(coalition.name, ctx.room_id, user)
    await ctx.reply(f"{user} is now this room's liaison to coalition {coalition.name}: they acknowledge protocols.")


# --- local details ------------------------------------------------------------------------


@router.command("local set", help="Set a local detail used in protocol messages (meeting_point, local_contact, language, timezone)")
async def local_set(ctx: Context, key: str, value: Words) -> None:
    h = _herald(ctx)
    found = await h.membership(ctx.room_id)
    await _require_liaison(ctx, found[1] if found else None)
    norm_key, norm_value = validate_local(key, ctx.tail(3))
    await h.local.set(ctx.room_id, norm_key, norm_value, ctx.now)
    await ctx.reply(f"{norm_key} set to: {norm_value}")


@router.command("local show", help="Show this room's local details")
async def local_show(ctx: Context) -> None:
    from bots.herald.render import local_details

    text, html = local_details(await _herald(ctx).details(ctx.room_id))
    await ctx.reply(text, html)


# --- protocols ----------------------------------------------------------------------------


@router.command("protocol list", help="List the day-of-action protocol templates")
async def protocol_list(ctx: Context) -> None:
    from bots.herald.render import template_list

    h = _herald(ctx)
    text, html = template_list(h.library(), h.template_problems)
    await ctx.reply(text, html)


@router.command("protocol show", help="Show a template's phases, checklists and acknowledgements")
async def protocol_show(ctx: Context, template: str) -> None:
    from bots.herald.render import template_detail

    text, html = template_detail(_herald(ctx).template(template))
    await ctx.reply(text, html)


@router.command("protocol start", help="Plan a run (rooms x phases) and show it with its run id", power="moderator")
async def protocol_start(ctx: Context, template: str, *, at: str) -> None:
    from bots.herald.render import plan_preview

    h = _herald(ctx)
    coalition = await _coordination(ctx)
    chosen = h.template(template)
    zone = await h.zone_of(ctx.room_id)
    action_at = parse_when(at, zone)
    live = await h.runs.list_for(coalition.name, ("planned", "confirmed"))
    if len(live) >= MAX_LIVE_RUNS:
        raise UserError(
            f"Coalition {coalition.name} already has {MAX_LIVE_RUNS} runs planned or under way, the most "
            "it may have; cancel one (!protocol cancel <run>) or wait until one is done."
        )
    members = await h.coalitions.members(coalition.name)
    rooms = await h.member_rooms(members)
    run_id = new_run_id(secrets.token_bytes(16))
    plan = make_plan(run_id, chosen, action_at, rooms, ctx.now, coalition=coalition.name)
    await h.runs.create(run_id, coalition.name, chosen.name, action_at, ctx.now)
    labelled = [(room, await h.label(room.room_id)) for room in rooms]
    text, html = plan_preview(run_id, chosen, action_at, labelled, plan, zone)
    await ctx.reply(text, html)


@router.command("protocol confirm", help="Schedule every phase of a planned run for every member room", power="moderator")
async def protocol_confirm(ctx: Context, run: str) -> None:
    h = _herald(ctx)
    coalition = await _coordination(ctx)
    found = await _run_in(ctx, coalition, run)
    check_can_confirm(found.run_id, found.state)
    template = h.template(found.template)
    rooms = await h.member_rooms(await h.coalitions.members(coalition.name))
    # Planned again now: the rooms and local details as they are at confirmation.
    plan = make_plan(found.run_id, template, found.action_at, rooms, ctx.now, coalition=coalition.name)
    if not await h.runs.confirm(found.run_id, plan, ctx.now):
        raise UserError(f"Run {found.run_id} was confirmed or cancelled meanwhile; see !protocol status {found.run_id}.")
    later = sorted({m.due_at for m in plan if not m.immediate})
    now_phases = sorted({m.phase_key for m in plan if m.immediate})
    zone = await h.zone_of(ctx.room_id)
    parts = [f"Run {found.run_id} confirmed: {len(plan)} messages to {len(rooms)} rooms."]
    if now_phases:
        parts.append(f"Going out now: {', '.join(now_phases)}.")
    if later:
        parts.append(f"Next at {format_local(later[0], zone)}.")
    parts.append(f"Acknowledgements: !protocol status {found.run_id}.")
    await ctx.reply(" ".join(parts))
    h.schedule_deliveries(found.run_id, later)
    await h.deliver_due(found.run_id)


@router.command("protocol status", help="The acknowledgement board of a run (rooms x phases)")
async def protocol_status(ctx: Context, run: str | None = None) -> None:
    h = _herald(ctx)
    coalition, _ = await _membership(ctx)
    if run is not None:
        found = await _run_in(ctx, coalition, run)
    else:
        runs = await h.runs.list_for(coalition.name)
        if not runs:
            raise UserError(f"Coalition {coalition.name} has no protocol runs yet.")
        live = [r for r in runs if r.state != "planned"] or runs
        found = max(live, key=lambda r: r.created_at)
    template = h.template(found.template)
    deliveries = await h.runs.deliveries(found.run_id)
    members = await h.coalitions.members(coalition.name)
    order = [m.room_id for m in members]
    order += sorted({d.room_id for d in deliveries} - set(order))
    current = set(m.room_id for m in members)
    rooms = [(r, (await h.label(r)) + ("" if r in current else " (left)")) for r in order]
    text, html = ack_board(template, found.run_id, rooms, deliveries, ctx.now)
    zone = await h.zone_of(ctx.room_id)
    head = f"State: {found.state}; action at {format_local(found.action_at, zone)}."
    failed = [d for d in deliveries if d.state == "failed"]
    labels = dict(rooms)
    notes = [f"Not delivered to {labels.get(d.room_id, d.room_id)} ({d.phase_key}): {(d.error or 'refused').split(':')[0]}" for d in failed]
    text = "\n".join([text.split("\n")[0], head, *text.split("\n")[1:], *notes])
    html = html + f"<p>{escape(head)}</p>" + "".join(f"<p>❌ {escape(n)}</p>" for n in notes)
    await ctx.reply(text, html)


@router.command("protocol amend", help="Push a change to every member room now; each acks again", power="moderator")
async def protocol_amend(ctx: Context, run: str, text: Words) -> None:
    h = _herald(ctx)
    coalition = await _coordination(ctx)
    found = await _run_in(ctx, coalition, run)
    template = h.template(found.template)
    rooms = await h.member_rooms(await h.coalitions.members(coalition.name))
    if await h.runs.amendments_since(found.run_id, ctx.now - timedelta(hours=1)) >= MAX_AMENDMENTS_PER_HOUR:
        raise UserError(
            f"Run {found.run_id} had {MAX_AMENDMENTS_PER_HOUR} amendments in the last hour, the most one run may "
            "have: each goes to every member room at once. Put the changes together in one amendment later."
        )
    seq = await h.runs.next_amendment_seq(found.run_id)
    note = ctx.tail(3)
    messages = make_amendment(found.run_id, found.state, seq, note, template, found.action_at, rooms, ctx.now)
    if not await h.runs.amend(found.run_id, seq, note, messages, ctx.now):
        raise UserError(f"Run {found.run_id} changed meanwhile; see !protocol status {found.run_id} and try again.")
    await ctx.reply(f"Amendment #{seq} of run {found.run_id} is going out to {len(messages)} rooms now; each is asked to acknowledge it.")
    await h.deliver_due(found.run_id)
    await h.edit_latest(found.run_id, f"amend-{seq}", f"⚠️ AMENDED (#{seq}): read the amendment below before acting on this.")


@router.command("protocol cancel", help="Stand a run down in every member room now", power="moderator")
async def protocol_cancel(ctx: Context, run: str, reason: Words | None = None) -> None:
    h = _herald(ctx)
    coalition = await _coordination(ctx)
    found = await _run_in(ctx, coalition, run)
    template = h.template(found.template)
    rooms = await h.member_rooms(await h.coalitions.members(coalition.name))
    deliveries = await h.runs.deliveries(found.run_id)
    cancellation = make_cancellation(
        found.run_id, found.state, ctx.tail(3), template, found.action_at, rooms,
        [(d.txn_id, d.state) for d in deliveries], ctx.now,
    )
    if not await h.runs.cancel(found.run_id, cancellation.messages, ctx.now):
        raise UserError(f"Run {found.run_id} changed meanwhile; see !protocol status {found.run_id}.")
    h.unschedule_deliveries(found.run_id)
    if not cancellation.messages:
        await ctx.reply(f"Run {found.run_id} cancelled before it was confirmed: no room had heard of it.")
        return
    await ctx.reply(
        f"Run {found.run_id} cancelled: the stand-down is going out to {len(cancellation.messages)} rooms now; "
        f"{len(cancellation.skip_txn_ids)} pending messages will not be sent."
    )
    await h.deliver_due(found.run_id)
    await h.edit_latest(found.run_id, "cancel", "🛑 CANCELLED: stand down, see the notice below.", strike=True)


# --- acknowledgements ---------------------------------------------------------------------


@router.command("ack", help="Acknowledge a run's messages for your room (liaison)")
async def ack(ctx: Context, run: str | None = None) -> None:
    h = _herald(ctx)
    run_id = _run_id(run) if run else None
    found = await h.membership(ctx.room_id)
    if found is not None:
        coalition, member = found
        if not await h.may_ack(ctx.room_id, ctx.sender, member):
            raise PermissionDenied(
                f"Only this room's liaison ({member.liaison or 'none set'}) or a moderator acknowledges for the room."
            )
        if run_id is not None:
            await _run_in(ctx, coalition, run_id)
        targets = [member]
    else:
        # A liaison may answer from a direct chat (where the escalation reached them).
        # Only for rooms they are still in: a liaison who left or was kicked is cleared here.
        targets = [
            m for m in await h.coalitions.rooms_of_liaison(ctx.sender)
            if await h.still_in_room(m.room_id, ctx.sender, m)
        ]
        if not targets:
            raise UserError(
                "This room is not in a coalition (or it left), so there is nothing to acknowledge here. "
                "Liaisons acknowledge in their own coalition room, and from a direct chat only for "
                "rooms they are still in."
            )
    done: list[str] = []
    for member in targets:
        awaiting = await h.runs.awaiting_ack(member.room_id, run_id)
        if not awaiting:
            continue
        latest_run = awaiting[-1].run_id if run_id is None else run_id
        phases = [d.phase_key for d in awaiting if d.run_id == latest_run]
        if await h.runs.ack(latest_run, member.room_id, ctx.sender, ctx.now):
            label = "this room" if member.room_id == ctx.room_id else await h.label(member.room_id)
            done.append(f"run {latest_run} for {label}: {', '.join(phases)}")
            await h.schedule_escalation(latest_run)
    if not done:
        which = f"run {run_id}" if run_id else "any run"
        raise UserError(f"Nothing from {which} awaits an acknowledgement here.")
    await ctx.reply("✅ Acknowledged " + "; ".join(done) + ".")


# --- events -------------------------------------------------------------------------------


@router.command("event add", help="List a local action in the coalition calendar (liaison)")
async def event_add(ctx: Context, title: Words, *, at: str, where: str | None = None) -> None:
    h = _herald(ctx)
    coalition, member = await _membership(ctx)
    await _require_liaison(ctx, member)
    zone = await h.zone_of(ctx.room_id)
    draft = parse_event_add(ctx.tail(2), zone, ctx.now)
    stored = await h.events.add_within(
        coalition.name, ctx.room_id, draft.title, draft.starts_at, draft.place, ctx.now,
        per_room=MAX_EVENTS_PER_ROOM, per_coalition=MAX_EVENTS_PER_COALITION,
    )
    if stored is None:
        raise UserError(
            f"The {coalition.name} calendar is full: a room lists at most {MAX_EVENTS_PER_ROOM} upcoming events "
            f"and a coalition at most {MAX_EVENTS_PER_COALITION}. Past events drop off on their own."
        )
    where_text = f" at {draft.place}" if draft.place else ""
    await ctx.reply(
        f"Listed in the {coalition.name} calendar: {draft.title}, {format_local(draft.starts_at, zone)}{where_text}."
    )


@router.command("events", help="Upcoming events from every room of the coalition")
async def events(ctx: Context) -> None:
    h = _herald(ctx)
    coalition, _ = await _membership(ctx)
    text, html = events_listing(await _calendar(ctx, coalition), await h.zone_of(ctx.room_id))
    await ctx.reply(f"{coalition.name} calendar:\n{text}", f"<p><strong>{escape(coalition.name)} calendar</strong></p>{html}")


async def _calendar(ctx: Context, coalition: Coalition) -> list[CalendarEvent]:
    stored = await _herald(ctx).events.list_for(coalition.name, since=ctx.now)
    return [CalendarEvent(e.coalition, e.room_id, e.title, e.starts_at, e.place, e.created_at) for e in stored]


@router.command("events ics", help="Upload the coalition calendar as an .ics file")
async def events_ics(ctx: Context) -> None:
    coalition, _ = await _membership(ctx)
    calendar = await _calendar(ctx, coalition)
    data = events_to_ics(calendar, f"{coalition.name} coalition calendar")
    filename = f"{coalition.name}.ics"
    encrypted = ctx.encrypted or await ctx.bot.matrix.is_encrypted(ctx.room_id)
    info = {"mimetype": "text/calendar", "size": len(data)}
    content: dict[str, Any] = {"msgtype": "m.file", "body": filename, "filename": filename, "info": info, "m.mentions": {}}
    try:
        if encrypted:
            # In an encrypted room the file is encrypted too: the server keeps only ciphertext.
            from nio.crypto.attachments import encrypt_attachment

            ciphertext, keys = encrypt_attachment(data)
            url = await ctx.bot.matrix.upload(ciphertext, "application/octet-stream", filename)
            content["file"] = {"url": url, "mimetype": "text/calendar", **keys}
        else:
            content["url"] = await ctx.bot.matrix.upload(data, "text/calendar", filename)
    except MatrixError as exc:
        raise UserError("The homeserver refused the upload; try again later.") from exc
    content["m.relates_to"] = {"m.in_reply_to": {"event_id": ctx.event_id}}
    await ctx.bot.outbox.enqueue(ctx.room_id, content, ctx.key("ics"))
    await ctx.reply(f"{len(calendar)} upcoming events in {filename}: import it into any calendar app.")


__all__ = ["router"]
