"""Operator commands beyond run and check-config (forget, wipe, backup, restore)."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Registered here so bots/cli.py stays small; filled in by the operator tooling."""
