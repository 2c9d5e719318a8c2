"""The web layer: JSON API (and, later, pages) over the services."""

from volunteer_hub.web.app import create_app

__all__ = ["create_app"]
