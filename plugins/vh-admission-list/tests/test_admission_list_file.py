"""The admission list file: its format, its errors, its decisions, re-reading on change."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from volunteer_hub.plugin_api import localize

from vh_admission_list import admission_list
from vh_admission_list.admission_list import (
    AdmissionListError,
    AdmissionListFile,
    line_of,
    load,
    parse,
)
from vh_admission_list.settings import AdmissionListSettings

EXAMPLE = admission_list.example_path()

SMALL = """\
accepted = ["errand", "repair"]

[referred.public_facility]
referral = "街道办事处城市管理科"
escalate_after_hours = { blue = 0, yellow = 72, red = 144 }
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problem(text: str) -> str:
    with pytest.raises(AdmissionListError) as caught:
        parse(text, "/srv/vhub/准入清单.toml")
    return str(caught.value)


# --- the shipped example -----------------------------------------------------------------------


def test_the_example_is_valid_and_decides_as_its_comments_say():
    example = load(EXAMPLE)
    assert example.accepted == [
        "elderly_care",
        "companionship",
        "errand",
        "repair",
        "psychology",
        "tutoring",
        "other",
    ]
    for code in example.accepted:
        decision = example.decide(code)
        assert (decision.accepted, decision.rule, decision.referral) == (
            True,
            "admission_list",
            None,
        )

    light = example.decide("public_facility")  # story 6: taken in, passed on, escalated
    assert light.accepted and light.rule == "admission_list.referred"
    assert localize(light.referral) == "街道办事处城市管理科（设施维护）"
    assert dict(light.escalate_after_hours) == {"blue": 0, "yellow": 72, "red": 144}

    legal = example.decide("legal")  # to the legal-aid team, then the judicial office
    assert legal.accepted and dict(legal.escalate_after_hours) == {"yellow": 72, "red": 168}
    assert localize(legal.referral).startswith("社区法律援助队")

    lawsuit = example.decide("litigation")  # refused at posting, told where to go
    assert not lawsuit.accepted and lawsuit.rule == "admission_list.referred"
    assert localize(lawsuit.referral, "en") == (
        "the district's public legal service centre (hotline 12348)"
    )
    assert not lawsuit.escalate_after_hours

    unknown = example.decide("pet_care")
    assert (unknown.accepted, unknown.rule) == (False, "admission_list.unlisted")
    assert localize(unknown.reason) == "此事项不在本社区准入清单内"

    (litigation,) = example.wish_categories()
    assert (litigation.code, litigation.served, litigation.team_kind) == ("litigation", False, None)
    assert litigation.name == {"zh-CN": "诉讼与仲裁代理", "en": "Lawsuits and arbitration"}


def test_the_example_is_shipped_in_the_package():
    assert EXAMPLE.is_file()
    assert EXAMPLE.parent.parent == Path(admission_list.__file__).parent


def test_plain_strings_are_chinese_and_defaults_apply():
    small = parse(SMALL, "small.toml")
    light = small.decide("public_facility")
    assert light.referral == {"zh-CN": "街道办事处城市管理科"}
    assert light.reason is None  # taken in: nothing to tell the resident
    refused = small.decide("legal")
    assert (refused.accepted, refused.referral) == (False, None)
    assert localize(refused.reason, "en") == "This is not on the community's admission list"
    bare = parse('accepted = []\n[referred.legal]\nreferral = "司法所"\n', "bare.toml")
    assert localize(bare.decide("legal").reason) == "此事项不由本社区办理"
    assert bare.decide("errand").rule == "admission_list.unlisted"


# --- errors name the file, the line, the key and the problem ------------------------------------


