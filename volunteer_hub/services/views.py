"""What services hand to callers: view objects, and the states a caller may name.

The web layer, the CLI and Open311 read these; they never import ``volunteer_hub.models``
(an import contract checks it). The enums are the models' own, named here so that
callers have one place to take them from.
"""

from __future__ import annotations

from volunteer_hub.models import (
    DeliveryStatus,
    Escalation,
    MembershipStatus,
    NotificationPriority,
    Open311Scope,
    PartyReportStatus,
    Role,
    SignupStatus,
    WishStatus,
)

__all__ = [
    "DeliveryStatus",
    "Escalation",
    "MembershipStatus",
    "NotificationPriority",
    "Open311Scope",
    "PartyReportStatus",
    "Role",
    "SignupStatus",
    "WishStatus",
]
