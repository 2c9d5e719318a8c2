"""Installed plugin distributions for tests, without pip.

``install`` writes modules and a ``*.dist-info`` folder with ``entry_points.txt`` into a
directory; with that directory on ``sys.path`` (or ``PYTHONPATH`` for a subprocess),
``importlib.metadata`` finds the distribution exactly as one pip installed, so the
plugin host loads it through its real entry-point path.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def install(
    site: Path,
    distribution: str,
    version: str,
    entry_points: dict[str, str],
    modules: dict[str, str] | None = None,
) -> Path:
    """Write ``modules`` (name → source) and the distribution's metadata into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[volunteer_hub]\n{lines}", encoding="utf-8")
    return site


@contextmanager
def on_path(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``site`` on sys.path for the test; its modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        for path in site.glob("*.py"):
            sys.modules.pop(path.stem, None)
        importlib.invalidate_caches()


# --- a distribution of plugins that misbehave in every way a plugin can -----------------------

BROKEN = {
    # Its import fails: a load error.
    "vh_broken_import": """
        raise ImportError("vh_broken_import needs a library that is not installed")
    """,
    # Loads, then raises in its hooks: call errors; a rule that raises refuses (fails closed).
    "vh_broken_raises": """
        import volunteer_hub


        @volunteer_hub.hookimpl
        def vh_wish_categories(community_id):
            raise RuntimeError("category service down")


        @volunteer_hub.hookimpl
        def vh_match_score(wish, candidates):
            raise RuntimeError("scorer crashed")
    """,
    # Loads, then answers garbage: call errors, its answers left out.
    "vh_broken_garbage": """
        import volunteer_hub


        @volunteer_hub.hookimpl
        def vh_team_kinds():
            return "not a list of team kinds"


        @volunteer_hub.hookimpl
        def vh_wish_categories():
            return [{"code": "bogus"}]
    """,
    # Its settings hook answers something that is not a settings model: a load error.
    "vh_broken_settings_hook": """
        import volunteer_hub


        @volunteer_hub.hookimpl
        def vh_plugin_settings():
            return {"level": int}
    """,
    # Well made, with settings: a wrong value in the settings file stops start-up.
    "vh_tunable": """
        from pydantic import BaseModel

        import volunteer_hub
        from volunteer_hub.hooktypes import TeamKind


        class Settings(BaseModel):
            level: int = 1


        @volunteer_hub.hookimpl
        def vh_plugin_settings():
            return Settings


        @volunteer_hub.hookimpl
        def vh_team_kinds():
            return [TeamKind("tunable_kind", "Tunable")]
    """,
}
BROKEN_ENTRY_POINTS = {
    "broken-import": "vh_broken_import",
    "broken-raises": "vh_broken_raises",
    "broken-garbage": "vh_broken_garbage",
    "broken-settings-hook": "vh_broken_settings_hook",
    "tunable": "vh_tunable",
}


def install_broken(site: Path) -> Path:
    return install(site, "vh-broken-plugins", "0.0.1", BROKEN_ENTRY_POINTS, BROKEN)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a pytest run in a subprocess, as on a plugin author's laptop: no
    VHUB_ or PYTEST_ settings of this run, and not CI, so that the fixtures' PostgreSQL half
    skips (it runs in this process's own plugin tests)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VHUB_", "PYTEST_")) and k != "CI"
    }
    return env | extra
