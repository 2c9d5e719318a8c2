"""The rules as plain functions of settings and facts (no database, no host)."""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from volunteer_hub.plugin_api import PartyReportFacts, PersonFacts, SignupFacts, localize
from volunteer_hub.testing import load_plugins

import vh_registration_rules.plugin as rules_plugin
from vh_registration_rules import rules
from vh_registration_rules.settings import RegistrationRulesSettings

TODAY = date(2026, 12, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULTS = RegistrationRulesSettings()


def person(birth_date: date | None = date(1980, 5, 1), *qualifications) -> PersonFacts:
    return PersonFacts(
        id=1,
        name="王芳",
        community_id=1,
        grid_id=None,
        birth_date=birth_date,
        skills=(),
        qualifications=tuple(qualifications),
        team_kinds=(),
    )


def shift(
    start: str, end: str, *, team_kind: str | None = "silver_patrol", capacity: int = 6
) -> SignupFacts:
    return SignupFacts(
        task_id=1,
        task_title="夜间巡逻",
        team_id=1 if team_kind else None,
        team_kind=team_kind,
        community_id=1,
        local_start=datetime.fromisoformat(start).replace(tzinfo=SHANGHAI),
        local_end=datetime.fromisoformat(end).replace(tzinfo=SHANGHAI),
        capacity=capacity,
        confirmed_people=(),
    )


def join(p: PersonFacts, kind: str, s: RegistrationRulesSettings = DEFAULTS) -> list[str]:
    return [v.rule for v in rules.check_team_join(s, p, kind, TODAY)]


def signup(p: PersonFacts, f: SignupFacts, s: RegistrationRulesSettings = DEFAULTS) -> list[str]:
    return [v.rule for v in rules.check_signup(s, p, f)]


def settings(**changes) -> RegistrationRulesSettings:
    return RegistrationRulesSettings(**changes)


# --- silver patrol ----------------------------------------------------------------------------


def test_silver_patrol_age_bounds_at_join():
    assert join(person(date(1966, 12, 2)), "silver_patrol") == ["silver_patrol_min_age"]
    assert join(person(date(1966, 12, 1)), "silver_patrol") == []  # 60 today
    assert join(person(date(1940, 1, 1)), "silver_patrol") == []  # no upper bound by default
    assert join(person(None), "silver_patrol") == ["silver_patrol_min_age"]
    assert join(person(date(1966, 12, 2)), "repair") == []

    bounded = settings(silver_patrol_min_age=65, silver_patrol_max_age=75)
    assert join(person(date(1961, 12, 2)), "silver_patrol", bounded) == ["silver_patrol_min_age"]
    assert join(person(date(1961, 12, 1)), "silver_patrol", bounded) == []  # 65 today
    assert join(person(date(1951, 12, 1)), "silver_patrol", bounded) == []  # 75 today
    assert join(person(date(1950, 12, 1)), "silver_patrol", bounded) == ["silver_patrol_max_age"]
    off = settings(silver_patrol_enabled=False)
    assert join(person(None), "silver_patrol", off) == []
    # A community whose patrol is a team kind of its own.
    renamed = settings(silver_patrol_team_kind="elder_patrol")
    assert join(person(None), "silver_patrol", renamed) == []
    assert join(person(None), "elder_patrol", renamed) == ["silver_patrol_min_age"]


def test_silver_patrol_messages_say_the_bound_and_why():
    (young,) = rules.check_team_join(DEFAULTS, person(date(1970, 1, 1)), "silver_patrol", TODAY)
    assert localize(young.message, "zh-CN") == "银发巡逻队队员须年满60周岁"
    assert localize(young.message, "en") == "Silver patrol members must be 60 or older"
    (unknown,) = rules.check_team_join(DEFAULTS, person(None), "silver_patrol", TODAY)
    assert localize(unknown.message, "zh-CN") == "银发巡逻队队员须年满60周岁，您的出生日期未登记"
    assert "birth date is not on record" in localize(unknown.message, "en")
    bounded = settings(silver_patrol_max_age=75)
    (old,) = rules.check_team_join(bounded, person(date(1940, 1, 1)), "silver_patrol", TODAY)
    assert localize(old.message, "en") == "Silver patrol members are at most 75 years old"


@pytest.mark.parametrize(
    ("start", "end", "night"),
    [
        ("2026-12-03T19:00", "2026-12-03T21:00", True),  # story 3's evening patrol
        ("2026-12-03T17:00", "2026-12-03T19:00", False),  # ends as the night begins
        ("2026-12-03T18:30", "2026-12-03T19:01", True),
        ("2026-12-03T05:00", "2026-12-03T07:00", True),  # before dawn
        ("2026-12-03T06:00", "2026-12-03T08:00", False),
        ("2026-12-03T23:00", "2026-12-04T01:00", True),  # across midnight
        ("2026-12-03T09:00", "2026-12-03T17:00", False),
        ("2026-12-03T08:00", "2026-12-04T07:00", True),  # a 23-hour checkpoint shift
    ],
)
def test_night_shift_default_window(start, end, night):
    s = shift(start, end)
    assert rules.is_night_shift(s.local_start, s.local_end, time(19), time(6)) is night


def test_night_shift_window_that_does_not_cross_midnight():
    s = shift("2026-12-03T23:00", "2026-12-04T00:30")
    assert rules.is_night_shift(s.local_start, s.local_end, time(0), time(5))
    s = shift("2026-12-03T19:00", "2026-12-03T23:59")
    assert not rules.is_night_shift(s.local_start, s.local_end, time(0), time(5))
    s = shift("2026-12-03T19:00", "2026-12-03T21:00")
    assert not rules.is_night_shift(s.local_start, s.local_end, time(22), time(5))


def test_silver_patrol_night_shifts_only_in_pairs():
    senior = person(date(1950, 3, 1))
    assert signup(senior, shift("2026-12-03T19:00", "2026-12-03T21:00", capacity=1)) == [
        "silver_patrol_night_pair"
    ]
    assert signup(senior, shift("2026-12-03T19:00", "2026-12-03T21:00", capacity=2)) == []
    assert signup(senior, shift("2026-12-03T09:00", "2026-12-03T11:00", capacity=1)) == []
    other_team = shift("2026-12-03T19:00", "2026-12-03T21:00", team_kind="repair", capacity=1)
    assert signup(senior, other_team) == []
    threes = settings(night_min_capacity=3)
    late = shift("2026-12-03T19:00", "2026-12-03T21:00", capacity=2)
    (refusal,) = rules.check_signup(threes, senior, late)
    assert (
        localize(refusal.message, "zh-CN") == "银发巡逻队夜间巡逻须至少3人结伴，本班次只设2个名额"
    )
    assert localize(refusal.message, "en") == (
        "Silver patrol night shifts are walked by at least 3 people together; "
        "this shift has 2 places"
    )
    assert signup(senior, late, settings(night_starts=time(22), night_ends=time(5))) == []
    assert signup(senior, late, settings(silver_patrol_enabled=False)) == []


def test_silver_patrol_age_is_taken_on_the_day_of_the_shift():
    # Turns 76 the day before the shift: over the bound by then.
    bounded = settings(silver_patrol_max_age=75)
    member = person(date(1950, 12, 2))
    assert join(member, "silver_patrol", bounded) == []
    day_shift = shift("2026-12-03T09:00", "2026-12-03T11:00")
    assert signup(member, day_shift, bounded) == ["silver_patrol_max_age"]


# --- qualifications ---------------------------------------------------------------------------


def test_each_team_needs_its_qualification_valid_today():
    assert join(person(), "psychology") == ["qualification_missing"]
    assert join(person(None, ("counsellor", date(2026, 12, 1), False)), "psychology") == []
    assert join(person(None, ("counsellor", date(2026, 11, 30), False)), "psychology") == [
        "qualification_expired"
    ]
    assert join(person(None, ("counsellor", None, False)), "psychology") == [
        "qualification_expiry_unknown"
    ]
    assert join(person(None, ("counsellor", date(2027, 6, 1), False)), "legal_aid") == [
        "qualification_missing"
    ]
    assert join(person(None, ("lawyer", date(2027, 6, 1), True)), "legal_aid") == []
    assert join(person(None, ("anti_fraud_training", date(2027, 1, 1), False)), "anti_fraud") == []
    assert join(person(), "anti_fraud") == ["qualification_missing"]
    assert join(person(), "elderly_care") == []
    # One valid certificate among expired ones is enough.
    both = person(
        None, ("counsellor", date(2025, 1, 1), True), ("counsellor", date(2027, 1, 1), False)
    )
    assert join(both, "psychology") == []


def test_qualification_settings():
    undated = person(None, ("counsellor", None, False))
    assert join(undated, "psychology", settings(qualification_needs_expiry=False)) == []
    assert join(person(), "psychology", settings(qualifications_enabled=False)) == []
    repairs = settings(required_qualifications={"repair": "electrician"})
    assert join(person(), "psychology", repairs) == []
    (refusal,) = rules.check_team_join(repairs, person(), "repair", TODAY)
    assert refusal.rule == "qualification_missing"
    assert localize(refusal.message, "en") == (
        "This team needs a valid electrician: declare it when you join"
    )


def test_qualification_messages_in_plain_words():
    def message(p: PersonFacts, kind: str) -> dict:
        (refusal,) = rules.check_team_join(DEFAULTS, p, kind, TODAY)
        return {locale: localize(refusal.message, locale) for locale in ("zh-CN", "en")}

    assert message(person(), "psychology") == {
        "zh-CN": "加入此队须持有有效的心理咨询师证书，请在申请加入时申报",
        "en": "This team needs a valid counsellor certificate: declare it when you join",
    }
    assert message(person(None, ("lawyer", date(2026, 6, 30), False)), "legal_aid") == {
        "zh-CN": "您的律师执业证已于2026-06-30过期",
        "en": "Your practising lawyer's licence expired on 2026-06-30",
    }
    assert message(person(None, ("anti_fraud_training", None, False)), "anti_fraud") == {
        "zh-CN": "请填写反诈培训结业证明的有效期，过期与否需要核对",
        "en": "Give the expiry date of your anti-fraud training certificate, so that it can "
        "be checked",
    }


def test_at_signup_a_qualification_must_be_checked_and_valid_on_the_day():
    listening = shift("2026-12-10T14:00", "2026-12-10T16:00", team_kind="psychology", capacity=1)
    checked = person(None, ("counsellor", date(2026, 12, 10), True))
    assert signup(checked, listening) == []
    unchecked = person(None, ("counsellor", date(2027, 12, 10), False))
    (refusal,) = rules.check_signup(DEFAULTS, unchecked, listening)
    assert refusal.rule == "qualification_missing"
    assert "checked by the community's staff" in localize(refusal.message, "en")
    lapsing = person(None, ("counsellor", date(2026, 12, 9), True))
    (refusal,) = rules.check_signup(DEFAULTS, lapsing, listening)
    assert refusal.rule == "qualification_expired"
    assert localize(refusal.message, "zh-CN") == (
        "您的心理咨询师证书于2026-12-09到期，早于本次活动日期2026-12-10"
    )
    # A task for no team asks for no qualification.
    open_task = shift("2026-12-10T14:00", "2026-12-10T16:00", team_kind=None)
    assert signup(person(), open_task) == []


# --- minors -----------------------------------------------------------------------------------


def test_minors_need_a_guardians_consent_to_join():
    seventeen = date(2009, 12, 2)  # turns 18 tomorrow
    assert join(person(seventeen), "elderly_care") == ["minor_guardian_consent"]
    assert join(person(seventeen, ("guardian_consent", None, False)), "elderly_care") == []
    assert join(person(date(2008, 12, 1)), "elderly_care") == []  # 18 today
    assert join(person(None), "elderly_care") == []  # unknown age: not taken for a minor
    expired = person(seventeen, ("guardian_consent", date(2026, 9, 1), True))
    (refusal,) = rules.check_team_join(DEFAULTS, expired, "elderly_care", TODAY)
    assert (refusal.rule, localize(refusal.message, "en")) == (
        "minor_guardian_consent",
        "Your guardian's consent expired on 2026-09-01; declare a new one",
    )
    (refusal,) = rules.check_team_join(DEFAULTS, person(seventeen), "repair", TODAY)
    assert localize(refusal.message, "zh-CN") == (
        "未满18周岁参加志愿服务须有监护人同意书，请在申请加入时申报，由社区工作人员核实"
    )
    assert join(person(seventeen), "elderly_care", settings(adult_age=16)) == []
    assert join(person(seventeen), "elderly_care", settings(minors_enabled=False)) == []
    # Both rules speak when a minor asks to join the psychology team.
    assert sorted(join(person(seventeen), "psychology")) == [
        "minor_guardian_consent",
        "qualification_missing",
    ]


def test_minors_take_no_shift_ending_after_nine():
    minor = person(date(2010, 3, 1), ("guardian_consent", None, True))
    assert signup(minor, shift("2026-12-03T19:00", "2026-12-03T21:00", team_kind=None)) == []
    late = shift("2026-12-03T19:30", "2026-12-03T21:30", team_kind=None)
    assert signup(minor, late) == ["minor_late_shift"]
    overnight = shift("2026-12-03T20:00", "2026-12-04T00:30", team_kind=None)
    assert signup(minor, overnight) == ["minor_late_shift"]
    (refusal,) = rules.check_signup(DEFAULTS, minor, late)
    assert localize(refusal.message, "zh-CN") == "未满18周岁的志愿者不能参加21:00以后结束的活动"
    assert (
        localize(refusal.message, "en") == "Volunteers under 18 take no shift that ends after 21:00"
    )
    assert signup(minor, late, settings(minors_latest_end=time(22))) == []
    # Turning 18 on the day of the shift: an adult by then.
    birthday = person(date(2008, 12, 3))
    assert signup(birthday, late) == []
    # A consent that staff have not checked yet does not count at signup.
    unchecked = person(date(2010, 3, 1), ("guardian_consent", None, False))
    day = shift("2026-12-03T09:00", "2026-12-03T11:00", team_kind=None)
    assert signup(unchecked, day) == ["minor_guardian_consent"]


# --- party reports ----------------------------------------------------------------------------


def report(work_unit: str, party_branch: str) -> PartyReportFacts:
    return PartyReportFacts(
        person=person(), community_id=1, work_unit=work_unit, party_branch=party_branch
    )


def test_party_report_needs_a_work_unit_and_a_party_branch():
    def check(r: PartyReportFacts, s: RegistrationRulesSettings = DEFAULTS) -> list[str]:
        return [v.rule for v in rules.check_party_report(s, r)]

    assert check(report("市税务局", "市税务局机关第二党支部")) == []
    assert check(report("Acme Ltd", "Acme Party Branch")) == []
    assert check(report("无", "第二党支部")) == ["party_work_unit"]
    assert check(report(" 退休 ", "第二党支部")) == ["party_work_unit"]
    assert check(report("None", "第二党支部")) == ["party_work_unit"]
    assert check(report("市税务局", "税务局")) == ["party_branch"]
    assert check(report("退休", "老干部")) == ["party_work_unit", "party_branch"]
    assert check(report("市税务局", "税务局"), settings(party_branch_words=[])) == []
    assert check(report("无", "税务局"), settings(party_report_enabled=False)) == []
    assert check(report("待定", "二支部"), settings(party_work_unit_placeholders=["待定"])) == [
        "party_work_unit"
    ]


def test_party_hours_target():
    assert rules.party_hours_target(DEFAULTS) is None
    assert rules.party_hours_target(settings(party_yearly_hours_target="20")) == Decimal(20)
    disabled = settings(party_yearly_hours_target=20, party_report_enabled=False)
    assert rules.party_hours_target(disabled) is None


# --- settings ---------------------------------------------------------------------------------


def test_settings_from_toml():
    text = """
    silver_patrol_min_age = 65
    silver_patrol_max_age = 80
    night_starts = 20:30:00
    night_ends = "05:30"
    minors_latest_end = 20:00:00
    party_yearly_hours_target = 24
    required_qualifications = { psychology = "counsellor", repair = "first_aid" }
    """
    s = RegistrationRulesSettings.model_validate(tomllib.loads(text.replace("\n    ", "\n")))
    assert (s.silver_patrol_min_age, s.silver_patrol_max_age) == (65, 80)
    assert (s.night_starts, s.night_ends, s.minors_latest_end) == (
        time(20, 30),
        time(5, 30),
        time(20),
    )
    assert s.party_yearly_hours_target == Decimal(24)
    assert s.required_qualifications == {"psychology": "counsellor", "repair": "first_aid"}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"silver_patrol_min_age": 70, "silver_patrol_max_age": 65}, "silver_patrol_max_age"),
        ({"night_starts": "06:00", "night_ends": "06:00"}, "night_starts and night_ends"),
        ({"night_min_capacity": 1}, "night_min_capacity"),
        ({"silver_patrol_min_age": "sixty"}, "silver_patrol_min_age"),
        ({"required_qualifications": {"Psychology!": "counsellor"}}, "required_qualifications"),
        ({"party_yearly_hours_target": -1}, "party_yearly_hours_target"),
        ({"silver_patrol_minimum_age": 60}, "silver_patrol_minimum_age"),  # a misspelling
    ],
)
def test_bad_settings_are_refused_naming_the_setting(changes, problem):
    with pytest.raises(ValidationError) as caught:
        RegistrationRulesSettings(**changes)
    assert problem in str(caught.value)


