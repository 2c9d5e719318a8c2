"""The plugin's settings, per community: the ``[vh-admission-list]`` table of plugins.toml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator, model_validator

from vh_admission_list import admission_list
from vh_admission_list.admission_list import AdmissionList, AdmissionListFile


class AdmissionListSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The community's admission list (TOML). None: this plugin leaves the decision to
    # others (with no other, every wish is accepted). A relative path is taken from the
    # working directory at start-up.
    admission_list: Path | None = None

    # The file as these settings read it: each Hub validates its own settings, so each
    # keeps its own parse (nothing is shared through the module).
    _file: AdmissionListFile | None = PrivateAttr(default=None)

    @field_validator("admission_list")
    @classmethod
    def _usable(cls, path: Path | None) -> Path | None:
        # Read now, so that a missing or broken file stops the start-up with its problem.
        if path is None:
            return None
        path = admission_list.resolve(path)
        admission_list.load(path)
        return path

    @model_validator(mode="after")
    def _open(self) -> AdmissionListSettings:
        if self.admission_list is not None:
            self._file = AdmissionListFile(self.admission_list)
        return self

    def current_list(self) -> AdmissionList | None:
        """The list in force now (read again if the file has changed); None without one."""
        return None if self._file is None else self._file.load()
