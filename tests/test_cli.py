"""The real `vhub` command, run as a subprocess against a data directory of its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugin_distributions import install_broken
from volunteer_hub.i18n import translate

VHUB = shutil.which("vhub", path=str(Path(sys.executable).parent)) or shutil.which("vhub")
BUILTIN_PLUGINS = {
    "volunteer_hub.default_plugins.catalog",
    "volunteer_hub.default_plugins.channels",
}
PASSWORD = "Qiuyue-Anping-cli-23"

pytestmark = pytest.mark.skipif(VHUB is None, reason="the vhub console script is not installed")


@pytest.fixture
def vhub(tmp_path: Path):
    """Run `vhub ARGS...` with VHUB_DATA_DIR set to the test's own directory."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("VHUB_") and k not in {"COLUMNS", "LINES"}
    }
    env |= {
        "VHUB_DATA_DIR": str(tmp_path),
        "VHUB_DISABLE_PLUGIN_AUTOLOAD": "1",
        "VHUB_PASSWORD_PROFILE": "CHEAPEST",  # the demo makes dozens of accounts
        "COLUMNS": "200",  # rich wraps tables to the terminal width
    }

    def run(
        *args: str, timeout: float = 300, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VHUB, *args],
            env=env | (extra_env or {}),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            cwd=tmp_path,
        )

    return run


def database(tmp_path: Path) -> Path:
    return tmp_path / "vhub.sqlite3"


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_db_upgrade_is_repeatable(vhub, tmp_path: Path):
    first = vhub("db", "upgrade")
    assert first.returncode == 0, output(first)
    assert "applied models.0001_initial" in first.stdout
    second = vhub("db", "upgrade")
    assert second.returncode == 0, output(second)
    assert "applied" not in second.stdout
    with sqlite3.connect(database(tmp_path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"community", "person", "wish", "task", "audit_entry"} <= tables


def test_admin_create(vhub, tmp_path: Path):
    args = ("admin", "create", "--name", "管理员", "--phone", "13800138000")
    created = vhub(*args, "--password", PASSWORD)
    assert created.returncode == 0, output(created)
    assert "13800138000" in created.stdout

    again = vhub(*args, "--password", PASSWORD)
    assert again.returncode != 0
    assert "Traceback" not in output(again)
    assert translate("This phone number is registered already.") in output(again)

    bad_phone = vhub(
        "admin", "create", "--name", "管理员", "--phone", "12345", "--password", PASSWORD
    )
    assert bad_phone.returncode != 0
    assert "Traceback" not in output(bad_phone)
    assert "phone:" in output(bad_phone)

    for password in ("12345678", "woaini520"):  # zxcvbn's list, and the shipped Chinese one
        weak = vhub(
            "admin", "create", "--name", "管理员", "--phone", "13900139000", "--password", password
        )
        assert weak.returncode != 0
        assert "Traceback" not in output(weak)
        assert "password:" in output(weak) and "密码太常见" in output(weak)

    with sqlite3.connect(database(tmp_path)) as conn:
        rows = conn.execute(
            "SELECT p.name, p.phone, r.role"
            " FROM person p JOIN role_assignment r ON r.person_id = p.id"
        ).fetchall()
    assert rows == [("管理员", "13800138000", "admin")]


def test_plugins(vhub):
    table = vhub("plugins")
    assert table.returncode == 0, output(table)
    for name in BUILTIN_PLUGINS:
        assert name in table.stdout
    assert "enabled" in table.stdout

    listed = vhub("plugins", "--json")
    assert listed.returncode == 0, output(listed)
    statuses = {p["name"]: p for p in json.loads(listed.stdout)}
    assert BUILTIN_PLUGINS <= set(statuses)
    for name in BUILTIN_PLUGINS:
        assert statuses[name]["status"] == "enabled"
        assert statuses[name]["builtin"] is True
    assert all(statuses[name]["settings"] is None for name in BUILTIN_PLUGINS)


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """The environment of a `vhub` that finds the broken distribution installed, autoloading."""
    site = install_broken(tmp_path / "site")
    return {"PYTHONPATH": str(site), "VHUB_DISABLE_PLUGIN_AUTOLOAD": ""}


def test_plugins_shows_load_errors_and_settings(vhub, tmp_path: Path, installed):
    (tmp_path / "plugins.toml").write_text(  # the data directory's file, found by default
        "[tunable]\nlevel = 2\n[tunable.communities.7]\nlevel = 5\n", encoding="utf-8"
    )
    table = vhub("plugins", extra_env=installed)
    assert table.returncode == 0, output(table)
    text = " ".join(table.stdout.split())  # rich wraps long cells
    assert "broken-import" in text and "load_error: ImportError: vh_broken_import needs" in text
    assert "load_error: vh_plugin_settings: TypeError:" in text
    assert f"Plugin settings file: {tmp_path / 'plugins.toml'}" in text
    assert "tunable settings" in text and "community 7" in text
    assert re.search(r"level\W+2\W+5\b", text), text

    listed = vhub("plugins", "--json", extra_env=installed)
    assert listed.returncode == 0, output(listed)
    report = {p["name"]: p for p in json.loads(listed.stdout)}
    assert report["broken-import"]["status"] == "load_error"
    assert report["broken-import"]["version"] == "0.0.1"
    # Call errors happen in the process that calls the hooks: here, none was called.
    assert report["broken-raises"]["status"] == "enabled"
    assert report["tunable"]["settings"]["defaults"] == {"level": 2}
    assert report["tunable"]["settings"]["communities"] == {"7": {"level": 5}}


def test_bad_plugin_settings_stop_the_commands_with_a_clear_error(vhub, tmp_path, installed):
    config = tmp_path / "elsewhere.toml"
    config.write_text("[tunable.communities.3]\nlevel = 'high'\n", encoding="utf-8")
    env = installed | {"VHUB_PLUGIN_CONFIG": str(config)}
    problem = f"{config}: [tunable.communities.3] level: Input should be a valid integer"

    for args in (("serve", "--port", "8765"), ("worker", "--once")):
        result = vhub(*args, extra_env=env, timeout=60)
        assert result.returncode == 2, output(result)
        assert "Traceback" not in output(result)
        assert "the plugin settings are not valid" in result.stderr
        assert problem in " ".join(result.stderr.split())
        assert "Serving" not in result.stdout

    # `vhub plugins` lists the plugins all the same (that is what one needs to fix it).
    listed = vhub("plugins", "--json", extra_env=env)
    assert listed.returncode == 2, output(listed)
    assert "tunable" in {p["name"] for p in json.loads(listed.stdout)}
    assert problem in " ".join(listed.stderr.split())

    missing = vhub("plugins", extra_env=installed | {"VHUB_PLUGIN_CONFIG": "/nonexistent.toml"})
    assert missing.returncode == 2
    assert "/nonexistent.toml: the plugin settings file does not exist" in missing.stderr


def test_demo(vhub, tmp_path: Path):
    result = vhub("demo", "--seed", "1", "--people", "60", "--no-serve")
    assert result.returncode == 0, output(result)
    assert "幸福里社区" in result.stdout
    assert "xingfuli-2024" in result.stdout  # the shared demo password
    printed_phones = {
        word for line in result.stdout.splitlines() for word in line.split() if word.isdigit()
    }

    path = database(tmp_path)
    with sqlite3.connect(path) as conn:

        def count(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]

        assert count("SELECT count(*) FROM community") == 1
        assert count("SELECT count(*) FROM person") == 60
        assert count("SELECT count(*) FROM grid") >= 4
        assert count("SELECT count(*) FROM team") == 7
        assert count("SELECT count(DISTINCT status) FROM wish") == 8
        assert count("SELECT count(*) FROM wish WHERE escalation = 'red'") >= 1
        assert count("SELECT count(*) FROM task WHERE rrule = 'FREQ=WEEKLY;BYDAY=TU,TH'") == 1
        assert count("SELECT count(*) FROM signup WHERE status = 'waitlisted'") >= 1
        assert count("SELECT count(*) FROM service_record") > 20
        assert count("SELECT count(*) FROM audit_entry") > 300
        phones = {r[0] for r in conn.execute("SELECT phone FROM person")}
    logins = printed_phones & phones
    assert len(logins) >= 10  # the printed logins are real accounts

    # --fresh (the default) starts over instead of adding a second community.
    again = vhub("demo", "--seed", "1", "--people", "60", "--no-serve")
    assert again.returncode == 0, output(again)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM community").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM person").fetchone()[0] == 60
        assert {r[0] for r in conn.execute("SELECT phone FROM person")} == phones


