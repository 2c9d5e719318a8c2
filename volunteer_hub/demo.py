"""The demo community behind ``vhub demo``: six weeks of life in 幸福里社区.

Everything is made by the public service functions, so every rule holds and the trail
(留痕) is real: nothing is written to a table directly. The past is lived on a simulated
clock: a second Hub, sharing the caller's settings and plugins, whose clock the builder
moves forward event by event, from six weeks ago up to the present. Tasks are created
before their first shift, signups happen before each occurrence starts, volunteers
check in from an hour before the start and check out at the end, wishes expire in a
nightly run, and escalations turn yellow 72 hours after blue.

Deterministic: the same seed gives the same people (names, phones, ages, teams), the
same wishes and the same shifts. The timeline is anchored to the caller's clock (six
weeks before today), so timestamps move with the date while the content stays.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from faker import Faker
from pydantic_core import PydanticCustomError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import OperationalError
from tortoise.functions import Sum

from volunteer_hub import db
from volunteer_hub.config import Settings
from volunteer_hub.errors import Conflict, InvalidInput, RuleViolation
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import localize
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Escalation,
    MembershipStatus,
    Person,
    Role,
    ServiceRecord,
    Signup,
    SignupStatus,
    Task,
    Wish,
    WishStatus,
)
from volunteer_hub.recurrence import expand
from volunteer_hub.services import matching, tasks, teams, wishes
from volunteer_hub.services import people as people_service
from volunteer_hub.services.access import Actor, load_actor
from volunteer_hub.validation import normalize_phone

DEMO_PASSWORD = "xingfuli-2024"
COMMUNITY_NAME = "幸福里社区"
TIMEZONE = "Asia/Shanghai"
MIN_PEOPLE = 50
SIMULATED_DAYS = 42  # six weeks
SILVER_PATROL_RRULE = "FREQ=WEEKLY;BYDAY=TU,TH"

# The seven core team kinds, in the order the demo forms them.
TEAM_ORDER = (
    "silver_patrol",
    "psychology",
    "anti_fraud",
    "party_vanguard",
    "elderly_care",
    "legal_aid",
    "repair",
)
_PHONE_PREFIXES = ("139", "138", "137", "136", "135", "150", "151", "158", "186", "188", "133")
_NUMERALS = "一二三四五六七八九十"
_BUILDINGS_PER_GRID = 4

_SKILLS = {
    "silver_patrol": ("治安巡逻", "邻里调解"),
    "psychology": ("心理疏导", "情绪陪伴"),
    "anti_fraud": ("反诈宣传", "手机使用教学"),
    "party_vanguard": ("政策宣讲", "环境整治"),
    "elderly_care": ("陪诊", "助餐", "理发"),
    "legal_aid": ("法律咨询", "合同审查"),
    "repair": ("水电维修", "家电维修", "开锁换锁"),
}
# In-service party members (在职党员): their work unit and its party branch.
_WORK_UNITS = (
    ("区税务局", "区税务局机关第二党支部"),
    ("市第三人民医院", "市第三人民医院内科党支部"),
    ("区教育局", "区教育局机关党支部"),
    ("国网供电公司城东供电所", "城东供电所党支部"),
    ("市自来水公司", "市自来水公司第一党支部"),
    ("区人民法院", "区人民法院民事审判庭党支部"),
    ("幸福路小学", "幸福路小学教工党支部"),
    ("区市场监督管理局", "区市场监管局机关党支部"),
)


# --- what the CLI gets back ---------------------------------------------------------


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


# --- resetting the database -----------------------------------------------------------


def reset_database(settings: Settings) -> None:
    """Make room for a fresh demo (``vhub demo --fresh``).

    SQLite: delete the database file and its -wal/-shm/-journal companions.
    PostgreSQL: never drop anything; refuse (Conflict ``database_not_empty``) when the
    database already holds communities. An empty or unmigrated database is fine.
    """
    if settings.is_sqlite:
        file_path = expand_db_url(settings.database_url)["credentials"]["file_path"]
        if file_path == ":memory:":
            return
        path = Path(file_path)
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    count = asyncio.run(_count_communities(settings.database_url))
    if count:
        raise Conflict(
            "The database already has communities ({count}). Use --keep to add the demo "
            "community to it, or point VHUB_DATABASE_URL at an empty database.",
            code="database_not_empty",
            count=count,
        )


async def _count_communities(database_url: str) -> int:
    async with db.database(database_url):
        try:
            return await Community.all().count()
        except OperationalError:  # no schema yet: nothing to lose
            return 0


# --- the people, planned before anything is written --------------------------------


@dataclass
class PlannedPerson:
    key: str  # "admin", "staff-1", "grid-2", "wang", "li", "parent", "p-17"
    kind: str  # admin, staff, grid_worker, resident, or the team kind they were recruited for
    name: str
    phone: str
    female: bool
    age: int
    birthday_offset: int  # days since the last birthday: the birth date follows today
    grid: int | None  # index of the grid they live in
    address: str | None
    skills: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()  # team kinds to join; the first is the one recruited for
    qualification: str | None = None  # declared when joining the first team
    qualification_days: int | None = None  # valid for this many days from today
    stays_pending: bool = False  # staff have not checked the qualification yet
    work_unit: str | None = None
    party_branch: str | None = None
    registered_by_grid_worker: bool = False  # 代办: the grid worker registered them

    def birth_date(self, today: date) -> date:
        return today - relativedelta(years=self.age) - timedelta(days=self.birthday_offset)


def team_sizes(people: int) -> dict[str, int]:
    """How many people each team recruits for a community of ``people``."""
    return {
        "silver_patrol": max(10, round(people * 0.07)),
        "psychology": max(4, round(people * 0.025)),
        "anti_fraud": max(4, round(people * 0.05)),
        "party_vanguard": max(4, round(people * 0.06)),
        "elderly_care": max(5, round(people * 0.07)),
        "legal_aid": max(2, round(people * 0.015)),
        "repair": max(3, round(people * 0.04)),
    }


def grid_count(people: int) -> int:
    return 4 if people < 120 else 5 if people < 240 else 6


def plan_people(seed: int, people: int) -> list[PlannedPerson]:
    """Everyone in the demo, from the seed alone: no database, no clock."""
    if people < MIN_PEOPLE:
        raise InvalidInput.for_field("people", "Must be at least {ge}.", ge=MIN_PEOPLE)
    rng = random.Random(f"{seed}:people")
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    names: set[str] = set()
    phones: set[str] = set()
    grids = grid_count(people)

    def name(female: bool, surname: str | None = None) -> str:
        while True:
            if surname:
                given = fake.first_name_female() if female else fake.first_name_male()
                candidate = surname + given
            else:
                candidate = fake.name_female() if female else fake.name_male()
            if candidate not in names:
                names.add(candidate)
                return candidate

    def address(grid: int) -> str:
        building = grid * _BUILDINGS_PER_GRID + rng.randint(1, _BUILDINGS_PER_GRID)
        return (
            f"幸福里小区{building}号楼{rng.randint(1, 3)}单元"
            f"{rng.randint(1, 6)}{rng.randint(1, 4):02d}室"
        )

    def person(
        key: str, kind: str, lo: int, hi: int, *, grid: int | None = -1, **kw
    ) -> PlannedPerson:
        female = kw.pop("female", rng.random() < 0.55)
        age = kw.pop("age", None) or rng.randint(lo, hi)
        home = rng.randrange(grids) if grid == -1 else grid
        return PlannedPerson(
            key=key,
            kind=kind,
            name=kw.pop("name", None) or name(female),
            phone=_draw_phone(rng, phones),
            female=female,
            age=age,
            birthday_offset=rng.randint(1, 360),
            grid=home,
            address=address(home) if home is not None else None,
            **kw,
        )

    plan = [person("admin", "admin", 30, 45, grid=None)]
    staff = 3 if people < 200 else 4
    plan += [person(f"staff-{i + 1}", "staff", 26, 48, grid=None) for i in range(staff)]
    plan += [person(f"grid-{g + 1}", "grid_worker", 28, 55, grid=g) for g in range(grids)]

    sizes = team_sizes(people)
    counter = itertools.count(1)
    for kind in TEAM_ORDER:
        for i in range(sizes[kind]):
            key = f"p-{next(counter)}"
            extra: dict[str, Any] = {"skills": _SKILLS[kind][: rng.randint(1, 2)]}
            joins = [kind]
            if kind == "silver_patrol":
                lo, hi = 61, 74
                if rng.random() < 0.3:
                    joins.append("anti_fraud")
            elif kind == "psychology":
                lo, hi = 30, 55
                extra |= {
                    "qualification": "counsellor",
                    "qualification_days": rng.randint(300, 1000),
                }
                # The last applicant still waits for staff to check the certificate.
                extra["stays_pending"] = i == sizes[kind] - 1
            elif kind == "anti_fraud":
                lo, hi = 22, 65
                if rng.random() < 0.5:
                    extra["qualification"] = "anti_fraud_training"
            elif kind == "party_vanguard":
                lo, hi = 28, 55
                unit, branch = _WORK_UNITS[rng.randrange(len(_WORK_UNITS))]
                if rng.random() < 0.3:
                    unit = fake.company()
                    branch = f"{unit}党支部"
                extra |= {"work_unit": unit, "party_branch": branch}
                if rng.random() < 0.4:
                    joins.append(rng.choice(("anti_fraud", "repair", "elderly_care")))
                if i == 1:  # Mr. Li of story 5 (the first recruit leads the team)
                    key = "li"
                    extra |= {"female": False, "age": 42, "name": name(False, "李")}
                    extra |= {"work_unit": "区税务局", "party_branch": "区税务局机关第二党支部"}
            elif kind == "elderly_care":
                lo, hi = 20, 60
                if rng.random() < 0.3:
                    extra |= {
                        "qualification": "first_aid",
                        "qualification_days": rng.randint(200, 700),
                    }
                if rng.random() < 0.2:
                    joins.append("anti_fraud")
            elif kind == "legal_aid":
                lo, hi = 30, 60
                extra |= {"qualification": "lawyer", "qualification_days": rng.randint(200, 500)}
            else:  # repair
                lo, hi = 30, 65
            plan.append(person(key, kind, lo, hi, teams=tuple(joins), **extra))

    residents = people - len(plan)
    for i in range(residents):
        if i == 0:  # Ms. Wang of story 1: 82, lives alone in the first grid
            plan.append(
                person(
                    "wang",
                    "resident",
                    82,
                    82,
                    grid=0,
                    female=True,
                    name=name(True, "王"),
                    registered_by_grid_worker=True,
                )
            )
            continue
        if i == 1:  # the parent of story 2
            plan.append(person("parent", "resident", 38, 45))
            continue
        elderly = i % 3 == 2
        p = person(f"p-{next(counter)}", "resident", *((65, 92) if elderly else (18, 58)))
        p.registered_by_grid_worker = p.age >= 75
        plan.append(p)
    return plan


def _draw_phone(rng: random.Random, taken: set[str]) -> str:
    """A valid, unused mainland mobile number from the seeded generator."""
    while True:
        phone = rng.choice(_PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phone in taken:
            continue
        try:
            normalize_phone(phone)
        except PydanticCustomError:
            continue
        taken.add(phone)
        return phone


# --- wishes: what residents ask for ---------------------------------------------------


@dataclass(frozen=True)
class WishText:
    category: str
    title: str
    description: str
    note: str = "已完成"  # what the volunteer writes when done
    who: str = "any"  # who posts it: elderly, adult or any resident


_TEXTS = {
    "medicine": WishText(
        "elderly_care",
        "代购常用药品",
        "老伴腿脚不便，需要有人去药店代购降压药和血糖试纸。",
        "药已送到家中，并核对了剂量和用法",
        "elderly",
    ),
    "haircut": WishText(
        "elderly_care",
        "上门理发",
        "八十多岁了，行动不便，想请志愿者上门理个发。",
        "已上门理发，老人很满意",
        "elderly",
    ),
    "chat": WishText(
        "companionship",
        "周末陪老人聊聊天",
        "独居，子女在外地工作，希望周末有人来陪着聊聊天、读读报。",
        "陪老人聊了两个小时，约好下周再来",
        "elderly",
    ),
    "walk": WishText(
        "companionship",
        "陪老人去公园散步",
        "想出门晒晒太阳，但一个人不敢走远。",
        "陪同在小区公园散步一小时",
        "elderly",
    ),
    "chess": WishText(
        "companionship",
        "想找人陪着下象棋",
        "退休在家，想找个棋友下下象棋。",
        "下了三盘棋",
        "elderly",
    ),
    "parcel": WishText(
        "errand",
        "帮忙取快递送上楼",
        "快递在菜鸟驿站，家住6楼没有电梯，拿不动。",
        "快递已送到家",
    ),
    "groceries": WishText(
        "errand",
        "代买一周的蔬菜",
        "脚扭伤了，这周需要有人帮忙按清单买菜送上门。",
        "已按清单买齐送到",
    ),
    "tap": WishText(
        "repair",
        "厨房水龙头漏水",
        "水龙头关不紧，一直滴水，想请维修队帮忙换个阀芯。",
        "已更换阀芯，不再漏水",
    ),
    "light_switch": WishText(
        "repair", "卫生间灯不亮", "换了灯泡还是不亮，可能是开关坏了。", "已更换开关，灯亮了"
    ),
    "screen": WishText(
        "repair", "纱窗破了需要修补", "纱窗破了个洞，蚊子飞进来，老人睡不好。", "已修补纱窗"
    ),
    "lock": WishText(
        "repair", "门锁不好用", "防盗门锁经常卡住，担心哪天打不开。", "已给锁芯上油并调整，开关顺畅"
    ),
    "study_stress": WishText(
        "psychology",
        "孩子学习压力大，情绪低落",
        "孩子上初三，最近学习压力很大，经常失眠、不愿意说话，希望有心理老师帮忙疏导。",
        "已进行两次谈话，建议家长多陪伴，约定一个月后回访",
        "adult",
    ),
    "grief": WishText(
        "psychology",
        "老伴去世后情绪一直很差",
        "老伴上个月去世，最近吃不下也睡不着，家人很担心。",
        "已上门陪伴倾诉，并告知家属需要留意的情况",
        "elderly",
    ),
    "support": WishText(
        "legal",
        "咨询赡养纠纷",
        "子女长期不履行赡养义务，想咨询怎么维护自己的权益。",
        "已讲解赡养相关法律规定，并介绍了人民调解的途径",
        "elderly",
    ),
    "lease": WishText(
        "legal",
        "房屋租赁合同咨询",
        "房东要提前收回房子，还不退押金，想问问怎么处理。",
        "已解读合同条款，建议先协商，必要时申请调解",
        "adult",
    ),
    "homework": WishText(
        "tutoring",
        "孩子数学作业辅导",
        "孩子上四年级，父母下班晚，希望有人每周辅导两次数学作业。",
        "已辅导两次，孩子进步明显",
        "adult",
    ),
    "video_call": WishText(
        "tutoring",
        "教老人用微信视频通话",
        "想和在外地的孙子视频，但不会用微信。",
        "已教会视频通话和发语音",
        "elderly",
    ),
    "photos": WishText(
        "tutoring",
        "想学用智能手机拍照片",
        "想给老伙伴们拍照，不会用手机相机。",
        "已教会",
        "elderly",
    ),
    "hallway": WishText(
        "other",
        "楼道堆放杂物需要清理",
        "2单元楼道堆了很多纸箱，有消防隐患，希望志愿者帮忙一起清理。",
        "已和住户一起清理完毕",
    ),
    # Referred, not served: volunteers cannot fix these; staff blow the whistle (吹哨).
    "street_light": WishText(
        "public_facility",
        "3号楼前路灯太暗",
        "3号楼前的路灯亮度很低，晚上老人出门看不清台阶，上周已经有人摔倒。",
    ),
    "manhole": WishText(
        "public_facility", "小区东门井盖松动", "东门人行道上的井盖踩上去会晃动，有安全隐患。"
    ),
    "bikes": WishText(
        "public_facility", "共享单车堵住消防通道", "5号楼旁边的消防通道经常被共享单车堵住。"
    ),
    "fitness": WishText(
        "public_facility", "中心广场健身器材损坏", "中心广场的漫步机松动了，老人锻炼时很危险。"
    ),
    "ping_pong": WishText(
        "public_facility",
        "希望在小广场安装乒乓球台",
        "小区里很多居民爱打乒乓球，希望在中心小广场装两张乒乓球台，需要筹集资金。",
    ),
    # Outside the admission list (准入清单): staff reject them with a reason.
    "fee": WishText("errand", "帮忙垫付物业费", "这个月手头紧，想请志愿者先帮忙垫付物业费。"),
    "wardrobe": WishText("other", "帮忙把旧衣柜搬下楼", "家住三楼，一个大衣柜和一张床要搬下楼。"),
    "lawsuit": WishText(
        "legal", "请志愿者代理打官司", "和装修公司有纠纷，想请志愿者帮忙写起诉状并出庭。"
    ),
}

# Wishes that any resident may post and any month brings more of (for larger demos).
_EVERYDAY = (
    "medicine", "haircut", "chat", "walk", "parcel", "groceries", "tap", "light_switch",
    "screen", "lock", "grief", "support", "lease", "homework", "video_call", "hallway",
)  # fmt: skip
_THANKS = (
    "谢谢{v}，帮了大忙！",
    "{v}非常耐心细致，给志愿者点赞！",
    "服务很周到，感谢社区和志愿者。",
    "谢谢{v}，下次有需要还找你们。",
    "辛苦{v}了，非常感谢！",
)
_LUKEWARM_THANKS = (
    "问题解决了，谢谢。下次希望能提前打个电话。",
    "谢谢，就是比约定的时间晚到了一会儿。",
)
_CANCEL_REASONS = ("家人已经帮忙解决了", "问题自己解决了，谢谢", "计划有变，暂时不需要了")


@dataclass(frozen=True)
class WishScript:
    """One wish's story, up to the status it has today."""

    text: str  # a key of _TEXTS
    target: WishStatus
    days_ago: float  # posted this long before now
    resident: str | None = None  # a planned person's key; else picked by the text's ``who``
    reason: str | None = None  # why staff rejected it, or why it was cancelled
    # (level, hours after the previous step, referral): the whistle (吹哨).
    escalations: tuple[tuple[Escalation, float, str], ...] = ()
    claimed_first: bool = False  # cancelled after a volunteer had claimed it
    reviewed: bool = True  # False: staff never got to it (expires from ``submitted``)


