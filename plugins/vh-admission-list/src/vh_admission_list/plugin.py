"""The hook implementations: each reads its community's admission list (if it has one)."""

from __future__ import annotations

from volunteer_hub import hookimpl
from volunteer_hub.hooktypes import AdmissionDecision, WishCategory, WishFacts

from vh_admission_list import admission_list
from vh_admission_list.settings import AdmissionListSettings


@hookimpl
def vh_plugin_settings() -> type[AdmissionListSettings]:
    return AdmissionListSettings


@hookimpl
def vh_admit_wish(
    wish: WishFacts, settings: AdmissionListSettings | None
) -> AdmissionDecision | None:
    if settings is None or settings.admission_list is None:
        return None
    return admission_list.load(settings.admission_list).decide(wish.category)


@hookimpl
def vh_wish_categories(settings: AdmissionListSettings | None) -> list[WishCategory]:
    if settings is None or settings.admission_list is None:
        return []
    return admission_list.load(settings.admission_list).wish_categories()
