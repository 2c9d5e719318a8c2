"""The core catalogue: team kinds, qualification kinds and wish categories."""

from __future__ import annotations

from volunteer_hub import hookimpl
from volunteer_hub.hooktypes import QualificationKind, TeamKind, WishCategory

TEAM_KINDS = [
    TeamKind("anti_fraud", {"zh-CN": "反诈宣传队", "en": "Anti-fraud"}),
    TeamKind("psychology", {"zh-CN": "心理服务队", "en": "Psychology"}),
    TeamKind("silver_patrol", {"zh-CN": "银发巡逻队", "en": "Silver patrol"}),
    TeamKind("party_vanguard", {"zh-CN": "党员先锋队", "en": "Party vanguard"}),
    TeamKind("elderly_care", {"zh-CN": "助老服务队", "en": "Elderly care"}),
    TeamKind("legal_aid", {"zh-CN": "法律援助队", "en": "Legal aid"}),
    TeamKind("repair", {"zh-CN": "便民维修队", "en": "Repair"}),
]

QUALIFICATION_KINDS = [
    QualificationKind("counsellor", {"zh-CN": "心理咨询师证书", "en": "Counsellor certificate"}),
    QualificationKind("lawyer", {"zh-CN": "律师执业证", "en": "Practising lawyer's licence"}),
    QualificationKind(
        "anti_fraud_training", {"zh-CN": "反诈培训结业", "en": "Anti-fraud training"}
    ),
    QualificationKind("first_aid", {"zh-CN": "急救证", "en": "First-aid certificate"}),
]

WISH_CATEGORIES = [
    WishCategory("elderly_care", {"zh-CN": "助老", "en": "Elderly care"}, "elderly_care"),
    WishCategory("companionship", {"zh-CN": "陪伴", "en": "Companionship"}, "elderly_care"),
    WishCategory("errand", {"zh-CN": "跑腿代办", "en": "Errand"}),
    WishCategory("repair", {"zh-CN": "维修", "en": "Repair"}, "repair"),
    WishCategory(
        "psychology",
        {"zh-CN": "心理疏导", "en": "Psychological support"},
        "psychology",
        restricted=True,
        qualifications=("counsellor",),
    ),
    WishCategory("legal", {"zh-CN": "法律咨询", "en": "Legal advice"}, "legal_aid"),
    WishCategory("tutoring", {"zh-CN": "学业辅导", "en": "Tutoring"}),
    WishCategory("public_facility", {"zh-CN": "公共设施", "en": "Public facilities"}, served=False),
    WishCategory("other", {"zh-CN": "其他", "en": "Other"}),
]


@hookimpl
def vh_team_kinds() -> list[TeamKind]:
    return TEAM_KINDS


@hookimpl
def vh_qualification_kinds() -> list[QualificationKind]:
    return QUALIFICATION_KINDS


@hookimpl
def vh_wish_categories() -> list[WishCategory]:
    return WISH_CATEGORIES
