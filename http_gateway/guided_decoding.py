"""The contract's GuidedDecoding built from a JSON Schema that an HTTP body holds as parsed JSON.

A schema arrives as parsed JSON and travels as JSON text. Serialising it is the one step that can fail
in the gateway (a schema nested past Python's recursion limit, or NaN, which Python's JSON parser accepts
but JSON does not), and that is the client's input, so it is a 400 naming the field, never a 500.
"""

import json
from collections.abc import Mapping
from typing import Any

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.errors import ApiError


def schema_text(schema: Mapping[str, Any], field: str) -> str:
    """Compact JSON text of ``schema`` (ASCII, so any string the body held is valid in a proto)."""
    try:
        return json.dumps(schema, separators=(",", ":"), allow_nan=False)
    except (RecursionError, ValueError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else "holds NaN or Infinity"
        raise ApiError(
            400, f"{field}: not a usable JSON Schema ({reason})", type="invalid_request_error", param=field
        ) from None


def json_schema_guide(schema: Mapping[str, Any], field: str) -> text_pb2.GuidedDecoding:
    """Output constrained to one JSON value valid against ``schema``."""
    return text_pb2.GuidedDecoding(json_schema=schema_text(schema, field))
