"""A live server and a real browser (Debian's Chromium driven by Playwright) for page tests.

The server is `uvicorn volunteer_hub.web.asgi:app_factory` in a subprocess, on a SQLite
file whose data the test built through the services first. Chromium is the system's
(/usr/bin/chromium, or VHUB_CHROMIUM): Playwright never downloads a browser here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.factories import PASSWORD
from volunteer_hub import db
from volunteer_hub.config import Settings, sqlite_url
from volunteer_hub.hub import Hub

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
# The screenshots docs/pages.md shows; renewed only on request (VHUB_DOC_SCREENSHOTS=1), so a
# test run leaves the work tree as it was.
DOC_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("VHUB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("browser tests need Debian's chromium (apt-get install -y chromium)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(settings: Settings, clock, scenario: Callable[[Hub], Awaitable[object]]) -> object:
    """Run ``scenario`` against the test's database, in its own event loop and thread
    (Playwright's sync API holds an event loop in the test's thread), and close it."""

    async def go() -> object:
        async with db.database(settings.database_url):
            return await scenario(Hub.create(settings, clock=clock))

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


@contextmanager
def live_server(settings: Settings, *, autoload: bool = False) -> Iterator[str]:
    """The app on a free port. ``autoload``: with the installed plugins (entry points), as
    a deployment that installed them runs."""
    port = free_port()
    env = {
        **os.environ,
        "VHUB_DATABASE_URL": settings.database_url,
        "VHUB_SECRET_KEY": settings.secret_key,
        "VHUB_DATA_DIR": str(settings.data_dir),
        "VHUB_DISABLE_PLUGIN_AUTOLOAD": "" if autoload else "1",
        "VHUB_PASSWORD_PROFILE": settings.password_profile,
    }
    log = (Path(settings.data_dir) / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "volunteer_hub.web.asgi:app_factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (Path(settings.data_dir) / "server.log").read_text(errors="replace")
                raise RuntimeError(f"the server did not start:\n{output}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        output = (Path(settings.data_dir) / "server.log").read_text(errors="replace")
        if "Traceback" in output:
            print(f"--- the server's log ---\n{output}")  # shown with a failing test's report


@contextmanager
def chromium_browser() -> Iterator[Browser]:
    """Debian's Chromium, launched headless through Playwright, closed on exit."""
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield instance
        finally:
            instance.close()


def new_page(
    browser: Browser,
    base: str,
    viewport: dict = PHONE,
    locale: str = "zh-CN",
    *,
    timeout: int = 10_000,
    **context_options,
) -> Page:
    """A page in a fresh context (no cookies) on the live server at ``base``."""
    context = browser.new_context(
        base_url=base, viewport=viewport, locale=locale, **context_options
    )
    context.set_default_timeout(timeout)
    return context.new_page()


# The login form's words in each language: phone, password, log in, then log out.
LOGIN_WORDS = {
    "zh-CN": ("手机号码", "密码", "登录", "退出登录"),
    "en": ("Mobile phone number", "Password", "Log in", "Log out"),
}


def log_in(page: Page, phone: str, password: str = PASSWORD) -> None:
    """Log in through the form, in whichever language the page speaks."""
    page.goto("/login")
    phone_label, password_label, submit, log_out = LOGIN_WORDS[
        page.locator("html").get_attribute("lang")
    ]
    page.get_by_label(phone_label).fill(phone)
    page.get_by_label(password_label).fill(password)
    page.get_by_role("button", name=submit).click()
    expect(page.get_by_role("button", name=log_out)).to_be_visible()


def screenshot(page, name: str, *, docs: bool = False, **options) -> Path:
    """The whole page as ``test-artifacts/screenshots/{name}.png``; with ``docs`` and
    VHUB_DOC_SCREENSHOTS=1, also as ``docs/screenshots/{name}.png``. ``options`` go to
    Playwright's ``page.screenshot`` (a ``clip``, say)."""
    folders = [ARTIFACTS]
    if docs and os.environ.get("VHUB_DOC_SCREENSHOTS") == "1":
        folders.append(DOC_SCREENSHOTS)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True, **options)
    return ARTIFACTS / f"{name}.png"


@pytest.fixture
def vhub_database_url(tmp_path, sqlite_template) -> str:
    """Browser tests run on the embedded default only (the flows beneath them run on both).
    A browser test module takes it by importing it from here."""
    path = tmp_path / "vhub.sqlite3"
    shutil.copy(sqlite_template, path)
    return sqlite_url(path)


def assert_accessible(page: Page, label: str) -> None:
    """axe-core finds no serious or critical violation on the page as it stands."""
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, f"{label}: " + "; ".join(
        f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in serious
    )
