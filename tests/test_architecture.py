"""The import rules (docs/architecture.md), checked on every run of the suite.

Two checkers:

- import-linter's contracts in pyproject.toml (``[tool.importlinter]``): the layers, the
  domain without HTTP, models on their own, no cycles, plugins on the public surface, the
  web layer without models. ``lint-imports`` runs them (CI runs it too, in Lint).
- An AST scan for what import-linter cannot see, over ``volunteer_hub/**``,
  ``plugins/*/src/**`` and ``plugins/*/tests/**``:

  1. No import of another library's private module: no component of the dotted path
     starts with ``_`` (``starlette._utils``, ``_pytest``), and no private name imported
     from another library (``from starlette.routing import _x``). ``__future__`` and other
     dunder names are not private.
  2. No private attribute of another library's object: ``x._name`` is flagged when
     ``x`` is not ``self`` or ``cls`` and ``_name`` is not ours: neither defined in the
     same file (``self._name = ...``, ``cls._name = ...``, in a class body, at module
     level) nor a module-level name of any scanned file (``module._helper``). The same for
     ``getattr``/``setattr``/``hasattr`` with a literal name. Examples: ``client._connection``,
     ``Model._meta``, ``self.model._init_from_db``. Not private: dunders (``__name__``),
     sunders (``_value_``, enum's API) and the documented names in
     ``PUBLIC_UNDERSCORE_NAMES``. Types are not inferred, so a library attribute named like
     one of the same file's passes; ``self._x`` and ``cls._x`` are not checked (a class
     uses what it defines, or inherits).
  3. Plugins import only ``volunteer_hub.plugin_api`` from volunteer_hub; their tests
     additionally ``volunteer_hub.testing``. (import-linter covers the plugins' packages;
     their tests are not packages, so the scan covers them, and the plugins' code too.)
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import volunteer_hub

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("volunteer_hub", "vh_admission_list", "vh_chat_robots", "vh_registration_rules")
OUR_PACKAGES += ("vh_tencent_sms",)

# Underscore names that are documented public API.
PUBLIC_UNDERSCORE_NAMES = frozenset(
    {
        "_asdict",  # namedtuple
        "_field_defaults",
        "_fields",
        "_make",
        "_replace",
        "_exit",  # os._exit
    }
)

PLUGIN_SOURCE_MAY_IMPORT = ("volunteer_hub.plugin_api",)
PLUGIN_TESTS_MAY_IMPORT = ("volunteer_hub.plugin_api", "volunteer_hub.testing")


# --- import-linter's contracts ----------------------------------------------------------


def test_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is in the dev extra: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"lint-imports found broken contracts:\n{result.stdout}{result.stderr}")


def test_plugin_contract_names_every_module_but_the_public_surface():
    """import-linter cannot say "everything but plugin_api": the contract lists the rest,
    and this keeps the list whole when a module is added."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["id"] == "plugins-use-the-public-surface")
    modules = {f"volunteer_hub.{m.name}" for m in pkgutil.iter_modules(volunteer_hub.__path__)}
    assert set(contract["forbidden_modules"]) == modules - set(PLUGIN_SOURCE_MAY_IMPORT)


# --- the AST scan -----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def is_private(name: str) -> bool:
    """``_x`` and ``__x`` are private; ``__x__`` (dunder), ``_x_`` (sunder) and ``_`` are not."""
    if not name.startswith("_") or name == "_" or name in PUBLIC_UNDERSCORE_NAMES:
        return False
    if name.startswith("__") and name.endswith("__"):
        return False
    return not (name.endswith("_") and not name.startswith("__"))


def is_ours(module: str) -> bool:
    return module.split(".")[0] in OUR_PACKAGES


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str, list[str]]]:
    """(line, absolute module, names imported from it) for each import; relative ones are
    our own and skipped."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Call) and _call_name(node) in ("import_module", "__import__"):
            if node.args and isinstance(node.args[0], ast.Constant):
                if isinstance(node.args[0].value, str):
                    yield node.lineno, node.args[0].value, []


def private_imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Rule 1: another library's private module, or a private name imported from it."""
    for line, module, names in imported_modules(tree):
        if is_ours(module):
            continue
        if any(is_private(part) for part in module.split(".")):
            yield line, f"imports the private module {module}"
        for name in names:
            if is_private(name):
                yield line, f"imports the private name {name} from {module}"


def names_defined(tree: ast.AST) -> set[str]:
    """The underscore names a file defines: on self/cls, in class bodies, at module level."""
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                defined.add(node.attr)
        elif isinstance(node, ast.ClassDef | ast.Module):
            for statement in node.body:
                defined.update(_bound_names(statement))
    return {name for name in defined if name.startswith("_")}


