"""The plugin's settings, per community: the ``[vh-registration-rules]`` table of plugins.toml.

Every rule can be switched off (``*_enabled = false``) and tuned; a community's table
``[vh-registration-rules.communities.<id>]`` overrides the defaults for that community.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Age = Annotated[int, Field(ge=0, le=150)]


class RegistrationRulesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # 银发巡逻队: members' ages, and night shifts only in pairs.
    silver_patrol_enabled: bool = True
    silver_patrol_team_kind: Code = "silver_patrol"
    silver_patrol_min_age: Age = 60
    silver_patrol_max_age: Age | None = None
    # A shift is a night shift when any part of it falls between these local times
    # (the window may cross midnight); a night shift needs places for at least two.
    night_starts: time = time(19, 0)
    night_ends: time = time(6, 0)
    night_min_capacity: Annotated[int, Field(ge=2, le=100)] = 2

    # Teams whose members need a qualification, valid on the day: team kind → qualification kind.
    qualifications_enabled: bool = True
    required_qualifications: dict[Code, Code] = Field(
        default_factory=lambda: {
            "psychology": "counsellor",
            "legal_aid": "lawyer",
            "anti_fraud": "anti_fraud_training",
        }
    )
    # A certificate or licence must state when it expires (licences are renewed yearly).
    qualification_needs_expiry: bool = True

    # Minors: a guardian's consent, and no shift ending after ``minors_latest_end``.
    minors_enabled: bool = True
    adult_age: Age = 18
    minors_latest_end: time = time(21, 0)

    # In-service party members (在职党员): what their report must say, and the yearly target.
    party_report_enabled: bool = True
    # A work unit written as one of these means the member is not in service.
    party_work_unit_placeholders: list[str] = Field(
        default_factory=lambda: ["无", "没有", "暂无", "退休", "待业", "无业", "none", "n/a", "-"]
    )
    # The party branch must name a party organisation: one of these words must appear.
    party_branch_words: list[str] = Field(
        default_factory=lambda: ["支部", "党委", "总支", "党组", "branch", "committee"]
    )
    # Hours of service a year; None leaves the platform's default target.
    party_yearly_hours_target: Annotated[Decimal, Field(ge=0, le=9999, decimal_places=1)] | None = (
        None
    )

    @model_validator(mode="after")
    def _consistent(self) -> RegistrationRulesSettings:
        if self.silver_patrol_max_age is not None and (
            self.silver_patrol_max_age < self.silver_patrol_min_age
        ):
            raise ValueError("silver_patrol_max_age must not be below silver_patrol_min_age")
        if self.night_starts == self.night_ends:
            raise ValueError("night_starts and night_ends must differ")
        return self
