"""The staff console's pages through a cookie-keeping client without script: the index, the
review queue, candidates and invitations, new tasks with the recurrence picker, the
escalation board and the dashboards; who may see them, and each form's error path.

The ``clock`` fixture says 2026-12-01T01:00Z: 09:00 on a Tuesday in Shanghai.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import httpx
import pytest

from tests.factories import World
from tests.pages_support import csrf, log_in, queries_for
from tests.test_reports import SHANGHAI, approved, post, serve_shift
from volunteer_hub.models import AuditEntry, Task, Wish, WishStatus
from volunteer_hub.services import invitations, tasks, teams, wishes
from volunteer_hub.web.pages.staff import build_schedule

CONSOLE_PAGES = (
    "/staff",
    "/staff/review",
    "/staff/escalations",
    "/staff/tasks/new",
    "/staff/tasks",
    "/staff/dashboards",
)


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def switch_to(browser: httpx.AsyncClient, phone: str) -> None:
    """Log in as another person (a fresh browser: no cookies kept)."""
    browser.cookies.clear()
    assert (await log_in(browser, phone)).status_code == 303


async def staff_browser(browser: httpx.AsyncClient, w: World, english: bool = True):
    await log_in(browser, w.staff.person.phone)
    if english:
        browser.headers["Accept-Language"] = "en"
    return browser


async def submit(browser: httpx.AsyncClient, page: str, action: str, data: dict) -> httpx.Response:
    """Open ``page``, then post ``data`` to ``action`` with the page's CSRF token."""
    opened = await browser.get(page)
    assert opened.status_code == 200, opened.text
    return await browser.post(action, data={**data, "csrf_token": csrf(opened.text)})


def section(html: str, start: str) -> str:
    """The markup from ``start`` up to the end of its section."""
    at = html.index(start)
    return html[at : html.index("</section>", at)]


def assert_csp_safe(html: str) -> None:
    assert " style=" not in html and "<style" not in html and "<script>" not in html


# --- the index and who may see the console --------------------------------------------------


async def test_console_index_counts_what_needs_attention_in_chinese(w, browser):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    await post(w)
    claimed = await approved(w, needed_by=date(2026, 12, 1))
    await wishes.claim(w.hub, volunteer, claimed.id)
    red = await approved(w)
    await wishes.escalate(w.hub, w.staff, red.id, {"level": "red"})
    w.hub.clock.advance(days=1)
    await staff_browser(browser, w, english=False)

    page = await browser.get("/staff")

    assert page.status_code == 200
    assert '<html lang="zh-CN"' in page.text
    assert f"社区工作台：{w.community.name}" in page.text
    counts = re.findall(r'<p class="count">(\d+)</p>', page.text)
    assert counts == ["1", "1", "1", "1"]  # to review, open, claimed, overdue
    assert re.findall(r'<span class="count">(\d+)</span>', page.text) == ["0", "0", "1"]
    assert f'href="/staff/review?community={w.community.id}"' in page.text
    assert 'aria-current="page"' in page.text
    assert_csp_safe(page.text)


@pytest.mark.parametrize("path", CONSOLE_PAGES)
async def test_console_pages_are_for_staff_only(w, browser, path):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    other = await World(w.hub).build_other(w)
    assert (await browser.get(path)).status_code == 303  # logged out: to the login page

    await log_in(browser, volunteer.person.phone)
    refused = await browser.get(path)
    assert refused.status_code == 403
    assert '<div class="alert" role="alert">' in refused.text

    await switch_to(browser, other.staff.person.phone)
    assert (await browser.get(path)).status_code == 200  # their own community
    assert (await browser.get(f"{path}?community={w.community.id}")).status_code == 403

    await switch_to(browser, w.staff.person.phone)
    assert (await browser.get(path)).status_code == 200
    assert (await browser.get(f"{path}?community=abc")).status_code == 404
    assert (await browser.get(f"{path}?community=99999")).status_code == 404


