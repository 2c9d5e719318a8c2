"""The service's views as GeoReport v2 documents' entries, in the caller's language."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from volunteer_hub.i18n import localize, translate
from volunteer_hub.services.open311 import PostedRequest, ServiceRequestView, ServiceView

ESCALATION_NAMES = {
    "blue": {"zh-CN": "蓝", "en": "blue"},
    "yellow": {"zh-CN": "黄", "en": "yellow"},
    "red": {"zh-CN": "红", "en": "red"},
}


def service_out(service: ServiceView, locale: str) -> dict[str, Any]:
    team_name = localize(service.team_name, locale) if service.team_name else ""
    if not service.served:
        description = translate(
            "Referred to the responsible department; volunteers do not serve it.", locale
        )
    elif team_name:
        description = translate("Served by volunteers of a {team} team.", locale, team=team_name)
    else:
        description = translate("Served by the community's volunteers.", locale)
    if service.restricted:
        description += " " + translate("Only qualified volunteers see the details.", locale)
    return {
        "service_code": service.code,
        "service_name": localize(service.name, locale),
        "description": description,
        "metadata": False,
        "type": "realtime",
        "keywords": service.code,
        "group": team_name,
    }


def definition_out(service: ServiceView) -> dict[str, Any]:
    return {"service_code": service.code, "attributes": []}


def request_out(view: ServiceRequestView, locale: str) -> dict[str, Any]:
    """A GeoReport service request. Never a resident's address: no key holder may see a
    resident's contact."""
    return {
        "service_request_id": view.id,
        "status": view.status,
        "status_notes": _status_notes(view, locale),
        "service_name": localize(view.service_name, locale),
        "service_code": view.service_code,
        "description": view.description,
        "agency_responsible": view.agency,
        "service_notice": None,
        "requested_datetime": _w3c(view.requested_at, view.timezone),
        "updated_datetime": _w3c(view.updated_at, view.timezone),
        "expected_datetime": view.needed_by.isoformat() if view.needed_by else None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def posted_out(posted: PostedRequest, locale: str) -> dict[str, Any]:
    return {
        "service_request_id": posted.id,
        "service_notice": translate("Received. Community staff will review your wish.", locale),
        "account_id": posted.account_id,
    }


def _status_notes(view: ServiceRequestView, locale: str) -> str | None:
    notes = []
    if view.review_reason:
        notes.append(translate("Review: {reason}", locale, reason=view.review_reason))
    if view.referral:
        notes.append(translate("Referred to: {referral}", locale, referral=view.referral))
    if view.escalation:
        level = localize(ESCALATION_NAMES.get(view.escalation, view.escalation), locale)
        notes.append(translate("Escalated: {level} card.", locale, level=level))
    return " ".join(notes) or None


def _w3c(moment: datetime | date, timezone: str) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")
    return moment.isoformat()
