"""Login once with the password, then the same device forever after.

The access token and device id live in ``<data_dir>/<bot>/session.json`` (mode 0600); nio's
encryption store lives beside it, pickled with a key from the config or ``AFFINITY_PICKLE_KEY``.
We never log out on shutdown: logging out would delete the device and, with it, every room key
the bot holds.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, LoginResponse

from bots.runtime.errors import Forbidden
from bots.runtime.matrix import check

log = logging.getLogger(__name__)


def bot_dir(data_dir: Path, user_id: str) -> Path:
    safe = user_id.lstrip("@").replace(":", "_").replace("/", "_")
    return data_dir / "bots" / safe


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


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
    session_file = directory / "session.json"
    client = AsyncClient(homeserver, user_id, store_path=str(store), config=config)
    if session_file.exists():
        saved = json.loads(session_file.read_text("utf-8"))
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
    _write_private(
        session_file,
        json.dumps({"user_id": client.user_id, "device_id": client.device_id, "access_token": client.access_token}),
    )
    log.info("logged in %s as device %s", client.user_id, client.device_id)
    return client
