"""Reading HTML forms into the plain dicts the services validate."""

from __future__ import annotations

from starlette.datastructures import FormData


def values(form: FormData, *names: str) -> dict[str, str | None]:
    """Each named field as stripped text; empty or missing fields are None, so the
    service sees 'not given' rather than an empty string it would refuse."""
    result: dict[str, str | None] = {}
    for name in names:
        raw = form.get(name)
        text = raw.strip() if isinstance(raw, str) else ""
        result[name] = text or None
    return result


def given(form: dict[str, str | None]) -> dict[str, str]:
    """Only the fields that were filled in: what the services take as input."""
    return {k: v for k, v in form.items() if v is not None}


def all_values(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]
