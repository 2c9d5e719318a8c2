"""`vhub plugin new`: a new plugin package from the templates beside this module.

The templates (``plugin/**/*.j2``) are rendered with Jinja2; ``__package__`` in a path
becomes the package name and the ``.j2`` suffix is dropped.
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import jinja2

from volunteer_hub import __version__

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_NAME = 50
# Package names a plugin must not take: they would shadow what the plugin itself imports.
TAKEN = {"volunteer_hub", "tests", "test", "conftest", "pydantic", "pluggy", "pytest"}


class ScaffoldError(ValueError):
    """The plugin cannot be made (a bad name, an existing directory); the message says why."""


@dataclass(frozen=True)
class PluginName:
    name: str  # the distribution and entry-point name, e.g. vh-flood-watch
    package: str  # the import name, e.g. vh_flood_watch

    @classmethod
    def parse(cls, name: str) -> PluginName:
        if len(name) > MAX_NAME or not NAME_PATTERN.fullmatch(name):
            raise ScaffoldError(
                f"{name!r} is not a plugin name: use lower-case letters, digits and single "
                f"hyphens or underscores between them, starting with a letter, at most "
                f"{MAX_NAME} characters (e.g. vh-flood-watch)"
            )
        package = name.replace("-", "_")
        if keyword.iskeyword(package):
            raise ScaffoldError(f"{name!r} would make the package {package}, a Python keyword")
        if package in TAKEN or package in sys.stdlib_module_names:
            raise ScaffoldError(
                f"{name!r} would make the package {package}, which would shadow the module "
                f"of that name: choose another (e.g. vh-{name})"
            )
        return cls(name, package)


def new_plugin(name: str, directory: Path) -> list[Path]:
    """Write a plugin package into ``directory/name``; returns the files written."""
    plugin = PluginName.parse(name)
    target = Path(directory) / plugin.name
    if target.exists():
        raise ScaffoldError(f"{target} exists already: choose another name or directory")
    context = {
        "name": plugin.name,
        "package": plugin.package,
        "vhub_version": __version__,
    }
    env = jinja2.Environment(
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False
    )
    written = []
    for relative, template in _templates(files(__name__) / "plugin"):
        path = target / relative.replace("__package__", plugin.package).removesuffix(".j2")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.from_string(template.read_text("utf-8")).render(context), "utf-8")
        written.append(path)
    return sorted(written)


def _templates(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found = []
    for entry in root.iterdir():
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            found += _templates(entry, relative + "/")
        elif entry.name.endswith(".j2"):  # nothing else that may lie there (caches)
            found.append((relative, entry))
    return found
