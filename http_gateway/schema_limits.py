"""The services' own limits, published in the gateway's OpenAPI schema as they report them.

The request models bound fields only by what the contract can carry (uint32…); the limits in force
(largest size, steps, tokens…) are settings of each service, which GetModelInfo reports. The schema
served at /openapi.json carries those, so /docs shows the real limits and a client or a fuzzer
generating from the schema stays inside them. Until a service has been seen, its fields keep the
wire bounds. The services still enforce their limits themselves (a 400 that names field and limit).
"""

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

# JSON type -> keyword -> value, for one field.
FieldBounds = Mapping[str, Mapping[str, Any]]
# component -> field -> bounds.
SchemaBounds = Mapping[str, Mapping[str, FieldBounds]]
BackendLimits = Mapping[str, Mapping[str, float]]

_TOKENS = ("integer", "maximum", "max_new_tokens_limit")
_TOP_LOGPROBS = ("integer", "maximum", "max_top_logprobs")
_TEXT_FIELDS: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "TextRequest": {
        "max_new_tokens": [_TOKENS],
        "prompt": [("string", "maxLength", "max_prompt_chars")],
        "stop": [("array", "maxItems", "max_stop_sequences")],
        "regex": [("string", "maxLength", "max_guided_chars")],
    },
    "CompletionRequest": {
        "max_tokens": [_TOKENS],
        "prompt": [("string", "maxLength", "max_prompt_chars")],
        "stop": [("array", "maxItems", "max_stop_sequences")],
        "logprobs": [_TOP_LOGPROBS],
    },
    "ChatCompletionRequest": {
        "max_tokens": [_TOKENS],
        "max_completion_tokens": [_TOKENS],
        "stop": [("array", "maxItems", "max_stop_sequences")],
        "top_logprobs": [_TOP_LOGPROBS],
        "tools": [("array", "maxItems", "max_tools")],
    },
}
_SIDE = [
    ("integer", "minimum", "min_size"),
    ("integer", "maximum", "max_size"),
    ("integer", "multipleOf", "size_multiple"),
]
_IMAGE_COMMON = {
    "prompt": [("string", "maxLength", "max_prompt_chars")],
    "negative_prompt": [("string", "maxLength", "max_prompt_chars")],
    "num_inference_steps": [("integer", "maximum", "max_steps")],
    "guidance_scale": [("number", "maximum", "max_guidance_scale")],
}
_IMAGE_FIELDS: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "ImageRequest": {
        **_IMAGE_COMMON,
        "width": _SIDE,
        "height": _SIDE,
        "num_images": [("integer", "maximum", "max_num_images")],
    },
    "ImageGenerationRequest": {**_IMAGE_COMMON, "n": [("integer", "maximum", "max_num_images")]},
}
_FIELDS_OF_BACKEND = {"text": _TEXT_FIELDS, "image": _IMAGE_FIELDS}


def bound_fields(openapi: dict[str, Any], bounds: SchemaBounds) -> None:
    """Sets keywords on the branches of each field's schema that have the given JSON type (and on the
    items of array branches, so a bound on strings also bounds a list of strings)."""
    components = openapi.get("components", {}).get("schemas", {})
    for component, fields in bounds.items():
        properties = components.get(component, {}).get("properties", {})
        for field, by_type in fields.items():
            if field in properties:
                _bound(properties[field], by_type)


def _bound(schema: dict[str, Any], by_type: FieldBounds) -> None:
    for branch in [schema, *schema.get("anyOf", [])]:
        branch.update(by_type.get(branch.get("type", ""), {}))
        if branch.get("type") == "array":
            _bound(branch.get("items", {}), by_type)


def bounds_from_limits(limits: BackendLimits) -> SchemaBounds:
    """Schema bounds for the limits each backend reported (a limit of 0 means not reported)."""
    bounds: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for backend, components in _FIELDS_OF_BACKEND.items():
        reported = limits.get(backend, {})
        for component, fields in components.items():
            for field, rules in fields.items():
                for json_type, keyword, limit in rules:
                    if reported.get(limit):
                        by_type = bounds.setdefault(component, {}).setdefault(field, {})
                        by_type.setdefault(json_type, {})[keyword] = reported[limit]
    return bounds


def publish_backend_limits(app: FastAPI, limits: Callable[[], BackendLimits]) -> None:
    """Makes ``app.openapi()`` carry the latest reported limits; rebuilt only when they change."""
    build = app.openapi
    published: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        current = limits()
        key = json.dumps(current, sort_keys=True)
        if published.get("key") != key:
            schema = copy.deepcopy(build())
            bound_fields(schema, bounds_from_limits(current))
            published.update(key=key, schema=schema)
        return published["schema"]

    app.openapi = openapi  # type: ignore[method-assign]
