"""Debian's Chromium for the browser tests, launched one way everywhere: headless, no sandbox
(root in a container), and none of the background traffic a fresh profile starts (component
updates, sync, safe-browsing lists), so a test never reaches past the loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


async def launch_chromium(playwright: Any, profile: Path) -> Any:
    """A browser context on a fresh profile directory of the test's own (`--user-data-dir`,
    as Playwright's persistent context passes it)."""
    return await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
    )
