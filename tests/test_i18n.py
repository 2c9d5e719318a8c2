"""Translations: every message id in the code has a zh-CN translation, and no more.

The message ids are collected from the source with ``ast`` (no extraction tool needed):

* the first positional argument (or ``msgid=``) of the error classes of
  ``volunteer_hub.errors``, of ``RecurrenceError`` and of any class derived from them
  anywhere in the package, called by name, through an attribute (``errors.Conflict``) or
  as ``cls(...)`` in one of their class methods;
* the second argument (or ``msgid=``) of ``<anything>.for_field(...)``,
  ``custom_error(...)`` and ``FieldProblem(...)``;
* the first argument (or ``msgid=``) of ``translate(...)``;
* the values of ``_PYDANTIC_MESSAGES`` and ``_FALLBACK``.

A conditional expression (``"a" if x else "b"``) contributes both strings. A message id
passed on in a variable (``msgid``, ``exc.msgid``) is a pass-through, not a new id; but a
message id built at run time (f-string, ``+``, ``%``, ``.format``) cannot be translated
and makes ``test_message_ids_are_literal`` fail.
"""

from __future__ import annotations

import ast
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

import volunteer_hub
from volunteer_hub import i18n
from volunteer_hub.errors import (
    Conflict,
    FieldProblem,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Violation,
)
from volunteer_hub.services.people import PersonIn
from volunteer_hub.validation import parse

PACKAGE_DIR = Path(volunteer_hub.__file__).resolve().parent
CATALOG_PATH = PACKAGE_DIR / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"

#: Classes whose constructor takes the message id first; subclasses found in the code join.
BASE_MESSAGE_CLASSES = frozenset(
    {
        "VolunteerHubError",
        "InvalidInput",
        "RuleViolation",
        "NotFound",
        "PermissionDenied",
        "Conflict",
        "NotAuthenticated",
        "RecurrenceError",
    }
)
#: Functions (by name or attribute) whose message id is their second argument.
SECOND_ARGUMENT_CALLS = frozenset({"for_field", "custom_error", "FieldProblem"})
#: Functions whose message id is their first argument.
FIRST_ARGUMENT_CALLS = frozenset({"translate", "gettext"})
#: The pages' templates: their ``_()``/``gettext()`` calls and ``{% trans %}`` blocks.
TEMPLATE_DIR = PACKAGE_DIR / "web" / "templates"
#: Module-level names whose string value, or dict values, are message ids.
MESSAGE_TABLES = frozenset({"_PYDANTIC_MESSAGES", "_FALLBACK"})

CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Found:
    msgid: str
    where: str  # "path:line"


def _name_of(node: ast.expr) -> str | None:
    """``Conflict`` for ``Conflict``, ``errors.Conflict`` and ``a.b.Conflict``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _python_files() -> list[Path]:
    return sorted(
        p for p in PACKAGE_DIR.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE_DIR).parts
    )


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p))) for p in _python_files()]


def _message_classes(trees: list[tuple[Path, ast.Module]]) -> set[str]:
    """The base error classes and every class derived from one of them, transitively."""
    classes = set(BASE_MESSAGE_CLASSES)
    definitions = [
        node for _, tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
    ]
    grown = True
    while grown:
        grown = False
        for cls in definitions:
            if cls.name not in classes and any(_name_of(b) in classes for b in cls.bases):
                classes.add(cls.name)
                grown = True
    return classes


def _own_init_without_msgid(trees: list[tuple[Path, ast.Module]], classes: set[str]) -> set[str]:
    """Message classes whose constructor takes something else first (``Throttled(seconds)``)."""
    names = set()
    for _, tree in trees:
        for cls in ast.walk(tree):
            if not (isinstance(cls, ast.ClassDef) and cls.name in classes):
                continue
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    params = [a.arg for a in item.args.args[1:]]
                    if not params or params[0] != "msgid":
                        names.add(cls.name)
    return names


def _class_constructor_calls(trees: list[tuple[Path, ast.Module]], classes: set[str]) -> set[int]:
    """``cls(...)`` and ``super().__init__(...)`` calls inside a message class, by id."""
    calls = set()
    for _, tree in trees:
        for cls in ast.walk(tree):
            if isinstance(cls, ast.ClassDef) and cls.name in classes:
                # super().__init__ reaches a message class only from a derived class.
                derived = any(_name_of(b) in classes for b in cls.bases)
                calls.update(
                    id(node)
                    for node in ast.walk(cls)
                    if isinstance(node, ast.Call)
                    and (_is_cls(node.func) or (derived and _is_super_init(node.func)))
                )
    return calls


def _is_cls(func: ast.expr) -> bool:
    return isinstance(func, ast.Name) and func.id == "cls"


def _is_super_init(func: ast.expr) -> bool:
    """``super().__init__(...)`` in a message class passes on its own message id."""
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and _name_of(func.value.func) == "super"
    )


def _msgid_argument(call: ast.Call, position: int) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "msgid":
            return keyword.value
    if len(call.args) > position and not any(
        isinstance(a, ast.Starred) for a in call.args[: position + 1]
    ):
        return call.args[position]
    return None


def _literals(node: ast.expr) -> tuple[list[str], list[ast.expr]]:
    """The string literals an expression can evaluate to, and its non-literal parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value], []
    if isinstance(node, ast.IfExp):
        body, body_dynamic = _literals(node.body)
        orelse, orelse_dynamic = _literals(node.orelse)
        return body + orelse, body_dynamic + orelse_dynamic
    return [], [node]


