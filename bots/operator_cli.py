"""Operator commands beyond run and check-config: forget, wipe, backup, restore.

None of them starts a bot or talks to a homeserver (except ``wipe --revoke``, which logs the
bots' devices out first); they work on ``data_dir`` alone, so they also work when the secrets of
the config are not in the environment (an emergency wipe must not
wait for a password). Exit status: 0 done, 1 done only in part, 2 refused (bad input, a missing
flag, a wrong passphrase).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sqlite3
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from bots.config import AppConfig, ConfigError, load_config
from protocols.timespec import TimeSpecError, parse_duration
from storage.db import Database, SchemaTooNew

EXIT_PARTIAL = 1
EXIT_REFUSED = 2
PASSPHRASE_ENV = "AFFINITY_BACKUP_PASSPHRASE"


class Refused(Exception):
    """The command will not do it; ``str(exc)`` says why and what to do instead."""


# -- config and paths ---------------------------------------------------------------------------


class _BlankEnv(dict[str, str]):
    """Every ``${VAR}`` resolves: these commands need ``data_dir``, never a secret."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return "unset"


def load_for_operator(path: str) -> AppConfig:
    try:
        return load_config(Path(path), environ=_BlankEnv(os.environ))
    except ConfigError as exc:
        raise Refused(str(exc)) from None


def database_file(config: AppConfig) -> Path:
    from bots.app import database_path

    return Path(database_path(config))


def _sidecars(db_path: Path) -> list[Path]:
    return [db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _shred(path: Path) -> None:
    """Overwrite a file with random bytes, flush it to disk, then unlink it.

    Best effort: on SSDs and copy-on-write or journaling file systems the old blocks may
    survive; full-disk encryption is what makes them unreadable.
    """
    try:
        size = path.stat().st_size
        with open(path, "r+b", buffering=0) as fh:
            left = size
            while left > 0:
                chunk = min(left, 1 << 20)
                fh.write(os.urandom(chunk))
                left -= chunk
            os.fsync(fh.fileno())
    finally:
        path.unlink()


def _private_tmpdir(data_dir: Path, prefix: str) -> Path:
    # Next to the database: the plaintext copy lives on the disk that already holds the original.
    data_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=data_dir))


def _remove_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink():
            path.unlink()
        elif path.is_file():
            _shred(path)
        else:
            path.rmdir()
    directory.rmdir()


# -- forget -------------------------------------------------------------------------------------


def _duration_arg(text: str) -> timedelta:
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


# -- wipe ---------------------------------------------------------------------------------------

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
    files = [p for p in [db_path, *_sidecars(db_path)] if p.exists()]
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
                _shred(path)
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


# -- backup format ------------------------------------------------------------------------------

MAGIC = b"AFFINITY-BACKUP\x00"
FORMAT_VERSION = 1
# scrypt: 2**15 x 8 x 128 bytes = 32 MiB and ~0.1 s per try; stored in the header so that a
# later version can raise them and still read old files.
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
_HEADER = struct.Struct(f">{len(MAGIC)}sBBBB16s12s")


class BackupError(Exception):
    """The file is not a backup we can read, or the passphrase is wrong."""


@dataclass(frozen=True)
class _Header:
    version: int
    log2_n: int
    r: int
    p: int
    salt: bytes
    nonce: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.log2_n, self.r, self.p, self.salt, self.nonce)


def _key(passphrase: str, header: _Header) -> bytes:
    kdf = Scrypt(salt=header.salt, length=32, n=1 << header.log2_n, r=header.r, p=header.p)
    return kdf.derive(passphrase.encode("utf-8"))


def encrypt_backup(plain: bytes, passphrase: str) -> bytes:
    """``plain`` compressed, then sealed with AES-256-GCM under a scrypt key.

    The header (magic, version, KDF parameters, salt, nonce) is authenticated data, so a changed
    parameter fails like a wrong passphrase instead of decrypting into garbage.
    """
    header = _Header(FORMAT_VERSION, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, os.urandom(16), os.urandom(12))
    head = header.pack()
    sealed = AESGCM(_key(passphrase, header)).encrypt(header.nonce, zlib.compress(plain, 6), head)
    return head + sealed


