"""The hook implementations: each reads its community's admission list (if it has one)."""

from __future__ import annotations

from volunteer_hub.plugin_api import AdmissionDecision, WishCategory, WishFacts, hookimpl

from vh_admission_list.settings import AdmissionListSettings


@hookimpl
def vh_plugin_settings() -> type[AdmissionListSettings]:
    return AdmissionListSettings


@hookimpl
def vh_admit_wish(
    wish: WishFacts, settings: AdmissionListSettings | None
) -> AdmissionDecision | None:
    current = settings.current_list() if settings is not None else None
    return None if current is None else current.decide(wish.category)


@hookimpl
def vh_wish_categories(settings: AdmissionListSettings | None) -> list[WishCategory]:
    current = settings.current_list() if settings is not None else None
    return [] if current is None else current.wish_categories()
