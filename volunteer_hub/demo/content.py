"""What the demo community is made of, as data: its names, teams, wishes and shifts.

Nothing here draws a random number or touches the database: ``plan`` decides who does
what and when from a seed, and ``builder`` writes it through the services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from volunteer_hub.models import Escalation, WishStatus

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
PHONE_PREFIXES = ("139", "138", "137", "136", "135", "150", "151", "158", "186", "188", "133")
NUMERALS = "一二三四五六七八九十"
BUILDINGS_PER_GRID = 4

SKILLS = {
    "silver_patrol": ("治安巡逻", "邻里调解"),
    "psychology": ("心理疏导", "情绪陪伴"),
    "anti_fraud": ("反诈宣传", "手机使用教学"),
    "party_vanguard": ("政策宣讲", "环境整治"),
    "elderly_care": ("陪诊", "助餐", "理发"),
    "legal_aid": ("法律咨询", "合同审查"),
    "repair": ("水电维修", "家电维修", "开锁换锁"),
}
# The age range each team recruits from (residents: see plan.py).
RECRUIT_AGES = {
    "silver_patrol": (61, 74),
    "psychology": (30, 55),
    "anti_fraud": (22, 65),
    "party_vanguard": (28, 55),
    "elderly_care": (20, 60),
    "legal_aid": (30, 60),
    "repair": (30, 65),
}
# In-service party members (在职党员): their work unit and its party branch.
WORK_UNITS = (
    ("区税务局", "区税务局机关第二党支部"),
    ("市第三人民医院", "市第三人民医院内科党支部"),
    ("区教育局", "区教育局机关党支部"),
    ("国网供电公司城东供电所", "城东供电所党支部"),
    ("市自来水公司", "市自来水公司第一党支部"),
    ("区人民法院", "区人民法院民事审判庭党支部"),
    ("幸福路小学", "幸福路小学教工党支部"),
    ("区市场监督管理局", "区市场监管局机关党支部"),
)


# --- wishes: what residents ask for ---------------------------------------------------


@dataclass(frozen=True)
class WishText:
    category: str
    title: str
    description: str
    note: str = "已完成"  # what the volunteer writes when done
    who: str = "any"  # who posts it: elderly, adult or any resident


TEXTS = {
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
EVERYDAY = (
    "medicine", "haircut", "chat", "walk", "parcel", "groceries", "tap", "light_switch",
    "screen", "lock", "grief", "support", "lease", "homework", "video_call", "hallway",
)  # fmt: skip
THANKS = (
    "谢谢{v}，帮了大忙！",
    "{v}非常耐心细致，给志愿者点赞！",
    "服务很周到，感谢社区和志愿者。",
    "谢谢{v}，下次有需要还找你们。",
    "辛苦{v}了，非常感谢！",
)
LUKEWARM_THANKS = (
    "问题解决了，谢谢。下次希望能提前打个电话。",
    "谢谢，就是比约定的时间晚到了一会儿。",
)
CANCEL_REASONS = ("家人已经帮忙解决了", "问题自己解决了，谢谢", "计划有变，暂时不需要了")


@dataclass(frozen=True)
class WishScript:
    """One wish's story, up to the status it has today."""

    text: str  # a key of TEXTS
    target: WishStatus
    days_ago: float  # posted this long before now
    resident: str | None = None  # a planned person's key; else picked by the text's ``who``
    reason: str | None = None  # why staff rejected it, or why it was cancelled
    # (level, hours after the previous step, referral): the whistle (吹哨).
    escalations: tuple[tuple[Escalation, float, str], ...] = ()
    claimed_first: bool = False  # cancelled after a volunteer had claimed it
    reviewed: bool = True  # False: staff never got to it (expires from ``submitted``)


SCRIPTS = (
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
EVERYDAY_TARGETS = (
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


RECURRING_SHIFTS = (
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


# One-off tasks: two in the past six weeks, two coming. Their dates are planned (plan.py).
DOOR_TO_DOOR = ShiftSpec(
    "door_to_door",
    "anti_fraud",
    "反诈入户宣传：走访独居老人家庭",
    "带上宣传折页，逐户提醒老人警惕保健品、冒充公检法等骗局，帮忙安装国家反诈中心App。",
    "各网格",
    capacity=8,
    start=time(9, 0),
    duration=timedelta(hours=3),
    past_fill=(6, 9),
)
PARTY_CLEANUP = ShiftSpec(
    "party_cleanup",
    "party_vanguard",
    "党员先锋岗：楼道杂物清理",
    "在职党员回社区报到服务：清理楼道堆放的杂物，消除消防隐患。",
    "1—8号楼",
    capacity=15,
    start=time(8, 30),
    duration=timedelta(hours=3),
    past_fill=(99, 99),
)
# Story 4: the police warn of a new scam; staff open a door-to-door task.
SCAM_WARNING = ShiftSpec(
    "scam_warning",
    "anti_fraud",
    "新型诈骗预警：入户提醒有老人的家庭",
    "派出所通报：近期有人冒充医保局工作人员打电话索要验证码。"
    "请入户提醒有老人的家庭，不要透露验证码、不要点陌生链接。",
    "各网格",
    capacity=10,
    start=time(9, 0),
    duration=timedelta(hours=2, minutes=30),
)
WASTE_SORTING = ShiftSpec(
    "waste_sorting",
    None,
    "垃圾分类宣传日",
    "在小区南门设摊讲解垃圾分类，指导居民定时定点投放。欢迎居民报名参加。",
    "小区南门",
    capacity=20,
    start=time(9, 0),
    duration=timedelta(hours=2),
)

# Story 1: Ms. Wang, 82, needs someone to walk her to the hospital on Thursdays.
WANG_VISIT = WishText(
    "elderly_care",
    "周四上午陪同去医院复查",
    "王奶奶（82岁）周四上午要去区人民医院复查血压，子女在外地，需要有人陪同挂号、排队、取药。",
    "已陪同王奶奶就诊，药已取回，并交代了服用方法",
)
WANG_THANKS = "谢谢{v}一路陪着王奶奶，老人家特别高兴！"
