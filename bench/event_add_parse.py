"""How long ``!event add`` parsing takes on hostile 64 KB inputs (the old regex took minutes).

.venv/bin/python bench/event_add_parse.py
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from protocols.calendar_events import EventError, parse_event_add

SIZE = 64 * 1024
INPUTS = {
    "whitespace run": "t" + " " * SIZE + "at",
    "many ' at '": "x at " * (SIZE // 5),
    "many dates": "x at 2026-05-01 " * (SIZE // 16),
    "valid, long place": "Rally at 2026-05-01 18:00 where " + "p " * (SIZE // 2),
}


def main() -> None:
    now = datetime(2026, 4, 20, tzinfo=UTC)
    for name, text in INPUTS.items():
        start = time.perf_counter()
        try:
            parse_event_add(text, ZoneInfo("UTC"), now)
            outcome = "parsed"
        except EventError:
            outcome = "refused"
        print(f"{name:>20}: {len(text):>6} chars, {outcome}, {1000 * (time.perf_counter() - start):.1f} ms")


if __name__ == "__main__":
    main()
