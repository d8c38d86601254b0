"""``affinity forget``: delete what retention says is expired, now, without starting a bot.

Every feature forgets through its own contract hook (``forget_expired``), the one the running
bot's sweeper calls; see :func:`bots.sweeper.forget_everything` for which bots and features.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from bots.config import ConfigError
from bots.operator.common import Refused, database_file, load_for_operator
from protocols.timespec import TimeSpecError, parse_duration
from storage.db import Database


def duration_arg(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except TimeSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_forget(args: argparse.Namespace) -> int:
    from bots.sweeper import capped, forget_everything

    config = load_for_operator(args.config)
    db_path = database_file(config)
    if not db_path.exists():
        raise Refused(f"there is no database at {db_path}: nothing to forget")
    config = config.model_copy(update={"retention": capped(config.retention, args.older_than)})

    async def run() -> dict[str, int]:
        db = await Database.open(db_path)
        try:
            return await forget_everything(config, db, datetime.now(UTC))
        finally:
            await db.close()

    try:
        counts = asyncio.run(run())
    except ConfigError as exc:  # a feature the config names is unknown, or its section is wrong
        raise Refused(f"{exc}; nothing was forgotten") from None
    except ImportError as exc:  # a feature's package is broken: never skip its records silently
        raise Refused(f"a feature cannot be loaded ({exc}); nothing was forgotten") from None
    print("deleted: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    print(
        "Messages the bots sent about what was forgotten are redacted when each bot next runs "
        "(the redactions wait in its outbox); what was said in the rooms stays there."
    )
    return 0
