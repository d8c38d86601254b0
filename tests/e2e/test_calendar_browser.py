"""The public page in a real browser: Chromium from the system's packages (``make browser``),
headless, driven over the DevTools protocol with JavaScript disabled and no network beyond
loopback. ``Browser`` is used by tests/e2e/test_calendar.py on the page a real bot serves; the
test here checks the browser itself (scripts really are off) and the page's shape on a phone and
on paper. Screenshots are kept under tests/e2e/artifacts/ (not in git)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from babel.dates import format_skeleton

from bots.calendar.page import render_page
from protocols.calendar_feed import FeedEvent, FeedWords
from protocols.calendar_page import page_days

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
POLISH_WORDS = FeedWords(private_place="Miejsce podane uczestnikom", member_group="grupa członkowska")
PHONE = (412, 915)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is missing: `make browser` installs it from the system's packages"
    return found


@dataclass
class Rendered:
    html: str
    title: str
    content_width: float
    viewport_width: float
    screenshot: bytes
    pdf: bytes


class Browser:
    """One headless Chromium and one tab, spoken to over its DevTools websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._session: str | None = None
        self._events: list[dict[str, Any]] = []

    async def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if self._session is not None and not method.startswith("Target."):
            message["sessionId"] = self._session
        await self._ws.send_str(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"Chromium did not answer {method}"
            data = json.loads((await self._ws.receive(timeout=left)).data)
            if data.get("id") == number:
                assert "error" not in data, (method, data["error"])
                return dict(data.get("result") or {})
            self._events.append(data)

    async def wait_event(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if any(e.get("method") == name for e in self._events):
                self._events = [e for e in self._events if e.get("method") != name]
                return
            left = deadline - time.monotonic()
            assert left > 0, f"no {name} from Chromium"
            self._events.append(json.loads((await self._ws.receive(timeout=left)).data))

    async def open_tab(self) -> None:
        target = await self.call("Target.createTarget", {"url": "about:blank"})
        attached = await self.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        self._session = attached["sessionId"]
        await self.call("Page.enable")
        await self.call("Emulation.setScriptExecutionDisabled", {"value": True})
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
        )

    async def render(self, url: str) -> Rendered:
        """Load ``url`` (scripts off, phone-sized) and read back its DOM, size, picture and print."""
        await self.call("Page.navigate", {"url": url})
        await self.wait_event("Page.loadEventFired")
        root = await self.call("DOM.getDocument", {"depth": -1})
        html = (await self.call("DOM.getOuterHTML", {"nodeId": root["root"]["nodeId"]}))["outerHTML"]
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        metrics = await self.call("Page.getLayoutMetrics")
        shot = await self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        pdf = await self.call("Page.printToPDF", {"printBackground": False})
        return Rendered(
            html=html,
            title=title.group(1) if title else "",
            content_width=float(metrics["cssContentSize"]["width"]),
            viewport_width=float(metrics["cssLayoutViewport"]["clientWidth"]),
            screenshot=base64.b64decode(shot["data"]),
            pdf=base64.b64decode(pdf["data"]),
        )


@asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[Browser]:
    """A headless Chromium that can reach loopback only (every other name resolves to nothing)."""
    process = await asyncio.create_subprocess_exec(
        chromium(),
        "--headless",
        "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        endpoint = None
        while endpoint is None:
            left = deadline - time.monotonic()
            assert left > 0, "Chromium did not open its DevTools port"
            line = (await asyncio.wait_for(process.stderr.readline(), left)).decode(errors="replace")
            assert line, "Chromium exited before opening its DevTools port"
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            endpoint = found.group(1) if found else None
        drain = asyncio.create_task(_drain(process.stderr))
        async with aiohttp.ClientSession() as session, session.ws_connect(endpoint, max_msg_size=0) as ws:
            tab = Browser(ws)
            await tab.open_tab()
            yield tab
        drain.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def keep(name: str, data: bytes) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path


def check_page_shape(page: Rendered) -> None:
    """What every rendering of the page must be: landmarks, headings, no script, fits a phone,
    prints."""
    html = page.html
    assert re.search(r'<html[^>]* lang="en"', html)
    for landmark in ("<header>", "<main>", "<footer>"):
        assert landmark in html, landmark
    assert html.count("<h1>") == 1
    assert "<script" not in html and "http://" not in html.split("</head>")[0].replace(
        'href="events.ics"', ""
    )
    assert page.content_width <= page.viewport_width + 1, "the page is wider than a phone"
    assert page.screenshot.startswith(b"\x89PNG") and page.pdf.startswith(b"%PDF")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


async def test_chromium_runs_no_script_and_the_page_fits_a_phone_and_prints(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    events = [
        FeedEvent(
            f"{i}@x",
            f"Action {i} <b>not bold</b>",
            now + timedelta(days=1 + i % 3, hours=i),
            None,
            "Europe/Paris",
            "Place Bellecour, by the statue",
            i % 2 == 0,
            0,
            now,
            now,
            holder="Lyon group",
        )
        for i in range(6)
    ]
    (tmp_path / "page.html").write_bytes(render_page("spring", page_days(events, now), None))
    # The same calendar in Polish, with an action that ends the next day.
    night = now.replace(hour=21, minute=0, second=0, microsecond=0) + timedelta(days=5)
    late = replace(events[1], uid="late@x", starts_at=night, ends_at=night + timedelta(hours=4), zone="UTC")
    polish = render_page("spring", page_days([*events, late], now, POLISH_WORDS), None, "pl")
    (tmp_path / "page-pl.html").write_bytes(polish)
    (tmp_path / "script.html").write_text("<title>before</title><script>document.title = 'ran'</script>")
    async with browser(tmp_path / "profile") as tab:
        scripted = await tab.render((tmp_path / "script.html").as_uri())
        assert scripted.title == "before", "JavaScript ran although it is disabled"
        page = await tab.render((tmp_path / "page.html").as_uri())
        in_polish = await tab.render((tmp_path / "page-pl.html").as_uri())
    keep("calendar_page_static_phone.png", page.screenshot)
    keep("calendar_page_static_phone_pl.png", in_polish.screenshot)
    assert '<html lang="pl">' in in_polish.html and in_polish.title == "Kalendarz koalicji spring"
    ends = night + timedelta(hours=4)
    assert f"21:00 – {ends.day} {format_skeleton('MMM', ends, locale='pl')} 01:00" in in_polish.html
    assert "Miejsce podane uczestnikom" in in_polish.html and "Place shared" not in in_polish.html
    assert in_polish.content_width <= in_polish.viewport_width + 1
    check_page_shape(page)
    assert "Action 0 &lt;b&gt;not bold&lt;/b&gt;" in page.html  # escaped by the engine
    assert page.html.count("<h2") == 3 and page.html.count("<h3>") == 6
    assert "Place shared with participants" in page.html
    # The palette of the page's style meets WCAG AA (4.5:1 for text) on its white background.
    for colour in re.findall(r"color: (#[0-9a-f]{6})", page.html):
        assert contrast(colour, "#ffffff") >= 4.5, colour
