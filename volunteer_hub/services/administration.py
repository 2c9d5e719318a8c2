"""What only administrators see of the server itself."""

from __future__ import annotations

from typing import Any

from volunteer_hub.errors import PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.services.access import Actor


def plugin_report(hub: Hub, actor: Actor) -> list[dict[str, Any]]:
    """The plugins of this server: version, hooks, settings (secrets masked) and status.

    The settings of every community are in it: only an administrator sees them.
    """
    if not actor.is_admin:
        raise PermissionDenied("Only an administrator can do this.")
    return hub.plugins.report()
