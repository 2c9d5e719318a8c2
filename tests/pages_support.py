"""Helpers for page tests through a cookie-keeping HTTP client (a browser without script)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from typing import TypeVar

import httpx

from tests.factories import PASSWORD

T = TypeVar("T")


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def log_in(
    browser: httpx.AsyncClient, phone: str, password: str = PASSWORD
) -> httpx.Response:
    page = await browser.get("/login")
    return await browser.post(
        "/login", data={"phone": phone, "password": password, "csrf_token": csrf(page.text)}
    )


class _QueryCounter(logging.Handler):
    """Counts the statements Tortoise's client logs (its public logger, at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def statements_for(work: Awaitable[T]) -> tuple[T, int]:
    """What ``work`` answers, and how many SQL statements it cost."""
    logger = logging.getLogger("tortoise.db_client")
    counter, level = _QueryCounter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        return await work, counter.count
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)


async def queries_for(browser: httpx.AsyncClient, path: str) -> int:
    """How many SQL statements one page costs (it must answer 200)."""
    answer, count = await statements_for(browser.get(path))
    assert answer.status_code == 200, answer.text
    return count