def decrypt_backup(blob: bytes, passphrase: str) -> bytes:
    if len(blob) < _HEADER.size or not blob.startswith(MAGIC):
        raise BackupError("this is not an Affinity backup file")
    _, version, log2_n, r, p, salt, nonce = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise BackupError(
            f"backup format version {version} is not supported by this build (it reads {FORMAT_VERSION})"
        )
    if not (10 <= log2_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        raise BackupError("the backup header is damaged")
    header = _Header(version, log2_n, r, p, salt, nonce)
    try:
        compressed = AESGCM(_key(passphrase, header)).decrypt(
            nonce, blob[_HEADER.size :], blob[: _HEADER.size]
        )
    except InvalidTag:
        raise BackupError("wrong passphrase, or the backup file is damaged") from None
    return zlib.decompress(compressed)


def _passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value is None:
        if not sys.stdin.isatty():
            raise Refused(f"set {PASSPHRASE_ENV}, or run this in a terminal to be asked for the passphrase")
        value = getpass.getpass("Backup passphrase: ")
        if confirm and getpass.getpass("Again: ") != value:
            raise Refused("the two passphrases differ; nothing was written")
    if not value:
        raise Refused("the backup passphrase must not be empty")
    return value


# -- backup and restore -------------------------------------------------------------------------


def _scrub_mirror(path: Path) -> int:
    """Take the blind mirror's secrets out of a database copy (see
    :data:`storage.mirror.BACKUP_SCRUB`), vacuumed so no freed page keeps them; how many
    unreleased rounds went."""
    from storage.mirror import scrub_for_backup

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
        dropped = scrub_for_backup(conn)
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()
    return dropped


def cmd_backup(args: argparse.Namespace) -> int:
    config = load_for_operator(args.config)
    db_path = database_file(config)
    out = Path(args.out)
    if not db_path.exists():
        raise Refused(f"there is no database at {db_path}: nothing to back up")
    if out.exists() and not args.force:
        raise Refused(f"{out} exists; choose another --out, or pass --force to replace it")
    passphrase = _passphrase(confirm=True)
    workdir = _private_tmpdir(config.data_dir, ".backup-")
    copy = workdir / "copy.db"

    async def snapshot() -> int:
        db = await Database.open(db_path)
        try:
            await db.backup_to(copy)  # SQLite online backup: consistent while bots write
            return await db.schema_version()
        finally:
            await db.close()

    try:
        try:
            version = asyncio.run(snapshot())
        except SchemaTooNew as exc:
            raise Refused(str(exc)) from None
        # Never in a backup: round keys, sealed reflections, unreleased rounds, requests, and
        # the mirror's outbox rows (see docs/mirror-threat-model.md).
        left_out = _scrub_mirror(copy)
        blob = encrypt_backup(copy.read_bytes(), passphrase)
    finally:
        _remove_tree(workdir)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    print(f"backup written: {out} ({len(blob)} bytes, schema version {version}, encrypted)")
    print("It holds the database only: not the bots' encryption stores, sessions or keys.")
    print(
        "Blind mirrors are left out of it: round keys, reflections and requests; "
        f"{left_out} unreleased round(s) were not copied (a restore cannot resume them)."
    )
    return 0


def _check_restored(path: Path) -> int:
    """Open the restored copy as the bots would (migrating an older schema); its version."""

    async def run() -> int:
        db = await Database.open(path)
        try:
            row = await db.fetchone("PRAGMA integrity_check")
            if row is None or row[0] != "ok":
                raise Refused("the restored database fails SQLite's integrity check; nothing was replaced")
            return await db.schema_version()
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except SchemaTooNew as exc:
        raise Refused(f"{exc}; nothing was replaced") from None
    except sqlite3.DatabaseError as exc:
        raise Refused(f"the backup does not hold a usable database ({exc}); nothing was replaced") from None


def cmd_restore(args: argparse.Namespace) -> int:
    config = load_for_operator(args.config)
    db_path = database_file(config)
    source = Path(args.in_file)
    try:
        blob = source.read_bytes()
    except OSError as exc:
        raise Refused(f"{source}: cannot read: {exc.strerror}") from None
    if not blob.startswith(MAGIC):
        raise Refused(f"{source} is not an Affinity backup file")
    if db_path.exists() and not args.force:
        raise Refused(
            f"a database already exists at {db_path}. Stop the bots and pass --force to replace it "
            "(take an `affinity backup` of it first if it may still matter)."
        )
    passphrase = _passphrase(confirm=False)
    try:
        plain = decrypt_backup(blob, passphrase)
    except BackupError as exc:
        raise Refused(str(exc)) from None
    workdir = _private_tmpdir(config.data_dir, ".restore-")
    try:
        staged = workdir / "restored.db"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(plain)
        del plain
        version = _check_restored(staged)
        # An old copy must never release (again) what a round later released and redacted, and
        # older backups did hold round keys: every unreleased round goes.
        destroyed = _scrub_mirror(staged)
        for old in [db_path, *_sidecars(db_path)]:
            if old.exists():
                _shred(old)
        os.replace(staged, db_path)
    finally:
        if workdir.exists():
            _remove_tree(workdir)
    print(f"restored {db_path} from {source} (schema version {version})")
    if destroyed:
        print(f"{destroyed} blind-mirror round(s) in the backup were not released yet: destroyed unread.")
    return 0


# -- registration -------------------------------------------------------------------------------


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
        type=_duration_arg,
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
