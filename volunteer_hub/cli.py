"""The `vhub` command line: database, administrators, plugins and the demo community."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from volunteer_hub import __version__, db, logs
from volunteer_hub.bootstrap import build_hub
from volunteer_hub.config import Settings, SettingsError
from volunteer_hub.errors import VolunteerHubError
from volunteer_hub.hub import Hub
from volunteer_hub.plugins import PluginConfig, PluginConfigError, create_plugin_manager

T = TypeVar("T")
console = Console()
stderr = Console(stderr=True)


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine; show service errors as a clear message and exit non-zero."""
    with clear_errors():
        return asyncio.run(coro)  # type: ignore[arg-type]


@contextmanager
def clear_errors() -> Iterator[None]:
    """Service errors end the command with their message (and field or rule), not a traceback."""
    try:
        yield
    except VolunteerHubError as exc:
        detail = "; ".join(
            f"{d['field'] if 'field' in d else d['rule']}: {d['message']}"
            for d in exc.as_dict()["details"]
        )
        console.print(f"[red]错误 / Error:[/red] {exc.message()} {detail}".rstrip())
        sys.exit(2)
    except PluginConfigError as exc:
        config_error(exc)
        sys.exit(2)


def config_error(exc: PluginConfigError) -> None:
    """Each problem of the plugin settings on a line of its own, on stderr."""
    stderr.print("[red]错误 / Error:[/red] the plugin settings are not valid:", highlight=False)
    for problem in exc.problems:
        stderr.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)


async def with_hub(settings: Settings, work: Callable[[Hub], Awaitable[T]]) -> T:
    async with db.database(settings.database_url):
        return await work(build_hub(settings))


@click.group()
@click.version_option(__version__, prog_name="vhub")
@click.pass_context
def main(ctx: click.Context) -> None:
    """volunteer_hub: 社区志愿服务与居民参与平台."""
    logs.protect_handlers()  # what a command logs (the worker's warnings) is redacted too
    if ctx.invoked_subcommand != "plugin":  # writing a plugin needs no data directory
        try:
            ctx.obj = Settings.from_env()
        except SettingsError as exc:
            stderr.print(f"[red]错误 / Error:[/red] {exc}", highlight=False)
            sys.exit(2)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Apply the committed migrations the database lacks."""

    def progress(event: str, app: str, name: str) -> None:
        if event == "apply_done":
            console.print(f"  applied {app}.{name}")

    asyncio.run(db.upgrade(settings.database_url, progress=progress))
    console.print(f"[green]Database is up to date:[/green] {_safe_url(settings.database_url)}")


@main.group("admin")
def admin_group() -> None:
    """Administrators."""


@admin_group.command("create")
@click.option("--name", required=True, help="Display name.")
@click.option("--phone", required=True, help="Mainland mobile number, used to log in.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters with letters and digits (prompted when omitted).",
)
@click.pass_obj
def admin_create(settings: Settings, name: str, phone: str, password: str) -> None:
    """Create an administrator, who acts as staff of every community."""
    from volunteer_hub.services import people

    async def work(hub: Hub) -> Any:
        return await people.create_admin(hub, name=name, phone=phone, password=password)

    asyncio.run(db.upgrade(settings.database_url))
    person = run(with_hub(settings, work))
    console.print(f"[green]Administrator created[/green] (id {person.id}, phone {person.phone})")


@main.group("open311-key")
def open311_key_group() -> None:
    """Integrators' Open311 keys (scoped to one community, revocable, stored hashed)."""


def _scope_choices() -> list[str]:
    from volunteer_hub.services.views import Open311Scope

    return [s.value for s in Open311Scope]


@open311_key_group.command("create")
@click.option("--community", "community_id", required=True, type=int, help="Community id.")
@click.option("--name", required=True, help="The integrator, e.g. 12345热线.")
@click.option(
    "--scope",
    "scopes",
    required=True,
    multiple=True,
    type=click.Choice(_scope_choices()),
    help="What the key may do (repeat for more than one).",
)
@click.option(
    "--by",
    "maker_phone",
    required=True,
    help="Phone of the staff member (or administrator) who makes the key: requests "
    "posted with it are posted by them.",
)
@click.pass_obj
def open311_key_create(
    settings: Settings, community_id: int, name: str, scopes: tuple[str, ...], maker_phone: str
) -> None:
    """Make a key and print it, once: only its hash is kept."""
    from volunteer_hub.services import open311_keys, people
    from volunteer_hub.services.access import load_actor

    async def work(hub: Hub) -> Any:
        maker_id = await people.person_id_for_phone(maker_phone)
        if maker_id is None:
            raise click.BadParameter("nobody has this phone number", param_hint="--by")
        maker = await load_actor(maker_id)
        return await open311_keys.create_key(
            hub, maker, community_id, {"name": name, "scopes": list(scopes)}
        )

    asyncio.run(db.upgrade(settings.database_url))
    key, secret = run(with_hub(settings, work))
    console.print(
        f"[green]Open311 key {key.id} made[/green] for {key.name} "
        f"(community {key.community_id}; {', '.join(key.scopes)}). "
        "It is shown this once; give it to the integrator:",
        highlight=False,
        soft_wrap=True,
    )
    click.echo(secret)