_SCRIPTS = (
    WishScript("study_stress", WishStatus.CONFIRMED, 20, resident="parent"),
    WishScript("medicine", WishStatus.CONFIRMED, 33),
    WishScript("lock", WishStatus.CONFIRMED, 30),
    WishScript("walk", WishStatus.CONFIRMED, 26),
    WishScript("support", WishStatus.CONFIRMED, 16),
    WishScript("video_call", WishStatus.CONFIRMED, 9),
    WishScript("groceries", WishStatus.FULFILLED, 2),
    WishScript("tap", WishStatus.CLAIMED, 1.2),
    WishScript("haircut", WishStatus.OPEN, 0.8),
    WishScript("homework", WishStatus.SUBMITTED, 0.15, resident="parent"),
    WishScript("ping_pong", WishStatus.OPEN, 6),
    WishScript(
        "street_light",
        WishStatus.OPEN,
        13,
        escalations=(
            (Escalation.BLUE, 1, "街道办事处城建科（路灯维护）"),
            (Escalation.YELLOW, 72, "街道城建科副科长到现场督办"),
            (Escalation.RED, 72, "区城市管理局主要负责人督办"),
        ),
    ),
    WishScript(
        "manhole",
        WishStatus.OPEN,
        5,
        escalations=(
            (Escalation.BLUE, 1, "区市政设施管理所"),
            (Escalation.YELLOW, 72, "区市政设施管理所副所长到现场"),
        ),
    ),
    WishScript(
        "bikes", WishStatus.OPEN, 1.5, escalations=((Escalation.BLUE, 2, "街道城管执法中队"),)
    ),
    WishScript(
        "fitness",
        WishStatus.CANCELLED,
        25,
        reason="街道文体站已更换损坏的漫步机，事项办结",
        escalations=((Escalation.BLUE, 1, "街道文体站"),),
    ),
    WishScript(
        "fee",
        WishStatus.REJECTED,
        18,
        reason="涉及代垫资金，不在社区志愿服务准入清单内；已告知物业服务中心的缴费电话。",
    ),
    WishScript(
        "wardrobe",
        WishStatus.REJECTED,
        11,
        reason="大件搬运有安全风险，超出志愿服务范围；已推荐社区便民搬运服务。",
    ),
    WishScript(
        "lawsuit",
        WishStatus.REJECTED,
        7,
        reason="志愿者只提供法律咨询，不能代理诉讼；已转介区法律援助中心。",
    ),
    WishScript("parcel", WishStatus.CANCELLED, 8, reason="家人已经帮忙取回来了"),
    WishScript(
        "chat",
        WishStatus.CANCELLED,
        12,
        reason="孩子这周末回来陪，先不用了，谢谢",
        claimed_first=True,
    ),
    WishScript("chess", WishStatus.EXPIRED, 10),
    WishScript("photos", WishStatus.EXPIRED, 15, reviewed=False),
)

