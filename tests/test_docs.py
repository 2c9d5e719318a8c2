"""The documentation is held against the code.

Every hook is documented (its docstring, rendered by mkdocstrings, is the reference) and
exercised by some test; the plugin guide's example runs; the site builds with --strict.
"""

from __future__ import annotations

import doctest
import inspect
import os
import re
import subprocess
import sys
import types
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from volunteer_hub import hookspecs
from volunteer_hub.config import Settings
from volunteer_hub.hooktypes import PersonFacts, Violation
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import localize
from volunteer_hub.plugins import PluginHost, create_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"
HOOKS_PAGE = DOCS / "plugins" / "hooks.md"
PLUGIN_GUIDE = DOCS / "plugins" / "index.md"

HOOK_NAMES = sorted(
    name
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("vh_")
)
HOOK_MENTION = re.compile(r"\bvh_[a-z0-9_]*[a-z0-9]\b")


def directive(module: str) -> re.Pattern[str]:
    """An mkdocstrings directive rendering ``module`` (options may follow on later lines)."""
    return re.compile(rf"^:::[ \t]+{re.escape(module)}[ \t]*$", re.MULTILINE)


def fenced_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """The ``language`` code blocks of a Markdown text, each with the line it starts on."""
    pattern = re.compile(rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in pattern.finditer(text)]


def as_source(blocks: list[tuple[int, str]]) -> str:
    """Join code blocks, padded so that line numbers in tracebacks are the page's own."""
    source = ""
    for line, block in blocks:
        source += "\n" * (line - 1 - source.count("\n")) + block
    return source


def without_code(text: str) -> str:
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.MULTILINE | re.DOTALL)


def test_hook_names_found() -> None:
    """The specs this module checks are exactly the hooks the plugin host knows."""
    relay = PluginHost().pm.hook
    assert HOOK_NAMES == sorted(n for n in dir(relay) if n.startswith("vh_"))
    for name in HOOK_NAMES:
        assert hasattr(getattr(hookspecs, name), "volunteer_hub_spec"), f"{name} is no hookspec"