def _is_pass_through(node: ast.expr) -> bool:
    """A message id handed on in a variable, attribute or table look-up."""
    return isinstance(node, ast.Name | ast.Attribute | ast.Subscript)


def scan_messages() -> tuple[list[Found], list[str]]:
    """Every message id in the package, and every message id built at run time."""
    trees = _trees()
    classes = _message_classes(trees)
    constructor_calls = _class_constructor_calls(trees, classes)
    classes -= _own_init_without_msgid(trees, classes)
    found: list[Found] = []
    dynamic: list[str] = []
    for path, tree in trees:
        rel = path.relative_to(PACKAGE_DIR.parent).as_posix()
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                name = _name_of(node.func)
                position = None
                if name in classes or name in FIRST_ARGUMENT_CALLS or id(node) in constructor_calls:
                    position = 0
                elif name in SECOND_ARGUMENT_CALLS:
                    position = 1
                if position is not None:
                    argument = _msgid_argument(node, position)
                    if argument is not None:
                        values.append(argument)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(_name_of(t) in MESSAGE_TABLES for t in targets):
                    if isinstance(node.value, ast.Dict):
                        values.extend(node.value.values)
                    else:
                        values.append(node.value)
            for value in values:
                literals, rest = _literals(value)
                found.extend(Found(s, f"{rel}:{value.lineno}") for s in literals)
                dynamic.extend(
                    f"{rel}:{part.lineno}: {ast.unparse(part)}"
                    for part in rest
                    if not _is_pass_through(part)
                )
    return found, dynamic


def template_messages() -> list[Found]:
    """Message ids in the page templates, found by Jinja's own Babel extractor."""
    from jinja2.ext import babel_extract

    found = []
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "false"}
    for path in sorted(TEMPLATE_DIR.rglob("*.html")):
        with path.open("rb") as f:
            for line, _func, message, _comments in babel_extract(f, ("_", "gettext"), [], options):
                where = f"{path.relative_to(PACKAGE_DIR)}:{line}"
                text = message if isinstance(message, str) else message[0]
                found.append(Found(text, where))
    return found


def code_msgids() -> dict[str, list[str]]:
    """Message id → where it is used (Python code and page templates)."""
    msgids: dict[str, list[str]] = {}
    for item in [*scan_messages()[0], *template_messages()]:
        msgids.setdefault(item.msgid, []).append(item.where)
    return msgids


def load_catalog() -> Catalog:
    with CATALOG_PATH.open("rb") as f:
        return read_po(f, locale="zh_CN")


def placeholders(text: str) -> set[str]:
    """The ``str.format`` field names in a text (ValueError on unbalanced braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@pytest.fixture(scope="module")
def msgids() -> dict[str, list[str]]:
    return code_msgids()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _entries(catalog: Catalog) -> dict[str, str]:
    """The catalog's active entries (the header excluded): msgid → translation."""
    return {str(m.id): str(m.string or "") for m in catalog if m.id}


# --- the scanner itself -------------------------------------------------------------------


