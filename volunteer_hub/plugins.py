"""The plugin host: a pluggy manager with per-plugin status and isolated hook calls."""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Literal

import pluggy

from volunteer_hub import hookspecs

log = logging.getLogger(__name__)

PROJECT_NAME = "volunteer_hub"
ENTRY_POINT_GROUP = "volunteer_hub"
DISABLE_AUTOLOAD_ENV = "VHUB_DISABLE_PLUGIN_AUTOLOAD"

# Core behaviour ships as plugins on the same hooks a third party can use.
DEFAULT_PLUGINS = (
    "volunteer_hub.default_plugins.catalog",
    "volunteer_hub.default_plugins.matching",
    "volunteer_hub.default_plugins.channels",
)

Status = Literal["enabled", "load_error", "call_error"]


@dataclass
class PluginStatus:
    name: str
    version: str | None
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    status: Status = "enabled"
    error: str | None = None
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "builtin": self.builtin,
            "hooks": self.hooks,
            "status": self.status,
            "error": self.error,
            "failures": self.failures,
        }


@dataclass(frozen=True)
class HookResult:
    plugin: str
    value: Any = None
    error: BaseException | None = None


class PluginHost:
    """Owns one pluggy PluginManager; two hosts never share state."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._status: dict[str, PluginStatus] = {}

    # --- loading ---------------------------------------------------------------

    def register(
        self, plugin: object, name: str, *, version: str | None = None, builtin: bool = False
    ) -> PluginStatus:
        """Register a plugin; a plugin that does not fit the hookspecs is reported, not fatal."""
        if name in self._status:
            # Keep the plugin that holds the name; report the newcomer beside it.
            status = PluginStatus(name=f"{name} (duplicate)", version=version, builtin=builtin)
            self._fail(status, "load_error", ValueError(f"a plugin named {name!r} is loaded"))
            return status
        status = PluginStatus(name=name, version=version, builtin=builtin)
        self._status[name] = status
        try:
            self.pm.register(plugin, name=name)
            unknown = self._unknown_hooks(plugin)
            wrappers = self._wrappers(plugin)
            if unknown:
                raise pluggy.PluginValidationError(
                    plugin, f"unknown hook(s) {', '.join(sorted(unknown))}"
                )
            if wrappers:
                raise pluggy.PluginValidationError(
                    plugin, f"hook wrappers are not supported ({', '.join(sorted(wrappers))})"
                )
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(status, "load_error", exc)
            return status
        status.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        return status

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self._status.pop(name, None)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        for ep in entry_points(group=group):
            version = ep.dist.version if ep.dist else None
            try:
                plugin = ep.load()
            except Exception as exc:
                self._fail(PluginStatus(ep.name, version, builtin=False), "load_error", exc)
                continue
            self.register(plugin, ep.name, version=version)

    def check_pending(self) -> None:
        """Fail loudly if a registered plugin implements a hook that has no spec."""
        self.pm.check_pending()

    def _unknown_hooks(self, plugin: object) -> set[str]:
        return {
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or []
            if not caller.has_spec()
            and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
        }

    def _wrappers(self, plugin: object) -> set[str]:
        return {
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or []
            for i in caller.get_hookimpls()
            if i.plugin is plugin and (i.hookwrapper or i.wrapper)
        }

    def _fail(self, status: PluginStatus, kind: Status, exc: BaseException) -> None:
        status.status = kind
        status.error = "".join(traceback.format_exception_only(exc)).strip()
        status.failures += 1
        self._status[status.name] = status
        if status.builtin:
            raise exc
        log.error("plugin %s: %s", status.name, status.error)

    # --- calling ----------------------------------------------------------------

    def call(self, hook_name: str, **kwargs: Any) -> list[HookResult]:
        """Call each implementation on its own, in pluggy's order (last registered first).

        An implementation that raises is recorded in its plugin's status; its
        HookResult carries the error so the caller decides (rules fail closed).
        """
        return list(self.call_until(hook_name, **kwargs))

    def call_lists(self, hook_name: str, item_type: type, **kwargs: Any) -> list[HookResult]:
        """Like ``call`` for hooks that answer a list of ``item_type`` (or None).

        A malformed answer counts as a failure of that plugin: recorded in its status
        and returned as an error, so one bad plugin cannot break the others' results.
        """
        results = []
        for result in self.call(hook_name, **kwargs):
            value = result.value
            if (
                result.error is None
                and value is not None
                and not (
                    isinstance(value, list | tuple) and all(isinstance(i, item_type) for i in value)
                )
            ):
                exc = TypeError(
                    f"{hook_name} must return a list of {item_type.__name__}, "
                    f"not {type(value).__name__}"
                )
                self._call_failed(result.plugin, hook_name, exc)
                result = HookResult(result.plugin, error=exc)
            results.append(result)
        return results

    async def acall(self, hook_name: str, **kwargs: Any) -> list[HookResult]:
        """Like ``call``, awaiting results that are awaitable (Datasette's await_me_maybe)."""
        results = []
        for result in self.call(hook_name, **kwargs):
            if result.error is None and inspect.isawaitable(result.value):
                try:
                    result = HookResult(result.plugin, await result.value)
                except Exception as exc:
                    self._call_failed(result.plugin, hook_name, exc)
                    result = HookResult(result.plugin, error=exc)
            results.append(result)
        return results

    def call_first(self, hook_name: str, **kwargs: Any) -> HookResult | None:
        """The first implementation that answers (non-None) or raises, in pluggy's order.

        For firstresult hooks. A raising plugin decides as an error, so the caller can
        fail closed (the admission list does).
        """
        for result in self.call_until(hook_name, **kwargs):
            if result.error is not None or result.value is not None:
                return result
        return None

    def call_until(self, hook_name: str, **kwargs: Any):
        caller = getattr(self.pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                value = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                self._call_failed(name, hook_name, exc)
                yield HookResult(name, error=exc)
                continue
            yield HookResult(name, value)

    def _call_failed(self, name: str, hook_name: str, exc: BaseException) -> None:
        status = self._status.get(name)
        log.exception("plugin %s failed in %s", name, hook_name, exc_info=exc)
        if status is not None:
            status.status = "call_error"
            status.error = f"{hook_name}: " + "".join(traceback.format_exception_only(exc)).strip()
            status.failures += 1

    # --- reporting --------------------------------------------------------------

    def statuses(self) -> list[PluginStatus]:
        return sorted(self._status.values(), key=lambda s: (not s.builtin, s.name))


def create_plugin_manager(
    *, autoload: bool = True, plugins: Iterable[object | tuple[str, object]] = ()
) -> PluginHost:
    """Build a plugin host: default plugins, then entry points unless disabled, then extras.

    ``autoload=False`` (or VHUB_DISABLE_PLUGIN_AUTOLOAD=1 via Settings) skips entry points.
    ``plugins`` adds plugin objects (or ``(name, plugin)`` pairs), e.g. from tests.
    """
    host = PluginHost()
    for module_name in DEFAULT_PLUGINS:
        host.register(import_module(module_name), module_name, builtin=True)
    if autoload:
        host.load_entry_points()
    for item in plugins:
        name, plugin = item if isinstance(item, tuple) else (_default_name(item), item)
        host.register(plugin, name)
    host.check_pending()
    return host


def _default_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return getattr(plugin, "__name__", None) or type(plugin).__name__