async def test_an_admin_chooses_the_community(w, browser):
    await log_in(browser, w.admin.person.phone)
    browser.headers["Accept-Language"] = "en"
    chooser = await browser.get("/staff")
    assert chooser.status_code == 200
    assert f'href="/staff?community={w.community.id}"' in chooser.text
    chosen = await browser.get(f"/staff?community={w.community.id}")
    assert chosen.status_code == 200 and w.community.name in chosen.text
    for path in CONSOLE_PAGES[1:]:
        assert (await browser.get(f"{path}?community={w.community.id}")).status_code == 200


# --- the review queue -----------------------------------------------------------------------


async def test_review_queue_approves_and_rejects_with_a_reason(w, browser):
    resident = await w.person("王奶奶")
    first = await post(w, resident, title="帮忙修水龙头")
    second = await post(w, resident, title="想要乒乓球台")
    await staff_browser(browser, w)
    queue_path = f"/staff/review?community={w.community.id}"

    queue = await browser.get(queue_path)
    assert queue.status_code == 200
    assert "帮忙修水龙头" in queue.text and "想要乒乓球台" in queue.text
    assert f'href="/wishes/{first.id}"' in queue.text
    assert f'href="/staff/wishes/{first.id}"' in queue.text
    assert resident.person.phone not in queue.text

    approve = await submit(
        browser, queue_path, queue_path, {"wish_id": first.id, "decision": "approve"}
    )
    assert approve.status_code == 303
    assert approve.headers["location"] == f"/staff/review?community={w.community.id}&done=open"
    after = await browser.get(approve.headers["location"])
    assert "Approved: volunteers can now see it" in after.text
    assert "帮忙修水龙头" not in after.text
    assert (await Wish.get(id=first.id)).status is WishStatus.OPEN

    # Rejecting needs a reason: the error is beside this wish's reason field.
    refused = await submit(
        browser, queue_path, queue_path, {"wish_id": second.id, "decision": "reject", "reason": " "}
    )
    assert refused.status_code == 422
    assert f'aria-invalid="true" aria-describedby="reason-{second.id}-e"' in refused.text
    assert "A reason is required to reject a wish." in refused.text
    assert (await Wish.get(id=second.id)).status is WishStatus.SUBMITTED

    rejected = await browser.post(
        queue_path,
        data={
            "wish_id": second.id,
            "decision": "reject",
            "reason": "需要社区基金，请走基金申请",
            "csrf_token": csrf(refused.text),
        },
    )
    assert rejected.status_code == 303 and rejected.headers["location"].endswith("done=rejected")
    wish = await Wish.get(id=second.id)
    assert wish.status is WishStatus.REJECTED and wish.review_reason == "需要社区基金，请走基金申请"
    assert "Nothing waits for review." in (await browser.get(queue_path)).text

    # A stale form (reviewed meanwhile) is a conflict, shown on the queue.
    stale = await submit(
        browser, queue_path, queue_path, {"wish_id": first.id, "decision": "approve"}
    )
    assert stale.status_code == 409 and 'role="alert"' in stale.text


async def test_review_of_another_communitys_wish_is_not_found(w, browser):
    other = await World(w.hub).build_other(w)
    theirs = await post(other)
    await staff_browser(browser, w)
    queue_path = f"/staff/review?community={w.community.id}"
    for wish_id in (theirs.id, "x", 10**12):
        answer = await submit(
            browser, queue_path, queue_path, {"wish_id": wish_id, "decision": "approve"}
        )
        assert answer.status_code == 404
    assert (await Wish.get(id=theirs.id)).status is WishStatus.SUBMITTED
    # A form without its CSRF token is refused.
    bare = await browser.post(queue_path, data={"wish_id": theirs.id, "decision": "approve"})
    assert bare.status_code == 403


# --- one wish: review, candidates, invitations, escalation ----------------------------------


