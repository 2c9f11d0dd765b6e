"""Browser tests against the real ASGI app (HTTP and websockets) under daphne, in Debian's Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, ROOT, Server, server_start

ARTIFACTS = ROOT / "test-artifacts"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the e2e tests need it")
    srv = server_start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _page(request: pytest.FixtureRequest, browser: Any, server: Server, **context_args: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, **context_args)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Whatever the Content-Security-Policy blocks (an inline script, style or handler) fails the test too.
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.js_errors = errors  # type: ignore[attr-defined]
    # Every console error (a 404 for a favicon included): tests.e2e.pagecheck fails a page on these.
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = console_errors  # type: ignore[attr-defined]
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot saved to {shot}\n--- daphne log (tail) ---\n{server.log()[-3000:]}")
        except Exception as exc:  # the page may be gone; the failure itself matters more
            print(f"\ncould not save a screenshot: {exc}")
    context.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Any, server: Server) -> Iterator[Any]:
    yield from _page(request, browser, server, viewport={"width": 1280, "height": 800})


@pytest.fixture
def mobile_page(request: pytest.FixtureRequest, browser: Any, server: Server) -> Iterator[Any]:
    yield from _page(
        request,
        browser,
        server,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
