"""Headless Chromium (Debian's ``chromium``) for tests that look at a page as a person would.

A page is rendered to a PNG with the network closed two ways (every host resolves to
nothing; every request goes to a proxy on a closed loopback port), and Chromium's net log
is read back for the requests the page itself made (the browser's own background
requests, for updates and accounts, are told apart by their isolation key: the page's are
keyed by its ``file://`` site).

Without Chromium the tests skip, unless ``BIGMART_REQUIRE_BROWSER`` is set (scripts/test
sets it and installs the package), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser")


def chromium() -> str:
    """The Chromium binary; skips the test (or fails it, when required) without one."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("BIGMART_REQUIRE_BROWSER"):
        pytest.fail("BIGMART_REQUIRE_BROWSER is set but no chromium is installed (apt chromium)")
    pytest.skip("chromium is not installed (scripts/test installs it)")


@dataclass
class Rendered:
    screenshot: Path
    page_requests: list[str]  # URLs the page asked for (none may leave file://)


def render(page: Path, folder: Path, *, width: int = 1280, height: int = 5000) -> Rendered:
    """Screenshot ``page`` at ``width`` x ``height`` CSS pixels, recording its requests."""
    folder.mkdir(parents=True, exist_ok=True)
    screenshot, net_log = folder / "screenshot.png", folder / "net-log.json"
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # root in CI; the page is our own file
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={folder / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--proxy-server=http://127.0.0.1:{_closed_port()}",
        f"--log-net-log={net_log}",
        f"--window-size={width},{height}",
        f"--screenshot={screenshot}",
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and screenshot.exists(), result.stderr[-2000:]
    return Rendered(screenshot, _page_requests(net_log))


def _page_requests(net_log: Path) -> list[str]:
    document = json.loads(net_log.read_text())
    start = document["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    found = []
    for event in document["events"]:
        params = event.get("params") or {}
        if event["type"] != start or "url" not in params:
            continue
        if str(params.get("network_isolation_key", "")).startswith("file://"):
            found.append(params["url"])
    return found


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ink(png: Path, box: tuple[int, int, int, int] | None = None) -> tuple[int, int]:
    """Pixels of ``png`` (within ``box``: left, top, right, bottom) that are not white,
    and those of them that are coloured (not grey: text and rules are grey or black)."""
    import numpy as np
    from PIL import Image

    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    if box is not None:
        left, top, right, bottom = box
        pixels = pixels[top:bottom, left:right]
    not_white = pixels.min(axis=2) < 235
    coloured = (pixels.max(axis=2) - pixels.min(axis=2)) > 40
    return int(not_white.sum()), int(coloured.sum())


#: What a page would fetch from elsewhere: a script, a stylesheet, an image, a frame, a font.
FETCHING = ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "@font-face")


def assert_self_contained(text: str) -> None:
    """The page names nothing to fetch: no URL, no fetching tag or rule, and every
    ``src``, ``href`` and ``url()`` is to an element of the page itself."""
    assert "http://" not in text and "https://" not in text
    lowered = text.lower()
    for tag in FETCHING:
        assert tag not in lowered, tag
    assert set(re.findall(r'(?:src|href)="(.)', text)) <= {"#"}
    assert all(target.startswith("#") for target in re.findall(r"url\(([^)]*)\)", text))
