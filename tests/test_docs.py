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
from urllib.parse import parse_qsl, urlsplit

import apprise
import pytest

from tests.plugin_distributions import subprocess_env
from volunteer_hub import hookspecs
from volunteer_hub.config import Settings
from volunteer_hub.hooktypes import PersonFacts
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import localize
from volunteer_hub.plugins import (
    PluginConfig,
    PluginConfigError,
    PluginHost,
    create_plugin_manager,
)
from volunteer_hub.scaffold import new_plugin

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
# A hook's name in prose; a vh_ name in a path or a dotted name is a module (the first-party
# plugins' packages are named vh_...), and so is the name of a plugin package under plugins/.
HOOK_MENTION = re.compile(r"(?<![/.\w])vh_[a-z0-9_]*[a-z0-9]\b(?![/.]\w)")
PLUGIN_PACKAGES = {p.parent.name for p in (ROOT / "plugins").glob("*/**/__init__.py")}


def directive(module: str) -> re.Pattern[str]:
    """An mkdocstrings directive rendering ``module`` (options may follow on later lines)."""
    return re.compile(rf"^:::[ \t]+{re.escape(module)}[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Fence:
    line: int  # the page's line on which the code starts
    language: str
    title: str | None  # ```python title="pkg/module.py": the file the block is (part of)
    body: str


FENCE = re.compile(
    r"^```(?P<language>[\w-]+)(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)
TITLE = re.compile(r'\btitle="([^"]+)"')


def fences(text: str) -> list[Fence]:
    found = []
    for m in FENCE.finditer(text):
        title = TITLE.search(m.group("info"))
        line = text.count("\n", 0, m.start("body")) + 1
        found.append(Fence(line, m.group("language"), title and title.group(1), m.group("body")))
    return found


def fenced_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """The ``language`` code blocks of a Markdown text, each with the line it starts on."""
    return [(f.line, f.body) for f in fences(text) if f.language == language]


def as_source(blocks: list[tuple[int, str]]) -> str:
    """Join code blocks, padded so that line numbers in tracebacks are the page's own."""
    source = ""
    for line, block in blocks:
        source += "\n" * (line - 1 - source.count("\n")) + block
    return source


def example_files(text: str) -> dict[str, str]:
    """The files a page's titled blocks make up: blocks with one title are one file."""
    parts: dict[str, list[tuple[int, str]]] = {}
    for fence in fences(text):
        if fence.title:
            parts.setdefault(fence.title, []).append((fence.line, fence.body))
    return {title: as_source(blocks) for title, blocks in parts.items()}


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
        if name not in HOOK_NAMES and name not in PLUGIN_PACKAGES
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
PLUGIN_MODULE = "vhub_silver_patrol/__init__.py"
PLUGIN_TESTS = "tests/test_silver_patrol.py"
SETTINGS_FILE = "plugins.toml"
NAME = "silver_patrol"


def _person(birth_date: date | None, community_id: int = 1) -> PersonFacts:
    return PersonFacts(
        id=1,
        name="张阿姨",
        community_id=community_id,
        grid_id=None,
        birth_date=birth_date,
        skills=(),
        qualifications=(),
        team_kinds=(),
    )


@pytest.fixture(scope="module")
def guide() -> str:
    return PLUGIN_GUIDE.read_text(encoding="utf-8")


@pytest.fixture
def example_dir(guide: str, tmp_path: Path) -> Path:
    """The guide's example files, written out as a plugin author would have them."""
    for title, source in example_files(guide).items():
        path = tmp_path / "example" / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return tmp_path / "example"


@pytest.fixture
def example_plugin(guide: str) -> types.ModuleType:
    source = example_files(guide).get(PLUGIN_MODULE)
    assert source, f'{PLUGIN_GUIDE.relative_to(ROOT)} has no ```python title="{PLUGIN_MODULE}"'
    module = types.ModuleType("vhub_silver_patrol")
    module.__file__ = str(PLUGIN_GUIDE)
    # Compiled as the guide itself: a traceback names the guide's own line.
    exec(compile(source, str(PLUGIN_GUIDE), "exec"), module.__dict__)
    return module


def test_every_python_example_is_a_file_that_runs(guide: str) -> None:
    untitled = [f.line for f in fences(guide) if f.language == "python" and not f.title]
    assert not untitled, f'```python blocks without title="<file>" (lines {untitled}) never run'
    assert set(example_files(guide)) == {PLUGIN_MODULE, PLUGIN_TESTS, SETTINGS_FILE}


def test_plugin_guide_example_loads(example_plugin: types.ModuleType) -> None:
    host = create_plugin_manager(autoload=False, plugins=[(NAME, example_plugin)])
    status = next(s for s in host.statuses() if s.name == NAME)
    assert (status.status, status.error) == ("enabled", None)
    assert status.hooks == [
        "vh_check_team_join",
        "vh_notification_channels",
        "vh_plugin_settings",
        "vh_team_kinds",
    ]
    assert not status.builtin


def _rules(host: PluginHost, person: PersonFacts, team_kind: str, community_id: int = 1):
    results = host.call(
        "vh_check_team_join",
        person=person,
        team_kind=team_kind,
        team_id=7,
        community_id=community_id,
        today=TODAY,
    )
    (result,) = [r for r in results if r.plugin == NAME]
    assert result.error is None
    return list(result.value or ())


def test_plugin_guide_example_rule(example_plugin: types.ModuleType) -> None:
    host = create_plugin_manager(autoload=False, plugins=[(NAME, example_plugin)])

    def rules(person: PersonFacts, team_kind: str) -> list[str]:
        return [v.rule for v in _rules(host, person, team_kind)]

    turns_60_tomorrow = _person(date(1966, 12, 2))
    turned_60_today = _person(date(1966, 12, 1))
    unknown_age = _person(None)
    assert rules(turns_60_tomorrow, "silver_patrol") == ["silver_patrol_min_age"]
    assert rules(unknown_age, "silver_patrol") == ["silver_patrol_min_age"]
    assert rules(turned_60_today, "silver_patrol") == []
    assert rules(_person(date(1940, 1, 1)), "silver_patrol") == []
    assert rules(turns_60_tomorrow, "anti_fraud") == []
    assert rules(unknown_age, "flood_watch") == []
    (refusal,) = _rules(host, unknown_age, "silver_patrol")
    assert localize(refusal.message, "zh-CN") == "银发巡逻队队员须年满60周岁"
    assert localize(refusal.message, "en") == "Silver patrol members must be 60 or older"


def test_plugin_guide_example_team_kind(example_plugin: types.ModuleType) -> None:
    host = create_plugin_manager(autoload=False, plugins=[(NAME, example_plugin)])
    hub = Hub(settings=Settings(database_url="sqlite://:memory:", secret_key="docs"), plugins=host)
    kinds = hub.team_kinds()
    assert kinds["flood_watch"].name == {"zh-CN": "防汛巡查队", "en": "Flood watch"}
    assert {"anti_fraud", "silver_patrol", "elderly_care"} <= set(kinds), "core kinds remain"


def test_plugin_guide_settings_file(example_plugin: types.ModuleType, example_dir: Path) -> None:
    settings = Settings(
        database_url="sqlite://:memory:",
        secret_key="docs",
        disable_plugin_autoload=True,
        plugin_config=example_dir / SETTINGS_FILE,
    )
    hub = Hub.create(settings, plugins=[(NAME, example_plugin)])
    assert hub.plugin_settings(NAME, 3).min_age == 65
    assert hub.plugin_settings(NAME, 5).min_age == 60
    aged_63 = date(1963, 5, 1)
    refused = _rules(hub.plugins, _person(aged_63, 3), "silver_patrol", community_id=3)
    assert [localize(v.message, "en") for v in refused] == [
        "Silver patrol members must be 65 or older"
    ]
    assert _rules(hub.plugins, _person(aged_63, 5), "silver_patrol", community_id=5) == []


def test_plugin_guide_shows_the_real_settings_error(
    guide: str, example_plugin: types.ModuleType
) -> None:
    host = create_plugin_manager(autoload=False, plugins=[(NAME, example_plugin)])
    wrong = PluginConfig.parse(f"[{NAME}.communities.3]\nmin_age = 650\n", "plugins.toml")
    with pytest.raises(PluginConfigError) as caught:
        host.configure(wrong)
    shown = [body.strip() for _, body in fenced_blocks(guide, "text")]
    assert str(caught.value) in shown, f"the guide shows another message than {caught.value}"


def test_plugin_guide_channel(example_plugin: types.ModuleType) -> None:
    host = create_plugin_manager(autoload=False, plugins=[(NAME, example_plugin)])
    hub = Hub(settings=Settings(database_url="sqlite://:memory:", secret_key="docs"), plugins=host)
    channel = hub.notification_channels()["district_sms"]
    assert (channel.address_kind, channel.secret_settings) == ("phone", ("api_token",))
    settings = channel.settings.model_validate(
        {"gateway": "https://sms.example.gov.cn/send", "api_token": "t0ken-123"}
    )
    url = channel.build_url(settings, "13800138000", "delivery-7")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("jsons", "sms.example.gov.cn", "/send")
    assert dict(parse_qsl(parts.query)) == {
        "+Authorization": "Bearer t0ken-123",
        "+Idempotency-Key": "delivery-7",
        ":to": "13800138000",
    }
    assert apprise.Apprise().add(url), "apprise does not accept the channel's URL"
    with pytest.raises(ValueError, match="gateway"):
        channel.settings.model_validate({"gateway": "http://10.0.0.1/send", "api_token": "x" * 8})


def test_plugin_guide_tests_pass(example_dir: Path) -> None:
    """The guide's test module passes, with the fixtures of volunteer_hub.testing."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"),
            PLUGIN_TESTS,
        ],
        cwd=example_dir,
        env=subprocess_env(PYTHONPATH=str(example_dir)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout


def test_plugin_guide_shows_what_the_template_writes(guide: str, tmp_path: Path) -> None:
    (console,) = [b for _, b in fenced_blocks(guide, "console") if "vhub plugin new" in b]
    name = re.search(r"vhub plugin new (\S+)", console).group(1)
    shown = [line.strip() for line in console.splitlines() if line.startswith("  ")]
    written = [str(p.relative_to(tmp_path)) for p in new_plugin(name, tmp_path)]
    assert shown == written


def test_plugin_guide_prose_matches_example() -> None:
    prose = without_code(PLUGIN_GUIDE.read_text(encoding="utf-8"))
    for claim in (
        "silver_patrol_min_age",
        "`flood_watch`",
        "`vh_check_team_join`",
        "`vh_plugin_settings`",
        "`enabled`",
        "`vhub plugin new",
        "`volunteer_hub.testing`",
        "`VHUB_PLUGIN_CONFIG`",
    ):
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