# Everyday wishes added for larger demos: how often each ends where, and how long ago.
_EVERYDAY_TARGETS = (
    (WishStatus.CONFIRMED, 0.62, (3, 36)),
    (WishStatus.FULFILLED, 0.06, (0.5, 3)),
    (WishStatus.CLAIMED, 0.08, (0.5, 4)),
    (WishStatus.OPEN, 0.09, (0.3, 5)),
    (WishStatus.SUBMITTED, 0.04, (0.05, 0.6)),
    (WishStatus.CANCELLED, 0.06, (3, 30)),
    (WishStatus.EXPIRED, 0.05, (6, 30)),
)


# --- shifts: the tasks volunteers sign up for --------------------------------------------


@dataclass(frozen=True)
class ShiftSpec:
    key: str
    team_kind: str | None  # None: open to every resident
    title: str
    description: str
    location: str
    capacity: int
    start: time
    duration: timedelta
    weekdays: tuple[int, ...] = ()  # Monday = 0, for recurring tasks
    rrule: str | None = None
    created_by_leader: bool = False
    past_fill: tuple[int, int] = (1, 1)  # signups per past occurrence
    overbook: bool = False  # the next occurrence fills up and has a waiting list


_RECURRING = (
    ShiftSpec(
        "silver_patrol",
        "silver_patrol",
        "银发巡逻：夜间治安巡逻",
        "两人一组巡查楼道、车棚和小区周边，留意独居老人家中是否亮灯，结束后在队群里报平安。"
        "按本地登记规定，仅限60岁以上队员。",
        "社区东门治安岗亭集合",
        capacity=6,
        start=time(19, 0),
        duration=timedelta(hours=2),
        weekdays=(1, 3),
        rrule=SILVER_PATROL_RRULE,
        created_by_leader=True,
        past_fill=(5, 9),
        overbook=True,
    ),
    ShiftSpec(
        "meals",
        "elderly_care",
        "助老送餐：长者食堂午餐配送",
        "把长者食堂的午餐送到行动不便的独居老人家中，顺便问问身体情况。",
        "社区长者食堂",
        capacity=3,
        start=time(10, 30),
        duration=timedelta(minutes=90),
        weekdays=(0, 2, 4),
        rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR",
        past_fill=(2, 4),
    ),
    ShiftSpec(
        "repair_day",
        "repair",
        "便民维修服务日",
        "在社区服务中心门口摆摊，免费修理小家电、修鞋、磨刀，登记需要上门维修的住户。",
        "社区服务中心门前广场",
        capacity=4,
        start=time(9, 0),
        duration=timedelta(hours=2, minutes=30),
        weekdays=(5,),
        rrule="FREQ=WEEKLY;BYDAY=SA",
        past_fill=(2, 5),
    ),
    ShiftSpec(
        "counselling",
        "psychology",
        "心理咨询室值班",
        "在心理咨询室接待来访居民，做好保密记录，必要时转介专业机构。",
        "社区党群服务中心二楼心理咨询室",
        capacity=2,
        start=time(14, 0),
        duration=timedelta(hours=3),
        weekdays=(2,),
        rrule="FREQ=WEEKLY;BYDAY=WE",
        past_fill=(1, 2),
    ),
)


