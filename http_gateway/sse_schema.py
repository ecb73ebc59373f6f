"""OpenAPI descriptions of the gateway's event streams, precise enough for a fuzzer to check every event.

OpenAPI 3.1 describes a ``text/event-stream`` by the schema of one event: an object with ``event`` and
``data`` fields. Each event's ``data`` is declared as JSON (``contentMediaType``) of a named component
(``contentSchema``), so schemathesis parses and validates every event a stream sends. The event models
are not used by any route's body, so FastAPI would not publish them: ``add_event_components`` does.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from http_gateway.errors import ErrorResponse

EVENT_STREAM = "text/event-stream"
DONE_MARKER = "[DONE]"
_event_models: dict[str, type[BaseModel]] = {ErrorResponse.__name__: ErrorResponse}


def _json_of(model: type[BaseModel]) -> dict[str, Any]:
    _event_models[model.__name__] = model
    return {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"$ref": f"#/components/schemas/{model.__name__}"},
    }


def named_events(description: str, events: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """The ``content`` of a stream of named events (plus ``error``) whose data is JSON of the given models."""
    variants = [
        {
            "type": "object",
            "required": ["event", "data"],
            "properties": {"event": {"const": name}, "data": _json_of(model)},
        }
        for name, model in {**events, "error": ErrorResponse}.items()
    ]
    return {EVENT_STREAM: {"schema": {"description": description, "oneOf": variants}}}


def openai_chunks(description: str, chunk: type[BaseModel]) -> dict[str, Any]:
    """The ``content`` of an OpenAI stream: unnamed events of chunk or error JSON, then ``[DONE]``."""
    data = {"anyOf": [_json_of(chunk), _json_of(ErrorResponse), {"type": "string", "const": DONE_MARKER}]}
    schema = {"description": description, "type": "object", "required": ["data"], "properties": {"data": data}}
    return {EVENT_STREAM: {"schema": schema}}


def add_event_components(app: FastAPI) -> None:
    """Makes ``app.openapi()`` also publish the event models the stream descriptions refer to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _, definitions = models_json_schema(
                [(model, "serialization") for model in _event_models.values()],
                ref_template="#/components/schemas/{model}",
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in definitions.get("$defs", {}).items():
                components.setdefault(name, definition)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
