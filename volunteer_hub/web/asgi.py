"""The entry point for ASGI servers: a factory, so every worker process builds its own app.

``uvicorn volunteer_hub.web.asgi:app_factory --factory`` (and ``vhub serve``, which
imports it by this name so that ``--workers`` can start several processes) calls
``app_factory()`` once in each worker. Nothing is built at import time: the settings
are read from the environment there and then, and each app opens its own database
context in its lifespan.
"""

from __future__ import annotations

from starlette.applications import Starlette

from volunteer_hub import logs
from volunteer_hub.config import Settings
from volunteer_hub.web.app import create_app

APP_FACTORY = "volunteer_hub.web.asgi:app_factory"


def app_factory() -> Starlette:
    """A new application configured from the environment (``VHUB_*`` variables)."""
    logs.protect_handlers()  # secrets out of the log lines, whichever server configured them
    return create_app(Settings.from_env())
