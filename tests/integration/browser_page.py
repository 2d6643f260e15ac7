"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium, every non-file request aborted and counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class Page:
    """A page with every non-file request aborted and counted, and console errors collected."""

    def __init__(self, browser: Any, width: int = 1500, height: int = 1000) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.network_attempts: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" or "WARN" in m.text else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.network_attempts.append(route.request.url)
            route.abort()

    def open(self, path: Path, ready: str = "() => window.profkitReport !== undefined") -> Any:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function(ready, timeout=60_000)
        self.page.wait_for_timeout(500)
        return self.page

    def close(self) -> None:
        self.context.close()


def shot(page: Any, name: str, full_page: bool = True) -> None:
    """A screenshot of the page (or of one element, for a locator) in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    if hasattr(page, "goto"):
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
    else:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
