"""`vhub plugin new`: the generated plugin installs, loads and passes its own tests."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.plugin_distributions import install, on_path, subprocess_env
from volunteer_hub.plugins import create_plugin_manager
from volunteer_hub.scaffold import ScaffoldError, new_plugin

BIN = Path(sys.executable).parent
VHUB = shutil.which("vhub", path=str(BIN))
RUFF = shutil.which("ruff", path=str(BIN))
NAME, PACKAGE = "vh-flood-watch", "vh_flood_watch"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin as `vhub plugin new` writes it, run as a user would run it."""
    if VHUB is None:
        pytest.skip("the vhub console script is not installed")
    where = tmp_path_factory.mktemp("scaffold")
    result = subprocess.run(
        [VHUB, "plugin", "new", NAME, "--directory", str(where)],
        cwd=where,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    outside = [p for p in where.rglob("*") if p.is_file() and p.relative_to(where).parts[0] != NAME]
    assert outside == [], "it writes the plugin's files and no others (no secret key)"
    assert f"Plugin created in {where / NAME}" in " ".join(result.stdout.split())
    return where / NAME


@pytest.fixture(scope="module")
def site(generated: Path) -> Path:
    """The plugin 'installed': a dist-info with the entry points its pyproject.toml declares."""
    project = tomllib.loads((generated / "pyproject.toml").read_text("utf-8"))["project"]
    return install(
        generated.parent / "site",
        project["name"],
        project["version"],
        project["entry-points"]["volunteer_hub"],
    )


def run_generated_tests(generated: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=generated,
        env=subprocess_env(PYTHONPATH=os.pathsep.join([str(generated), str(site)])),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_files(generated: Path):
    files = sorted(str(p.relative_to(generated)) for p in generated.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        f"tests/test_{PACKAGE}.py",
        f"{PACKAGE}/__init__.py",
    ]
    pyproject = tomllib.loads((generated / "pyproject.toml").read_text("utf-8"))
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"
    project = pyproject["project"]
    assert project["name"] == NAME
    assert project["entry-points"]["volunteer_hub"] == {NAME: PACKAGE}
    assert [d.split(">")[0] for d in project["dependencies"]] == ["volunteer-hub"]
    assert project["optional-dependencies"]["test"][0].startswith("volunteer-hub[testing]")
    readme = (generated / "README.md").read_text("utf-8")
    assert f"[{NAME}.communities.3]" in readme and "pip install -e" in readme


def test_the_generated_code_imports_only_the_public_surface(generated: Path):
    """The plugin imports volunteer_hub.plugin_api and its tests also volunteer_hub.testing:
    what a third party may rely on, nothing else of volunteer_hub."""
    allowed = {
        f"{PACKAGE}/__init__.py": {"volunteer_hub.plugin_api"},
        f"tests/test_{PACKAGE}.py": {"volunteer_hub.plugin_api", "volunteer_hub.testing"},
    }
    for relative, public in allowed.items():
        used = volunteer_hub_imports((generated / relative).read_text("utf-8"))
        assert used and used <= public, (relative, used)


def volunteer_hub_imports(source: str) -> set[str]:
    """The modules of volunteer_hub that Python source imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] == "volunteer_hub"}
    return found


def test_the_plugin_loads_through_its_entry_point(generated, site, monkeypatch):
    monkeypatch.syspath_prepend(str(generated))
    with on_path(site, monkeypatch):
        host = create_plugin_manager(autoload=True)
        (status,) = [s for s in host.statuses() if s.name == NAME]
        assert (status.status, status.version, status.hooks) == (
            "enabled",
            "0.1.0",
            ["vh_check_team_join", "vh_plugin_settings"],
        )
        assert host.settings(NAME, 1).min_age == 60
    sys.modules.pop(PACKAGE, None)


def test_the_generated_tests_pass(generated, site):
    # The fixtures come from volunteer_hub.testing, which pytest loads through the
    # pytest11 entry point of the installed volunteer_hub.
    testing = [e for e in entry_points(group="pytest11") if e.value == "volunteer_hub.testing"]
    assert testing, "volunteer_hub's metadata is stale: run `pip install -e .` again"
    result = run_generated_tests(generated, site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout, result.stdout


def test_the_generated_tests_can_fail(generated, site, tmp_path):
    """Break the rule (60-year-olds refused): the generated tests notice."""
    broken = tmp_path / NAME
    shutil.copytree(generated, broken)
    module = broken / PACKAGE / "__init__.py"
    source = module.read_text("utf-8")
    assert "age >= settings.min_age" in source
    module.write_text(source.replace("age >= settings.min_age", "age > settings.min_age"))
    result = run_generated_tests(broken, site, "-k", "the_rule")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 2 passed" in result.stdout, result.stdout


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_the_generated_code_is_lint_clean(generated):
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [RUFF, *args], cwd=generated, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Flood Watch", "'Flood Watch' is not a plugin name: use lower-case letters"),
        ("vh--double", "is not a plugin name"),
        ("-vh", "is not a plugin name"),
        ("9lives", "is not a plugin name"),
        ("x" * 51, "at most 50 characters"),
        ("class", "would make the package class, a Python keyword"),
        ("json", "would make the package json, which would shadow the module of that name"),
        ("volunteer-hub", "would make the package volunteer_hub, which would shadow"),
        ("tests", "would make the package tests, which would shadow"),
    ],
)
def test_a_bad_name_is_refused(tmp_path, name, problem):
    with pytest.raises(ScaffoldError, match="^") as caught:
        new_plugin(name, tmp_path)
    assert problem in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_left_alone(tmp_path):
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError) as caught:
        new_plugin(NAME, tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / NAME} exists already: choose another name or directory"
    )
    assert [p.name for p in (tmp_path / NAME).iterdir()] == ["notes.txt"]


@pytest.mark.skipif(VHUB is None, reason="the vhub console script is not installed")
def test_the_command_explains_a_bad_name(tmp_path):
    result = subprocess.run(
        [VHUB, "plugin", "new", "Flood Watch", "--directory", str(tmp_path)],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Invalid value for NAME: 'Flood Watch' is not a plugin name" in result.stderr