@open311_key_group.command("list")
@click.option("--community", "community_id", required=True, type=int, help="Community id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def open311_key_list(settings: Settings, community_id: int, as_json: bool) -> None:
    """List a community's keys (never the keys themselves)."""
    from volunteer_hub.services import open311_keys

    async def work(hub: Hub) -> Any:
        return await open311_keys.list_keys(hub, None, community_id, limit=10_000)

    asyncio.run(db.upgrade(settings.database_url))
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "scopes": list(k.scopes),
            "created_by": k.created_by_id,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in run(with_hub(settings, work))
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Open311 keys of community {community_id}")
    for column in ("id", "name", "scopes", "created by", "created", "revoked"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            Text(r["name"]),
            ", ".join(r["scopes"]),
            str(r["created_by"]),
            r["created_at"],
            r["revoked_at"] or "-",
        )
    console.print(table)


@open311_key_group.command("revoke")
@click.option("--community", "community_id", required=True, type=int, help="Community id.")
@click.argument("key_id", type=int)
@click.pass_obj
def open311_key_revoke(settings: Settings, community_id: int, key_id: int) -> None:
    """Revoke key KEY_ID: Open311 refuses it from now on."""
    from volunteer_hub.services import open311_keys

    async def work(hub: Hub) -> Any:
        return await open311_keys.revoke_key(hub, None, community_id, key_id)

    asyncio.run(db.upgrade(settings.database_url))
    key = run(with_hub(settings, work))
    console.print(f"[green]Open311 key {key.id} revoked[/green] ({key.name})", highlight=False)


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
def plugins_cmd(settings: Settings, as_json: bool) -> None:
    """List plugins with their version, hooks, settings and status.

    Exits with status 2, after the list, when the plugin settings are not valid.
    """
    host = create_plugin_manager(autoload=not settings.disable_plugin_autoload)
    problem = None
    try:
        host.configure(PluginConfig.load(settings.plugin_config))
    except PluginConfigError as exc:
        problem = exc  # still list the plugins: that is what one needs to fix it
    report = host.report()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_plugins(report, settings.plugin_config)
    if problem is not None:
        config_error(problem)
        sys.exit(2)


def _print_plugins(report: list[dict[str, Any]], config_file: Path | None) -> None:
    table = Table(title="volunteer_hub plugins")
    for column in ("name", "version", "hooks", "status"):
        table.add_column(column)
    for p in report:
        style = "green" if p["status"] == "enabled" else "red"
        status = p["status"] if not p["error"] else f"{p['status']}: {p['error']}"
        table.add_row(  # Text, not markup: errors and values may hold [brackets]
            Text(p["name"] + (" (built-in)" if p["builtin"] else "")),
            Text(p["version"] or "-"),
            Text(", ".join(p["hooks"])),
            Text(status, style=style),
        )
    console.print(table)
    console.print(
        f"Plugin settings file: {config_file or 'none (set VHUB_PLUGIN_CONFIG)'}", markup=False
    )
    for p in report:
        if p["settings"] is None or p["settings"]["defaults"] is None:
            continue
        # One column for the defaults and one for each community that overrides them.
        values = {"defaults": p["settings"]["defaults"]}
        values |= {f"community {c}": v for c, v in p["settings"]["communities"].items()}
        table = Table(title=f"{p['name']} settings")
        table.add_column("setting")
        for column in values:
            table.add_column(column)
        for name in p["settings"]["defaults"]:
            cells = [Text(json.dumps(v[name], ensure_ascii=False)) for v in values.values()]
            table.add_row(Text(name), *cells)
        console.print(table)


@main.group("plugin")
def plugin_group() -> None:
    """Writing plugins."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--directory",
    default=".",
    show_default=True,
    type=click.Path(exists=True, file_okay=False, writable=True, path_type=Path),
    help="Where to create the plugin's folder.",
)
def plugin_new(name: str, directory: Path) -> None:
    """Create a plugin package NAME (e.g. vh-flood-watch) with a rule, settings and tests."""
    from volunteer_hub.scaffold import ScaffoldError, new_plugin

    try:
        written = new_plugin(name, directory)
    except ScaffoldError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    target = directory / name
    console.print(f"[green]Plugin created[/green] in {target}:", highlight=False)
    for path in written:
        console.print(f"  {path.relative_to(directory)}", highlight=False, markup=False)
    console.print(
        f'Next: cd {target} && pip install -e ".[test]" && pytest', highlight=False, markup=False
    )


@main.command("demo")
@click.option("--seed", default=1, show_default=True, help="Random seed: same seed, same data.")
@click.option("--people", "people_count", default=300, show_default=True)
@click.option(
    "--fresh/--keep",
    default=True,
    show_default=True,
    help="Start from an empty database (the default) or keep existing data.",
)
@click.option(
    "--serve/--no-serve",
    "serve_after",
    default=True,
    show_default=True,
    help="Serve the demo at a local address once it is built.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_obj
def demo_cmd(
    settings: Settings,
    seed: int,
    people_count: int,
    fresh: bool,
    serve_after: bool,
    host: str,
    port: int,
) -> None:
    """Build a realistic demo community and print how to log in."""
    from volunteer_hub.demo import build_demo, reset_database

    if fresh:
        with clear_errors():
            reset_database(settings)
    asyncio.run(db.upgrade(settings.database_url))
    summary = run(
        with_hub(
            settings, lambda hub: build_demo(hub, seed=seed, people=people_count, console=console)
        )
    )
    console.print()
    console.print(f"[green]演示社区已建好 / Demo community ready[/green]: {summary.community}")
    console.print(f"数据库 / Database: {_safe_url(settings.database_url)}")
    table = Table(title="演示账号 / Demo logins (password for all: " + summary.password + ")")
    table.add_column("role")
    table.add_column("name")
    table.add_column("phone")
    for role, name, phone in summary.logins:
        table.add_row(role, name, phone)
    console.print(table)
    if serve_after:
        serve(settings, host=host, port=port)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes; each builds its own app and database connections.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request (uvicorn's access log).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.pass_obj
def serve_cmd(
    settings: Settings, host: str, port: int, workers: int, access_log: bool, log_level: str
) -> None:
    """Serve the web application with uvicorn (uvloop, httptools)."""
    serve(
        settings,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level=log_level,
    )


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    access_log: bool = True,
    log_level: str = "info",
) -> None:
    import uvicorn

    from volunteer_hub.web.asgi import APP_FACTORY

    with clear_errors():
        build_hub(settings)  # plugin settings: stop here with a clear error, not in a worker
    asyncio.run(db.upgrade(settings.database_url))
    shown_host = f"[{host}]" if ":" in host else host
    console.print(
        f"[green]Serving volunteer_hub[/green] on http://{shown_host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); "
        f"database {_safe_url(settings.database_url)}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"网站 / Site: http://{shown_host}:{port}/ "
        f"(登录 / log in: http://{shown_host}:{port}/login)",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"API: http://{shown_host}:{port}/api/v1 — OpenAPI document: "
        f"http://{shown_host}:{port}/openapi.json — health: http://{shown_host}:{port}/healthz",
        highlight=False,
        soft_wrap=True,
    )
    if workers > 1 and settings.is_sqlite:
        console.print(
            "[yellow]Several workers share one SQLite file: writes wait for each other; "
            "use PostgreSQL for real load.[/yellow]",
            soft_wrap=True,
        )
    # An import string and a factory: every worker process builds its own app
    # (its own Hub, plugins and Tortoise context) from the environment. Each worker
    # applies log_config too, so secrets are redacted from every process's log lines.
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=access_log,
        log_level=log_level,
        log_config=logs.log_config(log_level),
        # The client address (throttling counts on it) comes from X-Forwarded-For only
        # when a configured proxy connected; uvicorn's default trusts any loopback client.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )


@main.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due, run the timers once, and exit.")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between rounds.",
)
@click.option(
    "--lease",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds a claimed message stays with this worker before another may "
    "send it again (after a crash).",
)
@click.option(
    "--batch",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Messages claimed at once; fewer for a slow provider, so that a batch is "
    "sent well within the lease.",
)
@click.pass_obj
def worker_cmd(settings: Settings, once: bool, interval: float, lease: float, batch: int) -> None:
    """Deliver notifications (outbox), send shift reminders, expire and escalate wishes,
    record no-shows, expire unanswered invitations."""
    from volunteer_hub.notifications.senders import AppriseNotifier
    from volunteer_hub.notifications.worker import Worker

    async def work(hub: Hub) -> None:
        worker = Worker(hub, AppriseNotifier(), lease=timedelta(seconds=lease))
        if once:
            report = await worker.run_once(batch=batch)
            console.print(
                f"sent {report.sent}, failed {report.failed}, reminders {report.reminders}, "
                f"expired {report.expired}, escalated {report.escalated}, "
                f"no-shows {report.no_shows}, "
                f"invitations expired {report.invitations_expired}"
            )
            return
        console.print(f"[green]Worker running[/green] every {interval:g} s (Ctrl-C to stop)")
        await worker.run_forever(interval=interval, batch=batch)

    asyncio.run(db.upgrade(settings.database_url))
    try:
        run(with_hub(settings, work))
    except KeyboardInterrupt:
        console.print("stopped")


def _safe_url(url: str) -> str:
    """Hide a password in a database URL."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"
