"""Plugins: what is loaded, with its hooks, settings and status (administrators only)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from volunteer_hub.services import administration
from volunteer_hub.web.api import Call, Endpoint, ListPage


class PluginSettingsOut(BaseModel):
    json_schema: dict[str, Any] = Field(
        description="The JSON schema of the plugin's settings model (secret defaults masked)"
    )
    defaults: dict[str, Any] | None = Field(
        description="The settings of every community without a table of its own "
        "(secrets masked); null when they could not be validated"
    )
    communities: dict[str, dict[str, Any]] = Field(
        description="By community id: the settings in force where the file overrides the "
        "defaults (secrets masked)"
    )


class PluginOut(BaseModel):
    name: str = Field(description="The entry-point name (a built-in plugin's module)")
    version: str | None = Field(description="The version of the distribution that provides it")
    builtin: bool
    hooks: list[str] = Field(description="The hooks it implements")
    status: Literal["enabled", "load_error", "call_error"]
    error: str | None = Field(description="The last error, with the hook it came from")
    failures: int = Field(description="How many times it failed in this process")
    settings: PluginSettingsOut | None = Field(description="null: the plugin takes no settings")


async def list_plugins(call: Call) -> dict:
    return {"items": administration.plugin_report(call.hub, call.user)}


ENDPOINTS = [
    Endpoint(
        "GET",
        "/plugins",
        list_plugins,
        "The plugins of this server: version, hooks, settings and status (admin)",
        response=ListPage[PluginOut],
        errors=(401, 403),
        tag="plugins",
    ),
]
