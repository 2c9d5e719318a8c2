"""What ``vhub demo`` prints and returns: the logins to try and the counts of records."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from rich.console import Console
from rich.table import Table
from tortoise.functions import Sum

from volunteer_hub.demo.content import TEAM_ORDER
from volunteer_hub.demo.people import Cast
from volunteer_hub.hooktypes import TeamKind
from volunteer_hub.i18n import localize
from volunteer_hub.models import AuditEntry, Person, ServiceRecord, Signup, Task, Wish, WishStatus


class DemoLogin(NamedTuple):
    """One demo account. ``role`` starts with a code (``volunteer/psychology``) then a label."""

    role: str
    name: str
    phone: str


@dataclass(frozen=True)
class DemoSummary:
    community: str
    community_id: int
    password: str
    logins: list[DemoLogin]
    counts: dict[str, int]


def logins(cast: Cast, phones: dict[str, str], kinds: dict[str, TeamKind]) -> list[DemoLogin]:
    """One account of each role, each team's leader, and the people of the stories."""
    by_key = cast.by_key

    def login(role: str, key: str) -> DemoLogin:
        return DemoLogin(role, by_key[key].name, phones[key])

    wang = by_key["wang"]
    result = [
        login("admin 管理员", "admin"),
        login("staff 社区工作者", cast.staff[0]),
        login("grid_worker 网格员（王奶奶的网格）", cast.grid_workers[wang.grid]),
    ]
    for kind in TEAM_ORDER:
        leader = cast.leader(kind)
        note = {"silver_patrol": f"（{leader.age}岁）", "psychology": "（持证咨询师）"}
        label = localize(kinds[kind].name, "zh-CN") + "队长" + note.get(kind, "")
        result.append(login(f"volunteer/{kind} {label}", leader.key))
    li = by_key["li"]
    result.append(login(f"party_member 在职党员（{li.work_unit}）", "li"))
    result.append(login(f"resident 居民（王奶奶，{wang.age}岁）", "wang"))
    result.append(login("resident 居民（初三学生家长）", "parent"))
    return result


async def count_records(
    community_id: int, *, grids: int, teams: int, refused: int
) -> dict[str, int]:
    """What the community holds now; ``refused``: the steps a plugin's rule refused."""
    counts = {
        "people": await Person.filter(community_id=community_id).count(),
        "grids": grids,
        "teams": teams,
        "tasks": await Task.filter(community_id=community_id).count(),
        "signups": await Signup.filter(occurrence__task__community_id=community_id).count(),
        "service_records": await ServiceRecord.filter(community_id=community_id).count(),
        "audit_entries": await AuditEntry.filter(community_id=community_id).count(),
        "refused_by_plugins": refused,
    }
    hours = await (
        ServiceRecord.filter(community_id=community_id).annotate(total=Sum("hours")).values("total")
    )
    counts["service_hours"] = int(Decimal(hours[0]["total"] or 0)) if hours else 0
    for status in WishStatus:
        counts[f"wishes_{status.value}"] = await Wish.filter(
            community_id=community_id, status=status
        ).count()
    return counts


LABELS = {
    "people": "居民 people",
    "grids": "网格 grids",
    "teams": "志愿服务队 teams",
    "tasks": "微事项 tasks",
    "signups": "报名 signups",
    "service_records": "服务记录 service records",
    "service_hours": "服务时长 hours",
    "audit_entries": "留痕 audit entries",
}


def print_counts(console: Console, community: str, counts: dict[str, int]) -> None:
    table = Table(title=f"{community}：六周的记录 / six weeks of records")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, label in LABELS.items():
        table.add_row(label, str(counts[key]))
    for status in WishStatus:
        table.add_row(f"微心愿 wishes: {status.value}", str(counts[f"wishes_{status.value}"]))
    if counts["refused_by_plugins"]:
        table.add_row("插件规则拒绝 refused by plugin rules", str(counts["refused_by_plugins"]))
    console.print(table)
