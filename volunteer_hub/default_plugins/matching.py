"""The default match scorer: same grid, free that day, least served this month."""

from __future__ import annotations

from volunteer_hub import hookimpl
from volunteer_hub.hooktypes import CandidateFacts, MatchScore, WishFacts


@hookimpl
def vh_match_score(wish: WishFacts, candidate: CandidateFacts) -> MatchScore:
    score = 0.0
    reasons = []
    if wish.grid_id is not None and candidate.person.grid_id == wish.grid_id:
        score += 30
        reasons.append({"zh-CN": "同一网格", "en": "Lives in the same grid"})
    if wish.needed_by is not None:
        if candidate.busy_on_needed_day:
            score -= 40
            reasons.append({"zh-CN": "当天已有排班", "en": "Already on a shift that day"})
        else:
            score += 20
            reasons.append({"zh-CN": "当天有空", "en": "Free that day"})
    # Spread the load: fewer hours this month ranks higher (至多 25 分).
    hours = float(candidate.hours_this_month)
    score += max(0.0, 25 - hours)
    reasons.append(
        {
            "zh-CN": f"本月已服务 {hours:g} 小时",
            "en": f"{hours:g} hours served this month",
        }
    )
    score -= 10 * candidate.open_claims
    if candidate.open_claims:
        reasons.append(
            {
                "zh-CN": f"手头有 {candidate.open_claims} 个未完成的心愿",
                "en": f"{candidate.open_claims} claimed wish(es) in progress",
            }
        )
    return MatchScore(score, tuple(reasons))
