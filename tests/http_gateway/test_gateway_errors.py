"""Every failure answers one JSON error shape with the status of DESIGN.md's error table."""

import json
import logging

import httpx
import pytest

from tests.http_gateway.sse_reading import read_events

ERROR_KEYS = {"message", "type", "param", "code", "request_id"}


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body["error"]


@pytest.mark.parametrize(
    ("command", "status", "kind", "code"),
    [
        (
            "fail:INVALID_ARGUMENT:reason=INVALID_FIELD:field=sampling.top_p",
            400,
            "invalid_request_error",
            "invalid_argument",
        ),
        ("fail:RESOURCE_EXHAUSTED:reason=QUEUE_FULL", 429, "rate_limit_error", "resource_exhausted"),
        ("fail:RESOURCE_EXHAUSTED:reason=OUT_OF_MEMORY", 507, "insufficient_resources", "resource_exhausted"),
        ("fail:UNAVAILABLE:reason=LOADING", 503, "service_unavailable", "unavailable"),
        ("fail:UNAVAILABLE:reason=SHUTTING_DOWN", 503, "service_unavailable", "unavailable"),
        ("fail:DEADLINE_EXCEEDED:reason=DEADLINE_EXCEEDED", 504, "timeout", "deadline_exceeded"),
        ("fail:CANCELLED:reason=CANCELLED", 503, "service_unavailable", "cancelled"),
        ("fail:INTERNAL:reason=INTERNAL", 500, "internal_error", "internal"),
        # Statuses gRPC makes itself carry no ErrorInfo; their code decides.
        ("fail:RESOURCE_EXHAUSTED", 429, "rate_limit_error", "resource_exhausted"),
        ("fail:UNAVAILABLE", 503, "service_unavailable", "unavailable"),
        ("fail:DEADLINE_EXCEEDED", 504, "timeout", "deadline_exceeded"),
        ("fail:UNIMPLEMENTED", 501, "not_implemented", "unimplemented"),
        # A field the engine cannot honour is the client's choice: 400, which the OpenAI SDK does not retry.
        (
            "fail:UNIMPLEMENTED:reason=UNSUPPORTED_FIELD:field=guided.regex",
            400,
            "invalid_request_error",
            "unimplemented",
        ),
        ("fail:UNKNOWN", 500, "internal_error", "unknown"),
        # A reason this gateway does not know falls back to the code.
        ("fail:UNAVAILABLE:reason=SOMETHING_NEW", 503, "service_unavailable", "unavailable"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_backend_status_maps_to_http(
    client: httpx.AsyncClient, command: str, status: int, kind: str, code: str, stream: bool
) -> None:
    response = await client.post("/generate-text", json={"prompt": command, "stream": stream})
    assert response.status_code == status
    error = error_of(response)
    assert (error["type"], error["code"]) == (kind, code)


async def test_bad_field_names_the_field_and_the_limit(client: httpx.AsyncClient) -> None:
    original = await client.post(
        "/generate-text", json={"prompt": "fail:INVALID_ARGUMENT:field=sampling.max_new_tokens"}
    )
    assert error_of(original)["param"] == "max_new_tokens"
    assert "max_new_tokens: must be <= 8" in error_of(original)["message"]
    openai = await client.post(
        "/v1/completions", json={"model": "m", "prompt": "fail:INVALID_ARGUMENT:field=sampling.max_new_tokens"}
    )
    assert (openai.status_code, error_of(openai)["param"]) == (400, "max_tokens")
    nested = await client.post("/generate-text", json={"prompt": "fail:INVALID_ARGUMENT:field=sampling.stop[1]"})
    assert error_of(nested)["param"] == "stop[1]"


async def test_full_queue_sends_retry_after(client: httpx.AsyncClient) -> None:
    default = await client.post("/generate-text", json={"prompt": "fail:RESOURCE_EXHAUSTED:reason=QUEUE_FULL"})
    assert default.headers["retry-after"] == "1"
    named = await client.post("/generate-text", json={"prompt": "fail:RESOURCE_EXHAUSTED:reason=QUEUE_FULL:retry=7"})
    assert named.headers["retry-after"] == "7"
    assert "queue is full" in error_of(named)["message"]


async def test_out_of_memory_says_so(client: httpx.AsyncClient) -> None:
    response = await client.post("/generate-image", json={"prompt": "fail:RESOURCE_EXHAUSTED:reason=OUT_OF_MEMORY"})
    assert response.status_code == 507
    assert "ran out of device memory" in error_of(response)["message"]
    assert "retry-after" not in response.headers


async def test_the_reason_decides_not_the_words_of_the_message(client: httpx.AsyncClient) -> None:
    """The fake's messages never say "queue" or "memory": only ErrorInfo tells 429 and 507 apart."""
    for prompt, status in [
        ("fail:RESOURCE_EXHAUSTED:reason=OUT_OF_MEMORY:retry=7", 507),
        ("fail:RESOURCE_EXHAUSTED:reason=QUEUE_FULL", 429),
    ]:
        response = await client.post("/generate-text", json={"prompt": prompt})
        assert response.status_code == status, prompt
        assert error_of(response)["message"].endswith(": fake resource_exhausted")


async def test_deadline_passes_to_grpc(client: httpx.AsyncClient) -> None:
    response = await client.post("/generate-text", json={"prompt": "hang"})
    assert response.status_code == 504
    assert error_of(response)["code"] == "deadline_exceeded"


async def test_internal_error_carries_the_request_id_into_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="http_gateway"):
        response = await client.post(
            "/generate-text", json={"prompt": "fail:INTERNAL"}, headers={"x-request-id": "r-42"}
        )
    assert response.status_code == 500
    assert error_of(response)["request_id"] == "r-42"
    assert any(getattr(r, "fields", {}).get("request_id") == "r-42" for r in caplog.records)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/generate-text", {}, "prompt"),
        ("/generate-text", {"prompt": "p", "max_new_tokens": 0}, "max_new_tokens"),
        ("/generate-text", {"prompt": "p", "temperature": 5}, "temperature"),
        ("/generate-text", {"prompt": "p", "seed": 2**64}, "seed"),
        ("/generate-text", {"prompt": "bad \ud800 text"}, "prompt"),
        ("/generate-image", {"prompt": "p", "width": 100}, "width"),
        ("/v1/chat/completions", {"model": "m", "messages": []}, "messages"),
        ("/v1/chat/completions", {"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ("/v1/images/generations", {"prompt": "p", "size": "big"}, "size"),
        ("/v1/images/generations", {"prompt": "p", "response_format": "url"}, "response_format"),
    ],
)
async def test_schema_errors_are_422_naming_the_field(
    client: httpx.AsyncClient, path: str, body: dict, param: str
) -> None:
    ascii_json = json.dumps(body)  # escapes the lone surrogate as JSON allows, where httpx's encoder refuses it
    response = await client.post(path, content=ascii_json, headers={"content-type": "application/json"})
    assert response.status_code == 422
    error = error_of(response)
    assert (error["param"], error["type"], error["code"]) == (param, "invalid_request_error", "validation_error")
    assert param.split(".")[0] in error["message"]


async def test_malformed_json_and_unknown_routes_use_the_same_shape(client: httpx.AsyncClient) -> None:
    broken = await client.post("/generate-text", content=b'{"prompt":', headers={"content-type": "application/json"})
    assert (broken.status_code, error_of(broken)["param"]) == (422, "body")
    missing = await client.get("/no-such-route")
    assert (missing.status_code, error_of(missing)["type"]) == (404, "not_found_error")
    wrong_method = await client.get("/generate-text")
    assert wrong_method.status_code == 405
    error_of(wrong_method)


async def test_failure_mid_stream_becomes_an_error_event(client: httpx.AsyncClient) -> None:
    body = {"prompt": "midfail", "include_prompt": False, "stream": True}
    events = await read_events(client, "/generate-text", body)
    assert [name for name, _ in events] == ["token", "token", "error"]
    assert events[-1][1]["error"]["type"] == "internal_error"
    image_events = await read_events(client, "/generate-image", {"prompt": "midfail", "stream": True})
    assert image_events[-1][0] == "error"
    assert image_events[-1][1]["error"]["type"] == "insufficient_resources"


async def test_failure_mid_openai_stream_is_an_error_chunk(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "midfail"}], "stream": True}
    events = await read_events(client, "/v1/chat/completions", body)
    assert all(name == "message" for name, _ in events)
    assert events[-1][1]["error"]["code"] == "internal"
