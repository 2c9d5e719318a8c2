"""The one table from an error's kind (``VolunteerHubError.kind``) to its HTTP status.

The JSON API and the pages answer by ``STATUS_BY_KIND``; Open311 answers by the same table
with ``OPEN311_OVERRIDES``, the few statuses GeoReport v2 prescribes otherwise. A kind not
in the table is bad input: 400.
"""

from __future__ import annotations

from collections.abc import Mapping

from volunteer_hub.errors import VolunteerHubError

STATUS_BY_KIND: Mapping[str, int] = {
    "invalid": 422,
    "rule": 422,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "too_large": 413,
    "throttled": 429,
}

#: GeoReport v2: every bad input is 400 (a rule of the admission list too, and a body that
#: is no JSON), and a missing or invalid api_key is 403 (there is no login to ask for).
OPEN311_OVERRIDES: Mapping[str, int] = {
    "invalid": 400,
    "rule": 400,
    "unauthenticated": 403,
}


def http_status(exc: VolunteerHubError, overrides: Mapping[str, int] | None = None) -> int:
    """The status ``exc`` is answered with; ``overrides`` by kind come first."""
    if overrides and exc.kind in overrides:
        return overrides[exc.kind]
    return STATUS_BY_KIND.get(exc.kind, 400)