def test_scanner_finds_messages_in_every_position(msgids):
    expected = {
        "The input is not valid.",  # InvalidInput(...) inside errors.py and validation.py
        "This field is required.",  # _PYDANTIC_MESSAGES and InvalidInput.for_field
        "This value is not valid.",  # _FALLBACK
        "Must be a mainland China mobile number.",  # custom_error(...)
        "The rule may repeat at most daily.",  # RecurrenceError(...)
        "Wrong phone number or password.",  # NotAuthenticated(...)
        "Someone has claimed this wish already.",  # Conflict(...)
        "No such resident in this community.",  # InvalidInput.for_field(...)
        "Unknown time zone.",  # custom_error(...) in a pydantic validator
    }
    assert expected <= msgids.keys(), sorted(expected - msgids.keys())
    assert len(msgids) > 50


def test_scanner_is_robust(tmp_path, monkeypatch):
    source = """
from volunteer_hub import errors
class Throttled(errors.VolunteerHubError):
    pass
class TooFast(Throttled):
    pass
def f(x, exc):
    raise errors.Conflict("By attribute.", code="c")
    raise TooFast(msgid="By keyword on a subclass.")
    raise errors.InvalidInput.for_field("f", "Through for_field." if x else "Or else.")
    raise InvalidInput.for_field(field_name="f", msgid="for_field by keyword.")
    raise custom_error("t", msgid="custom_error by keyword.")
    FieldProblem("f", "A field problem.", {})
    translate("Translated directly.", "en")
    raise InvalidInput.for_field("rrule", exc.msgid)
    raise NotFound(f"No such {x}.")
    raise Conflict("Part " + x)
class Sub(InvalidInput):
    @classmethod
    def make(cls):
        return cls("Through cls.")
def g(cls):
    return cls("Not a message class.")
_FALLBACK = "Fallback."
_PYDANTIC_MESSAGES: dict[str, str] = {"a": "Table value."}
"""
    package = tmp_path / "volunteer_hub"
    package.mkdir()
    (package / "sample.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", package)
    found, dynamic = scan_messages()
    assert {f.msgid for f in found} == {
        "By attribute.",
        "By keyword on a subclass.",
        "Through for_field.",
        "Or else.",
        "for_field by keyword.",
        "custom_error by keyword.",
        "A field problem.",
        "Translated directly.",
        "Fallback.",
        "Table value.",
        "Through cls.",
    }
    assert [d.split(": ", 1)[1] for d in dynamic] == ["f'No such {x}.'", "'Part ' + x"]


def test_message_ids_are_literal():
    _, dynamic = scan_messages()
    assert not dynamic, "message ids built at run time cannot be translated:\n" + "\n".join(dynamic)


# --- the catalog --------------------------------------------------------------------------


def test_catalog_header(catalog):
    assert (catalog.locale.language, catalog.locale.territory) == ("zh", "CN")
    assert catalog.plural_forms.replace(" ", "") == "nplurals=1;plural=0;"
    assert catalog.charset.lower() == "utf-8"
    header_text = CATALOG_PATH.read_text(encoding="utf-8").split("\n\n", 1)[0]
    for line in (
        '"Language: zh_CN\\n"',
        '"Content-Type: text/plain; charset=UTF-8\\n"',
        '"Plural-Forms: nplurals=1; plural=0;\\n"',
    ):
        assert line in header_text.splitlines(), line