# --- the documentation's example ----------------------------------------------------------------

DOCS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "registration-rules.md"


def test_the_documented_settings_are_valid_and_mean_what_the_page_says():
    if not DOCS_PAGE.is_file():
        pytest.skip(f"the documentation is not beside this copy of the plugin ({DOCS_PAGE})")
    (example,) = re.findall(
        r"^```toml\n(.*?)^```", DOCS_PAGE.read_text(encoding="utf-8"), re.M | re.S
    )
    host = load_plugins([("vh-registration-rules", rules_plugin)], config=example)
    everywhere = host.settings("vh-registration-rules", 1)
    assert (everywhere.silver_patrol_min_age, everywhere.silver_patrol_max_age) == (60, 80)
    assert everywhere.night_starts == time(19, 30)
    assert everywhere.party_yearly_hours_target == Decimal(20)
    three = host.settings("vh-registration-rules", 3)
    assert (three.silver_patrol_min_age, three.silver_patrol_max_age) == (65, 80)
    assert not three.party_report_enabled and everywhere.party_report_enabled


def test_the_settings_table_lists_every_setting():
    if not DOCS_PAGE.is_file():
        pytest.skip(f"the documentation is not beside this copy of the plugin ({DOCS_PAGE})")
    section = DOCS_PAGE.read_text("utf-8").split("## Settings", 1)[1]
    rows = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \|", section, re.M)
    assert {name for row in rows for name in row if name} == set(
        RegistrationRulesSettings.model_fields
    )
