"""``affinity appservice-registration``: write the registration file for application-service
mode (the homeserver loads it; the config's ``appservice.registration`` points at it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bots.config import ConfigError, load_config

EXIT_CONFIG = 2


def cmd_appservice_registration(args: argparse.Namespace) -> int:
    from bots.appservice.registration import registration_for, write_registration

    try:
        config = load_config(Path(args.config), require_pickle=False)
        if args.url:
            url = args.url
        elif config.appservice is not None:
            url = f"http://{config.appservice.listen_host}:{config.appservice.listen_port}"
        else:
            raise ConfigError("give --url (where the homeserver reaches the bot), or an appservice section")
        out = Path(args.out) if args.out else None
        if out is None:
            if config.appservice is None:
                raise ConfigError("give --out, or an appservice section whose registration names the file")
            out = config.appservice.registration
        write_registration(out, registration_for(config, url))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"wrote {out} (mode 0600). Give it to the homeserver (Synapse: add it to "
        "app_service_config_files and restart), and point appservice.registration at it."
    )
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    reg = sub.add_parser(
        "appservice-registration", help="write the registration file for application-service mode"
    )
    reg.add_argument("--config", "-c", required=True)
    reg.add_argument(
        "--url", help="where the homeserver reaches the bot (default: the appservice listen address)"
    )
    reg.add_argument("--out", "-o", help="the file to write (default: appservice.registration)")
    reg.set_defaults(func=cmd_appservice_registration)
