"""``features.herald`` in the YAML: where the templates are, how an ack reads, how late is stale."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from bots.config import Strict


class HeraldConfig(Strict):
    template_dirs: list[Path] = Field(default_factory=list)
    ack_reaction: str = "✅"
    # A phase that fell due while the bot was down is still sent this late; later than that it
    # is skipped, with a note in the coordination room (a stale "go" helps nobody).
    late_grace: timedelta = timedelta(hours=6)
    # Escalation DMs to liaisons go in an encrypted room the bot creates.
    encrypt_dms: bool = True