def test_a_toml_syntax_error_names_the_file_and_line():
    assert problem('accepted = ["errand"\n\n[referred.x]\n') == (
        "/srv/vhub/准入清单.toml: not valid TOML: Unclosed array (at line 3, column 1)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'accepted = ["errand", "Repair"]\n',
            "/srv/vhub/准入清单.toml, line 1, accepted.1: String should match pattern "
            "'^[a-z][a-z0-9_]*$'",
        ),
        (
            "[referred.legal]\nreferral = '司法所'\n",
            "/srv/vhub/准入清单.toml, accepted: Field required",
        ),
        (
            SMALL.replace("yellow = 72", "yellow = 'three days'"),
            "/srv/vhub/准入清单.toml, line 5, referred.public_facility.escalate_after_hours."
            "yellow: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            SMALL.replace("blue = 0", "purple = 0"),
            "/srv/vhub/准入清单.toml, line 5, referred.public_facility.escalate_after_hours."
            "purple: Input should be 'blue', 'yellow' or 'red'",
        ),
        (
            SMALL.replace("red = 144", "red = 48"),
            "/srv/vhub/准入清单.toml, line 5, referred.public_facility.escalate_after_hours: "
            "a higher level cannot come sooner than a lower one (blue ≤ yellow ≤ red)",
        ),
        (
            SMALL.replace("{ blue = 0, yellow = 72, red = 144 }", "{}"),
            "/srv/vhub/准入清单.toml, line 5, referred.public_facility.escalate_after_hours: "
            "name at least one level (blue, yellow, red), or leave it out",
        ),
        (
            SMALL.replace("red = 144", "red = 100000"),
            "/srv/vhub/准入清单.toml, line 5, referred.public_facility.escalate_after_hours.red: "
            "Input should be less than or equal to 8760",
        ),
        (
            SMALL.replace('referral = "街道办事处城市管理科"\n', ""),
            "/srv/vhub/准入清单.toml, line 3, referred.public_facility.referral: Field required",
        ),
        (
            SMALL.replace('referral = "街道办事处城市管理科"', 'referral = "  "'),
            "/srv/vhub/准入清单.toml, line 4, referred.public_facility.referral.zh-CN: "
            "String should have at least 1 character",
        ),
        (
            SMALL.replace('referral = "街道办事处城市管理科"', "referral = { fr = 'mairie' }"),
            "/srv/vhub/准入清单.toml, line 4, referred.public_facility.referral.fr: "
            "Input should be 'zh-CN' or 'en'",
        ),
        (
            SMALL.replace("referral = ", "referal = "),
            "/srv/vhub/准入清单.toml, line 3, referred.public_facility.referral: Field required\n"
            "/srv/vhub/准入清单.toml, line 4, referred.public_facility.referal: "
            "Extra inputs are not permitted",
        ),
        (
            SMALL + '\n[referred.repair]\nreferral = "物业"\n',
            "/srv/vhub/准入清单.toml, line 7, referred.repair: "
            "repair is accepted, so it cannot be referred as well",
        ),
        (
            SMALL.replace('"repair"]', '"repair", "errand"]'),
            "/srv/vhub/准入清单.toml, line 1, accepted.2: errand is listed twice",
        ),
        (
            SMALL + '\n[categories.pet_care]\nname = "宠物照看"\n',
            "/srv/vhub/准入清单.toml, line 7, categories.pet_care: "
            "pet_care is neither accepted nor referred",
        ),
        (
            "accepted = []\ncolour = 'red'\n",
            "/srv/vhub/准入清单.toml, line 2, colour: Extra inputs are not permitted",
        ),
    ],
)
def test_a_broken_file_names_the_line_the_key_and_the_problem(text, expected):
    assert problem(text) == expected


def test_line_of_follows_tables_dotted_keys_and_skips_multiline_strings():
    text = """\
accepted = [
    "errand",
]
note = \"\"\"
referred = 1
\"\"\"

[referred."public_facility"]
escalate_after_hours.yellow = 72
[unlisted]
reason.en = "no"
"""
    assert line_of(text, ("accepted", 1)) == 1
    assert line_of(text, ("referred", "public_facility", "referral")) == 8
    assert line_of(text, ("referred", "public_facility", "escalate_after_hours", "yellow")) == 9
    assert line_of(text, ("unlisted", "reason", "en")) == 11
    assert line_of(text, ("categories", "x")) is None
    assert line_of(text, ()) is None


