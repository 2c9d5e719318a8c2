"""The web layer: JSON API (and, later, pages) over the services."""

from starlette.convertors import IntegerConvertor, register_url_convertor


class BoundedIntConvertor(IntegerConvertor):
    """``{id:int}`` in every route path: at most 18 digits, so that ``int()`` never meets
    a number too long to convert (Python refuses more than 4300 digits, raising in the
    router: a 500). A longer one matches no route: 404, like any id that does not exist."""

    regex = "[0-9]{1,18}"


# Before any route is built (the route modules are below this package).
register_url_convertor("int", BoundedIntConvertor())

from volunteer_hub.web.app import create_app  # noqa: E402

__all__ = ["create_app"]
