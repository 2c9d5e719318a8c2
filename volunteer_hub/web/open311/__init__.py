"""Open311 GeoReport v2 under ``/open311/v2``: ``protocol`` (routes, formats, errors),
``params`` (reading the parameters) and ``views`` (the service's views as documents).
What is found and who may see it is ``volunteer_hub.services.open311``'s."""

from volunteer_hub.web.open311.protocol import ROUTES

__all__ = ["ROUTES"]