def test_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(AdmissionListError) as caught:
        load(tmp_path / "nowhere.toml")
    assert (
        str(caught.value) == f"{tmp_path / 'nowhere.toml'}: the admission list file does not exist"
    )
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes('accepted = ["errand"] # 跑腿'.encode("gbk"))
    with pytest.raises(AdmissionListError, match=r"gbk\.toml: not UTF-8 text \(byte 24\)"):
        load(gbk)


# --- re-read when it changes --------------------------------------------------------------------


def test_the_file_is_read_again_when_it_changes(tmp_path):
    path = write(tmp_path / "list.toml", SMALL)
    file = AdmissionListFile(path)
    first = file.load()
    assert file.load() is first  # unchanged: not parsed again
    assert not first.decide("tutoring").accepted

    write(path, SMALL.replace('"repair"]', '"repair", "tutoring"]'))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file.load().decide("tutoring").accepted

    # Saved by replacing the file (as editors do): same size, new inode.
    replacement = write(tmp_path / "new.toml", SMALL.replace('"errand"', '"others"'))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    replacement.replace(path)
    assert file.load().decide("others").accepted

    # Broken by an edit: the error says so; fixed again: used again.
    write(path, SMALL.replace("blue = 0", "blue = -1"))
    with pytest.raises(AdmissionListError, match=r"line 5, .*blue: Input should be greater"):
        file.load()
    write(path, SMALL)
    assert file.load().decide("errand").accepted


# --- the plugin's settings ----------------------------------------------------------------------


def test_settings_check_the_file_at_start_up(tmp_path):
    assert AdmissionListSettings().admission_list is None
    good = write(tmp_path / "list.toml", SMALL)
    assert AdmissionListSettings(admission_list=str(good)).admission_list == good.resolve()

    with pytest.raises(ValidationError) as caught:
        AdmissionListSettings(admission_list=str(tmp_path / "missing.toml"))
    (error,) = caught.value.errors()
    assert error["loc"] == ("admission_list",)
    assert "missing.toml: the admission list file does not exist" in error["msg"]

    broken = write(tmp_path / "broken.toml", "accepted = 'errand'\n")
    with pytest.raises(ValidationError) as caught:
        AdmissionListSettings(admission_list=broken)
    assert "broken.toml, line 1, accepted: Input should be a valid list" in str(caught.value)

    with pytest.raises(ValidationError, match="admisson_list"):
        AdmissionListSettings(admisson_list=good)


def test_a_relative_path_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path / "list.toml", SMALL)
    monkeypatch.chdir(tmp_path)
    settings = AdmissionListSettings(admission_list="list.toml")
    assert settings.admission_list == (tmp_path / "list.toml").resolve()


# --- the documentation's example ----------------------------------------------------------------

DOCS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "admission-list.md"


def test_the_documented_excerpt_is_a_valid_list_that_decides_as_the_page_says():
    if not DOCS_PAGE.is_file():
        pytest.skip(f"the documentation is not beside this copy of the plugin ({DOCS_PAGE})")
    blocks = re.findall(r"^```toml\n(.*?)^```", DOCS_PAGE.read_text(encoding="utf-8"), re.M | re.S)
    excerpt = parse(next(b for b in blocks if "accepted" in b), str(DOCS_PAGE))
    light = excerpt.decide("public_facility")
    assert light.accepted and dict(light.escalate_after_hours) == {
        "blue": 0,
        "yellow": 72,
        "red": 144,
    }
    lawsuit = excerpt.decide("litigation")
    assert (
        not lawsuit.accepted
        and localize(lawsuit.reason) == "诉讼、仲裁须由执业律师代理，社区不代为办理"
    )
    assert excerpt.decide("errand").accepted
    assert not excerpt.decide("pet_care").accepted
    # The excerpt says what the shipped example says.
    example = load(EXAMPLE)
    assert excerpt.accepted == example.accepted
    for code in ("public_facility", "legal", "litigation"):
        assert localize(excerpt.referred[code].referral) == localize(
            example.referred[code].referral
        )
        assert (
            excerpt.referred[code].escalate_after_hours
            == example.referred[code].escalate_after_hours
        )
