"""The admission list file (准入清单): its format, its loading and what it decides.

The file is TOML (see ``examples/admission-list.toml``). An `AdmissionListFile` reads it
again whenever it changes on disk, so staff edit it without a restart; a file that cannot
be used raises `AdmissionListError`, whose message names the file, the line and key, and
the problem.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from volunteer_hub.plugin_api import AdmissionDecision, WishCategory

LEVELS = ("blue", "yellow", "red")  # the escalation levels (吹哨), lowest first
RULE = "admission_list"

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Locale = Literal["zh-CN", "en"]


def _by_locale(value: Any) -> Any:
    # A plain string is the Chinese text (readers of other languages fall back to it).
    return {"zh-CN": value} if isinstance(value, str) else value


def _localized(max_length: int) -> Any:
    text = Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)
    ]
    return Annotated[dict[Locale, text], BeforeValidator(_by_locale), Field(min_length=1)]


Name = _localized(100)
Referral = _localized(200)  # it is kept on the wish, whose column holds 200 characters
Reason = _localized(500)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Table):
    """A wish category the list brings in (shown in the wish form and Open311)."""

    name: Name
    team_kind: Code | None = None  # the team kind that serves it; none: any volunteer
    served: bool = True  # false: no volunteer claims it (it is referred)


class Referred(_Table):
    """A matter outside the list: who handles it, and when an unhandled wish escalates."""

    referral: Referral
    reason: Reason | None = None
    # With deadlines the wish is taken in and escalated; without, it is refused at posting.
    escalate_after_hours: (
        dict[Literal["blue", "yellow", "red"], Annotated[int, Field(ge=0, le=8760)]] | None
    ) = None

    @field_validator("escalate_after_hours")
    @classmethod
    def _levels_in_order(cls, plan: dict[str, int] | None) -> dict[str, int] | None:
        if plan is None:
            return None
        if not plan:
            raise ValueError("name at least one level (blue, yellow, red), or leave it out")
        hours = [plan[level] for level in LEVELS if level in plan]
        if hours != sorted(hours):
            raise ValueError(
                "a higher level cannot come sooner than a lower one (blue ≤ yellow ≤ red)"
            )
        return {level: plan[level] for level in LEVELS if level in plan}


class Unlisted(_Table):
    """What a resident is told about a category the list does not name."""

    reason: Reason | None = None
    referral: Referral | None = None


class AdmissionList(_Table):
    accepted: list[Code]
    categories: dict[Code, Category] = {}
    referred: dict[Code, Referred] = {}
    unlisted: Unlisted = Unlisted()

    def decide(self, category: str) -> AdmissionDecision:
        """Accept what the list accepts; take in and escalate, or refuse, what it refers;
        refuse what it does not name."""
        if category in self.accepted:
            return AdmissionDecision(accepted=True, rule=RULE)
        referred = self.referred.get(category)
        if referred is not None and referred.escalate_after_hours is not None:
            return AdmissionDecision(
                accepted=True,
                rule=f"{RULE}.referred",
                reason=referred.reason,
                referral=referred.referral,
                escalate_after_hours=referred.escalate_after_hours,
            )
        if referred is not None:
            return AdmissionDecision(
                accepted=False,
                rule=f"{RULE}.referred",
                reason=referred.reason or NOT_HANDLED_HERE,
                referral=referred.referral,
            )
        return AdmissionDecision(
            accepted=False,
            rule=f"{RULE}.unlisted",
            reason=self.unlisted.reason or NOT_ON_THE_LIST,
            referral=self.unlisted.referral,
        )

    def wish_categories(self) -> list[WishCategory]:
        return [
            WishCategory(code, c.name, c.team_kind, served=c.served)
            for code, c in self.categories.items()
        ]


NOT_HANDLED_HERE = {"zh-CN": "此事项不由本社区办理", "en": "This community does not handle this"}
NOT_ON_THE_LIST = {
    "zh-CN": "此事项不在本社区准入清单内",
    "en": "This is not on the community's admission list",
}


class AdmissionListError(ValueError):
    """The admission list file cannot be used; the message says where and why."""


def load(path: Path) -> AdmissionList:
    """The admission list at ``path``, read and parsed now."""
    return AdmissionListFile(path).load()


class AdmissionListFile:
    """One admission list file, parsed again only when it has changed on disk.

    It keeps what it parsed: the plugin's settings for a community hold one, so the
    parse belongs to the Hub whose settings they are, and two Hubs in one process never
    share it. Two handles on the same file are equal (as settings naming it are).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._parsed: AdmissionList | None = None

    def load(self) -> AdmissionList:
        path = self.path
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise AdmissionListError(f"{path}: the admission list file does not exist") from None
        except OSError as exc:
            raise AdmissionListError(f"{path}: cannot be read: {exc.strerror}") from None
        # A save that replaces the file (editors, atomic renames) changes the inode.
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._parsed is None or self._stamp != stamp:
            self._parsed = parse(_read(path), str(path))
            self._stamp = stamp
        return self._parsed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AdmissionListFile) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"AdmissionListFile({str(self.path)!r})"


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AdmissionListError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise AdmissionListError(f"{path}: cannot be read: {exc.strerror}") from None


