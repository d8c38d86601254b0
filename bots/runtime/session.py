"""Login once with the password, then the same device forever after.

The access token and device id live in ``<data_dir>/bots/<bot>/session.sealed`` (mode 0600),
sealed under the pickle key (see :mod:`bots.runtime.sealed_files`; a plain ``session.json`` from an
older version is sealed on first start). nio's encryption store lives beside it, pickled with
the same key. We never log out on shutdown: logging out would delete the device and, with it,
every room key the bot holds (``affinity wipe --revoke`` does, on purpose).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse

from bots.runtime.errors import Forbidden
from bots.runtime.matrix import check
from bots.runtime.sealed_files import load_sealed, write_sealed

log = logging.getLogger(__name__)


def bot_dir(data_dir: Path, user_id: str) -> Path:
    safe = user_id.lstrip("@").replace(":", "_").replace("/", "_")
    return data_dir / "bots" / safe


SESSION_PURPOSE = "session"


def session_paths(directory: Path) -> tuple[Path, Path]:
    """(the sealed session file, the plain one older versions wrote)."""
    return directory / "session.sealed", directory / "session.json"


def load_session(directory: Path, user_id: str, pickle_key: str) -> dict[str, Any] | None:
    """The saved user id, device id and access token, or None before the first login.

    Raises ConfigError when the file does not open with ``pickle_key``.
    """
    sealed, plain = session_paths(directory)
    return load_sealed(sealed, plain, pickle_key, SESSION_PURPOSE, user_id)


async def open_client(
    homeserver: str,
    user_id: str,
    directory: Path,
    *,
    password: str | None,
    access_token: str | None,
    device_name: str,
    pickle_key: str,
) -> AsyncClient:
    """A logged-in nio client with its encryption store loaded."""
    store = directory / "nio"
    store.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    config = AsyncClientConfig(
        encryption_enabled=True,
        store_sync_tokens=False,  # our own checkpoint is the source of truth
        pickle_key=pickle_key,
        # Let 429s and transport errors reach us: the outbox and sync loop decide what to do.
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=60,
    )
    saved = load_session(directory, user_id, pickle_key)
    client = AsyncClient(homeserver, user_id, store_path=str(store), config=config)
    if saved is not None:
        client.restore_login(saved["user_id"], saved["device_id"], saved["access_token"])
        return client
    if access_token is not None:
        client.access_token = access_token
        whoami = check(await client.whoami())
        if whoami.user_id != user_id:
            raise Forbidden(f"the access token belongs to {whoami.user_id}, not {user_id}")
        if not whoami.device_id:
            raise Forbidden("the access token has no device; log in with a password instead")
        client.restore_login(user_id, whoami.device_id, access_token)
    elif password is not None:
        resp = check(await client.login(password, device_name=device_name))
        assert isinstance(resp, LoginResponse)
    else:
        raise Forbidden("no password or access token")
    write_sealed(
        session_paths(directory)[0],
        pickle_key,
        SESSION_PURPOSE,
        user_id,
        {"user_id": client.user_id, "device_id": client.device_id, "access_token": client.access_token},
    )
    log.info("logged in %s as device %s", client.user_id, client.device_id)
    return client
