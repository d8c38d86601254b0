"""Room state for the tier-2 fake homeserver, for what the herald's pins and spaces read and
write through raw calls: a room's state events (``m.room.pinned_events``, ``m.space.child``,
``m.space.parent``, join rules), creating a room (a space) and a space's hierarchy.

A state write needs the power the room's levels ask for it (``state_default``: 50), as Synapse
does; a room the bot is not in refuses everything.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from bots.runtime.errors import Forbidden, MatrixError, NotFound
from tests.bot.fakes import BOT, FakeMatrix


@dataclass
class StateFake:
    fake: FakeMatrix
    state: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    away: bool = False  # every raw call fails as an outage would
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def install(self) -> StateFake:
        self.fake.api = self.api  # type: ignore[method-assign]
        return self

    def pinned(self, room: str) -> list[str]:
        return list(self.state.get((room, "m.room.pinned_events", ""), {}).get("pinned", []))

    def children(self, space: str) -> set[str]:
        return {k for (r, t, k), c in self.state.items() if r == space and t == "m.space.child" and c}

    async def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        if self.away:
            raise MatrixError("away", None, 502)
        if method == "GET" and "/relations/" in path:
            return {"chunk": []}
        if method == "POST" and path.endswith("/createRoom"):
            room = f"!space{next(self._ids)}:test.example"
            self.created.append({"room_id": room, **body})
            self.fake.members[room] = [str(BOT)]
            self.fake.powers[room] = {str(BOT): 100}
            return {"room_id": room}
        parts = path.split("/")
        room = unquote(parts[5])
        if room not in self.fake.members:
            raise Forbidden("not in room", "M_FORBIDDEN", 403)
        if parts[6] == "hierarchy":
            links = [
                {"type": t, "state_key": k, "content": c}
                for (r, t, k), c in self.state.items()
                if r == room and t == "m.space.child"
            ]
            return {"rooms": [{"room_id": room, "children_state": links}]}
        if parts[6] != "state":
            raise MatrixError(f"the fake homeserver makes no raw call {method} {path}", None, None)
        event_type, state_key = parts[7], unquote("/".join(parts[8:]))
        if method == "GET":
            if (room, event_type, state_key) not in self.state:
                raise NotFound("no state")
            return dict(self.state[(room, event_type, state_key)])
        if self.fake.powers.get(room, {}).get(str(BOT), 0) < 50:
            raise Forbidden("not enough power", "M_FORBIDDEN", 403)
        self.state[(room, event_type, state_key)] = dict(body)
        return {"event_id": f"$state{next(self._ids)}"}
