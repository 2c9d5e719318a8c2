"""Registering the channels' own apprise services with apprise, once per Hub build.

Apprise keeps one registry of services per process and has no entry-point discovery:
a service class is known once ``apprise.NotificationManager().add(cls)`` was called.
Each ``NotificationChannel`` names the services its URLs need (``apprise_services``);
``Hub.create`` calls ``register`` with the loaded channels. Registering again (tests and
the demo build many Hubs in one process) changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from volunteer_hub.hooktypes import NotificationChannel

log = logging.getLogger(__name__)
_registering = threading.Lock()


def register(channels: Iterable[NotificationChannel]) -> None:
    """Make apprise know every service that ``channels`` declare.

    A scheme that apprise already maps to another class (apprise's own service, or
    another plugin's) is left as it is and logged: the channel's messages then fail
    with apprise's answer rather than go to an unexpected service.
    The first registration loads apprise's own services too (about 0.5 s, once per process).
    """
    services = list(dict.fromkeys(s for channel in channels for s in channel.apprise_services))
    if not services:
        return
    import apprise  # only where a channel needs it: apprise takes 0.2 s to import

    manager = apprise.NotificationManager()  # one per process (apprise's singleton)
    with _registering:
        for service in services:
            schemes = _schemes(service)
            for scheme in [s for s in schemes if s in manager and manager[s] is not service]:
                log.warning(
                    "apprise's %s:// is %s already: %s is not registered",
                    scheme,
                    manager[scheme].__qualname__,
                    service.__qualname__,
                )
                break
            else:
                if any(s not in manager for s in schemes):
                    manager.add(service)


def _schemes(service: type) -> set[str]:
    """The URL schemes of an apprise service (``protocol`` and ``secure_protocol`` may
    each be one string or several)."""
    found: set[str] = set()
    for value in (service.protocol, service.secure_protocol):
        found.update([value] if isinstance(value, str) else value or ())
    return {scheme.lower() for scheme in found}
