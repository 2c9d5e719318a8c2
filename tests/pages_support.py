"""Helpers for page tests through a cookie-keeping HTTP client (a browser without script)."""

from __future__ import annotations

import re

import httpx

from tests.factories import PASSWORD


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
