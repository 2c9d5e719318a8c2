"""The OpenAPI 3.1 document, built from the same Endpoint declarations that serve requests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from volunteer_hub import __version__
from volunteer_hub.validation import MAX_ID
from volunteer_hub.web.api import Endpoint, ErrorResponse, ListPage

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
_PARAM_SCHEMA = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "str": {"type": "string", "minLength": 1, "maxLength": 100},
}
_ERROR_TEXT = {
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found, or not visible to the caller",
    409: "Conflict",
    413: "Body too large",
    422: "Invalid input, or refused by a rule",
    429: "Too many attempts",
}


class DocumentSchema(GenerateJsonSchema):
    """Schemas named as the contract has named them since v1: a list page ``ListPage[X]``
    is ``Page_X_`` (the class was renamed in the code, apart from the pages' Page)."""

    def normalize_name(self, name: str) -> str:
        list_page = ListPage.__name__ + "["
        if name.startswith(list_page):
            name = "Page[" + name.removeprefix(list_page)
        return super().normalize_name(name)


def openapi_document(endpoints: list[Endpoint], prefix: str, extra: dict[str, Any]) -> dict:
    models: list[tuple[type[BaseModel], str]] = [(ErrorResponse, "serialization")]
    for e in endpoints:
        if e.body is not None:
            models.append((e.body, "validation"))
        if e.query is not None:
            models.append((e.query, "validation"))
        if isinstance(e.response, type) and issubclass(e.response, BaseModel):
            models.append((e.response, "serialization"))
    keys, components = models_json_schema(models, ref_template=REF, schema_generator=DocumentSchema)
    schemas = components.get("$defs", {})

    paths: dict[str, dict] = {}
    for e in endpoints:
        path = _PATH_PARAM.sub(r"{\1}", prefix + e.path)
        operation: dict[str, Any] = {
            "operationId": e.handler.__name__,
            "summary": e.summary,
            "tags": [e.tag],
            "parameters": [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": _PARAM_SCHEMA[converter or "str"],
                }
                for name, converter in _PATH_PARAM.findall(e.path)
            ],
            "responses": {},
        }
        if e.query is not None:
            query_schema = keys[(e.query, "validation")]
            props = schemas[query_schema["$ref"].rsplit("/", 1)[1]]["properties"]
            required = set(schemas[query_schema["$ref"].rsplit("/", 1)[1]].get("required", []))
            for name, schema in props.items():
                operation["parameters"].append(
                    {"name": name, "in": "query", "required": name in required, "schema": schema}
                )
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keys[(e.body, "validation")]}},
            }
        operation["responses"][str(e.status)] = _success(e, keys)
        for status in sorted({*e.errors, 413} if e.body is not None else set(e.errors)):
            operation["responses"][str(status)] = {
                "description": _ERROR_TEXT.get(status, "Error"),
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}
                },
            }
        if e.auth == "required":
            operation["security"] = [{"bearer": []}]
        elif e.auth == "optional":
            operation["security"] = [{}, {"bearer": []}]
        paths.setdefault(path, {})[e.method.lower()] = operation
    paths.update(extra)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "volunteer_hub API",
            "version": __version__,
            "description": "社区志愿服务与居民参与平台 — the HTTP API contract (API.md).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _success(e: Endpoint, keys: dict) -> dict:
    if e.response is None:
        return {"description": "Done"}
    if isinstance(e.response, type) and issubclass(e.response, BaseModel):
        schema = keys[(e.response, "serialization")]
    else:
        schema = TypeAdapter(e.response).json_schema(
            ref_template=REF, mode="serialization", schema_generator=DocumentSchema
        )
    return {"description": "OK", "content": {e.media_type: {"schema": schema}}}
