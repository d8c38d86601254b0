"""A host for running a feature's forgetting without a homeserver (``affinity forget``).

``forget_expired(now)`` is a feature's one forgetting hook, for the sweeper of a running bot and
for the operator's ``affinity forget`` alike. Offline, what it sends (the redactions of the
messages of expired records) is queued in the outbox under the bot's name, and the bot sends it
when it next runs; its rows are deleted at once, as online. Anything that needs the homeserver
now (members, power, rooms) is a :class:`Offline` error: forgetting must not need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bots.config import AppConfig
from bots.runtime.fan_out import Post, RawPost, queued
from bots.runtime.host import F, Outcome
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.jobs import Schedule
from bots.runtime.message import Message
from bots.runtime.outbox import Outbox
from bots.runtime.scheduler import Scheduler
from storage.db import Database
from storage.room_settings import RoomSettings

if TYPE_CHECKING:
    from bots.runtime.contract import ContractFeature

log = logging.getLogger(__name__)


class Offline(RuntimeError):
    """The feature asked for the homeserver while no bot is connected."""


async def _never(*_: Any) -> EventID:
    raise Offline("nothing is sent offline: the outbox row waits for the bot")


class OfflineHost:
    """A :class:`~bots.runtime.host.Host` that queues sends and refuses homeserver reads."""

    def __init__(
        self, config: AppConfig, bot_user_id: str, db: Database, feature: str, clock: Callable[[], datetime]
    ) -> None:
        self.feature = feature
        self.user_id = UserID(bot_user_id)
        self.db = db
        self.settings = RoomSettings(db)
        # Jobs are never run offline (the scheduler is not started); the bot rebuilds them.
        self.schedule = Schedule(Scheduler(bot_user_id), feature)
        self.retention = config.retention
        self.access = config.access
        self._clock = clock
        self._outbox = Outbox(db, bot_user_id, _never, clock=lambda: clock().timestamp())
        self._config = config

    def clock(self) -> datetime:
        return self._clock()

    @property
    def pickle_key(self) -> str:
        from bots.config import require_pickle_key

        return require_pickle_key(self._config)

    async def post(
        self,
        room_id: RoomID,
        message: Message,
        key: str,
        *,
        reply_to: EventID | None = None,
        thread: str | None = None,
        mentions: Sequence[str] = (),
        wait: bool = False,
        urgent: bool = False,
    ) -> EventID | None:
        if wait:
            raise Offline("no event id can be learnt offline")
        from bots.runtime.context import notice

        people = list(dict.fromkeys([*message.mentions, *mentions]))
        content = notice(message.plain, message.html or None, reply_to, thread, people)
        await self._outbox.enqueue(room_id, content, key, urgent=urgent)
        return None

    async def post_many(self, posts: Sequence[Post | RawPost]) -> int:
        return await self._outbox.enqueue_batch(await queued(self._outbox.db, posts))

    async def send_event(
        self,
        room_id: RoomID,
        event_type: str,
        content: dict[str, Any],
        key: str,
        *,
        wait: bool = False,
        urgent: bool = False,
    ) -> EventID | None:
        if wait:
            raise Offline("no event id can be learnt offline")
        await self._outbox.enqueue(room_id, content, key, event_type, urgent=urgent)
        return None

    async def edit(self, room_id: RoomID, event_id: EventID, message: Message, key: str) -> None:
        raise Offline("edits are not queued offline")

    async def redact(self, room_id: RoomID, event_id: EventID, key: str, reason: str | None = None) -> None:
        from bots.runtime.delivery import REDACTION

        content: dict[str, Any] = {"redacts": event_id}
        if reason:
            content["reason"] = reason
        await self._outbox.enqueue(room_id, content, key, REDACTION, kind="redaction")

    async def upload(
        self,
        room_id: RoomID,
        data: bytes,
        filename: str,
        mimetype: str,
        key: str,
        *,
        reply_to: EventID | None = None,
    ) -> None:
        raise Offline("uploads are not queued offline")

    async def relations(self, room_id: RoomID, event_id: EventID, rel_type: str) -> list[dict[str, Any]]:
        raise Offline("nothing is read from the homeserver offline")

    async def delivery(self, key: str) -> Outcome | None:
        found = await self._outbox.delivery(key)
        return None if found is None else Outcome.of(found)

    async def send_unstored(
        self,
        room_id: RoomID,
        message: Message,
        key: str,
        *,
        reply_to: EventID | None = None,
        thread: str | None = None,
    ) -> EventID | None:
        raise Offline("nothing is sent offline")

    async def redact_unstored(self, room_id: RoomID, event_id: EventID, key: str) -> bool:
        return False  # nothing unstored can wait for the bot: the caller keeps what it needs

    def power_needed(self, level: int | str | None) -> int | None:
        if level is None:
            return None
        if level == "moderator":
            return self.access.moderator_level
        return 100 if level == "admin" else int(level)

    def peer(self, cls: type[F]) -> F | None:
        return None  # no feature runs offline; forgetting needs no other feature

    def is_direct(self, room_id: RoomID) -> bool:
        raise Offline("room state needs the homeserver")

    def prepare_rooms(self, rooms: Sequence[RoomID], *, by: datetime) -> None:
        return None  # nothing is sent offline

    def discard_room_keys(self, room_id: RoomID) -> int:
        raise Offline("the encryption store belongs to the running bot")

    # Every homeserver read is refused the same way.
    async def _offline(self, *_: Any, **__: Any) -> Any:
        raise Offline("this needs the homeserver; forgetting must not")

    members = joined_at = power_of = power_table = is_encrypted = _offline
    resolve_room = room_name = create_room = invite = leave = api = _offline


async def forget_contract_features(
    config: AppConfig,
    db: Database,
    now: datetime,
    *,
    also_features: Sequence[type[ContractFeature[Any]]] = (),
    also_bots: Sequence[str] = (),
) -> dict[str, int]:
    """Forgetting without a homeserver, through each feature's own ``forget_expired(now)``: each
    bot of the config runs its features (and ``also_features``), each with an
    :class:`OfflineHost` of that bot; each bot of ``also_bots`` not in the config runs
    ``also_features``. Rows deleted, by feature name (a feature run for several bots: their sum).

    A feature's migrations are applied first, as the bot would at start. Its settings are its
    ``features.<name>`` section; a feature no bot names whose settings do not validate without
    one is skipped (logged): it cannot have run without them."""
    from bots.config import ConfigError
    from bots.runtime.contract import validate_config
    from bots.runtime.registry import REGISTRY, feature_section
    from storage.feature_migrations import apply_feature_migrations, read_feature_migrations

    plan: list[tuple[str, list[type[ContractFeature[Any]]]]] = []
    for i, bot in enumerate(config.bots):
        named = [REGISTRY.find(name, f"bots[{i}].features[{j}]") for j, name in enumerate(bot.features)]
        plan.append((bot.user_id, list(dict.fromkeys([*named, *also_features]))))
    configured = {bot.user_id for bot in config.bots}
    plan.extend((bot, list(also_features)) for bot in dict.fromkeys(also_bots) if bot not in configured)
    counts: dict[str, int] = {}
    migrated: set[str] = set()
    for bot_id, features in plan:
        for cls in features:
            try:
                settings = validate_config(cls, feature_section(config, cls.name))
            except ConfigError as exc:
                log.warning("not forgetting with %s: its settings do not validate (%s)", cls.name, exc)
                continue
            if cls.name not in migrated:
                steps = read_feature_migrations(cls.migrations) if cls.migrations else []
                await apply_feature_migrations(db, cls.name, steps, now.timestamp())
                migrated.add(cls.name)
            feature = cls(OfflineHost(config, bot_id, db, cls.name, lambda: now), settings)
            counts[cls.name] = counts.get(cls.name, 0) + await feature.forget_expired(now)
    return counts