# --- (a) every hook spec has a docstring that says what it returns ---------------------------


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hookspec_docstring_has_returns_section(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert doc.strip(), f"{hook} has no docstring"
    section = re.search(r"^Returns:[ \t]*\n((?:[ \t]+\S.*\n?)+)", doc, re.MULTILINE)
    assert section, f"{hook}'s docstring has no indented 'Returns:' section"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_hookspec_docstring_names_every_argument(hook: str) -> None:
    function = getattr(hookspecs, hook)
    params = list(inspect.signature(function).parameters)
    if not params:
        return
    doc = inspect.getdoc(function) or ""
    args = re.search(r"^Args:[ \t]*\n((?:[ \t]+\S.*\n?)+)", doc, re.MULTILINE)
    assert args, f"{hook} takes {params} but its docstring has no 'Args:' section"
    for param in params:
        assert re.search(rf"^[ \t]+{param}:", args.group(1), re.MULTILINE), (
            f"{hook}'s docstring does not describe its argument {param!r}"
        )


# --- (b) every hook is in the rendered reference ---------------------------------------------


def test_hook_reference_renders_hookspecs_and_hooktypes() -> None:
    page = HOOKS_PAGE.read_text(encoding="utf-8")
    assert directive("volunteer_hub.hookspecs").search(page), (
        f"{HOOKS_PAGE.relative_to(ROOT)} must render the specs with '::: volunteer_hub.hookspecs'"
    )
    assert directive("volunteer_hub.hooktypes").search(page), (
        f"{HOOKS_PAGE.relative_to(ROOT)} must render the values with '::: volunteer_hub.hooktypes'"
    )


def test_every_hook_is_in_the_built_reference(built_site: Path) -> None:
    html = (built_site / "plugins" / "hooks" / "index.html").read_text(encoding="utf-8")
    missing = [h for h in HOOK_NAMES if f'id="volunteer_hub.hookspecs.{h}"' not in html]
    assert not missing, f"hooks missing from the rendered hook reference: {missing}"


def test_every_hook_is_classified_in_the_plugin_guide() -> None:
    guide = PLUGIN_GUIDE.read_text(encoding="utf-8")
    missing = [h for h in HOOK_NAMES if f"`{h}`" not in guide]
    assert not missing, f"add these hooks to the table in {PLUGIN_GUIDE.relative_to(ROOT)}"


def test_docs_name_no_hook_that_does_not_exist() -> None:
    unknown = {
        f"{page.relative_to(ROOT)}: {name}"
        for page in DOCS.rglob("*.md")
        for name in HOOK_MENTION.findall(page.read_text(encoding="utf-8"))
        if name not in HOOK_NAMES
    }
    assert not unknown, f"the docs name hooks that do not exist: {sorted(unknown)}"


# --- (c) every hook is exercised by a test ---------------------------------------------------


def _test_sources() -> dict[Path, str]:
    this = Path(__file__).resolve()
    return {
        path: path.read_text(encoding="utf-8")
        for path in TESTS.rglob("*.py")
        if path.resolve() != this
    }


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_test(hook: str) -> None:
    pattern = re.compile(rf"\b{hook}\b")
    users = [p.name for p, source in _test_sources().items() if pattern.search(source)]
    assert users, f"no test under tests/ mentions {hook}: add one that exercises it"


# --- (d) the plugin guide's example runs and does what the guide says ------------------------


TODAY = date(2026, 12, 1)


def _person(birth_date: date | None) -> PersonFacts:
    return PersonFacts(
        id=1,
        name="张阿姨",
        community_id=1,
        grid_id=None,
        birth_date=birth_date,
        skills=(),
        qualifications=(),
        team_kinds=(),
    )


@pytest.fixture
def example_plugin() -> types.ModuleType:
    blocks = fenced_blocks(PLUGIN_GUIDE.read_text(encoding="utf-8"), "python")
    assert blocks, f"{PLUGIN_GUIDE.relative_to(ROOT)} has no ```python example"
    module = types.ModuleType("vhub_silver_patrol")
    module.__file__ = str(PLUGIN_GUIDE)
    exec(compile(as_source(blocks), str(PLUGIN_GUIDE), "exec"), module.__dict__)
    return module


def test_plugin_guide_example_loads(example_plugin: types.ModuleType) -> None:
    host = create_plugin_manager(autoload=False, plugins=[("example", example_plugin)])
    status = next(s for s in host.statuses() if s.name == "example")
    assert (status.status, status.error) == ("enabled", None)
    assert status.hooks == ["vh_check_team_join", "vh_team_kinds"]
    assert not status.builtin


def test_plugin_guide_example_rule(example_plugin: types.ModuleType) -> None:
    host = create_plugin_manager(autoload=False, plugins=[("example", example_plugin)])

    def violations(person: PersonFacts, team_kind: str) -> list[Violation]:
        results = host.call(
            "vh_check_team_join",
            person=person,
            team_kind=team_kind,
            team_id=7,
            community_id=1,
            today=TODAY,
        )
        (result,) = [r for r in results if r.plugin == "example"]
        assert result.error is None
        return list(result.value or ())

    def rules(person: PersonFacts, team_kind: str) -> list[str]:
        return [v.rule for v in violations(person, team_kind)]

    turns_60_tomorrow = _person(date(1966, 12, 2))
    turned_60_today = _person(date(1966, 12, 1))
    unknown_age = _person(None)
    assert rules(turns_60_tomorrow, "silver_patrol") == ["silver_patrol_min_age"]
    assert rules(unknown_age, "silver_patrol") == ["silver_patrol_min_age"]
    assert rules(turned_60_today, "silver_patrol") == []
    assert rules(_person(date(1940, 1, 1)), "silver_patrol") == []
    assert rules(turns_60_tomorrow, "anti_fraud") == []
    assert rules(unknown_age, "flood_watch") == []
    (refusal,) = violations(unknown_age, "silver_patrol")
    assert localize(refusal.message, "zh-CN") == "银发巡逻队队员须年满60周岁"
    assert localize(refusal.message, "en") == "Silver patrol members must be 60 or older"


def test_plugin_guide_example_team_kind(example_plugin: types.ModuleType) -> None:
    host = create_plugin_manager(autoload=False, plugins=[("example", example_plugin)])
    hub = Hub(settings=Settings(database_url="sqlite://:memory:", secret_key="docs"), plugins=host)
    kinds = hub.team_kinds()
    assert kinds["flood_watch"].name == {"zh-CN": "防汛巡查队", "en": "Flood watch"}
    assert {"anti_fraud", "silver_patrol", "elderly_care"} <= set(kinds), "core kinds remain"


def test_plugin_guide_prose_matches_example() -> None:
    prose = without_code(PLUGIN_GUIDE.read_text(encoding="utf-8"))
    for claim in ("silver_patrol_min_age", "`flood_watch`", "`vh_check_team_join`", "`enabled`"):
        assert claim in prose, f"the plugin guide no longer says {claim}"


def test_plugin_guide_console_examples(example_plugin: types.ModuleType) -> None:
    """The ```pycon sessions of the guide run as doctests, with the example importable."""
    text = PLUGIN_GUIDE.read_text(encoding="utf-8")
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    for line, block in fenced_blocks(text, "pycon"):
        globs = {"vhub_silver_patrol": example_plugin}
        test = parser.get_doctest(block, globs, f"pycon@{line}", str(PLUGIN_GUIDE), line - 1)
        runner.run(test, out=report.append)
    assert runner.tries > 0 or not fenced_blocks(text, "pycon")
    assert runner.failures == 0, "".join(report)


# --- (e) the site builds with --strict -------------------------------------------------------


@dataclass(frozen=True)
class Build:
    returncode: int
    stdout: str
    stderr: str
    site: Path


@pytest.fixture(scope="module")
def site_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Build the site once for this module, as CI would: strict, from the repository root."""
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Build(proc.returncode, proc.stdout, proc.stderr, site)


@pytest.fixture
def built_site(site_build: Build) -> Path:
    if site_build.returncode != 0:
        pytest.fail("the site did not build: see test_mkdocs_build_strict")
    return site_build.site


def test_mkdocs_build_strict(site_build: Build) -> None:
    if site_build.returncode != 0:
        print(site_build.stderr, file=sys.stderr)
    assert site_build.returncode == 0, f"mkdocs build --strict failed:\n{site_build.stderr}"
    for page in (
        "index.html",
        "concepts/index.html",
        "getting-started/index.html",
        "plugins/index.html",
        "plugins/hooks/index.html",
    ):
        assert (site_build.site / page).is_file(), f"{page} was not built"