async def test_wish_page_ranks_candidates_with_reasons_and_invites(w, browser):
    team = await w.team("elderly_care", "助老队")
    near = await w.volunteer("近邻老张", team=team)
    far = await w.volunteer("远处小王", team=team, grid=w.other_grid)
    outsider = await w.volunteer("修理工", team=await w.team("repair"))
    wish = await approved(w, category="elderly_care", needed_by=date(2026, 12, 3))
    await staff_browser(browser, w, english=False)
    path = f"/staff/wishes/{wish.id}"

    page = await browser.get(path)
    assert page.status_code == 200
    ranked = section(page.text, 'id="candidates-h"')
    assert ranked.index("近邻老张") < ranked.index("远处小王")
    assert "同一网格" in ranked and "未登记空闲时间，视为有空" in ranked
    assert "修理工" not in ranked  # not in a team that serves the category
    for person in (near, far, outsider):
        assert person.person.phone not in page.text
        assert person.person.phone[-4:] not in page.text  # not even masked: names only
    english = await browser.get(path, headers={"Accept-Language": "en"})
    assert "Lives in the same grid" in english.text and "同一网格" not in english.text

    invited = await submit(browser, path, f"{path}/invite", {"person_id": near.id})
    assert invited.status_code == 303
    assert invited.headers["location"] == f"{path}?done=invite"
    after = await browser.get(invited.headers["location"])
    assert "邀请已发出" in after.text
    assert "已邀请" in section(after.text, 'id="candidates-h"')
    assert "邀请 近邻老张" not in after.text and "邀请 远处小王" in after.text
    assert await invitations.invited_people(wish.id) == {near.id}

    # Twice is a conflict; someone who may not claim it is refused with the rule named.
    again = await browser.post(
        f"{path}/invite", data={"person_id": near.id, "csrf_token": csrf(after.text)}
    )
    assert again.status_code == 409 and 'role="alert"' in again.text
    refused = await browser.post(
        f"{path}/invite",
        data={"person_id": outsider.id, "csrf_token": csrf(after.text)},
        headers={"Accept-Language": "en"},
    )
    assert refused.status_code == 422
    assert "Not a member of a elderly_care team" in section(refused.text, 'id="candidates-h"')
    assert await AuditEntry.filter(action="wish.invited").count() == 1


async def test_wish_page_is_for_the_communitys_staff(w, browser):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    other = await World(w.hub).build_other(w)
    wish = await approved(w)
    await log_in(browser, volunteer.person.phone)
    assert (await browser.get(f"/staff/wishes/{wish.id}")).status_code == 403  # sees the wish
    await switch_to(browser, other.staff.person.phone)
    assert (await browser.get(f"/staff/wishes/{wish.id}")).status_code == 404
    assert (await browser.get("/staff/wishes/99999999999")).status_code == 404


async def test_review_and_escalation_on_the_wish_page(w, browser):
    wish = await post(w, category="public_facility", title="路灯太暗")
    await staff_browser(browser, w)
    path = f"/staff/wishes/{wish.id}"

    page = await browser.get(path)
    assert 'id="review-h"' in page.text
    assert "No volunteer can serve this wish." in page.text  # public facilities are referred
    refused = await browser.post(
        f"{path}/review", data={"decision": "reject", "csrf_token": csrf(page.text)}
    )
    assert refused.status_code == 422
    assert f'aria-describedby="reason-{wish.id}-e"' in refused.text
    approve = await browser.post(
        f"{path}/review", data={"decision": "approve", "csrf_token": csrf(page.text)}
    )
    assert approve.headers["location"] == f"{path}?done=open"

    opened = await browser.get(path)
    assert 'id="review-h"' not in opened.text
    levels = section(opened.text, 'id="escalate-h"')
    assert re.findall(r'<option value="(\w+)"', levels) == ["blue", "yellow", "red"]
    escalated = await browser.post(
        f"{path}/escalate",
        data={"level": "blue", "referral": "街道设施科", "csrf_token": csrf(opened.text)},
    )
    assert escalated.headers["location"] == f"{path}?done=escalate"
    raised = await browser.get(escalated.headers["location"])
    assert "Passed to: 街道设施科" in raised.text
    assert re.findall(r'<option value="(\w+)"', section(raised.text, 'id="escalate-h"')) == [
        "yellow",
        "red",
    ]
    # A stale form (blue again) is a conflict shown beside the form; a bad level is invalid.
    stale = await browser.post(
        f"{path}/escalate", data={"level": "blue", "csrf_token": csrf(raised.text)}
    )
    assert stale.status_code == 409
    assert "The wish is at this level or higher already." in section(stale.text, 'id="escalate-h"')
    bad = await browser.post(
        f"{path}/escalate", data={"level": "purple", "csrf_token": csrf(raised.text)}
    )
    assert bad.status_code == 422 and f'aria-describedby="level-{wish.id}-e"' in bad.text
    assert (await Wish.get(id=wish.id)).escalation.value == "blue"