def test_catalog_has_no_duplicate_or_fuzzy_entries(catalog):
    text = CATALOG_PATH.read_text(encoding="utf-8")
    raw_ids = re.findall(r'^msgid "(.*)"$', text, flags=re.MULTILINE)
    duplicates = sorted({m for m in raw_ids if raw_ids.count(m) > 1 and m})
    assert not duplicates, f"duplicate msgids: {duplicates}"
    fuzzy = [str(m.id) for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries are not used at run time; review them: {fuzzy}"


def test_every_msgid_is_translated(msgids, catalog):
    entries = _entries(catalog)
    missing = sorted(m for m in msgids if not entries.get(m, "").strip())
    assert not missing, "msgids without a zh_CN translation:\n" + "\n".join(
        f"{m!r}  ({', '.join(msgids[m])})" for m in missing
    )


def test_no_obsolete_entries(msgids, catalog):
    unused = sorted(set(_entries(catalog)) - msgids.keys())
    commented = sorted(str(m) for m in catalog.obsolete)
    assert not unused and not commented, (
        f"catalog entries the code no longer uses: {unused}; #~ obsolete entries: {commented}"
    )


def test_translations_keep_placeholders(catalog):
    wrong = []
    for msgid, text in _entries(catalog).items():
        try:
            expected, actual = placeholders(msgid), placeholders(text)
        except ValueError as exc:
            wrong.append(f"{msgid!r}: {exc}")
            continue
        if expected != actual:
            wrong.append(f"{msgid!r}: {sorted(expected)} != {sorted(actual)} in {text!r}")
        else:
            text.format(**{name: "x" for name in expected})
    assert not wrong, "\n".join(wrong)


def test_translations_are_chinese(catalog):
    not_chinese = [m for m, t in _entries(catalog).items() if not CJK.search(t)]
    assert not not_chinese, not_chinese


def test_runtime_uses_the_catalog(msgids):
    """What the code actually serves: Chinese for each msgid, the msgid itself in English."""
    for msgid in msgids:
        params = {name: "x" for name in placeholders(msgid)}
        assert CJK.search(i18n.translate(msgid, "zh-CN", **params)), msgid
        assert i18n.translate(msgid, "en", **params) == msgid.format(**params)


# --- i18n functions -----------------------------------------------------------------------


def test_translate_defaults_to_chinese():
    assert i18n.translate("This field is required.") == "此项必填。"
    assert i18n.translate("This field is required.", "en") == "This field is required."
    assert i18n.translate("This field is required.", "en-US") == "This field is required."
    assert i18n.translate("Wrong phone number or password.", "zh") == "手机号或密码不正确。"


def test_translate_formats_parameters():
    zh = i18n.translate("Must be at least {min_length} characters long.", min_length=8)
    assert "8" in zh and "{" not in zh
    en = i18n.translate("Must be at least {min_length} characters long.", "en", min_length=8)
    assert en == "Must be at least 8 characters long."
    zh = i18n.translate("Unknown channel. Known channels: {expected}.", expected="email")
    assert "email" in zh and "渠道" in zh


def test_translate_unknown_msgid_falls_back_to_english():
    assert i18n.translate("Not in any catalog.") == "Not in any catalog."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("zh", "zh-CN"),
        ("zh_CN", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh-hans", "zh-CN"),
        # zh-CN is the only Chinese catalog: traditional Chinese gets it too.
        ("zh-TW", "zh-CN"),
        ("zh-Hant-HK", "zh-CN"),
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        (" en ", "en"),
        ("fr", "zh-CN"),
        ("garbage", "zh-CN"),
        ("zh-??", "zh-CN"),
        ("123", "zh-CN"),
        ("", "zh-CN"),
        (None, "zh-CN"),
    ],
)
def test_normalize_locale(value, expected):
    assert i18n.normalize_locale(value) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en;q=0.9, zh-CN;q=0.8", "en"),
        ("fr, en;q=0.5", "en"),
        ("fr", "zh-CN"),
        ("", "zh-CN"),
        (None, "zh-CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh-TW,en;q=0.5", "zh-CN"),
        ("en-GB;q=0.4, zh;q=0.6", "zh-CN"),
        ("de;q=1, EN;q=0.1", "en"),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "en"),
        ("*", "zh-CN"),
        ("en;q=0", "zh-CN"),
        ("en;q=0, zh;q=0.1", "zh-CN"),
        ("en;q=0.5, zh;q=0.5", "en"),  # equal quality: the first listed wins
        ("zh;q=0.5, en;q=0.5", "zh-CN"),
        # malformed q-values: that language is ignored
        ("en;q=abc, zh-CN;q=0.5", "zh-CN"),
        ("en;q=", "zh-CN"),
        ("en;q=nan, zh;q=0.1", "zh-CN"),
        ("zh;q=abc, en;q=0.1", "en"),
        (",,, ;;", "zh-CN"),
        (";q=1", "zh-CN"),
    ],
)
def test_negotiate(header, expected):
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize("header", ["en ; q=0.9, zh;q=0.8", "zh;Q=0.1, en;q=0.5"])
def test_negotiate_rfc_whitespace_and_case(header):
    assert i18n.negotiate(header) == "en"


def test_normalize_locale_undetermined():
    assert i18n.normalize_locale("und") == "zh-CN"


def test_localize():
    text = {"zh-CN": "反诈宣传队", "en": "Anti-fraud"}
    assert i18n.localize("同一段文字") == "同一段文字"
    assert i18n.localize("同一段文字", "en") == "同一段文字"
    assert i18n.localize(text) == "反诈宣传队"
    assert i18n.localize(text, "zh") == "反诈宣传队"
    assert i18n.localize(text, "en") == "Anti-fraud"
    assert i18n.localize(text, "en-US") == "Anti-fraud"
    assert i18n.localize(text, "fr") == "反诈宣传队"
    assert i18n.localize({"zh-CN": "只有中文"}, "en") == "只有中文"
    assert i18n.localize({"en": "English only"}) == "English only"
    assert i18n.localize({}) == ""


