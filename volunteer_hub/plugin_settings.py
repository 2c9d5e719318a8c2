"""Per-community plugin settings: the settings file, its validation, what each hook gets.

A plugin declares its settings as a pydantic model (``vh_plugin_settings``); the file
(``VHUB_PLUGIN_CONFIG``, TOML) has a table per plugin, named as the plugin is loaded, and
``[<plugin>.communities.<id>]`` tables that override the defaults for one community. The
plugin host (``volunteer_hub.plugins``) validates them all at start-up and passes each
hook implementation that takes ``settings`` the values for the community of the call.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Secret, SecretBytes, SecretStr, ValidationError
from pydantic_core import to_jsonable_python

SETTINGS_ARG = "settings"
COMMUNITIES = "communities"
UNKNOWN = object()  # a hook call whose community is not known yet
MASK = "••••••"  # as channel settings are shown (services.channels)
_SECRET_NAME = re.compile(
    r"secret|passw|token|api_?key|private_?key|credential|signature|(^|_)key$", re.IGNORECASE
)


class PluginConfigError(Exception):
    """The plugin settings are wrong. Each problem is one line naming the file, the
    plugin and community (as the TOML table) and the setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class PluginConfig:
    """The plugin settings file, parsed: one table per plugin, named as it is loaded."""

    source: str = "plugin settings (no file: set VHUB_PLUGIN_CONFIG)"
    sections: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> PluginConfig:
        """Read a TOML file; no path means no file (every plugin gets its defaults)."""
        if path is None:
            return cls()
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PluginConfigError([f"{path}: the plugin settings file does not exist"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PluginConfigError([f"{path}: cannot be read: {exc}"]) from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "plugins.toml") -> PluginConfig:
        """Settings from TOML text; ``source`` names it in messages."""
        try:
            sections = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PluginConfigError([f"{source}: not valid TOML: {exc}"]) from None
        return cls(source, sections)


@dataclass(frozen=True)
class PluginSettings:
    """One plugin's validated settings: the defaults and each community's overrides."""

    defaults: BaseModel
    communities: Mapping[int, BaseModel] = field(default_factory=dict)

    def for_community(self, community_id: int | None) -> BaseModel:
        if community_id is None:
            return self.defaults
        return self.communities.get(community_id, self.defaults)


def checked_settings_model(answer: object) -> type[BaseModel] | None:
    """What a plugin's ``vh_plugin_settings`` answered, checked: a pydantic model class
    (or None: the plugin takes no settings) that can describe itself and has no field that
    the per-community tables would hide."""
    if answer is None:
        return None
    if not (isinstance(answer, type) and issubclass(answer, BaseModel)):
        raise TypeError(
            "it must return a pydantic model class (a subclass of BaseModel) or None, "
            f"not {answer!r}"
        )
    if COMMUNITIES in answer.model_fields:
        raise ValueError(
            f"the settings model may not have a field named {COMMUNITIES!r}: "
            "that table holds the per-community overrides"
        )
    answer.model_json_schema()  # shown by `vhub plugins` and the API: it must have one
    return answer


def describe(model: type[BaseModel], resolved: PluginSettings | None) -> dict[str, Any]:
    """A plugin's settings for people to read (`vhub plugins`, the API): the model's JSON
    schema and the values in force by default and for each configured community, secrets
    masked."""
    return {
        "json_schema": mask_schema(model.model_json_schema()),
        "defaults": shown(resolved.defaults) if resolved else None,
        "communities": {
            str(cid): shown(values) for cid, values in sorted(resolved.communities.items())
        }
        if resolved
        else {},
    }


def community_of(kwargs: Mapping[str, Any]) -> int | None:
    """The community of a hook call: its ``community_id`` argument, else the
    ``community_id`` of an argument that has one (a signup, wish, event), else the
    person's; None when there is none (the plugin then gets its defaults)."""
    if "community_id" in kwargs:
        return kwargs["community_id"]
    # The person's community comes last: a volunteer signing up for a task elsewhere
    # is ruled by the task's community.
    for name in sorted(kwargs, key=lambda n: n == "person"):
        community_id = getattr(kwargs[name], "community_id", UNKNOWN)
        if community_id is not UNKNOWN:
            return community_id
    return None


def resolve_settings(
    config: PluginConfig, name: str, model: type[BaseModel]
) -> tuple[PluginSettings | None, list[str]]:
    """Validate a plugin's table of ``config`` and its communities' tables.

    A community's table is merged over the plugin's defaults setting by setting (a
    setting named there replaces the default value whole). Returns the settings, or
    None with the problems found, each naming file, table and setting.
    """
    section = config.sections.get(name, {})
    if not isinstance(section, dict):
        return None, [f"{config.source}: {name}: must be a table ([{name}]), not a value"]
    base = {k: v for k, v in section.items() if k != COMMUNITIES}
    problems: list[str] = []
    defaults = _validate(config, f"[{name}]", name, model, base, None, problems)
    overrides = section.get(COMMUNITIES, {})
    if not isinstance(overrides, dict):
        problems.append(
            f"{config.source}: [{name}] {COMMUNITIES}: must hold a table per community, "
            f"[{name}.{COMMUNITIES}.<community id>]"
        )
        overrides = {}
    communities: dict[int, BaseModel] = {}
    for key, table in overrides.items():
        where = f"[{name}.{COMMUNITIES}.{key}]"
        if not (key.isascii() and key.isdigit() and int(key) > 0):
            problems.append(
                f"{config.source}: {where}: a community is named by its id, a whole number"
            )
        elif not isinstance(table, dict):
            problems.append(f"{config.source}: {where}: must be a table of settings")
        elif (instance := _validate(config, where, name, model, table, base, problems)) is not None:
            communities[int(key)] = instance
    if problems or defaults is None:
        return None, problems
    return PluginSettings(defaults, communities), []


def _validate(
    config: PluginConfig,
    where: str,
    name: str,
    model: type[BaseModel],
    table: Mapping[str, Any],
    base: Mapping[str, Any] | None,
    problems: list[str],
) -> BaseModel | None:
    """Validate one table merged over ``base`` (the defaults, for a community's table).

    A misspelt setting would otherwise be ignored: it is named (unless the model allows
    extras). Only the table's own problems are reported: those of the defaults are
    reported once, with the plugin's own table.
    """
    found = []
    if model.model_config.get("extra") != "allow":
        known = set()
        for field_name, info in model.model_fields.items():
            aliases = (info.alias, info.validation_alias)
            known |= {field_name, *(a for a in aliases if isinstance(a, str))}
        found = [
            f"{config.source}: {where} {key}: not a setting of {name} "
            f"(its settings: {', '.join(sorted(model.model_fields))})"
            for key in table
            if key not in known
        ]
        table = {k: v for k, v in table.items() if k in known}
    try:
        instance = model.model_validate({**(base or {}), **table})
    except ValidationError as exc:
        instance = None
        for error in exc.errors(include_url=False, include_input=False):
            loc = error["loc"]
            if base is not None and loc and loc[0] not in table:
                continue  # a problem of the defaults, not of this table
            setting = " " + ".".join(str(part) for part in loc) if loc else ""
            found.append(f"{config.source}: {where}{setting}: {error['msg']}")
    problems += found
    return None if found else instance


def _secret(name: Any) -> bool:
    return isinstance(name, str) and bool(_SECRET_NAME.search(name))


def shown(settings: BaseModel) -> dict[str, Any]:
    """Settings as JSON for people to read: SecretStr fields and fields whose name
    suggests a secret are masked."""
    return to_jsonable_python(_mask_values(settings.model_dump()))


def _mask_values(value: Any, key: Any = None) -> Any:
    if isinstance(value, Secret | SecretStr | SecretBytes) or (
        _secret(key) and value not in (None, "")
    ):
        return MASK
    if isinstance(value, dict):
        return {k: _mask_values(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_values(v) for v in value]
    return value


def mask_schema(schema: Any) -> Any:
    """The model's JSON schema without the defaults or examples of secret fields."""
    if isinstance(schema, list):
        return [mask_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    masked = {k: mask_schema(v) for k, v in schema.items()}
    for prop_name, prop in (masked.get("properties") or {}).items():
        if isinstance(prop, dict) and (_secret(prop_name) or prop.get("format") == "password"):
            for key in ("default", "examples"):
                if prop.get(key) not in (None, "", []):
                    prop[key] = MASK
    return masked