# --- the escalation board -------------------------------------------------------------------


async def test_escalation_board_has_three_levels_and_the_overdue(w, browser):
    blue = await approved(w, title="路灯不亮")
    await wishes.escalate(w.hub, w.staff, blue.id, {"level": "blue", "referral": "街道设施科"})
    yellow = await approved(w, title="井盖松动")
    await wishes.escalate(w.hub, w.staff, yellow.id, {"level": "yellow"})
    late = await approved(w, title="帮忙买药", needed_by=date(2026, 12, 1))
    w.hub.clock.advance(days=1)
    await staff_browser(browser, w)
    board_path = f"/staff/escalations?community={w.community.id}"

    board = await browser.get(board_path)
    assert board.status_code == 200
    assert "路灯不亮" in section(board.text, 'class="column column-blue"')
    assert "街道设施科" in section(board.text, 'class="column column-blue"')
    assert "井盖松动" in section(board.text, 'class="column column-yellow"')
    assert "None." in section(board.text, 'class="column column-red"')
    overdue = section(board.text, 'id="overdue-h"')
    assert "帮忙买药" in overdue and "Overdue since" in overdue
    assert_csp_safe(board.text)

    raised = await submit(
        browser,
        board_path,
        board_path,
        {"wish_id": late.id, "level": "blue", "referral": "社区卫生服务站"},
    )
    assert raised.status_code == 303
    assert raised.headers["location"] == f"{board_path}&done=escalated"
    after = await browser.get(raised.headers["location"])
    assert "帮忙买药" in section(after.text, 'class="column column-blue"')
    assert "Escalated. The next level is notified." in after.text

    stale = await submit(browser, board_path, board_path, {"wish_id": late.id, "level": "blue"})
    assert stale.status_code == 409
    assert f'id="level-{late.id}"' in stale.text and 'role="alert"' in stale.text
    # The red column offers no higher level.
    red = await submit(browser, board_path, board_path, {"wish_id": yellow.id, "level": "red"})
    assert red.status_code == 303
    top = section((await browser.get(board_path)).text, 'class="column column-red"')
    assert "井盖松动" in top and f'id="level-{yellow.id}"' not in top

    # A wish closed meanwhile has left the board: the refusal still shows.
    opened = await browser.get(board_path)
    await wishes.cancel(w.hub, w.staff, blue.id, {"reason": "已修好"})
    gone = await browser.post(
        board_path, data={"wish_id": blue.id, "level": "red", "csrf_token": csrf(opened.text)}
    )
    assert gone.status_code == 409
    assert "路灯不亮" not in gone.text and "This wish is cancelled" in gone.text


# --- new tasks --------------------------------------------------------------------------------