# --- the simulated clock and timeline -------------------------------------------------------


class SimClock:
    """The demo's clock: it only moves forward, and only when the builder says so."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def move_to(self, when: datetime) -> None:
        if when > self._now:
            self._now = when


class _Timeline:
    """Events in time order; each runs with the clock set to its moment."""

    def __init__(self, clock: SimClock, until: datetime) -> None:
        self.clock = clock
        self.until = until
        self._heap: list[tuple[datetime, int, Callable[..., Awaitable[None]], tuple]] = []
        self._seq = itertools.count()

    def at(self, when: datetime, action: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Schedule an action; what would happen after the present never does."""
        if when < self.until:
            heapq.heappush(self._heap, (when, next(self._seq), action, args))

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self, advance: Callable[[], None]) -> None:
        while self._heap:
            when, _, action, args = heapq.heappop(self._heap)
            self.clock.move_to(when)
            await action(*args)
            advance()


@dataclass
class _WishRun:
    script: WishScript
    rng: random.Random
    resident: str
    poster: str
    needed_by: date | None = None
    wish_id: int | None = None
    claimer: int | None = None


@dataclass
class _ShiftRun:
    spec: ShiftSpec
    creator: str
    first_start: datetime
    task_id: int | None = None
    signups: dict[tuple[datetime, str], int] = field(default_factory=dict)


# --- building -----------------------------------------------------------------------------


async def build_demo(
    hub: Hub, *, seed: int = 1, people: int = 300, console: Console | None = None
) -> DemoSummary:
    """Build one realistic community with six weeks of history; return how to log in.

    Runs inside an active database context. Everything goes through the services, on a
    simulated clock that ends at ``hub.now()``.
    """
    plan = plan_people(seed, people)
    builder = _Builder(hub, seed=seed, plan=plan, console=console or Console(quiet=True))
    return await builder.build()


