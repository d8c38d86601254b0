"""``affinity wipe``: destroy the database, the bots' encryption stores, sessions and keys,
overwriting each file first; with ``--revoke``, log each bot's device out at the homeserver
before. It needs no feature: the contract gives a feature no storage but the database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bots.config import AppConfig, ConfigError
from bots.operator.common import EXIT_PARTIAL, Refused, database_file, load_for_operator, shred, sidecars

CANNOT_ERASE = """\
What this cannot erase:
  - the homeserver's copies of every message the bots sent and received, the bot accounts,
    their devices and public keys (ask the homeserver admin to deactivate and erase the
    accounts: POST /_synapse/admin/v1/deactivate/<user_id> with {"erase": true});
  - other people's devices: their copies of the messages and of the room keys;
  - key backups on the homeserver, backups made with `affinity backup`, disk and VM snapshots;
  - old blocks on SSDs and copy-on-write or journaling file systems (full-disk encryption,
    with its key destroyed, is what covers those);
  - logs (they hold no message bodies, but do hold times and event ids)."""

WIPE_REFUSAL = """\
affinity wipe destroys the data directory's database, the bots' encryption stores, session
tokens and cross-signing keys, overwriting them first. It cannot be undone: the bots will log in
as new devices and can no longer read earlier encrypted messages.
Stop the bots first, then run it again with --yes-destroy-everything (and --revoke to log the
bots' devices out at the homeserver first, so their access tokens stop working)."""


def wipe_targets(config: AppConfig) -> list[Path]:
    """Every file ``wipe`` destroys: the database and its sidecars, everything under bots/,
    and leftovers of interrupted backups and restores."""
    data_dir = config.data_dir
    db_path = database_file(config)
    files = [p for p in [db_path, *sidecars(db_path)] if p.exists()]
    for tree in [data_dir / "bots", *data_dir.glob(".backup-*"), *data_dir.glob(".restore-*")]:
        if tree.is_dir():
            files.extend(p for p in sorted(tree.rglob("*")) if p.is_file() or p.is_symlink())
    return files


REVOKE_TIMEOUT_S = 10


def _saved_session(config: AppConfig, user_id: str) -> dict[str, str] | None:
    """A bot's saved session (sealed, or plain from an older version), read without changing it."""
    import json

    from bots.config import require_pickle_key
    from bots.runtime.sealed_files import read_sealed
    from bots.runtime.session import SESSION_PURPOSE, bot_dir, session_paths

    sealed, plain = session_paths(bot_dir(config.data_dir, user_id))
    if sealed.exists():
        return read_sealed(sealed, require_pickle_key(config), SESSION_PURPOSE, user_id)
    if plain.exists():
        try:
            data = json.loads(plain.read_text("utf-8"))
        except ValueError:
            raise ConfigError(f"{plain} is damaged") from None
        return data if isinstance(data, dict) else None
    return None


def revoke_sessions(config: AppConfig) -> tuple[list[str], bool]:
    """Log each bot's device out (POST /logout with its stored token) before the wipe.

    Returns what happened, one line per bot, and whether every saved session is now unusable.
    A homeserver that does not answer is reported, never waited on past a few seconds.
    """
    import urllib.error
    import urllib.request

    lines: list[str] = []
    all_revoked = True
    for bot in config.bots:
        try:
            session = _saved_session(config, bot.user_id)
        except ConfigError as exc:
            lines.append(f"{bot.user_id}: cannot read its session ({exc}); its device stays logged in")
            all_revoked = False
            continue
        token = session.get("access_token") if session else None
        if not isinstance(token, str) or not token:
            lines.append(f"{bot.user_id}: no saved session, nothing to log out")
            continue
        device = session.get("device_id", "?") if session else "?"
        request = urllib.request.Request(
            f"{config.homeserver}/_matrix/client/v3/logout",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=REVOKE_TIMEOUT_S):
                pass
            lines.append(f"{bot.user_id}: logged out device {device}; its access token no longer works")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                lines.append(
                    f"{bot.user_id}: the homeserver no longer accepts its token (device {device} was already logged out)"
                )
            else:
                lines.append(
                    f"{bot.user_id}: the homeserver refused to log out device {device} (HTTP {exc.code}); it stays logged in"
                )
                all_revoked = False
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            lines.append(
                f"{bot.user_id}: the homeserver did not answer ({reason}); device {device} stays logged in. "
                "Wiping anyway: ask the homeserver admin to delete that device"
            )
            all_revoked = False
    return lines, all_revoked


def cmd_wipe(args: argparse.Namespace) -> int:
    if not args.yes_destroy_everything:
        raise Refused(WIPE_REFUSAL)
    config = load_for_operator(args.config)
    revoked = True
    if args.revoke:
        lines, revoked = revoke_sessions(config)
        for line in lines:
            print(line)
    failed: list[str] = []
    destroyed = 0
    for path in wipe_targets(config):
        try:
            if path.is_symlink():
                path.unlink()  # never follow a link out of the data directory
            else:
                shred(path)
            destroyed += 1
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror or exc}")
    data_dir = config.data_dir
    for tree in [data_dir / "bots", *data_dir.glob(".backup-*"), *data_dir.glob(".restore-*")]:
        if tree.is_dir():
            for directory in sorted(tree.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if directory.is_dir():
                    try:
                        directory.rmdir()
                    except OSError as exc:
                        failed.append(f"{directory}: {exc.strerror or exc}")
            try:
                tree.rmdir()
            except OSError as exc:
                failed.append(f"{tree}: {exc.strerror or exc}")
    print(f"Overwrote and deleted {destroyed} file(s) under {data_dir}.")
    if failed:
        print("Could not erase:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
    if not revoked:
        print(
            "Not every device was logged out (see above): its access token still works until it is.",
            file=sys.stderr,
        )
    print(CANNOT_ERASE)
    return EXIT_PARTIAL if failed or not revoked else 0
