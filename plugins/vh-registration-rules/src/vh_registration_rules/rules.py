"""The rules themselves: plain functions of the settings and the facts the hooks receive.

Each returns the violations it finds (an empty list allows). Nothing here touches a
database: the facts come from the platform through the public hooks.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from volunteer_hub.plugin_api import PartyReportFacts, PersonFacts, SignupFacts, Violation

from vh_registration_rules.settings import RegistrationRulesSettings

GUARDIAN_CONSENT = "guardian_consent"

# The names of the qualification kinds these rules speak of, for the messages; a kind
# configured beyond these is named by its code.
QUALIFICATION_NAMES = {
    "counsellor": {"zh-CN": "心理咨询师证书", "en": "counsellor certificate"},
    "lawyer": {"zh-CN": "律师执业证", "en": "practising lawyer's licence"},
    "anti_fraud_training": {"zh-CN": "反诈培训结业证明", "en": "anti-fraud training certificate"},
    GUARDIAN_CONSENT: {"zh-CN": "监护人同意书", "en": "guardian's consent"},
}


def check_team_join(
    s: RegistrationRulesSettings, person: PersonFacts, team_kind: str, today: date
) -> list[Violation]:
    """Joining a team: declared qualifications count (staff check them before the membership
    is active); each must be valid ``today``."""
    return _person_rules(s, person, team_kind, today, shift=None)


def check_signup(
    s: RegistrationRulesSettings, person: PersonFacts, signup: SignupFacts
) -> list[Violation]:
    """Signing up for a shift: qualifications must be checked by staff (verified) and still
    valid on the day of the shift, and ages are taken on that day."""
    return _person_rules(s, person, signup.team_kind, signup.local_start.date(), shift=signup)


def _person_rules(
    s: RegistrationRulesSettings,
    person: PersonFacts,
    team_kind: str | None,
    day: date,
    *,
    shift: SignupFacts | None,
) -> list[Violation]:
    at_signup = shift is not None
    violations = []
    if s.silver_patrol_enabled and team_kind == s.silver_patrol_team_kind:
        violations += _silver_patrol_age(s, person, day)
        if (
            shift is not None
            and shift.capacity < s.night_min_capacity
            and is_night_shift(shift.local_start, shift.local_end, s.night_starts, s.night_ends)
        ):
            violations.append(
                Violation(
                    "silver_patrol_night_pair",
                    {
                        "zh-CN": f"银发巡逻队夜间巡逻须至少{s.night_min_capacity}人结伴，"
                        f"本班次只设{shift.capacity}个名额",
                        "en": f"Silver patrol night shifts are walked by at least "
                        f"{s.night_min_capacity} people together; this shift has "
                        f"{_places(shift.capacity)}",
                    },
                )
            )
    if s.qualifications_enabled and team_kind in s.required_qualifications:
        kind = s.required_qualifications[team_kind]
        problem = _qualification_problem(
            person, kind, day, verified_only=at_signup, needs_expiry=s.qualification_needs_expiry
        )
        violations += _qualification_violation(problem, kind, shift_day=day if at_signup else None)
    if s.minors_enabled and _is_minor(s, person, day):
        problem = _qualification_problem(
            person, GUARDIAN_CONSENT, day, verified_only=at_signup, needs_expiry=False
        )
        if problem is not None:
            violations.append(_guardian_violation(s, problem, day if at_signup else None))
        latest = datetime.combine(day, s.minors_latest_end)
        if shift is not None and shift.local_end.replace(tzinfo=None) > latest:
            hhmm = f"{s.minors_latest_end:%H:%M}"
            violations.append(
                Violation(
                    "minor_late_shift",
                    {
                        "zh-CN": f"未满{s.adult_age}周岁的志愿者不能参加{hhmm}以后结束的活动",
                        "en": f"Volunteers under {s.adult_age} take no shift that ends "
                        f"after {hhmm}",
                    },
                )
            )
    return violations


def check_party_report(s: RegistrationRulesSettings, report: PartyReportFacts) -> list[Violation]:
    """A party report: the work unit says where the member serves, the branch names one."""
    if not s.party_report_enabled:
        return []
    violations = []
    placeholders = {p.strip().casefold() for p in s.party_work_unit_placeholders}
    if report.work_unit.strip().casefold() in placeholders:
        violations.append(
            Violation(
                "party_work_unit",
                {
                    "zh-CN": "在职党员须填写所在工作单位；退休或没有工作单位的党员"
                    "请直接向社区党组织报到",
                    "en": "In-service party members give their work unit; retired members and "
                    "those without one report to the community's party organisation instead",
                },
            )
        )
    branch = report.party_branch.casefold()
    if s.party_branch_words and not any(w.casefold() in branch for w in s.party_branch_words):
        violations.append(
            Violation(
                "party_branch",
                {
                    "zh-CN": "请填写所在党组织的全称，例如“市税务局机关第二党支部”",
                    "en": "Give the full name of your party organisation, e.g. "
                    "“Second Party Branch of the City Tax Bureau”",
                },
            )
        )
    return violations


def party_hours_target(s: RegistrationRulesSettings) -> Decimal | None:
    return s.party_yearly_hours_target if s.party_report_enabled else None


def is_night_shift(start: datetime, end: datetime, night_starts: time, night_ends: time) -> bool:
    """Whether any part of [start, end) (local wall-clock times) falls in the night window.

    The window runs from ``night_starts`` to ``night_ends``, across midnight when it ends
    earlier in the day than it starts (19:00–06:00).
    """
    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    crosses_midnight = night_ends <= night_starts
    day = start.date() - timedelta(days=1)  # last evening's night may run into this morning
    while day <= end.date():
        window_start = datetime.combine(day, night_starts)
        window_end = datetime.combine(day + timedelta(days=crosses_midnight), night_ends)
        if start < window_end and end > window_start:
            return True
        day += timedelta(days=1)
    return False


# --- internals ----------------------------------------------------------------------------


def _silver_patrol_age(
    s: RegistrationRulesSettings, person: PersonFacts, day: date
) -> list[Violation]:
    age = person.age_on(day)
    if age is None:
        return [
            Violation(
                "silver_patrol_min_age",
                {
                    "zh-CN": f"银发巡逻队队员须年满{s.silver_patrol_min_age}周岁，"
                    "您的出生日期未登记",
                    "en": f"Silver patrol members must be {s.silver_patrol_min_age} or older; "
                    "your birth date is not on record",
                },
            )
        ]
    if age < s.silver_patrol_min_age:
        return [
            Violation(
                "silver_patrol_min_age",
                {
                    "zh-CN": f"银发巡逻队队员须年满{s.silver_patrol_min_age}周岁",
                    "en": f"Silver patrol members must be {s.silver_patrol_min_age} or older",
                },
            )
        ]
    if s.silver_patrol_max_age is not None and age > s.silver_patrol_max_age:
        return [
            Violation(
                "silver_patrol_max_age",
                {
                    "zh-CN": f"银发巡逻队队员年龄不超过{s.silver_patrol_max_age}周岁",
                    "en": f"Silver patrol members are at most {s.silver_patrol_max_age} years old",
                },
            )
        ]
    return []


def _is_minor(s: RegistrationRulesSettings, person: PersonFacts, day: date) -> bool:
    # Someone whose birth date is unknown is not taken for a minor: the rule cannot know.
    age = person.age_on(day)
    return age is not None and age < s.adult_age


# A problem with a qualification: ("missing" | "expiry_unknown" | "expired", expiry date).
Problem = tuple[str, date | None]


def _qualification_problem(
    person: PersonFacts, kind: str, day: date, *, verified_only: bool, needs_expiry: bool
) -> Problem | None:
    """None when the person holds ``kind`` valid on ``day``; else what is wrong with it."""
    held = [
        expires
        for k, expires, verified in person.qualifications
        if k == kind and (verified or not verified_only)
    ]
    if not held:
        return ("missing", None)
    if needs_expiry:
        held = [expires for expires in held if expires is not None]
        if not held:
            return ("expiry_unknown", None)
    if any(expires is None for expires in held):
        return None  # never expires
    latest = max(held)
    return None if latest >= day else ("expired", latest)


def _qualification_violation(
    problem: Problem | None, kind: str, *, shift_day: date | None = None
) -> list[Violation]:
    if problem is None:
        return []
    what, expired_on = problem
    name = QUALIFICATION_NAMES.get(kind, {"zh-CN": kind, "en": kind})
    zh, en = name["zh-CN"], name["en"]
    if what == "missing" and shift_day is None:
        message = {
            "zh-CN": f"加入此队须持有有效的{zh}，请在申请加入时申报",
            "en": f"This team needs a valid {en}: declare it when you join",
        }
    elif what == "missing":
        message = {
            "zh-CN": f"参加此活动须持有经社区核实的有效{zh}",
            "en": f"This shift needs a valid {en} checked by the community's staff",
        }
    elif what == "expiry_unknown":
        message = {
            "zh-CN": f"请填写{zh}的有效期，过期与否需要核对",
            "en": f"Give the expiry date of your {en}, so that it can be checked",
        }
    elif shift_day is None:
        message = {
            "zh-CN": f"您的{zh}已于{expired_on:%Y-%m-%d}过期",
            "en": f"Your {en} expired on {expired_on:%Y-%m-%d}",
        }
    else:
        message = {
            "zh-CN": f"您的{zh}于{expired_on:%Y-%m-%d}到期，早于本次活动日期{shift_day:%Y-%m-%d}",
            "en": f"Your {en} expires on {expired_on:%Y-%m-%d}, before the shift on "
            f"{shift_day:%Y-%m-%d}",
        }
    return [Violation(f"qualification_{what}", message)]


def _guardian_violation(s: RegistrationRulesSettings, problem: Problem, day: date | None):
    what, expired_on = problem
    if what == "expired":
        message = {
            "zh-CN": f"您的监护人同意书已于{expired_on:%Y-%m-%d}过期，请重新申报",
            "en": f"Your guardian's consent expired on {expired_on:%Y-%m-%d}; declare a new one",
        }
    elif day is None:
        message = {
            "zh-CN": f"未满{s.adult_age}周岁参加志愿服务须有监护人同意书，"
            "请在申请加入时申报，由社区工作人员核实",
            "en": f"Volunteers under {s.adult_age} need a guardian's consent: declare it when "
            "you join a team, and the community's staff will check it",
        }
    else:
        message = {
            "zh-CN": f"未满{s.adult_age}周岁参加志愿服务须有经社区核实的监护人同意书",
            "en": f"Volunteers under {s.adult_age} need a guardian's consent checked by the "
            "community's staff",
        }
    return Violation("minor_guardian_consent", message)


def _places(n: int) -> str:
    return "1 place" if n == 1 else f"{n} places"