# --- errors in both languages -------------------------------------------------------------


def test_errors_render_in_both_languages():
    error = Conflict("Someone has claimed this wish already.", code="already_claimed")
    assert error.as_dict() == {
        "code": "already_claimed",
        "message": "该心愿已被他人认领。",
        "details": [],
    }
    assert error.message("en") == "Someone has claimed this wish already."
    assert str(error) == "Someone has claimed this wish already."

    error = PermissionDenied("Only members of a {kind} team can claim this wish.", kind="repair")
    assert "repair" in error.message() and CJK.search(error.message())
    assert error.message("en") == "Only members of a repair team can claim this wish."

    error = InvalidInput.for_field("reason", "A reason is required to reject a wish.")
    zh, en = error.as_dict("zh-CN"), error.as_dict("en")
    assert zh["details"][0]["field"] == en["details"][0]["field"] == "reason"
    assert CJK.search(zh["message"]) and CJK.search(zh["details"][0]["message"])
    assert en["details"][0]["message"] == "A reason is required to reject a wish."

    error = RuleViolation(
        "A registration rule refuses this.",
        details=[Violation("age", {"zh-CN": "须年满60周岁", "en": "Members must be 60+"})],
    )
    assert error.as_dict()["details"] == [{"rule": "age", "message": "须年满60周岁"}]
    assert error.as_dict("en")["details"] == [{"rule": "age", "message": "Members must be 60+"}]
    assert NotFound("No such wish.").message("zh-CN") != "No such wish."
    assert FieldProblem("x", "Must be a whole number.").render("en")["message"] == (
        "Must be a whole number."
    )


def test_pydantic_errors_render_per_field():
    bad = {"phone": "12345", "password": "ab1", "community_id": 1}
    with pytest.raises(InvalidInput) as caught:
        parse(PersonIn, bad)
    error = caught.value
    assert set(error.fields) == {"name", "phone", "password"}

    zh, en = error.as_dict("zh-CN"), error.as_dict("en")
    assert zh["code"] == en["code"] == "validation_error"
    assert en["message"] == "The input is not valid."
    assert CJK.search(zh["message"])

    zh_by_field = {d["field"]: d["message"] for d in zh["details"]}
    en_by_field = {d["field"]: d["message"] for d in en["details"]}
    assert en_by_field == {
        "name": "This field is required.",
        "phone": "Must be a mainland China mobile number.",
        "password": "The password must be at least 8 characters long.",
    }
    assert zh_by_field["name"] == "此项必填。"
    assert zh_by_field.keys() == en_by_field.keys()
    for field, message in zh_by_field.items():
        assert CJK.search(message), (field, message)
        assert message != en_by_field[field]
    assert "8" in zh_by_field["password"]
    assert error.as_dict() == zh  # Chinese by default


def test_pydantic_errors_with_parameters():
    with pytest.raises(InvalidInput) as caught:
        parse(
            PersonIn,
            {
                "name": "王",
                "phone": "13812345678",
                "password": "Hongqi-Lu-88-test",
                "community_id": "one",
                "surname": "王",
                "id_number": "110105194912310021",
            },
        )
    zh = {d["field"]: d["message"] for d in caught.value.as_dict()["details"]}
    en = {d["field"]: d["message"] for d in caught.value.as_dict("en")["details"]}
    assert en == {
        "community_id": "Must be a whole number.",
        "surname": "Unknown field.",
        "id_number": "The ID number's check digit is wrong.",
    }
    assert zh.keys() == en.keys()
    assert all(CJK.search(m) for m in zh.values()), zh


def _report() -> None:
    """``python tests/test_i18n.py``: stubs for what the catalog lacks; what it no longer needs."""
    msgids, entries = code_msgids(), _entries(load_catalog())
    for msgid in sorted(m for m in msgids if not entries.get(m, "").strip()):
        print(f"#: {' '.join(sorted({w.rsplit(':', 1)[0] for w in msgids[msgid]}))}")
        if placeholders(msgid):
            print("#, python-brace-format")
        print(f'msgid "{msgid}"\nmsgstr ""\n')
    for msgid in sorted(set(entries) - msgids.keys()):
        print(f"# no longer used: {msgid!r}")


if __name__ == "__main__":
    _report()
