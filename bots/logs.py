"""Logging: human-readable by default, JSON lines with a flag. Never message bodies."""

from __future__ import annotations

import json
import logging
import sys
import time

# Loggers that write database contents at DEBUG or INFO.
QUIET_WHATEVER_THE_LEVEL = ("aiosqlite",)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", json_lines: bool = False, stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(
        JsonLines() if json_lines else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nio logs event contents at DEBUG and some at INFO/WARNING; keep it quiet.
    for noisy in ("nio", "peewee", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # aiosqlite logs every statement with its parameters at DEBUG: reflection texts next to
    # their author's DM room, wrapped keys. Whatever the configured level, never below WARNING.
    for leaky in QUIET_WHATEVER_THE_LEVEL:
        logging.getLogger(leaky).setLevel(logging.WARNING)