def test_build_schedule_makes_a_weekly_rrule_from_the_picker():
    form = {
        "date": "2026-12-07",  # a Monday: the first chosen day after it is Tuesday
        "start_time": "19:00",
        "end_time": "21:00",
        "repeat": "weekly",
        "until": "2026-12-31",
    }
    schedule, problems = build_schedule(form, ["TH", "TU"], "Asia/Shanghai")
    assert problems == []
    assert schedule.starts_at == datetime(2026, 12, 8, 19, tzinfo=SHANGHAI)
    assert schedule.ends_at == datetime(2026, 12, 8, 21, tzinfo=SHANGHAI)
    # UNTIL is the end of the last local day, in UTC (RFC 5545 with a zoned start).
    assert schedule.rrule == "FREQ=WEEKLY;BYDAY=TU,TH;UNTIL=20261231T155959Z"

    once, _ = build_schedule({**form, "repeat": "once"}, ["TU"], "Asia/Shanghai")
    assert once.rrule is None and once.starts_at.date() == date(2026, 12, 7)
    night, _ = build_schedule(
        {**form, "start_time": "22:00", "end_time": "06:00", "repeat": "once"}, [], "Asia/Shanghai"
    )
    assert night.ends_at == datetime(2026, 12, 8, 6, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("changes", "days", "fields"),
    [
        ({"date": None, "start_time": None}, ["TU"], ["date", "start_time"]),
        ({"date": "2026-02-30", "end_time": "25:00"}, ["TU"], ["date", "end_time"]),
        ({"start_time": "19:00+08:00"}, ["TU"], ["start_time"]),
        ({}, [], ["days"]),
        ({}, ["TU", "XX"], ["days"]),
        ({"until": None}, ["TU"], ["until"]),
        ({"until": "2026-12-08"}, ["WE"], ["until"]),  # the first Wednesday is 9 December
        ({"date": "9999-12-31"}, ["TU"], ["date"]),
    ],
)
def test_build_schedule_names_each_wrong_field(changes, days, fields):
    form = {
        "date": "2026-12-07",
        "start_time": "19:00",
        "end_time": "21:00",
        "repeat": "weekly",
        "until": "2026-12-31",
    }
    schedule, problems = build_schedule({**form, **changes}, days, "Asia/Shanghai")
    assert schedule is None
    assert sorted(p.field for p in problems) == sorted(fields)


async def test_staff_create_a_weekly_patrol(w, browser):
    patrol = await w.team("silver_patrol", "银发巡逻队")
    await staff_browser(browser, w)
    path = f"/staff/tasks/new?community={w.community.id}"

    form = await browser.get(path)
    assert f'<option value="{patrol.id}">银发巡逻队</option>' in form.text
    assert 'type="checkbox" name="days" value="TU"' in form.text
    assert re.search(r'<label for="f-start_time">Starts at', form.text)
    created = await browser.post(
        path,
        data={
            "title": "银发巡逻",
            "team_id": str(patrol.id),
            "capacity": "6",
            "location": "小区北门",
            "date": "2026-12-01",
            "start_time": "19:00",
            "end_time": "21:00",
            "repeat": "weekly",
            "days": ["TU", "TH"],
            "until": "2026-12-31",
            "csrf_token": csrf(form.text),
        },
    )
    assert created.status_code == 303, created.text
    task = await Task.get(title="银发巡逻")
    assert created.headers["location"] == (
        f"/staff/tasks/new?community={w.community.id}&done=task&task={task.id}"
    )
    assert task.team_id == patrol.id and task.capacity == 6 and task.location == "小区北门"
    assert task.starts_at == datetime(2026, 12, 1, 11, tzinfo=UTC)  # 19:00 in Shanghai
    assert task.ends_at == datetime(2026, 12, 1, 13, tzinfo=UTC)
    assert task.rrule == "FREQ=WEEKLY;BYDAY=TU,TH;UNTIL=20261231T155959Z"
    await task.fetch_related("community")
    starts = [o["start"].astimezone(SHANGHAI) for o in await tasks.occurrences(w.hub, task)]
    assert [s.day for s in starts] == [1, 3, 8, 10, 15, 17, 22, 24, 29, 31]
    assert {(s.hour, s.minute) for s in starts} == {(19, 0)}
    shown = await browser.get(created.headers["location"])
    assert "The task is created." in shown.text and f'href="/tasks/{task.id}"' in shown.text


