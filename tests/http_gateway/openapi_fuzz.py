"""Running schemathesis against a gateway, and shrinking its schema so a fuzz run stays cheap on real models.

The schema the gateway publishes bounds fields by the contract's wire types (uint32, uint64); the model
services enforce their own, configurable, limits and answer 400 beyond them. A fuzz of the real stack
must not ask a CPU for 4096 tokens or a 2048-pixel image, so ``with_small_limits`` lowers those bounds
and makes the cost-deciding fields required (their defaults are the original, expensive ones).
"""

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from http_gateway.schema_limits import bound_fields

SCHEMATHESIS = Path(sys.executable).with_name("st")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
RUN_SECONDS = 300
SMALL_LIMITS: dict[str, dict[str, Any]] = {
    "max_new_tokens": {"integer": {"maximum": 4}},
    "max_tokens": {"integer": {"maximum": 4}},
    "max_completion_tokens": {"integer": {"maximum": 4}},
    "num_inference_steps": {"integer": {"maximum": 2}},
    "width": {"integer": {"minimum": 64, "maximum": 64}},
    "height": {"integer": {"minimum": 64, "maximum": 64}},
    "num_images": {"integer": {"maximum": 2}},
    "n": {"integer": {"maximum": 2}},
    "size": {"string": {"pattern": "^64x64$"}},
    "prompt": {"string": {"maxLength": 64}, "array": {"maxItems": 2}},
    "content": {"string": {"maxLength": 64}, "array": {"maxItems": 2}},
    "negative_prompt": {"string": {"maxLength": 64}},
    "messages": {"array": {"maxItems": 3}},
    "stop": {"string": {"maxLength": 8}, "array": {"maxItems": 2}},
    "preview_every": {"integer": {"maximum": 2}},
}
REQUIRED_IN = {
    "TextRequest": ["max_new_tokens"],
    "CompletionRequest": ["max_tokens"],
    "ChatCompletionRequest": ["max_tokens"],
    "ImageRequest": ["num_inference_steps", "width", "height"],
    "ImageGenerationRequest": ["num_inference_steps", "size"],
    "Body_edit_images_v1_images_edits_post": ["num_inference_steps", "size"],
}


def with_small_limits(openapi: dict[str, Any]) -> dict[str, Any]:
    """A copy of the gateway's schema whose costly fields are small and always sent (never null)."""
    schema = json.loads(json.dumps(openapi))
    components = schema["components"]["schemas"]
    bound_fields(schema, {name: SMALL_LIMITS for name in components})
    for name, fields in REQUIRED_IN.items():
        component = components[name]
        for field in fields:
            field_schema = component["properties"][field]
            if "anyOf" in field_schema:
                field_schema["anyOf"] = [branch for branch in field_schema["anyOf"] if branch.get("type") != "null"]
        component["required"] = sorted({*component.get("required", []), *fields})
    return schema


async def run_schemathesis(schema_file: Path, base_url: str, *extra: str) -> tuple[int, str]:
    """Runs ``st run`` without blocking the event loop (an in-process gateway may share it)."""
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        str(schema_file),
        "--url",
        base_url,
        "--checks",
        CHECKS,
        "--workers",
        "1",
        "--seed",
        "7",
        "--request-timeout",
        "120",
        *extra,
        cwd=schema_file.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), RUN_SECONDS)
    return process.returncode or 0, output.decode(errors="replace")