def test_demo_serves_the_community_at_a_local_address(tmp_path: Path):
    """The README's first command: build the demo, then serve it; log in as a demo user."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VHUB_")}
    env |= {
        "VHUB_DATA_DIR": str(tmp_path),
        "VHUB_DISABLE_PLUGIN_AUTOLOAD": "1",
        "VHUB_PASSWORD_PROFILE": "CHEAPEST",
        "COLUMNS": "200",
    }
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [VHUB, "demo", "--seed", "1", "--people", "50", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
            time.sleep(0.5)
        printed = (tmp_path / "demo.log").read_text()
        assert f"http://127.0.0.1:{port}" in printed
        communities = httpx.get(f"{base}/api/v1/communities").json()["items"]
        assert [c["name"] for c in communities] == ["幸福里社区"]
        with sqlite3.connect(database(tmp_path)) as conn:
            phone = conn.execute(
                "SELECT p.phone FROM person p JOIN role_assignment r ON r.person_id = p.id "
                "WHERE r.role = 'staff' ORDER BY p.id LIMIT 1"
            ).fetchone()[0]
        assert phone in printed  # a printed login
        r = httpx.post(
            f"{base}/api/v1/auth/login", json={"phone": phone, "password": "xingfuli-2024"}
        )
        assert r.status_code == 200, r.text
        assert "staff" in r.json()["person"]["roles"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("maker", ["13800138000", "12345", "not a phone"])
def test_an_open311_key_needs_a_maker_who_exists(vhub, maker):
    """No person has the phone (or it is no phone at all): a usage error, not a traceback."""
    made = vhub(
        *("open311-key", "create", "--community", "1", "--name", "12345热线"),
        *("--scope", "requests:read", "--by", maker),
    )
    assert made.returncode == 2, made.stdout + made.stderr
    assert "--by" in made.stderr and "Traceback" not in made.stderr
