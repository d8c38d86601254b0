"""``make demo``: a local Synapse, the bot, sample rooms, and a short scripted exchange.

Everything lives under one folder (``.demo`` by default, ignored by git); a second run reuses
the homeserver, the accounts and the rooms.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from bots import core
from bots.config import load_config
from bots.devclient import UserClient
from bots.devserver import Homeserver
from bots.runtime.router import Command, params_of


def _core_command(handler: Callable[..., Any]) -> Command:
    return next(c for c in core.router.commands if c.handler is handler)


def _feature_command(feature: str, method: Callable[..., Any]) -> Command:
    """The command ``method`` of a feature answers, as its ``@command`` declares it."""
    declaration = getattr(method, "__affinity_command__", None)
    if declaration is None:
        raise LookupError(f"{method.__qualname__} declares no command")
    return Command(
        declaration.name,
        declaration.help,
        method,
        feature,
        declaration.power,
        declaration.where,
        params_of(method),
    )


def _samples() -> list[Command]:
    """The feature commands the demo types in its plain room (a taste of two rituals), named by
    the handler that answers them: a renamed command renames the demo's line, and a removed
    handler fails the demo's test (tests/bot/test_demo_script.py), not the demo."""
    from bots.ghostchair.feature import GhostChairFeature
    from bots.lottery.feature import LotteryFeature

    return [
        _feature_command(LotteryFeature.name, LotteryFeature.show_roles),
        _feature_command(GhostChairFeature.name, GhostChairFeature.ghost_now),
    ]


def demo_commands(features: Sequence[str]) -> tuple[list[str], list[str]]:
    """What the demo user types: in the plain room and in the encrypted one. Only commands that
    need no argument, of the features this build runs."""
    basics = ["!" + _core_command(core.ping).name, "!" + _core_command(core.help_).name]
    extra = ["!" + c.name for c in _samples() if c.feature in features]
    return [*basics, *extra], basics


def _credentials(directory: Path) -> dict[str, str]:
    """The demo's passwords and its random pickle key, made on the first run and kept in the
    demo folder (mode 0600) so later runs open the same encryption store."""
    path = directory / "credentials.json"
    creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    fresh = {
        "bot_password": secrets.token_urlsafe(12),
        "demo_password": secrets.token_urlsafe(9),
        "pickle_key": secrets.token_urlsafe(32),
    }
    if not all(key in creds for key in fresh):
        creds = {**fresh, **creds}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(creds))
    return creds


def run_demo(directory: Path, port: int = 8008) -> int:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    server = Homeserver(directory / "synapse", port)
    print(f"Starting Synapse on http://localhost:{server.port} (data in {directory}/synapse) ...", flush=True)
    server.start()
    try:
        return asyncio.run(_demo(directory, server))
    except KeyboardInterrupt:
        return 0
    finally:
        print("Stopping the homeserver ...", flush=True)
        server.stop()


async def _demo(directory: Path, server: Homeserver) -> int:
    from bots.cli import serve

    creds = _credentials(directory)
    bot_id = server.register("affinity", creds["bot_password"])
    demo_id = server.register("demo", creds["demo_password"])
    config_path = directory / "config.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "homeserver": server.url,
                "data_dir": str(directory / "data"),
                "encryption": {"pickle_key": creds["pickle_key"]},
                "bots": [
                    {"user_id": bot_id, "password": creds["bot_password"], "features": _available_features()}
                ],
            },
            sort_keys=False,
        )
    )
    config = load_config(config_path)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    bot_task = asyncio.create_task(serve(config, stop))
    user = UserClient(server.url, demo_id, creds["demo_password"], directory / "demo-user")
    state_path = directory / "rooms.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}

    async def script() -> None:
        await _script(user, server, bot_id, creds, state, state_path)

    try:
        await user.login()
        scripted = asyncio.create_task(script())
        done, _ = await asyncio.wait([scripted, bot_task], return_when=asyncio.FIRST_COMPLETED)
        if bot_task in done:
            scripted.cancel()
            bot_task.result()  # raises what stopped the bot
            return 1
        scripted.result()
        print("\nThe bot keeps running. Press Ctrl-C to stop the bot and the homeserver.", flush=True)
        waiting: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait()), bot_task]
        finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if bot_task in finished:
            bot_task.result()
    finally:
        await user.close()
        stop.set()
        if not bot_task.done():
            await asyncio.wait_for(bot_task, 30)
    return 0


async def _script(
    user: UserClient,
    server: Homeserver,
    bot_id: str,
    creds: dict[str, str],
    state: dict[str, str],
    state_path: Path,
) -> None:
    if "plain" not in state:
        state["plain"] = await user.create_room("Affinity demo", [bot_id])
        state["encrypted"] = await user.create_room("Affinity demo (encrypted)", [bot_id], encrypted=True)
        await asyncio.to_thread(state_path.write_text, json.dumps(state))
    for room in (state["plain"], state["encrypted"]):
        await user.wait_joined(room, bot_id, timeout=60)
    print(
        textwrap.dedent(f"""
        ────────────────────────────────────────────────────────────
         Affinity is running.
         Log in with Element (https://app.element.io or a desktop app):
           homeserver: http://localhost:{server.port}
           user:       demo        password: {creds["demo_password"]}
         Rooms "Affinity demo" and "Affinity demo (encrypted)" hold the bot.
         Type !help there first, then !ping.
        ────────────────────────────────────────────────────────────
        A short scripted exchange as the demo user:"""),
        flush=True,
    )
    # In the plain room, a taste of two rituals as well (when this build has them).
    plain, encrypted = demo_commands(_available_features())
    for room, label, commands in (
        (state["plain"], "plain room", plain),
        (state["encrypted"], "encrypted room", encrypted),
    ):
        for command in commands:
            event_id = await user.send_text(room, command)
            reply = await user.wait_reply(room, event_id, timeout=60)
            body = reply.get("content", {}).get("body", "")
            print(
                f"\n[{label}] demo: {command}\n[{label}] bot:  "
                + body.replace("\n", "\n" + " " * (len(label) + 9)),
                flush=True,
            )


def _available_features() -> list[str]:
    from bots.config import BotConfig, ConfigError
    from bots.runtime.registry import REGISTRY

    names = []
    # The built-in names, spelled in BotConfig only; each registers itself when found.
    for name in BotConfig.model_validate({"user_id": "@demo:localhost", "password": "x"}).features:
        try:
            REGISTRY.find(name)
        except ConfigError:
            continue  # not in this build
        names.append(name)
    return names