class _Builder:
    def __init__(self, hub: Hub, *, seed: int, plan: list[PlannedPerson], console: Console):
        self.hub = hub
        self.seed = seed
        self.plan = plan
        self.by_key = {p.key: p for p in plan}
        self.console = console
        self.zone = ZoneInfo(TIMEZONE)
        self.now = hub.now()
        self.today = self.now.astimezone(self.zone).date()
        self.day0 = self.today - timedelta(days=SIMULATED_DAYS)
        self.clock = SimClock(self._at(self.day0, 8, 30))
        # The same plugins and settings; only time differs. Demo accounts share a printed
        # password, so they get argon2's cheapest profile (re-hashed at the first login).
        self.sim = Hub(
            settings=replace(hub.settings, password_profile="CHEAPEST"),
            plugins=hub.plugins,
            clock=self.clock,
            events=hub.events,  # the same subscribers: the demo's notifications are planned
        )
        self.ids: dict[str, int] = {}
        self.phones: dict[str, str] = {}
        self.grids: list[int] = []
        self.team_ids: dict[str, int] = {}
        self.members: dict[str, list[str]] = {kind: [] for kind in TEAM_ORDER}
        self.staff = [p.key for p in plan if p.kind == "staff"]
        self.grid_workers = {p.grid: p.key for p in plan if p.kind == "grid_worker"}
        self.residents = [p.key for p in plan if p.kind == "resident"]
        self.memberships: dict[tuple[str, str], int] = {}  # (person key, team kind) → id
        self.refused = 0  # steps a plugin's rule refused
        self.other_communities = False
        self.community: Community

    # --- helpers ------------------------------------------------------------------------

    def _at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone).astimezone(UTC)

    def _local_date(self, when: datetime) -> date:
        return when.astimezone(self.zone).date()

    async def _actor(self, key: str) -> Actor:
        return await load_actor(self.ids[key])

    def _spread(self, start: datetime, end: datetime, count: int) -> list[datetime]:
        step = (end - start) / max(count, 1)
        return [start + step * i for i in range(count)]

    # --- the whole build ----------------------------------------------------------------

    async def build(self) -> DemoSummary:
        self.other_communities = await Community.exists()
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console) as progress:
            await self._found_community(progress)
            await self._form_teams(progress)
            timeline = _Timeline(self.clock, until=self.now - timedelta(minutes=1))
            self._schedule_shifts(timeline)
            self._schedule_wishes(timeline)
            self._schedule_nightly_runs(timeline)
            step = progress.add_task(
                "模拟六周社区生活 Six weeks of community life", total=len(timeline)
            )
            await timeline.run(lambda: progress.advance(step))
        counts = await self._counts()
        self._print_counts(counts)
        return DemoSummary(
            community=self.community.name,
            community_id=self.community.id,
            password=DEMO_PASSWORD,
            logins=self._logins(),
            counts=counts,
        )

    # --- day 0 to 2: the community, its grids, staff and residents -------------------------

    async def _found_community(self, progress: Progress) -> None:
        admin_plan = self.by_key["admin"]
        admin = await people_service.create_admin(
            self.sim,
            name=admin_plan.name,
            phone=await self._free_phone(admin_plan),
            password=DEMO_PASSWORD,
        )
        self.ids["admin"] = admin.id
        admin_actor = await self._actor("admin")
        self.clock.move_to(self._at(self.day0, 8, 35))
        self.community = await people_service.create_community(
            self.sim, admin_actor, {"name": await self._free_community_name(), "timezone": TIMEZONE}
        )
        for g in range(len(self.grid_workers)):
            first = g * _BUILDINGS_PER_GRID + 1
            grid = await people_service.create_grid(
                self.sim,
                admin_actor,
                self.community.id,
                {"name": f"第{_NUMERALS[g]}网格（{first}—{first + _BUILDINGS_PER_GRID - 1}号楼）"},
            )
            self.grids.append(grid.id)

        task = progress.add_task("登记居民 Registering residents", total=len(self.plan) - 1)
        # Staff and grid workers first (by the administrator), then everyone else, in
        # the order they came to register over two days.
        officials = [p for p in self.plan if p.kind in ("staff", "grid_worker")]
        for when, p in zip(
            self._spread(self._at(self.day0, 8, 40), self._at(self.day0, 9, 50), len(officials)),
            officials,
            strict=True,
        ):
            self.clock.move_to(when)
            await self._register(p, await self._actor("admin"))
            role = Role.STAFF if p.kind == "staff" else Role.GRID_WORKER
            grid_id = self.grids[p.grid] if role is Role.GRID_WORKER else None
            await people_service.assign_role(
                self.sim, admin_actor, self.community.id, self.ids[p.key], role, grid_id=grid_id
            )
            progress.advance(task)
        others = [p for p in self.plan if p.kind not in ("admin", "staff", "grid_worker")]
        random.Random(f"{self.seed}:arrivals").shuffle(others)
        start, end = self._at(self.day0, 10, 0), self._at(self.day0 + timedelta(days=2), 12, 0)
        for when, p in zip(self._spread(start, end, len(others)), others, strict=True):
            self.clock.move_to(when)
            helper = None
            if p.registered_by_grid_worker:  # 代办: the grid worker registers them
                helper = await self._actor(self.grid_workers[p.grid])
            await self._register(p, helper)
            progress.advance(task)

    async def _register(self, p: PlannedPerson, actor: Actor | None) -> None:
        person = await people_service.register(
            self.sim,
            {
                "name": p.name,
                "phone": await self._free_phone(p),
                "password": DEMO_PASSWORD,
                "community_id": self.community.id,
                "grid_id": self.grids[p.grid] if p.grid is not None else None,
                "birth_date": p.birth_date(self.today),
                "address": p.address,
                "skills": list(p.skills),
            },
            actor=actor,
        )
        self.ids[p.key] = person.id

    async def _free_phone(self, p: PlannedPerson) -> str:
        """The planned phone, unless the database (``--keep``) already has it."""
        phone = p.phone
        if await Person.exists(phone=phone):
            rng = random.Random(f"{self.seed}:phone:{p.key}")
            taken = set(self.phones.values())
            while True:
                phone = _draw_phone(rng, taken)
                if not await Person.exists(phone=phone):
                    break
        self.phones[p.key] = phone
        return phone

    async def _free_community_name(self) -> str:
        name, n = COMMUNITY_NAME, 1
        while await Community.exists(name=name):
            n += 1
            name = f"{COMMUNITY_NAME}（演示{n}）"
        return name

    # --- day 2 to 4: teams, party members reporting, qualifications checked ------------------

    async def _form_teams(self, progress: Progress) -> None:
        self.clock.move_to(self._at(self.day0 + timedelta(days=2), 14, 0))
        staff = await self._actor(self.staff[0])
        kinds = self.hub.team_kinds()
        recruits = {kind: [p for p in self.plan if p.kind == kind] for kind in TEAM_ORDER}
        for kind in TEAM_ORDER:
            team = await teams.create_team(
                self.sim,
                staff,
                self.community.id,
                {
                    "name": localize(kinds[kind].name, "zh-CN"),
                    "kind": kind,
                    "leader_id": self.ids[recruits[kind][0].key],
                },
            )
            self.team_ids[kind] = team.id
            self.clock.move_to(self.clock() + timedelta(minutes=5))

        steps: list[tuple[PlannedPerson, str]] = []
        for p in self.plan:
            if p.work_unit:
                steps.append((p, "report"))
            steps += [(p, kind) for kind in p.teams]
        random.Random(f"{self.seed}:joins").shuffle(steps)
        task = progress.add_task("组建志愿服务队 Forming teams", total=len(steps))
        start = self._at(self.day0 + timedelta(days=2), 15, 0)
        end = self._at(self.day0 + timedelta(days=3), 21, 0)
        for when, (p, what) in zip(self._spread(start, end, len(steps)), steps, strict=True):
            self.clock.move_to(when)
            await self._join(p, what)
            progress.advance(task)

        # Day 4 morning: staff check the declared certificates (one applicant still waits).
        pending = [
            p
            for p in self.plan
            if p.qualification and not p.stays_pending and (p.key, p.teams[0]) in self.memberships
        ]
        progress.update(task, total=len(steps) + len(pending))
        start = self._at(self.day0 + timedelta(days=4), 9, 0)
        end = self._at(self.day0 + timedelta(days=4), 9, 55)
        for when, p in zip(self._spread(start, end, len(pending)), pending, strict=True):
            self.clock.move_to(when)
            await teams.approve_membership(self.sim, staff, self.memberships[(p.key, p.teams[0])])
            self.members[p.teams[0]].append(p.key)
            progress.advance(task)

    async def _join(self, p: PlannedPerson, what: str) -> None:
        actor = await self._actor(p.key)
        staff = await self._actor(self.staff[0])
        if what == "report":  # 在职党员到社区报到, which staff accept
            report = await teams.file_party_report(
                self.sim,
                actor,
                {
                    "community_id": self.community.id,
                    "work_unit": p.work_unit,
                    "party_branch": p.party_branch,
                },
            )
            await teams.accept_party_report(self.sim, staff, report.id)
            return
        data: dict[str, Any] = {}
        if what == p.teams[0] and p.qualification:
            expires = (
                self.today + timedelta(days=p.qualification_days) if p.qualification_days else None
            )
            data["qualifications"] = [{"kind": p.qualification, "expires_on": expires}]
        try:
            membership = await teams.join_team(self.sim, actor, self.team_ids[what], data)
        except RuleViolation:
            self.refused += 1
            return
        self.memberships[(p.key, what)] = membership.id
        if membership.status is MembershipStatus.PENDING and "qualifications" not in data:
            # Staff know the neighbours who sign up: a new volunteer is approved (once) at once;
            # declared certificates wait for the check on day 4.
            membership = await teams.approve_membership(self.sim, staff, membership.id)
        if membership.status is MembershipStatus.ACTIVE:
            self.members[what].append(p.key)

    # --- day 4 onwards: shifts -------------------------------------------------------------

    def _schedule_shifts(self, timeline: _Timeline) -> None:
        begin = self.day0 + timedelta(days=4)
        for index, spec in enumerate(_RECURRING):
            leader = next(p.key for p in self.plan if p.kind == spec.team_kind)
            created = self._at(begin, 10, 10 * index)
            first_day = begin + timedelta(days=1)
            while first_day.weekday() not in spec.weekdays:
                first_day += timedelta(days=1)
            run = _ShiftRun(
                spec,
                creator=leader if spec.created_by_leader else self.staff[index % len(self.staff)],
                first_start=self._at(first_day, spec.start.hour, spec.start.minute),
            )
            timeline.at(created, self._create_task, run)
            starts = [
                s.astimezone(UTC)
                for s, _ in expand(
                    run.first_start,
                    timedelta(0),
                    spec.rrule,
                    TIMEZONE,
                    run.first_start,
                    self.now + timedelta(days=15),
                )
            ]
            upcoming = 0
            for n, start in enumerate(starts):
                rng = random.Random(f"{self.seed}:{spec.key}:{n}")
                pool = self.members[spec.team_kind]
                if start <= self.now:
                    count = rng.randint(*spec.past_fill)
                elif upcoming == 0:
                    count = (
                        spec.capacity + rng.randint(2, 3)
                        if spec.overbook
                        else rng.randint(1, spec.capacity)
                    )
                elif upcoming == 1 and spec.overbook:
                    count = rng.randint(2, 4)
                else:
                    break
                upcoming += start > self.now
                self._schedule_occurrence(
                    timeline, run, rng, created, start, rng.sample(pool, min(count, len(pool)))
                )

        # One-off tasks: two past, two coming.
        anti_fraud_day = self._next_weekday(self.day0 + timedelta(days=14), 5)
        party_day = self._next_weekday(self.day0 + timedelta(days=21), 5)
        warning_day = self.today + timedelta(days=2)
        sorting_day = self._next_weekday(self.today + timedelta(days=3), 5)
        one_offs = (
            (
                ShiftSpec(
                    "door_to_door",
                    "anti_fraud",
                    "反诈入户宣传：走访独居老人家庭",
                    "带上宣传折页，逐户提醒老人警惕保健品、冒充公检法等骗局，帮忙安装国家反诈中心App。",
                    "各网格",
                    capacity=8,
                    start=time(9, 0),
                    duration=timedelta(hours=3),
                    past_fill=(6, 9),
                ),
                self._at(anti_fraud_day, 9, 0),
                self._at(anti_fraud_day - timedelta(days=3), 15, 0),
            ),
            (
                ShiftSpec(
                    "party_cleanup",
                    "party_vanguard",
                    "党员先锋岗：楼道杂物清理",
                    "在职党员回社区报到服务：清理楼道堆放的杂物，消除消防隐患。",
                    "1—8号楼",
                    capacity=15,
                    start=time(8, 30),
                    duration=timedelta(hours=3),
                    past_fill=(99, 99),
                ),
                self._at(party_day, 8, 30),
                self._at(party_day - timedelta(days=5), 16, 0),
            ),
            (
                # Story 4: the police warn of a new scam; staff open a door-to-door task.
                ShiftSpec(
                    "scam_warning",
                    "anti_fraud",
                    "新型诈骗预警：入户提醒有老人的家庭",
                    "派出所通报：近期有人冒充医保局工作人员打电话索要验证码。"
                    "请入户提醒有老人的家庭，不要透露验证码、不要点陌生链接。",
                    "各网格",
                    capacity=10,
                    start=time(9, 0),
                    duration=timedelta(hours=2, minutes=30),
                ),
                self._at(warning_day, 9, 0),
                self.now - timedelta(hours=20),
            ),
            (
                ShiftSpec(
                    "waste_sorting",
                    None,
                    "垃圾分类宣传日",
                    "在小区南门设摊讲解垃圾分类，指导居民定时定点投放。欢迎居民报名参加。",
                    "小区南门",
                    capacity=20,
                    start=time(9, 0),
                    duration=timedelta(hours=2),
                ),
                self._at(sorting_day, 9, 0),
                self.now - timedelta(days=3),
            ),
        )
        for spec, start, created in one_offs:
            run = _ShiftRun(spec, creator=self.staff[0], first_start=start)
            timeline.at(created, self._create_task, run)
            rng = random.Random(f"{self.seed}:{spec.key}")
            if spec.team_kind is None:
                pool, count = self.residents, rng.randint(4, 8)
            else:
                pool = self.members[spec.team_kind]
                count = rng.randint(*spec.past_fill) if start <= self.now else rng.randint(3, 6)
            chosen = rng.sample(pool, min(count, len(pool)))
            if spec.key == "party_cleanup" and "li" in pool and "li" not in chosen:
                chosen[0] = "li"  # Mr. Li serves, and sees his yearly progress
            self._schedule_occurrence(timeline, run, rng, created, start, chosen)

    @staticmethod
    def _next_weekday(day: date, weekday: int) -> date:
        return day + timedelta(days=(weekday - day.weekday()) % 7)

    def _schedule_occurrence(
        self,
        timeline: _Timeline,
        run: _ShiftRun,
        rng: random.Random,
        created: datetime,
        start: datetime,
        people: list[str],
    ) -> None:
        """Signups before the start, maybe a cancellation, then check-in and check-out."""
        spec = run.spec
        end = start + spec.duration
        first = max(created + timedelta(minutes=10), start - timedelta(days=3))
        last = min(start - timedelta(hours=2), self.now - timedelta(minutes=5))
        if start > self.now:  # signups for coming shifts happen in the last few days
            first = max(first, self.now - timedelta(days=2, hours=12))
        if last <= first or not people:
            return
        times = sorted(first + (last - first) * rng.random() for _ in people)
        for when, key in zip(times, people, strict=True):
            timeline.at(when, self._sign_up, run, start, key)
        # Someone drops out now and then; on an overbooked coming shift, always, so that
        # the first on the waiting list is seen to be promoted.
        overbooked = start > self.now and len(people) > spec.capacity
        if len(people) > 1 and (overbooked or rng.random() < 0.3):
            quitter = rng.choice(people[: spec.capacity])
            cancel_first = times[-1] + timedelta(minutes=1)
            cancel_last = min(start - timedelta(minutes=30), self.now - timedelta(minutes=2))
            if cancel_last > cancel_first:
                timeline.at(
                    cancel_first + (cancel_last - cancel_first) * rng.random(),
                    self._cancel_signup,
                    run,
                    start,
                    quitter,
                )
        if start > self.now:
            return
        for key in people:
            if rng.random() >= 0.9:
                continue  # did not turn up
            late = rng.random() < 0.1
            check_in = start + timedelta(
                minutes=rng.uniform(5, 25) if late else -rng.uniform(5, 40)
            )
            early = rng.random() < 0.1
            check_out = end + timedelta(
                minutes=-rng.uniform(15, 40) if early else rng.uniform(0, 15)
            )
            timeline.at(check_in, self._check_in, run, start, key)
            timeline.at(check_out, self._check_out, run, start, key)

    async def _create_task(self, run: _ShiftRun) -> None:
        spec = run.spec
        task = await tasks.create_task(
            self.sim,
            await self._actor(run.creator),
            self.community.id,
            {
                "title": spec.title,
                "description": spec.description,
                "team_id": self.team_ids[spec.team_kind] if spec.team_kind else None,
                "starts_at": run.first_start,
                "ends_at": run.first_start + spec.duration,
                "capacity": spec.capacity,
                "rrule": spec.rrule,
                "location": spec.location,
            },
        )
        run.task_id = task.id

    async def _sign_up(self, run: _ShiftRun, start: datetime, key: str) -> None:
        try:
            signup = await tasks.sign_up(
                self.sim, await self._actor(key), run.task_id, {"occurrence_start": start}
            )
        except RuleViolation:
            self.refused += 1
            return
        run.signups[(start, key)] = signup.id

    async def _signup_status(
        self, run: _ShiftRun, start: datetime, key: str
    ) -> SignupStatus | None:
        signup_id = run.signups.get((start, key))
        if signup_id is None:
            return None
        return (await Signup.get(id=signup_id)).status

    async def _cancel_signup(self, run: _ShiftRun, start: datetime, key: str) -> None:
        if await self._signup_status(run, start, key) is SignupStatus.CONFIRMED:
            await tasks.cancel_signup(self.sim, await self._actor(key), run.signups[(start, key)])

    async def _check_in(self, run: _ShiftRun, start: datetime, key: str) -> None:
        # Waitlisted people stay home; promoted ones come.
        if await self._signup_status(run, start, key) is SignupStatus.CONFIRMED:
            await tasks.check_in(self.sim, await self._actor(key), run.signups[(start, key)])

    async def _check_out(self, run: _ShiftRun, start: datetime, key: str) -> None:
        if await self._signup_status(run, start, key) is SignupStatus.CHECKED_IN:
            await tasks.check_out(self.sim, await self._actor(key), run.signups[(start, key)])

    # --- wishes ------------------------------------------------------------------------------

    def _schedule_wishes(self, timeline: _Timeline) -> None:
        self._schedule_wang(timeline)
        scripts = list(_SCRIPTS)
        rng = random.Random(f"{self.seed}:everyday")
        extra = max(0, len(self.plan) // 5 - len(scripts))
        # A stable mix: each ending gets its share, the rest end confirmed.
        shares = {target: int(weight * extra) for target, weight, _ in _EVERYDAY_TARGETS}
        shares[WishStatus.CONFIRMED] += extra - sum(shares.values())
        for target, _, span in _EVERYDAY_TARGETS:
            for _ in range(shares[target]):
                scripts.append(WishScript(rng.choice(_EVERYDAY), target, rng.uniform(*span)))
        for index, script in enumerate(scripts):
            self._schedule_wish(timeline, index, script)

    def _schedule_wang(self, timeline: _Timeline) -> None:
        """Story 1: Ms. Wang, 82, needs someone to walk her to the hospital on Thursday."""
        grid_worker = self.grid_workers[self.by_key["wang"].grid]
        text = WishText(
            "elderly_care",
            "周四上午陪同去医院复查",
            "王奶奶（82岁）周四上午要去区人民医院复查血压，子女在外地，"
            "需要有人陪同挂号、排队、取药。",
            "已陪同王奶奶就诊，药已取回，并交代了服用方法",
        )
        past_visit = self.today - timedelta(days=7)
        while past_visit.weekday() != 3:
            past_visit -= timedelta(days=1)
        run = _WishRun(
            WishScript("wang", WishStatus.CONFIRMED, 0, resident="wang"),
            random.Random(f"{self.seed}:wang"),
            resident="wang",
            poster=grid_worker,
            needed_by=past_visit,
        )
        posted = self._at(past_visit - timedelta(days=3), 10, 15)
        timeline.at(posted, self._post, run, text)
        timeline.at(posted + timedelta(hours=1, minutes=30), self._review, run, None)
        timeline.at(posted + timedelta(hours=5), self._claim, run)
        timeline.at(self._at(past_visit, 11, 40), self._fulfil, run, text, Decimal(3))
        timeline.at(
            self._at(past_visit, 16, 30),
            self._confirm,
            run,
            5,
            "谢谢{v}一路陪着王奶奶，老人家特别高兴！",
        )
        # Her next visit: posted yesterday, approved, waiting for a volunteer.
        next_visit = self.today + timedelta(days=(3 - self.today.weekday()) % 7 or 7)
        upcoming = _WishRun(
            WishScript("wang", WishStatus.OPEN, 0, resident="wang"),
            random.Random(f"{self.seed}:wang-next"),
            resident="wang",
            poster=grid_worker,
            needed_by=next_visit,
        )
        posted = self.now - timedelta(hours=22)
        timeline.at(posted, self._post, upcoming, text)
        timeline.at(posted + timedelta(hours=2), self._review, upcoming, None)

    def _schedule_wish(self, timeline: _Timeline, index: int, script: WishScript) -> None:
        rng = random.Random(f"{self.seed}:wish:{index}")
        text = _TEXTS[script.text]
        resident_key = script.resident or self._pick_resident(rng, text.who)
        resident = self.by_key[resident_key]
        if resident.age >= 75:  # the grid worker posts for them (代办)
            poster = self.grid_workers[resident.grid]
        elif rng.random() < 0.1:  # a phone call to the office: staff post it
            poster = rng.choice(self.staff)
        else:
            poster = resident_key
        run = _WishRun(script, rng, resident=resident_key, poster=poster)

        target = script.target
        steps: list[tuple[str, float]] = []  # (step, hours after the previous one)
        if script.reviewed and target is not WishStatus.SUBMITTED:
            steps.append(("review", rng.uniform(1, 20)))
        steps += [("escalate", hours) for _, hours, _ in script.escalations]
        if target in (WishStatus.CLAIMED, WishStatus.FULFILLED, WishStatus.CONFIRMED) or (
            script.claimed_first
        ):
            steps.append(("claim", rng.uniform(0.5, 30)))
        if target in (WishStatus.FULFILLED, WishStatus.CONFIRMED):
            steps.append(("fulfil", rng.uniform(3, 60)))
        if target is WishStatus.CONFIRMED:
            steps.append(("confirm", rng.uniform(1, 30)))
        if target is WishStatus.CANCELLED:
            steps.append(("cancel", rng.uniform(2, 40)))

        posted = self._posting_time(script.days_ago, rng)
        total = sum(hours for _, hours in steps)
        room = (self.now - timedelta(minutes=10) - posted).total_seconds() / 3600
        scale = min(1.0, 0.95 * room / total) if total else 1.0
        when = posted
        times: list[tuple[str, datetime]] = []
        for step, hours in steps:
            when += timedelta(hours=hours * scale)
            times.append((step, when))
        last = times[-1][1] if times else posted

        if target in (WishStatus.FULFILLED, WishStatus.CONFIRMED):
            done = dict(times)["fulfil"]
            run.needed_by = (
                None
                if rng.random() < 0.25
                else self._local_date(done) + timedelta(days=rng.randint(0, 2))
            )
        elif target in (WishStatus.OPEN, WishStatus.SUBMITTED, WishStatus.CLAIMED):
            far = rng.random() < 0.3 or script.escalations
            run.needed_by = None if far else self.today + timedelta(days=rng.randint(2, 9))
        elif target is WishStatus.CANCELLED and not script.escalations:
            run.needed_by = self._local_date(last) + timedelta(days=rng.randint(1, 3))
        elif target is WishStatus.EXPIRED:
            run.needed_by = self._local_date(posted) + timedelta(days=rng.randint(1, 2))

        timeline.at(posted, self._post, run, text)
        escalations = iter(script.escalations)
        for step, at in times:
            if step == "review":
                reason = script.reason if target is WishStatus.REJECTED else None
                timeline.at(at, self._review, run, reason)
            elif step == "escalate":
                level, _, referral = next(escalations)
                timeline.at(at, self._escalate, run, level, referral)
            elif step == "claim":
                timeline.at(at, self._claim, run)
            elif step == "fulfil":
                hours = Decimal(rng.choice(("0.5", "1", "1", "1.5", "2", "2", "3")))
                timeline.at(at, self._fulfil, run, text, hours)
            elif step == "confirm":
                rating = rng.choice((5, 5, 5, 5, 4, 4, 3))
                thanks = rng.choice(_THANKS if rating > 3 else _LUKEWARM_THANKS)
                timeline.at(at, self._confirm, run, rating, thanks)
            elif step == "cancel":
                timeline.at(at, self._cancel, run, script.reason or rng.choice(_CANCEL_REASONS))

    def _pick_resident(self, rng: random.Random, who: str) -> str:
        def fits(key: str) -> bool:
            age = self.by_key[key].age
            return {"elderly": age >= 65, "adult": 25 <= age < 65}.get(who, True)

        return rng.choice([k for k in self.residents if fits(k)] or self.residents)

    def _posting_time(self, days_ago: float, rng: random.Random) -> datetime:
        """About ``days_ago`` before now; on earlier days, at some hour of the daytime."""
        when = self.now - timedelta(days=days_ago)
        if days_ago >= 1:
            when = self._at(self._local_date(when), rng.randint(7, 20), rng.randint(0, 59))
        return self._daytime(when, rng)

    def _daytime(self, when: datetime, rng: random.Random) -> datetime:
        """Move a posting time into waking hours (07:00-22:00) of the same day, if it stays past."""
        local = when.astimezone(self.zone)
        if 7 <= local.hour < 22:
            return when
        hour = 7 if local.hour < 7 else 21
        moved = self._at(local.date(), hour, rng.randint(0, 59))
        return moved if moved < self.now - timedelta(minutes=30) else when

    async def _post(self, run: _WishRun, text: WishText) -> None:
        data: dict[str, Any] = {
            "title": text.title,
            "description": text.description,
            "category": text.category,
            "needed_by": run.needed_by,
        }
        if run.poster != run.resident:
            data["on_behalf_of"] = self.ids[run.resident]
        try:
            wish = await wishes.post(
                self.sim, await self._actor(run.poster), self.community.id, data
            )
        except RuleViolation:  # an admission-list plugin refuses it
            self.refused += 1
            return
        run.wish_id = wish.id

    async def _review(self, run: _WishRun, reject_reason: str | None) -> None:
        if run.wish_id is None:
            return
        decision = (
            {"decision": "reject", "reason": reject_reason}
            if reject_reason
            else {"decision": "approve"}
        )
        staff = await self._actor(run.rng.choice(self.staff))
        await wishes.review(self.sim, staff, run.wish_id, decision)

    async def _escalate(self, run: _WishRun, level: Escalation, referral: str) -> None:
        if run.wish_id is None:
            return
        staff = await self._actor(run.rng.choice(self.staff))
        await wishes.escalate(self.sim, staff, run.wish_id, {"level": level, "referral": referral})

    async def _claim(self, run: _WishRun) -> None:
        """Staff ask for proposals (精准对接); one of the first three claims it."""
        if run.wish_id is None:
            return
        staff = await self._actor(run.rng.choice(self.staff))
        proposals = await matching.candidates(self.sim, staff, run.wish_id, limit=3)
        if not proposals:
            return
        chosen = run.rng.choice(proposals)
        await wishes.claim(self.sim, await load_actor(chosen.person_id), run.wish_id)
        run.claimer = chosen.person_id

    async def _fulfil(self, run: _WishRun, text: WishText, hours: Decimal) -> None:
        if run.claimer is None:
            return
        await wishes.fulfil(
            self.sim,
            await load_actor(run.claimer),
            run.wish_id,
            {"note": text.note, "hours": hours},
        )

    async def _confirm(self, run: _WishRun, rating: int, thanks: str) -> None:
        if run.claimer is None:
            return
        # The grid worker or staff who posted it confirm for the resident.
        claimer = await Person.get(id=run.claimer)
        await wishes.confirm(
            self.sim,
            await self._actor(run.poster),
            run.wish_id,
            {"rating": rating, "thanks": thanks.format(v=claimer.name)},
        )

    async def _cancel(self, run: _WishRun, reason: str) -> None:
        if run.wish_id is None:
            return
        who = run.rng.choice(self.staff) if run.script.escalations else run.poster
        await wishes.cancel(self.sim, await self._actor(who), run.wish_id, {"reason": reason})

    def _schedule_nightly_runs(self, timeline: _Timeline) -> None:
        """The worker's nightly expiry of overdue wishes, at 00:05 each night."""
        day = self.day0 + timedelta(days=5)
        while day <= self.today:
            timeline.at(self._at(day, 0, 5), self._expire)
            day += timedelta(days=1)

    async def _expire(self) -> None:
        await wishes.expire_overdue(self.sim, self.community.id)

    # --- the result -----------------------------------------------------------------------

    def _logins(self) -> list[DemoLogin]:
        def login(role: str, key: str) -> DemoLogin:
            return DemoLogin(role, self.by_key[key].name, self.phones[key])

        wang = self.by_key["wang"]
        logins = [
            login("admin 管理员", "admin"),
            login("staff 社区工作者", self.staff[0]),
            login("grid_worker 网格员（王奶奶的网格）", self.grid_workers[wang.grid]),
        ]
        kinds = self.hub.team_kinds()
        for kind in TEAM_ORDER:
            leader = next(p for p in self.plan if p.kind == kind)
            note = {"silver_patrol": f"（{leader.age}岁）", "psychology": "（持证咨询师）"}
            label = localize(kinds[kind].name, "zh-CN") + "队长" + note.get(kind, "")
            logins.append(login(f"volunteer/{kind} {label}", leader.key))
        li = self.by_key["li"]
        logins.append(login(f"party_member 在职党员（{li.work_unit}）", "li"))
        logins.append(login(f"resident 居民（王奶奶，{wang.age}岁）", "wang"))
        logins.append(login("resident 居民（初三学生家长）", "parent"))
        return logins

    async def _counts(self) -> dict[str, int]:
        community_id = self.community.id
        counts = {
            "people": await Person.filter(community_id=community_id).count(),
            "grids": len(self.grids),
            "teams": len(self.team_ids),
            "tasks": await Task.filter(community_id=community_id).count(),
            "signups": await Signup.filter(occurrence__task__community_id=community_id).count(),
            "service_records": await ServiceRecord.filter(community_id=community_id).count(),
            "audit_entries": await AuditEntry.filter(community_id=community_id).count(),
            "refused_by_plugins": self.refused,
        }
        hours = await (
            ServiceRecord.filter(community_id=community_id)
            .annotate(total=Sum("hours"))
            .values("total")
        )
        counts["service_hours"] = int(Decimal(hours[0]["total"] or 0)) if hours else 0
        for status in WishStatus:
            counts[f"wishes_{status.value}"] = await Wish.filter(
                community_id=community_id, status=status
            ).count()
        return counts

    def _print_counts(self, counts: dict[str, int]) -> None:
        table = Table(title=f"{self.community.name}：六周的记录 / six weeks of records")
        table.add_column("what")
        table.add_column("count", justify="right")
        labels = {
            "people": "居民 people",
            "grids": "网格 grids",
            "teams": "志愿服务队 teams",
            "tasks": "微事项 tasks",
            "signups": "报名 signups",
            "service_records": "服务记录 service records",
            "service_hours": "服务时长 hours",
            "audit_entries": "留痕 audit entries",
        }
        for key, label in labels.items():
            table.add_row(label, str(counts[key]))
        for status in WishStatus:
            table.add_row(f"微心愿 wishes: {status.value}", str(counts[f"wishes_{status.value}"]))
        if counts["refused_by_plugins"]:
            table.add_row("插件规则拒绝 refused by plugin rules", str(counts["refused_by_plugins"]))
        self.console.print(table)
