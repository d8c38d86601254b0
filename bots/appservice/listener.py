"""The HTTP listener the homeserver pushes to (the application-service API).

``PUT /_matrix/app/v1/transactions/{txnId}`` carries events; ``/_matrix/app/v1/ping`` answers
the homeserver's ping; ``users`` and ``rooms`` queries are answered "not here" (the bot claims
no one but itself). Every request must carry the registration's ``hs_token`` (the
``Authorization`` header, or the older ``access_token`` query): without it 401, with a wrong one
403, and nothing is handled. A malformed transaction is refused with 400, nothing handled.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bots.appservice.transactions import MalformedTransaction, transaction_events

log = logging.getLogger(__name__)

# handle(txn_id, events) runs the events and returns only once they were handled and recorded.
TransactionHandler = Callable[[str, list[dict[str, Any]]], Awaitable[None]]
MAX_BODY = 32 * 1024 * 1024


def _error(status: int, errcode: str, error: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error}, status=status)


class Listener:
    def __init__(self, hs_token: str, handle: TransactionHandler, host: str, port: int) -> None:
        self._hs_token = hs_token
        self._handle = handle
        self.host = host
        self.port = port
        self.pings = 0
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._auth])
        for prefix in ("/_matrix/app/v1", ""):  # "" : the legacy paths older servers use
            app.router.add_put(prefix + "/transactions/{txn_id}", self._transaction)
            app.router.add_get(prefix + "/users/{user_id}", self._not_here)
            app.router.add_get(prefix + "/rooms/{alias}", self._not_here)
        app.router.add_post("/_matrix/app/v1/ping", self._ping)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise OSError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        token = token or request.query.get("access_token")
        if not token:
            return _error(401, "M_UNAUTHORIZED", "no hs_token")
        if not hmac.compare_digest(token.encode(), self._hs_token.encode()):
            log.warning("refused a request to the application-service listener: wrong hs_token")
            return _error(403, "M_FORBIDDEN", "wrong hs_token")
        result: web.StreamResponse = await handler(request)
        return result

    async def _transaction(self, request: web.Request) -> web.Response:
        txn_id = request.match_info["txn_id"]
        try:
            body = json.loads(await request.read())
            events = transaction_events(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "M_NOT_JSON", "the body is not JSON")
        except MalformedTransaction as exc:
            log.warning("refused a malformed transaction: %s", exc)
            return _error(400, "M_BAD_JSON", str(exc))
        # Acknowledged only once handled (and recorded): a failure here is a 500, and the
        # homeserver sends the transaction again.
        await self._handle(txn_id, events)
        return web.json_response({})

    async def _ping(self, request: web.Request) -> web.Response:
        self.pings += 1
        return web.json_response({})

    async def _not_here(self, request: web.Request) -> web.Response:
        return _error(404, "M_NOT_FOUND", "this application service claims no other users or rooms")
