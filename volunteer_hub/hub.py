"""The Hub: what every service needs (settings, plugins, catalogue, clock, the in-transaction
event dispatch), passed explicitly.

One Hub per application (web app, CLI run, worker, test). Nothing here is global. The
application is composed in ``volunteer_hub.bootstrap`` (``build_hub``), which subscribes
the notifications to the Hub's events: the Hub knows nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from volunteer_hub import apprise_services
from volunteer_hub.clock import as_utc, utcnow
from volunteer_hub.config import Settings
from volunteer_hub.events import EventDispatch
from volunteer_hub.hooktypes import (
    NotificationChannel,
    QualificationKind,
    TeamKind,
    WishCategory,
)
from volunteer_hub.plugins import PluginConfig, PluginHost, create_plugin_manager
from volunteer_hub.security import IdNumberKey, Passwords, SecretBox


@dataclass
class Hub:
    settings: Settings
    plugins: PluginHost
    clock: Callable[[], datetime] = utcnow
    # Subscribers called inside each unit of work's transaction (``volunteer_hub.events``).
    events: EventDispatch[Hub] = field(default_factory=EventDispatch)
    id_key: IdNumberKey = field(init=False)
    passwords: Passwords = field(init=False)
    box: SecretBox = field(init=False)
    # Per-Hub caches of services, by name (the matcher's feature snapshots): never shared
    # between Hubs, never module-level. Each cache checks its own freshness.
    caches: dict[str, Any] = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.id_key = IdNumberKey(self.settings.secret_key)
        self.passwords = Passwords(self.settings.password_profile)
        self.box = SecretBox(self.settings.secret_key)

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        plugins: Iterable[object | tuple[str, object]] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> Hub:
        """Load the plugins and validate their settings (PluginConfigError if wrong), and
        make apprise know the services of their notification channels.

        The Hub has no event subscribers: to run the product, build it with
        ``volunteer_hub.bootstrap.build_hub``, which subscribes the notifications."""
        host = create_plugin_manager(
            autoload=not settings.disable_plugin_autoload,
            plugins=plugins,
            config=PluginConfig.load(settings.plugin_config),
        )
        hub = cls(settings=settings, plugins=host, clock=clock)
        apprise_services.register(hub.notification_channels().values())
        return hub

    def plugin_settings(self, name: str, community_id: int | None = None) -> BaseModel | None:
        """A plugin's settings for a community: its defaults merged with the community's
        overrides (None for a plugin without settings; KeyError if it is not loaded)."""
        return self.plugins.settings(name, community_id)

    def now(self) -> datetime:
        """The current time in UTC (the clock may be set by tests and the demo)."""
        return as_utc(self.clock())

    def today(self, timezone: str) -> date:
        return self.now().astimezone(ZoneInfo(timezone)).date()

    # --- the catalogue that plugins extend ---------------------------------------

    def team_kinds(self) -> dict[str, TeamKind]:
        return _merge(self.plugins, "vh_team_kinds", TeamKind)

    def qualification_kinds(self) -> dict[str, QualificationKind]:
        return _merge(self.plugins, "vh_qualification_kinds", QualificationKind)

    def wish_categories(self, community_id: int) -> dict[str, WishCategory]:
        return _merge(self.plugins, "vh_wish_categories", WishCategory, community_id=community_id)

    def notification_channels(self) -> dict[str, NotificationChannel]:
        return _merge(self.plugins, "vh_notification_channels", NotificationChannel)


def _merge(host: PluginHost, hook_name: str, item_type: type, **kwargs: object) -> dict:
    """Merge list results by code; later-registered plugins (called first) win.

    A plugin that fails or answers malformed data is left out (and shown in its status).
    """
    merged: dict = {}
    for result in reversed(host.call_lists(hook_name, item_type, **kwargs)):
        for item in result.value or ():
            merged[item.code] = item
    return merged