async def test_a_one_off_task_without_a_team(w, browser):
    await staff_browser(browser, w)
    path = f"/staff/tasks/new?community={w.community.id}"
    created = await submit(
        browser,
        path,
        path,
        {
            "title": "反诈宣传入户",
            "capacity": "3",
            "date": "2026-12-05",
            "start_time": "22:00",
            "end_time": "01:30",  # past midnight
            "repeat": "once",
            "days": "TU",  # ignored for a one-off task
        },
    )
    assert created.status_code == 303
    task = await Task.get(title="反诈宣传入户")
    assert task.team_id is None and task.rrule is None
    assert task.starts_at == datetime(2026, 12, 5, 14, tzinfo=UTC)
    assert task.ends_at == datetime(2026, 12, 5, 17, 30, tzinfo=UTC)


async def test_task_form_shows_every_error_beside_its_field_and_keeps_the_input(w, browser):
    await staff_browser(browser, w)
    path = f"/staff/tasks/new?community={w.community.id}"
    answer = await submit(
        browser,
        path,
        path,
        {
            "title": "x",
            "capacity": "0",
            "location": "活动室",
            "date": "2026-12-07",
            "start_time": "25:00",
            "end_time": "21:00",
            "repeat": "weekly",
            "until": "",
        },
    )
    assert answer.status_code == 422
    for name in ("title", "capacity", "start_time", "until"):
        assert f'aria-invalid="true" aria-describedby="e-{name}"' in answer.text, name
    assert 'id="e-days"' in answer.text and "Choose one or more days of the week." in answer.text
    assert "Must be a time (HH:MM)." in answer.text
    assert 'value="活动室"' in answer.text and 'value="weekly" checked' in answer.text

    # The service's own refusal (a start in the past) lands beside the start time.
    past = await browser.post(
        path,
        data={
            "title": "巡逻",
            "capacity": "2",
            "date": "2026-11-30",
            "start_time": "19:00",
            "end_time": "21:00",
            "repeat": "weekly",
            "days": ["MO", "WE"],
            "until": "2026-12-31",
            "csrf_token": csrf(answer.text),
        },
    )
    assert past.status_code == 422
    assert 'aria-describedby="e-start_time"' in past.text
    assert "This time is in the past." in past.text
    assert re.search(r'value="MO" checked', past.text) and re.search(
        r'value="WE" checked', past.text
    )
    other = await World(w.hub).build_other(w)
    foreign = await other.team("repair", "别处的维修队")  # another community's team
    stray = await browser.post(
        path,
        data={
            "title": "巡逻",
            "capacity": "2",
            "team_id": str(foreign.id),
            "date": "2026-12-09",
            "start_time": "19:00",
            "end_time": "21:00",
            "repeat": "once",
            "csrf_token": csrf(answer.text),
        },
    )
    assert stray.status_code == 422 and 'aria-describedby="e-team_id"' in stray.text
    assert await Task.all().count() == 0


# --- dashboards ---------------------------------------------------------------------------------


