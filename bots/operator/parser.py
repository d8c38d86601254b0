"""The operator commands as ``affinity`` subcommands (registered here so bots/cli.py stays small)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bots.operator.backup import PASSPHRASE_ENV, cmd_backup
from bots.operator.common import EXIT_REFUSED, Refused
from bots.operator.forget import cmd_forget, duration_arg
from bots.operator.restore import cmd_restore
from bots.operator.wipe import cmd_wipe


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A refusal is an ``error:`` line and exit status 2, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REFUSED

    return run


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Registered here so bots/cli.py stays small."""
    forget = sub.add_parser(
        "forget",
        help="delete expired records now, without starting the bots",
        description="Delete what retention says is expired; with --older-than, also everything older than that.",
    )
    forget.add_argument("--config", "-c", required=True)
    forget.add_argument(
        "--older-than",
        type=duration_arg,
        default=None,
        metavar="DURATION",
        help="like 30d or 2w: forget every kind of record older than this",
    )
    forget.set_defaults(func=_guarded(cmd_forget))

    wipe = sub.add_parser("wipe", help="destroy the database, encryption stores, sessions and keys")
    wipe.add_argument("--config", "-c", required=True)
    wipe.add_argument("--yes-destroy-everything", action="store_true", help="required: there is no undo")
    wipe.add_argument(
        "--revoke",
        action="store_true",
        help="first log each bot's device out at the homeserver, so its access token stops working",
    )
    wipe.set_defaults(func=_guarded(cmd_wipe))

    backup = sub.add_parser(
        "backup",
        help="an encrypted, consistent copy of the database",
        description=f"The passphrase comes from {PASSPHRASE_ENV} or is asked for.",
    )
    backup.add_argument("--config", "-c", required=True)
    backup.add_argument("--out", "-o", required=True, help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="replace an existing --out file")
    backup.set_defaults(func=_guarded(cmd_backup))

    restore = sub.add_parser(
        "restore",
        help="bring the database back from a backup",
        description=f"The passphrase comes from {PASSPHRASE_ENV} or is asked for. Stop the bots first.",
    )
    restore.add_argument("--config", "-c", required=True)
    restore.add_argument("--in", dest="in_file", required=True, metavar="FILE", help="the backup file")
    restore.add_argument("--force", action="store_true", help="replace an existing database")
    restore.set_defaults(func=_guarded(cmd_restore))