def parse(text: str, source: str) -> AdmissionList:
    """Parse and check an admission list; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AdmissionListError(f"{source}: not valid TOML: {exc}") from None
    try:
        admission_list = AdmissionList.model_validate(data)
    except ValidationError as exc:
        problems = [
            (error["loc"], error["msg"].removeprefix("Value error, "))
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise AdmissionListError(_report(source, text, problems)) from None
    problems = _cross_check(admission_list)
    if problems:
        raise AdmissionListError(_report(source, text, problems))
    return admission_list


def _cross_check(admission_list: AdmissionList) -> list[tuple[tuple, str]]:
    """What each table allows but the whole does not: one category, one decision."""
    problems = []
    seen: set[str] = set()
    for index, code in enumerate(admission_list.accepted):
        if code in seen:
            problems.append((("accepted", index), f"{code} is listed twice"))
        seen.add(code)
        if code in admission_list.referred:
            problems.append(
                (("referred", code), f"{code} is accepted, so it cannot be referred as well")
            )
    for code in admission_list.categories:
        if code not in seen and code not in admission_list.referred:
            problems.append((("categories", code), f"{code} is neither accepted nor referred"))
    return problems


def _report(source: str, text: str, problems: Sequence[tuple[tuple, str]]) -> str:
    lines = []
    for loc, message in problems:
        key = ".".join(str(part) for part in loc if part != "[key]")
        line = line_of(text, loc)
        where = f"{source}, line {line}" if line else source
        lines.append(f"{where}, {key}: {message}" if key else f"{where}: {message}")
    return "\n".join(lines)


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _dotted(key: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def line_of(text: str, loc: tuple) -> int | None:
    """The line where the TOML ``text`` defines the key at ``loc`` (or the nearest enclosing
    key or table that it does define); None for a problem of the whole file."""
    wanted = tuple(str(part) for part in loc)
    best, best_length = None, 0
    table: tuple[str, ...] = ()
    multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if multiline:  # inside a multi-line string, nothing is a key
            multiline = line.count('"""') % 2 == 0 and line.count("'''") % 2 == 0
            continue
        header = _HEADER.match(line)
        if header:
            table = _dotted(header.group(1))
            path = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            path = table + _dotted(key.group(1))
            multiline = (line.count('"""') % 2 == 1) or (line.count("'''") % 2 == 1)
        if len(path) > best_length and wanted[: len(path)] == path:
            best, best_length = number, len(path)
    return best


def example_path() -> Path:
    """The example admission list shipped with the plugin (zh-CN)."""
    return Path(__file__).with_name("examples") / "admission-list.toml"


def resolve(path: str | os.PathLike[str]) -> Path:
    """An absolute path: a relative one is taken from the working directory at start-up."""
    return Path(path).expanduser().resolve()