def private_attributes(tree: ast.AST, ours: set[str]) -> Iterator[tuple[int, str]]:
    """Rule 2: ``x._name`` on something not ``self``/``cls``, ``_name`` not defined by us."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base, name = node.value, node.attr
        elif isinstance(node, ast.Call) and _call_name(node) in ("getattr", "setattr", "hasattr"):
            if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant):
                continue
            base, name = node.args[0], node.args[1].value
            if not isinstance(name, str):
                continue
        else:
            continue
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            continue
        if is_private(name) and name not in ours:
            yield node.lineno, f"uses the private attribute {ast.unparse(base)}.{name}"


def imports_outside(tree: ast.AST, allowed: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """Rule 3: volunteer_hub imported other than through ``allowed``."""
    for line, module, names in imported_modules(tree):
        if module.split(".")[0] != "volunteer_hub":
            continue
        # `from volunteer_hub import plugin_api` names the module volunteer_hub.plugin_api.
        targets = [f"{module}.{name}" for name in names] if module == "volunteer_hub" else [module]
        for target in targets:
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                yield line, f"imports {target} (plugins may import only {', '.join(allowed)})"


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _bound_names(statement: ast.stmt) -> Iterable[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield statement.name
    elif isinstance(statement, ast.Assign):
        for target in statement.targets:
            yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
        if isinstance(statement.target, ast.Name):
            yield statement.target.id
    elif isinstance(statement, ast.Import | ast.ImportFrom):
        yield from ((alias.asname or alias.name).split(".")[0] for alias in statement.names)


def _files(*patterns: str) -> list[Path]:
    return sorted(path for pattern in patterns for path in ROOT.glob(pattern))


CORE = _files("volunteer_hub/**/*.py")
PLUGIN_SOURCES = _files("plugins/*/src/**/*.py")
PLUGIN_TESTS = _files("plugins/*/tests/**/*.py")
SCANNED = CORE + PLUGIN_SOURCES + PLUGIN_TESTS


def _parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _report(findings: list[Finding]) -> str:
    return "\n".join(str(finding) for finding in findings)


def _scan(paths: list[Path], rule) -> list[Finding]:
    return [
        Finding(str(path.relative_to(ROOT)), line, what)
        for path in paths
        for line, what in rule(_parse(path))
    ]


def test_the_scan_sees_the_code():
    assert len(CORE) > 50 and len(PLUGIN_SOURCES) >= 4 and len(PLUGIN_TESTS) >= 4


def test_no_private_module_of_another_library_is_imported():
    findings = _scan(SCANNED, private_imports)
    assert not findings, _report(findings)


def module_level_names(tree: ast.Module) -> set[str]:
    return {name for st in tree.body for name in _bound_names(st) if name.startswith("_")}


def test_no_private_attribute_of_another_library_is_used():
    modules: set[str] = set()
    for path in SCANNED:
        modules |= module_level_names(_parse(path))
    findings = _scan(SCANNED, lambda tree: private_attributes(tree, names_defined(tree) | modules))
    assert not findings, _report(findings)


def test_plugins_import_only_the_public_surface():
    findings = _scan(PLUGIN_SOURCES, lambda tree: imports_outside(tree, PLUGIN_SOURCE_MAY_IMPORT))
    findings += _scan(PLUGIN_TESTS, lambda tree: imports_outside(tree, PLUGIN_TESTS_MAY_IMPORT))
    assert not findings, _report(findings)


# --- the rules themselves, on small samples ------------------------------------------------


def _findings(rule, source: str) -> list[str]:
    return [what for _, what in rule(ast.parse(source))]


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from starlette._utils import is_async_callable", True),
        ("import _pytest.fixtures", True),
        ("from tortoise.models import _init_from_db", True),
        ("from importlib import import_module\nimport_module('apprise._x')", True),
        ("from __future__ import annotations", False),
        ("from starlette.routing import Mount", False),
        ("from volunteer_hub._private import x", False),  # our own
        ("from apprise import __version__", False),
    ],
)
def test_private_import_rule(source, flagged):
    assert bool(_findings(private_imports, source)) is flagged


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("client._connection.execute()", True),
        ("Model._meta.fields_map", True),
        ("Person._init_from_db(row)", True),
        ("getattr(client, '_pool')", True),
        ("super()._unknown()", True),
        ("self._connection = None", False),  # self is ours
        ("cls._registry", False),
        ("hub._templates", False),  # defined in the same file (see `ours`)
        ("db._READERS", False),  # a module-level name of ours
        ("point._replace(x=1)", False),  # namedtuple API
        ("Colour._value_", False),  # sunder: enum API
        ("obj.__class__.__name__", False),
        ("x.public_name", False),
    ],
)
def test_private_attribute_rule(source, flagged):
    ours = names_defined(
        ast.parse("class Hub:\n    def __init__(self):\n        self._templates = 1")
    )
    ours |= module_level_names(ast.parse("_READERS = {}"))
    assert bool(_findings(lambda tree: private_attributes(tree, ours), source)) is flagged


@pytest.mark.parametrize(
    ("source", "allowed", "flagged"),
    [
        ("from volunteer_hub.plugin_api import hookimpl", PLUGIN_SOURCE_MAY_IMPORT, False),
        ("from volunteer_hub import plugin_api", PLUGIN_SOURCE_MAY_IMPORT, False),
        ("from volunteer_hub import hookimpl", PLUGIN_SOURCE_MAY_IMPORT, True),
        ("from volunteer_hub.validation import invalid_input", PLUGIN_SOURCE_MAY_IMPORT, True),
        ("import volunteer_hub.models", PLUGIN_SOURCE_MAY_IMPORT, True),
        ("from volunteer_hub.testing import TestCommunity", PLUGIN_SOURCE_MAY_IMPORT, True),
        ("from volunteer_hub.testing import TestCommunity", PLUGIN_TESTS_MAY_IMPORT, False),
        ("from volunteer_hub.notifications import outbox", PLUGIN_TESTS_MAY_IMPORT, True),
        ("import httpx\nfrom vh_tencent_sms.plugin import x", PLUGIN_TESTS_MAY_IMPORT, False),
    ],
)
def test_plugin_import_rule(source, allowed, flagged):
    assert bool(_findings(lambda tree: imports_outside(tree, allowed), source)) is flagged
