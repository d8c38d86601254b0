"""The bot's one device in application-service mode, created without a password.

Every request goes out with the application service's token and ``device_id=<the bot's
device>`` (the homeserver then treats it as that device: keys upload, to-device messages), so
sends are not rate-limited (``rate_limited: false``) and there is still exactly one device, the
one the bot cross-signs. The device is created once:

1. MSC4190: ``PUT /_matrix/client/v3/devices/{id}`` with the application service's token;
2. else the older ``m.login.application_service`` login, which creates the device;

and remembered, sealed, beside nio's encryption store like a password login's session.
"""

from __future__ import annotations

import logging
import os
import secrets
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nio import AsyncClient, AsyncClientConfig

from bots.appservice.registration import Registration, localpart_of
from bots.config_text import ConfigError
from bots.runtime.errors import Forbidden, MatrixError, NotFound, TransportError
from bots.runtime.ids import server_of
from bots.runtime.matrix import Matrix, q
from bots.runtime.sealed_files import write_sealed
from bots.runtime.session import SESSION_PURPOSE, load_session, session_paths

log = logging.getLogger(__name__)


class AppserviceError(ConfigError):
    """The homeserver cannot run the bot as an application service; the text says why."""


class AppserviceClient(AsyncClient):
    """nio speaking as the application service's device: each request names the device."""

    as_user_id: str | None = None
    as_device_id: str | None = None

    async def send(  # type: ignore[override]
        self,
        method: str,
        path: str,
        data: Any = None,
        headers: dict[str, str] | None = None,
        trace_context: Any = None,
        timeout: float | None = None,
    ) -> Any:
        params = []
        if self.as_user_id and "user_id=" not in path:
            params.append(f"user_id={quote(self.as_user_id, safe='')}")
        if self.as_device_id and "device_id=" not in path:
            params.append(f"device_id={quote(self.as_device_id, safe='')}")
        if params:
            path = f"{path}{'&' if '?' in path else '?'}{'&'.join(params)}"
        return await super().send(method, path, data, headers, trace_context, timeout)


def new_device_id() -> str:
    return "AFFAS" + "".join(secrets.choice(string.ascii_uppercase) for _ in range(7))


async def _whoami(matrix: Matrix, sender: str, registration_path: Path) -> None:
    """The token is the registration's: the homeserver names the service's own user."""
    try:
        who = await matrix.api("GET", "/_matrix/client/v3/account/whoami")
    except Forbidden as exc:
        raise AppserviceError(
            f"the homeserver does not know the registration's as_token ({exc.errcode}): add "
            f"{registration_path} to its application services (Synapse: app_service_config_files) "
            "and restart it"
        ) from None
    if who.get("user_id") != sender:
        raise AppserviceError(
            f"the registration's as_token speaks for {who.get('user_id')}, not for {sender}: "
            "the homeserver loaded another registration with this token"
        )


async def _ensure_registered(matrix: Matrix, user_id: str) -> None:
    """The bot's account exists (an application service registers its own users)."""
    body = {"type": "m.login.application_service", "username": localpart_of(user_id), "inhibit_login": True}
    try:
        await matrix.api("POST", "/_matrix/client/v3/register", body)
        log.info("registered %s through the application service", user_id)
    except TransportError:
        raise
    except MatrixError as exc:
        if exc.errcode != "M_USER_IN_USE":
            raise AppserviceError(
                f"the homeserver refused to register the bot's account {user_id} for the "
                f"application service ({exc.errcode}: {exc})"
            ) from None


async def _create_device(matrix: Matrix, user_id: str, device_id: str, name: str) -> str:
    """MSC4190 first, then the appservice login; AppserviceError naming both when neither works."""
    try:
        await matrix.api("PUT", f"/_matrix/client/v3/devices/{q(device_id)}", {"display_name": name})
        log.info("created the bot's device with MSC4190")
        return device_id
    except (NotFound, MatrixError) as exc:
        if isinstance(exc, TransportError):
            raise
        msc4190 = exc.errcode or "refused"
    body = {
        "type": "m.login.application_service",
        "identifier": {"type": "m.id.user", "user": localpart_of(user_id)},
        "device_id": device_id,
        "initial_device_display_name": name,
    }
    try:
        data = await matrix.api("POST", "/_matrix/client/v3/login", body)
    except (NotFound, MatrixError) as exc:
        if isinstance(exc, TransportError):
            raise
        raise AppserviceError(
            "the homeserver can create the bot's device neither with MSC4190 "
            f"(PUT /_matrix/client/v3/devices/{{id}} with the as_token: {msc4190}) nor with the "
            f"m.login.application_service login (POST /_matrix/client/v3/login: {exc.errcode}); "
            "use a homeserver that supports one of them (Synapse 1.81 or later)"
        ) from None
    log.info("created the bot's device with the application-service login")
    return str(data.get("device_id") or device_id)


async def open_appservice_client(
    homeserver: str,
    user_id: str,
    directory: Path,
    registration: Registration,
    registration_path: Path,
    *,
    device_name: str,
    pickle_key: str,
) -> AppserviceClient:
    """A client speaking with the application service's token as the bot's one device."""
    store = directory / "nio"
    store.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    config = AsyncClientConfig(
        encryption_enabled=True,
        store_sync_tokens=False,
        pickle_key=pickle_key,
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=60,
    )
    client = AppserviceClient(homeserver, user_id, store_path=str(store), config=config)
    client.access_token = registration.as_token
    try:
        return await _open(
            client, user_id, directory, registration, registration_path, device_name, pickle_key
        )
    except BaseException:
        await client.close()
        raise


async def _open(
    client: AppserviceClient,
    user_id: str,
    directory: Path,
    registration: Registration,
    registration_path: Path,
    device_name: str,
    pickle_key: str,
) -> AppserviceClient:
    matrix = Matrix(client)
    client.user_id = registration.sender(server_of(user_id))
    await _whoami(matrix, client.user_id, registration_path)
    saved = load_session(directory, user_id, pickle_key)
    device_id = saved["device_id"] if saved else None
    if device_id is None:
        # A restart knows its account exists (its device was made for it): not asked again.
        await _ensure_registered(matrix, user_id)
    client.user_id = user_id
    client.as_user_id = user_id  # from now on every request speaks as the bot
    if device_id is None:
        device_id = await _create_device(matrix, user_id, new_device_id(), device_name)
        write_sealed(
            session_paths(directory)[0],
            pickle_key,
            SESSION_PURPOSE,
            user_id,
            # The token is the registration's; the file keeps the device (and says whose token).
            {"user_id": user_id, "device_id": device_id, "access_token": "appservice"},
        )
    client.restore_login(user_id, device_id, registration.as_token)
    client.as_device_id = device_id
    log.info("%s runs as an application service, device %s", user_id, device_id)
    return client
