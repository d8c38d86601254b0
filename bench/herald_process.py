"""One bot as its own process for a benchmark: ``affinity run`` with counters of what it costs.

    .venv/bin/python bench/herald_process.py CONFIG COUNTERS_JSON

Runs the config's bots exactly as ``affinity run --config CONFIG --json`` does, and counts every
request the bot makes of its homeserver (all go through nio's ``AsyncClient.send``) by kind, the
to-device messages inside its ``sendToDevice`` requests (one per recipient device: the price of
sharing a room key in an encrypted room), and the process's CPU time. A thread writes them to
COUNTERS_JSON four times a second, so the benchmark takes a difference over any window without
stopping the bot. Nothing of a message's content is kept.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nio  # noqa: E402

# (kind, pattern on the request path): the first that matches names the request.
KINDS = [
    ("sync", "GET", re.compile(r"/sync\b")),
    ("to_device_requests", "PUT", re.compile(r"/sendToDevice/")),
    ("messages_sent", "PUT", re.compile(r"/rooms/[^/]+/send/")),
    ("state_writes", "PUT", re.compile(r"/rooms/[^/]+/state/")),
    ("room_reads", "GET", re.compile(r"/rooms/")),
    ("redactions", "PUT", re.compile(r"/rooms/[^/]+/redact/")),
    ("keys_claim", "POST", re.compile(r"/keys/claim")),
    ("keys_query", "POST", re.compile(r"/keys/query")),
    ("keys_upload", "POST", re.compile(r"/keys/upload")),
]

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def kind_of(method: str, path: str) -> str:
    return next((n for n, m, pattern in KINDS if m == method.upper() and pattern.search(path)), "other")


def recipients(data: Any) -> int:
    """To-device messages in one sendToDevice body: one per (user, device)."""
    try:
        body = json.loads(data if isinstance(data, str | bytes) else "{}")
        return sum(len(devices) for devices in (body.get("messages") or {}).values())
    except (ValueError, AttributeError, TypeError):
        return 0


_send = nio.AsyncClient.send


async def _counted_send(
    self: nio.AsyncClient, method: str, path: str, data: Any = None, *a: Any, **k: Any
) -> Any:
    kind = kind_of(method, path)
    with _lock:
        _counts["requests"] += 1
        _counts[kind] += 1
        if kind == "to_device_requests":
            _counts["to_device_messages"] += recipients(data)
    return await _send(self, method, path, data, *a, **k)


def _writer(target: Path) -> None:
    temp = target.with_suffix(".tmp")
    while True:
        with _lock:
            counts = dict(_counts)
        snapshot = {"at": time.time(), "cpu_s": time.process_time(), "pid": os.getpid(), **counts}
        temp.write_text(json.dumps(snapshot))
        os.replace(temp, target)
        time.sleep(0.25)


def main() -> int:
    config, counters = sys.argv[1], Path(sys.argv[2])
    nio.AsyncClient.send = _counted_send  # type: ignore[method-assign]
    threading.Thread(target=_writer, args=(counters,), daemon=True).start()
    from bots.cli import main as affinity

    return affinity(["run", "--config", config, "--json"])


if __name__ == "__main__":
    sys.exit(main())
