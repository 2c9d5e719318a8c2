"""Settings, read once from the environment by whoever builds the application.

Nothing here runs at import time: ``Settings.from_env()`` is called by the CLI, the
app factory or a test, and the result is passed down explicitly.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("var")


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Keys the hash of ID numbers (so duplicates are found without storing them) and tokens.
    secret_key: str = field(repr=False)
    data_dir: Path = DEFAULT_DATA_DIR
    disable_plugin_autoload: bool = False
    # An argon2-cffi profile name (volunteer_hub.security.Passwords).
    password_profile: str = "RFC_9106_LOW_MEMORY"
    # Let channels send to loopback and private addresses (an SMS gateway on the LAN,
    # test sinks). Off by default: a configured URL must not reach internal services.
    allow_private_network: bool = False
    # Where people reach the site: the base of links in messages (acknowledgement links).
    public_url: str = "http://127.0.0.1:8000"
    # The plugin settings file (TOML, per plugin and community), validated at start-up.
    plugin_config: Path | None = None
    # Self-registrations (POST /api/v1/people, /register) one client address may attempt
    # in an hour, refused ones included: a household or a shared connection registers a
    # few people; probing which phones and ID numbers are registered needs thousands.
    # Staff and grid workers registering residents are not counted.
    registrations_per_hour: int = 10
    # Proxies whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips:
    # addresses or networks, comma-separated, "*" for any). Empty: none is trusted, the
    # client is whoever connected, so no client can choose its own throttling address.
    trusted_proxies: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("VHUB_DATA_DIR") or DEFAULT_DATA_DIR)
        url = env.get("VHUB_DATABASE_URL") or sqlite_url(data_dir / "vhub.sqlite3")
        secret = env.get("VHUB_SECRET_KEY") or _local_secret(data_dir)
        plugin_config = env.get("VHUB_PLUGIN_CONFIG")
        default_plugin_config = data_dir / "plugins.toml"
        return cls(
            database_url=url,
            secret_key=secret,
            data_dir=data_dir,
            disable_plugin_autoload=_truthy(env.get("VHUB_DISABLE_PLUGIN_AUTOLOAD")),
            password_profile=env.get("VHUB_PASSWORD_PROFILE") or cls.password_profile,
            allow_private_network=_truthy(env.get("VHUB_ALLOW_PRIVATE_NETWORK")),
            public_url=(env.get("VHUB_PUBLIC_URL") or cls.public_url).rstrip("/"),
            # Named, it must exist (start-up says so if not); else the data directory's, if any.
            plugin_config=Path(plugin_config)
            if plugin_config
            else (default_plugin_config if default_plugin_config.is_file() else None),
            registrations_per_hour=_positive_int(
                env, "VHUB_REGISTRATIONS_PER_HOUR", cls.registrations_per_hour
            ),
            trusted_proxies=",".join(
                p.strip() for p in env.get("VHUB_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def sqlite_url(path: Path) -> str:
    """A SQLite URL that waits for the write lock instead of failing at once."""
    return f"sqlite://{path.resolve()}?busy_timeout=30000"


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1, not {raw!r}.")
    return int(raw)


class SettingsError(ValueError):
    """A setting in the environment that cannot be used (the CLI says which)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _local_secret(data_dir: Path) -> str:
    """The embedded default keeps a per-installation key beside its database.

    Safe when several processes start at once: the key is written to a private file
    first and linked into place atomically, so a reader never sees a partial key and
    only the first writer's key is ever used.
    """
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secret-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its key
        finally:
            os.unlink(tmp)
    return path.read_text().strip()