async def test_dashboards_draw_the_numbers_with_tables_beside(w, browser, clock):
    patrol = await w.team("silver_patrol", "银发巡逻队")
    await w.team("legal_aid", "法律援助队")
    busy = await w.volunteer("忙碌的老张", team=patrol)
    idle = await w.volunteer("闲着的小赵", team=patrol)
    await serve_shift(w, busy, patrol, datetime(2026, 12, 2, 19, tzinfo=SHANGHAI), 2.5)
    for _ in range(2):
        wish = await approved(w)
        await wishes.claim(w.hub, busy, wish.id)
    rejected = await post(w)
    await wishes.review(w.hub, w.staff, rejected.id, {"decision": "reject", "reason": "不受理"})
    await staff_browser(browser, w)

    page = await browser.get(f"/staff/dashboards?community={w.community.id}")

    assert page.status_code == 200
    html = page.text
    assert html.count('<svg role="img"') == 1 + 2 + 1  # funnel, one per team, workload
    assert html.count("<details>") == 3 and html.count("<table>") == 3
    funnel = section(html, 'id="funnel-h"')
    assert "Posted: 3 (100%)" in funnel and "Claimed: 2 (67%)" in funnel
    assert "Not accepted: 1 (33%)" in funnel
    assert re.search(r"<th scope=\"row\">Approved</th><td>2 \(67%\)</td>", funnel)
    hours = section(html, 'id="hours-h"')
    assert "Dec 2026" in hours and "Jul 2026" in hours and "Jun 2026" not in hours
    assert re.search(r"银发巡逻队</th>(<td>0</td>){5}<td>2.5</td><td>2.5</td>", hours)
    load = section(html, 'id="load-h"')
    assert "忙碌的老张: 2.5 h · 2 claimed · 0 shifts" in load
    idle_list = load[load.index('class="idle"') : load.index("</ul>", load.index('class="idle"'))]
    assert "闲着的小赵" in idle_list and "忙碌的老张" not in idle_list
    for person in (busy, idle):
        assert person.person.phone not in html
    assert_csp_safe(html)


async def test_dashboards_of_an_empty_community(w, browser):
    await staff_browser(browser, w, english=False)
    page = await browser.get("/staff/dashboards")
    assert page.status_code == 200
    assert "本月还没有志愿者服务或认领" in page.text
    assert "0 (0%)" in page.text


# --- the web layer only calls services ---------------------------------------------------------


async def test_the_console_lists_cost_as_many_queries_for_one_item_as_for_many(w, browser):
    resident = await w.person("王奶奶")
    team = await w.team("repair")
    serial = iter(range(100))

    async def one_of_each() -> None:
        """A wish to review, an escalated one, a membership and a party report waiting."""
        await post(w, resident)
        escalated = await approved(w)
        await wishes.escalate(w.hub, w.staff, escalated.id, {"level": "blue"})
        newcomer = await w.person(f"新人{next(serial)}")
        await teams.join_team(w.hub, newcomer, team.id)
        await teams.file_party_report(
            w.hub,
            newcomer,
            {"community_id": w.community.id, "work_unit": "单位", "party_branch": "支部"},
        )

    await one_of_each()
    await staff_browser(browser, w)
    paths = [
        f"/staff/{page}?community={w.community.id}"
        for page in ("review", "escalations", "approvals")
    ]
    await browser.get(paths[0])  # anything read once per process is read now
    for_one = {path: await queries_for(browser, path) for path in paths}
    assert all(n > 2 for n in for_one.values()), for_one  # the counter sees the queries
    for _ in range(3):
        await one_of_each()
    for_four = {path: await queries_for(browser, path) for path in paths}
    assert for_four == for_one
    approvals = await browser.get(paths[2])
    assert approvals.text.count('name="membership_id"') == 2 * 4  # approve and refuse
    assert approvals.text.count('name="report_id"') == 2 * 4


# Modules that format what services return; the rules and queries are the services'.
FORMATTING_MODULES = (
    "volunteer_hub/web/pages/staff.py",
    "volunteer_hub/web/pages/accounts.py",
    "volunteer_hub/web/pages/base.py",
    "volunteer_hub/web/routes/communities.py",
    "volunteer_hub/web/routes/notifications.py",
    "volunteer_hub/web/routes/open311_keys.py",
    "volunteer_hub/web/routes/accounts.py",
    "volunteer_hub/web/routes/callouts.py",
    "volunteer_hub/web/routes/calendars.py",
    "volunteer_hub/cli.py",
)


@pytest.mark.parametrize("path", FORMATTING_MODULES)
def test_the_module_imports_no_models_and_runs_no_queries(path):
    import ast
    from pathlib import Path

    source = (Path(__file__).parent.parent / path).read_text()
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert "volunteer_hub.models" not in imported
    # A model's query or relation loading called here would be the web layer deciding.
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"fetch_related", "select_related", "get_or_none", "refresh_from_db"}
