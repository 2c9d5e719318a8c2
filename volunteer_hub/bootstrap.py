"""The composition of the application: a Hub with the notifications listening to it.

Services publish domain events and know nothing of who listens; here, and only here, the
notifications subscribe their planner to a Hub's events. Every Hub that runs the product
is built by ``build_hub``: the web app, the CLI and its worker, the demo, the test
fixtures. A plain ``Hub.create`` (some tests) plans no notifications.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from volunteer_hub.clock import utcnow
from volunteer_hub.config import Settings
from volunteer_hub.hub import Hub
from volunteer_hub.notifications.planner import Planner


def build_hub(
    settings: Settings,
    *,
    plugins: Iterable[object | tuple[str, object]] = (),
    clock: Callable[[], datetime] = utcnow,
) -> Hub:
    """A Hub with its plugins loaded (``Hub.create``) and the notifications subscribed:
    what a change writes for them commits with it."""
    hub = Hub.create(settings, plugins=plugins, clock=clock)
    Planner().subscribe(hub.events)
    return hub
