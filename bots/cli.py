"""The ``affinity`` command: run, check-config, demo, and the operator's tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bots.config import AppConfig, ConfigError, load_config, open_access_warnings
from bots.logs import setup_logging

log = logging.getLogger("affinity")

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _load(path: str) -> AppConfig:
    try:
        return load_config(Path(path))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


async def serve(config: AppConfig, stop: asyncio.Event | None = None) -> None:
    """Run every bot of the config until SIGTERM or SIGINT (or ``stop``), then stop cleanly."""
    from bots.app import App

    app = App(config)
    watcher = None
    if stop is None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, app.stop)
    else:

        async def watch() -> None:
            await stop.wait()
            app.stop()

        watcher = asyncio.create_task(watch())
    try:
        await app.start()
        await app.run()
    finally:
        if watcher is not None:
            watcher.cancel()
        await app.close()
        log.info("stopped")


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    setup_logging(config.logging.level, args.json or config.logging.json_lines)
    from bots.runtime.filemodes import restrict_file_modes

    restrict_file_modes(config.data_dir)  # umask 0077, data_dir 0700: private outside systemd too
    from bots.app import BotFailed

    try:
        asyncio.run(serve(config))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BotFailed as exc:
        # Non-zero, so that systemd's Restart=on-failure (or Docker's restart policy) restarts us.
        log.error("%s; exiting with status %d", exc, EXIT_FAILURE)
        return EXIT_FAILURE
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from bots.runtime.registry import check_features

    try:
        check_features(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in open_access_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.config}: ok ({len(config.bots)} bot(s))")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bots.demo import run_demo

    setup_logging("WARNING")
    return run_demo(Path(args.dir), port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affinity", description="Federated Matrix bots for decentralized movements"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every bot listed in the config file")
    run.add_argument("--config", "-c", required=True)
    run.add_argument("--json", action="store_true", help="log JSON lines instead of text")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check-config", help="validate a config file (exit status 2 if wrong)")
    check.add_argument("--config", "-c", required=True)
    check.set_defaults(func=cmd_check_config)
    demo = sub.add_parser("demo", help="a local homeserver, the bot and sample rooms")
    demo.add_argument("--dir", default=".demo")
    demo.add_argument("--port", type=int, default=8008)
    demo.set_defaults(func=cmd_demo)
    from bots.operator.parser import add_commands

    add_commands(sub)
    from bots.appservice.cli import add_command as add_appservice_command

    add_appservice_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
