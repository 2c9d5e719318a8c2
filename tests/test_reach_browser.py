"""Reach in a real browser (Debian's Chromium, Playwright) against a live server: a
resident who agreed to text messages at registration hears who is coming at a Tencent SMS
sink on 127.0.0.1; and the screenshots of the reach pages for docs/pages.md."""

from __future__ import annotations

import asyncio
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.browser_support import (
    DESKTOP,
    PHONE,
    assert_accessible,
    chromium_browser,
    live_server,
    log_in,
    new_page,
    screenshot,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.factories import World, next_phone
from volunteer_hub import db
from volunteer_hub.bootstrap import build_hub
from volunteer_hub.models import Community
from volunteer_hub.services import channels, wishes
from volunteer_hub.testing import confirmed_address, deliver_due

# --- in a real browser: text messages at a Tencent SMS sink; screenshots ---------------------

TENCENT_TESTS = Path(__file__).resolve().parent.parent / "plugins" / "vh-tencent-sms" / "tests"
SECRET_ID, SECRET_KEY = "AKIDreachTest0123456789", "reachSecretKey0123456789abcdef"


def tencent():
    """The Tencent SMS plugin and its strict stand-in for Tencent (the plugin's own tests')."""
    if str(TENCENT_TESTS) not in sys.path:
        sys.path.insert(0, str(TENCENT_TESTS))
    from tencent_sms_sink import TencentSmsSink
    from vh_tencent_sms import plugin

    return plugin, TencentSmsSink


def run(settings, scenario):
    """Run ``scenario(hub)`` on the test's database with the product's Hub (the planner
    subscribed, the Tencent SMS plugin loaded), in its own thread and event loop (the
    Playwright test's thread holds one)."""
    plugin, _ = tencent()

    async def go():
        async with db.database(settings.database_url):
            return await scenario(build_hub(settings, plugins=[("vh-tencent-sms", plugin)]))

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


@pytest.fixture
def chromium():
    with chromium_browser() as instance:
        yield instance


async def sms_community(hub, endpoint: str) -> dict:
    w = await World(hub).build()
    volunteer = await w.volunteer("李晓明", team=await w.team("repair"))
    settings = {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sdk_app_id": "1400006666",
        "sign_name": "幸福里社区",
        "template_id": "1234567",
        "endpoint": endpoint,
        "param_max_length": 12,
    }
    await channels.configure(
        hub, w.staff, w.community.id, {"code": "tencent_sms", "name": "短信", "settings": settings}
    )
    # No quiet hours: the message is sent at once, whatever the time of the run.
    await Community.filter(id=w.community.id).update(quiet_start="00:00", quiet_end="00:00")
    return {"community": w.community.id, "volunteer": volunteer.person.phone, "w": w}


def test_a_resident_who_agreed_to_texts_hears_who_is_coming_at_the_sms_sink(settings, chromium):
    """Issue 12: she ticks the box at registration, types the code the SMS brought, posts a
    wish; once a volunteer claims it, a text message tells her who is coming."""
    from playwright.sync_api import expect

    _, TencentSmsSink = tencent()
    with TencentSmsSink(SECRET_ID, SECRET_KEY) as sink:
        world = run(settings, lambda hub: sms_community(hub, sink.endpoint))
        with live_server(settings, autoload=True) as base:
            wang = new_page(chromium, base)
            wang.goto("/register")
            phone = next_phone()
            wang.get_by_label("姓名").fill("王奶奶")
            wang.get_by_label("手机号码").fill(phone)
            wang.get_by_label("密码").fill("Xingfuli-2026!")
            wang.get_by_label("所在社区").select_option(str(world["community"]))
            box = wang.get_by_label("给这个号码发短信通知我")
            expect(box).not_to_be_checked()
            box.check()
            wang.get_by_role("button", name="注册").click()
            expect(wang.get_by_text("我们已向您的手机发送验证码")).to_be_visible()

            run(settings, deliver_due)
            [code_sms] = sink.accepted.values()
            assert code_sms["PhoneNumberSet"] == [f"+86{phone}"]
            topic, code = code_sms["TemplateParamSet"]
            assert topic == "验证码" and code.isdigit()
            wang.get_by_label(re.compile("验证码")).fill(code)
            wang.get_by_role("button", name="确认").click()
            expect(wang.get_by_text("已确认")).to_be_visible()

            wang.goto("/wishes/new")
            wang.get_by_label("您需要什么帮助？").fill("帮忙取快递")
            wang.get_by_label("帮助类别").select_option("errand")
            wang.get_by_label("详细说明").fill("腿脚不便，快递在驿站")
            wang.get_by_role("button", name="发布心愿").click()
            wish_id = int(re.search(r"/wishes/(\d+)", wang.url).group(1))

            async def approve(hub):
                await wishes.review(hub, world["w"].staff, wish_id, {"decision": "approve"})

            run(settings, approve)
            volunteer = new_page(chromium, base)
            log_in(volunteer, world["volunteer"])
            volunteer.goto(f"/wishes/{wish_id}")
            volunteer.get_by_role("button", name="我来认领").click()
            expect(volunteer.get_by_text("李晓明")).not_to_have_count(0)

            run(settings, deliver_due)
            # The approval and the claim go out in one round, in either order.
            texts = [p["TemplateParamSet"] for p in sink.accepted.values()]
            assert sorted(texts[1:]) == [
                ["您的心愿已通过审核", "帮忙取快递"],
                ["李晓明会来帮您", "帮忙取快递"],
            ], texts
            assert all(r.verified for r in sink.requests) and not sink.duplicates
            assert world["volunteer"] not in str(texts)
            wang.goto("/inbox")
            heading = wang.get_by_role("heading", name=re.compile("李晓明会来帮您：帮忙取快递"))
            expect(heading).to_be_visible()


async def screenshot_world(hub) -> dict:
    w = await World(hub).build()
    wang = await w.person("王奶奶", birth_date=None)
    volunteer = await w.volunteer("李晓明", team=await w.team("repair"))
    await channels.configure(
        hub,
        w.staff,
        w.community.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": "http://127.0.0.1:9/sms"}},
    )
    settings = {"host": "127.0.0.1", "port": 2525, "sender": "noreply@example.com"}
    await channels.configure(
        hub, w.staff, w.community.id, {"code": "email", "name": "社区邮箱", "settings": settings}
    )
    await confirmed_address(hub, wang, "webhook", wang.person.phone)
    await channels.set_address(hub, wang, "email", {"address": "wang@example.com"})
    for title, category in (("帮忙取快递", "errand"), ("修水龙头", "repair")):
        wish = await wishes.post(
            hub,
            wang,
            w.community.id,
            {"title": title, "description": "腿脚不便", "category": category},
        )
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await wishes.claim(hub, volunteer, wish.id)
    chen = await w.person("陈阿姨")
    await channels.set_address_for(
        hub, w.grid_worker, chen.id, "webhook", {"address": chen.person.phone}
    )
    await channels.set_reached_through_grid_worker(
        hub, w.grid_worker, chen.id, {"reached_through_grid_worker": True}
    )
    return {"wang": wang.person.phone, "gw": w.grid_worker.person.phone, "chen": chen.id}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_screenshots_of_the_reach_pages(settings, chromium, lang):
    """The new pages at phone and desktop width, in both languages, checked with axe-core
    and photographed for docs/pages.md."""
    people = run(settings, screenshot_world)
    locale = "zh-CN" if lang == "zh" else "en"
    with live_server(settings) as base:
        for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            anonymous = new_page(chromium, base, viewport, locale)
            anonymous.goto("/register")
            _shoot(anonymous, width, lang, "register")
            wang = new_page(chromium, base, viewport, locale)
            log_in(wang, people["wang"])
            for path, name in (("/channels", "channels"), ("/inbox", "inbox")):
                wang.goto(path)
                _shoot(wang, width, lang, name)
            gw = new_page(chromium, base, viewport, locale)
            log_in(gw, people["gw"])
            gw.goto(f"/people/{people['chen']}/channels")
            _shoot(gw, width, lang, "resident-channels")
            gw.goto("/residents")
            _shoot(gw, width, lang, "residents")


def _shoot(page, width: str, lang: str, name: str) -> None:
    """Check the page with axe-core (no serious or critical violation), then photograph it."""
    assert_accessible(page, f"{name} ({width}, {lang})")
    screenshot(page, f"{width}-{lang}-{name}", docs=True)
