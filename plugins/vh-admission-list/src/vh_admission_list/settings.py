"""The plugin's settings, per community: the ``[vh-admission-list]`` table of plugins.toml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from vh_admission_list import admission_list


class AdmissionListSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The community's admission list (TOML). None: this plugin leaves the decision to
    # others (with no other, every wish is accepted). A relative path is taken from the
    # working directory at start-up.
    admission_list: Path | None = None

    @field_validator("admission_list")
    @classmethod
    def _usable(cls, path: Path | None) -> Path | None:
        # Read now, so that a missing or broken file stops the start-up with its problem.
        if path is None:
            return None
        path = admission_list.resolve(path)
        admission_list.load(path)
        return path
