"""``features.herald`` in the YAML: where the templates are, how an ack reads, how late is stale."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from bots.config import Strict
from protocols.herald.consent import MAX_MEMBERS


class HeraldConfig(Strict):
    template_dirs: list[Path] = Field(default_factory=list)
    ack_reaction: str = "✅"
    # A phase that fell due while the bot was down is still sent this late; later than that it
    # is skipped, with a note in the coordination room (a stale "go" helps nobody).
    late_grace: timedelta = timedelta(hours=6)
    # Escalation DMs to liaisons go in an encrypted room the bot creates.
    encrypt_dms: bool = True
    # Coalitions with several heralds (docs/no-center.md): the stagger G between one herald's
    # turn and the next for a message; how often a herald writes its heartbeat into the control
    # room; how old a heartbeat may be before its herald is believed down.
    stagger: timedelta = timedelta(seconds=45)
    heartbeat: timedelta = timedelta(seconds=30)
    staleness: timedelta = timedelta(seconds=90)
    # How many rooms one coalition may have (the coordination rooms included): a bound on what
    # invitations can make a herald carry, raised by an operator whose coalition is larger.
    max_member_rooms: int = Field(default=MAX_MEMBERS, ge=2, le=100_000)
