"""The admission list in a real Hub, through the real web application (HTTP API over ASGI)
on a real database: each community's own list, escalation, editing the file while running."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from volunteer_hub.plugin_api import PluginConfigError
from volunteer_hub.testing import (
    TestCommunity,
    advance_escalations,
    configure_plugins,
    load_plugins,
    login,
)

import vh_admission_list.plugin as admission_plugin
from vh_admission_list.admission_list import example_path

NAME = "vh-admission-list"

SMALL = """\
accepted = ["errand", "repair"]

[referred.public_facility]
referral = "街道办事处城市管理科"
escalate_after_hours = { blue = 0, yellow = 72, red = 144 }
"""


@pytest.fixture
def vhub_plugins():
    return [(NAME, admission_plugin)]


def write(path: Path, text: str) -> Path:
    """Write the file as staff would save it, a second later as far as its mtime goes."""
    before = path.stat().st_mtime_ns if path.exists() else None
    path.write_text(text, encoding="utf-8")
    if before is not None:
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))
    return path


def configure(hub, lists: dict[int, Path]) -> None:
    """Give communities their admission lists (TOML literal strings: paths as they are)."""
    configure_plugins(
        hub,
        "\n".join(
            f"[{NAME}.communities.{cid}]\nadmission_list = '{path}'" for cid, path in lists.items()
        ),
    )


class Resident:
    def __init__(self, api, community: TestCommunity, headers: dict[str, str]) -> None:
        self.api, self.community, self.headers = api, community, headers

    @classmethod
    async def of(cls, api, community: TestCommunity) -> Resident:
        return cls(api, community, await login(api, await community.person("王奶奶")))

    async def post(self, category: str, *, locale: str = "zh-CN"):
        return await self.api.post(
            f"/api/v1/communities/{self.community.id}/wishes",
            json={"title": "一件小事", "description": "请帮帮忙", "category": category},
            headers={**self.headers, "Accept-Language": locale},
        )

    async def wish(self, wish_id: int) -> dict:
        response = await self.api.get(f"/api/v1/wishes/{wish_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


def refusal(response) -> list[dict[str, str]]:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "not_admitted"
    return response.json()["error"]["details"]


async def categories(api, community_id: int) -> dict[str, dict]:
    response = await api.get(f"/api/v1/wish-categories?community_id={community_id}")
    return {c["code"]: c for c in response.json()["items"]}


# --- the shipped example, end to end ------------------------------------------------------------


async def test_a_street_light_is_taken_in_referred_and_escalated(
    vhub_hub, vhub_api, vhub_community, vhub_clock
):
    configure(vhub_hub, {vhub_community.id: example_path()})
    resident = await Resident.of(vhub_api, vhub_community)
    response = await resident.post("public_facility")
    assert response.status_code == 201, response.text
    wish = await resident.wish(response.json()["id"])
    assert (wish["status"], wish["escalation"]) == ("submitted", None)
    assert wish["referral"] == "街道办事处城市管理科（设施维护）"

    levels = []
    for hours in (0, 71, 1, 72):  # blue at once, yellow after 72 hours, red after 144
        vhub_clock.advance(hours=hours)
        await advance_escalations(vhub_hub)  # what the worker does every round
        levels.append((await resident.wish(wish["id"]))["escalation"])
    assert levels == ["blue", "blue", "yellow", "red"]


async def test_what_the_list_refers_without_deadlines_is_refused_with_where_to_go(
    vhub_hub, vhub_api, vhub_community
):
    configure(vhub_hub, {vhub_community.id: example_path()})
    resident = await Resident.of(vhub_api, vhub_community)
    assert refusal(await resident.post("litigation")) == [
        {
            "rule": "admission_list.referred",
            "message": "诉讼、仲裁须由执业律师代理，社区不代为办理"
            "（区公共法律服务中心（12348 法律服务热线））",
        }
    ]
    assert refusal(await resident.post("litigation", locale="en")) == [
        {
            "rule": "admission_list.referred",
            "message": "Lawsuits and arbitration need a practising lawyer; the community does "
            "not take them on (the district's public legal service centre (hotline 12348))",
        }
    ]
    for accepted in ("elderly_care", "errand", "psychology", "legal"):
        assert (await resident.post(accepted)).status_code == 201, accepted
    # The list brings in its category, not served by volunteers (no serving team kind).
    litigation = (await categories(vhub_api, vhub_community.id))["litigation"]
    assert litigation == {"code": "litigation", "name": "诉讼与仲裁代理", "team_kind": None}


# --- one list per community ---------------------------------------------------------------------


async def test_each_community_has_its_own_list(vhub_hub, vhub_api, vhub_community, tmp_path):
    a, b = vhub_community, await TestCommunity.create(vhub_hub, "和平里社区")
    c = await TestCommunity.create(vhub_hub, "长宁里社区")
    configure(vhub_hub, {a.id: example_path(), b.id: write(tmp_path / "b.toml", SMALL)})
    in_a, in_b, in_c = [await Resident.of(vhub_api, x) for x in (a, b, c)]

    assert (await in_a.post("tutoring")).status_code == 201
    assert refusal(await in_b.post("tutoring", locale="en")) == [
        {
            "rule": "admission_list.unlisted",
            "message": "This is not on the community's admission list",
        }
    ]
    assert (await in_c.post("tutoring")).status_code == 201  # no list: the plugin abstains
    assert (await in_c.post("public_facility")).status_code == 201

    assert "litigation" in await categories(vhub_api, a.id)
    assert "litigation" not in await categories(vhub_api, b.id)
    assert "litigation" not in await categories(vhub_api, c.id)
    assert (await in_b.post("litigation")).status_code == 422  # not a category there
    assert (await in_b.post("litigation")).json()["error"]["code"] == "validation_error"


async def test_an_edited_list_applies_without_a_restart(
    vhub_hub, vhub_api, vhub_community, tmp_path
):
    path = write(tmp_path / "list.toml", SMALL)
    configure(vhub_hub, {vhub_community.id: path})
    resident = await Resident.of(vhub_api, vhub_community)
    assert (await resident.post("tutoring")).status_code == 422

    write(path, SMALL.replace('"repair"]', '"repair", "tutoring"]'))
    assert (await resident.post("tutoring")).status_code == 201

    # A mistake while editing: the list fails closed, and the plugin's status says where.
    write(path, SMALL.replace("yellow = 72", "yellow = 'three days'"))
    details = refusal(await resident.post("errand", locale="en"))
    assert [d["rule"] for d in details] == ["plugin_error"]
    (status,) = [s for s in vhub_hub.plugins.statuses() if s.name == NAME]
    assert status.status == "call_error"
    assert f"{path}, line 5, referred.public_facility.escalate_after_hours.yellow: " in status.error
    assert "Input should be a valid integer" in status.error

    write(path, SMALL)
    assert (await resident.post("errand")).status_code == 201


# --- start-up, installation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "{list}: the admission list file does not exist"),
        ("accepted = 'errand'\n", "{list}, line 1, accepted: Input should be a valid list"),
        ("accepted = [\n", "{list}: not valid TOML: "),
    ],
)
def test_a_missing_or_broken_list_stops_the_start_up(tmp_path, content, problem):
    admission_list = tmp_path / "准入清单.toml"
    if content is not None:
        admission_list.write_text(content, encoding="utf-8")
    config = tmp_path / "plugins.toml"
    config.write_text(
        f"[{NAME}.communities.3]\nadmission_list = '{admission_list}'\n", encoding="utf-8"
    )
    with pytest.raises(PluginConfigError) as caught:
        load_plugins([(NAME, admission_plugin)], config_file=config)
    (message,) = caught.value.problems
    expected = f"{config}: [{NAME}.communities.3] admission_list: Value error, " + problem.format(
        list=admission_list
    )
    assert message.startswith(expected), message


def test_installed_it_loads_through_its_entry_point():
    (entry_point,) = [ep for ep in entry_points(group="volunteer_hub") if ep.name == NAME]
    assert entry_point.value == "vh_admission_list.plugin"
    assert entry_point.dist.name == "volunteer-hub-admission-list"
    host = load_plugins(autoload=True)
    (status,) = [s for s in host.statuses() if s.name == NAME]
    assert (status.status, status.error, status.version) == ("enabled", None, "0.1.0")
    assert status.hooks == ["vh_admit_wish", "vh_plugin_settings", "vh_wish_categories"]


# --- no state shared between Hubs ---------------------------------------------------------------


def test_two_hubs_never_share_what_they_read(tmp_path):
    """Each Hub's settings keep their own parse of the list (nothing module-wide)."""
    path = write(tmp_path / "list.toml", SMALL)
    config = f"[{NAME}.communities.3]\nadmission_list = '{path}'\n"
    first, second = (load_plugins([(NAME, admission_plugin)], config=config) for _ in "ab")
    in_first = first.settings(NAME, 3).current_list()
    assert first.settings(NAME, 3).current_list() is in_first  # unchanged: not parsed again
    in_second = second.settings(NAME, 3).current_list()
    assert in_second is not in_first and in_second == in_first

    write(path, SMALL.replace('"repair"]', '"repair", "tutoring"]'))
    assert first.settings(NAME, 3).current_list().decide("tutoring").accepted
    assert second.settings(NAME, 3).current_list().decide("tutoring").accepted
