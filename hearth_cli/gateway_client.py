"""The CLI's HTTP side: the gateway's REST, SSE and OpenAI routes turned into the CLI's own messages.

httpx does the HTTP and httpx-sse the event-stream framing; this module only knows the gateway's
routes and payloads, and turns every failure into a one-line `HearthError`.
"""

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent, connect_sse

from hearth_cli.errors import EXIT_FAILED, EXIT_REJECTED, EXIT_UNAVAILABLE, HearthError, exit_code_for_http_status
from hearth_cli.messages import (
    ImageEvent,
    ImageProgress,
    ImageRequest,
    ImageResult,
    ServiceStatus,
    TextChunk,
    TextDone,
    TextEvent,
    TextRequest,
)

# No read timeout of its own: a long image or a full queue may keep a stream quiet for a while, and
# Ctrl-C is always there to end it.
STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)
STATUS_TIMEOUT = httpx.Timeout(10.0)


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    """Unset options are left out so the server's own defaults apply."""
    return {name: value for name, value in fields.items() if value is not None}


def _base64_or_none(data: bytes) -> str | None:
    return base64.b64encode(data).decode("ascii") if data else None


def error_message(body: Any, fallback: str) -> str:
    """The message of the gateway's one error shape, or of FastAPI's `detail`, or the fallback."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            first = detail[0]
            location = ".".join(str(part) for part in first.get("loc", []) if part != "body")
            return f"{location}: {first.get('msg', '')}" if location else str(first.get("msg", ""))
    return fallback


def _response_error(response: httpx.Response) -> HearthError:
    response.read()
    try:
        body = response.json()
    except ValueError:
        body = None
    message = error_message(body, response.text.strip() or response.reason_phrase)
    return HearthError(f"{message} (HTTP {response.status_code})", exit_code_for_http_status(response.status_code))


_UNAVAILABLE_TYPES = {"service_unavailable", "timeout"}
_REJECTED_TYPES = {
    "invalid_request_error",
    "rate_limit_error",
    "authentication_error",
    "not_found_error",
    "insufficient_resources",
}


def _stream_error(data: str) -> HearthError:
    """An `event: error` (or an OpenAI-style error chunk) that arrived after the stream had started."""
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    exit_code = EXIT_FAILED
    if kind in _UNAVAILABLE_TYPES:
        exit_code = EXIT_UNAVAILABLE
    elif kind in _REJECTED_TYPES:
        exit_code = EXIT_REJECTED
    return HearthError(error_message(body, data or "the stream ended with an error"), exit_code)


class GatewayClient:
    """Talks to one gateway; `token` is sent as a bearer token when given."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=STREAM_TIMEOUT)

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _sse(self, path: str, payload: dict[str, Any]) -> Iterator[Iterator[ServerSentEvent]]:
        """Opens an SSE POST; leaving the block closes the connection, which the gateway reads as cancel."""
        try:
            with connect_sse(self._client, "POST", path, json=payload) as source:
                if source.response.status_code >= 400:
                    raise _response_error(source.response)
                yield self._guarded(source)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from exc

    def _guarded(self, source: EventSource) -> Iterator[ServerSentEvent]:
        try:
            yield from source.iter_sse()
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from exc

    def _transport_error(self, exc: httpx.TransportError) -> HearthError:
        if isinstance(exc, httpx.ConnectError):
            return HearthError(f"cannot reach the gateway at {self.url} (is it running? `hearth up`)", EXIT_UNAVAILABLE)
        return HearthError(f"the connection to the gateway at {self.url} broke: {exc}", EXIT_UNAVAILABLE)

    @contextmanager
    def text_stream(self, request: TextRequest) -> Iterator[Iterator[TextEvent]]:
        if request.chat:
            with self._sse("/v1/chat/completions", self._chat_payload(request)) as events:
                yield _chat_events(events)
            return
        payload = _without_none(
            {
                "prompt": request.prompt,
                "max_new_tokens": request.max_new_tokens,
                "temperature": request.temperature,
                "seed": request.seed,
                "include_prompt": False,
                "stream": True,
                "json_schema": request.json_schema,
                "regex": request.regex,
            }
        )
        with self._sse("/generate-text", payload) as events:
            yield _text_events(events)

    def _chat_payload(self, request: TextRequest) -> dict[str, Any]:
        """OpenAI chat; a JSON Schema goes as its ``response_format``, which has no regex counterpart."""
        if request.regex is not None:
            raise HearthError("--regex with --chat needs --grpc: the OpenAI chat API has no regex field", EXIT_REJECTED)
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.prompt})
        response_format = None
        if request.json_schema is not None:
            schema = {"name": "output", "schema": request.json_schema, "strict": True}
            response_format = {"type": "json_schema", "json_schema": schema}
        return _without_none(
            {
                "messages": messages,
                "max_tokens": request.max_new_tokens,
                "temperature": request.temperature,
                "seed": request.seed,
                "stream": True,
                "stream_options": {"include_usage": True},
                "response_format": response_format,
            }
        )

    @contextmanager
    def image_stream(self, request: ImageRequest) -> Iterator[Iterator[ImageEvent]]:
        payload = _without_none(
            {
                "prompt": request.prompt,
                "negative_prompt": request.negative_prompt,
                "num_inference_steps": request.steps,
                "guidance_scale": request.guidance_scale,
                "seed": request.seed,
                "num_images": request.num_images,
                "stream": True,
                "init_image_base64": _base64_or_none(request.init_image),
                "mask_base64": _base64_or_none(request.mask_image),
                "strength": request.strength,
                "preview_every": request.preview_every or None,
            }
        )
        # An explicit null size is the model's native size; absent, the original route draws 512 px.
        payload |= {"width": request.width, "height": request.height}
        with self._sse("/generate-image", payload) as events:
            yield _image_events(events)

    def health(self) -> dict[str, Any]:
        """The gateway's /health body; a gateway that does not answer is a `HearthError`."""
        try:
            response = self._client.get("/health", timeout=STATUS_TIMEOUT)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise _response_error(response)
        return response.json()

    def status(self) -> list[ServiceStatus]:
        return statuses_from_health(self.health())


def _text_events(events: Iterator[ServerSentEvent]) -> Iterator[TextEvent]:
    for event in events:
        if event.event == "token":
            yield TextChunk(event.json()["text"])
        elif event.event == "done":
            body = event.json()
            yield TextDone(body.get("finish_reason", ""), body.get("usage") or {}, body.get("timings") or {})
            return
        elif event.event == "error":
            raise _stream_error(event.data)
    raise HearthError("the gateway ended the stream before it was done", EXIT_UNAVAILABLE)


def _chat_events(events: Iterator[ServerSentEvent]) -> Iterator[TextEvent]:
    finish_reason, usage = "", {}
    for event in events:
        if event.data == "[DONE]":
            yield TextDone(finish_reason, usage)
            return
        if event.event == "error":
            raise _stream_error(event.data)
        chunk = event.json()
        if "error" in chunk:
            raise _stream_error(event.data)
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", []):
            content = (choice.get("delta") or {}).get("content")
            if content:
                yield TextChunk(content)
            finish_reason = choice.get("finish_reason") or finish_reason
    raise HearthError("the gateway ended the stream before it was done", EXIT_UNAVAILABLE)


def _image_events(events: Iterator[ServerSentEvent]) -> Iterator[ImageEvent]:
    for event in events:
        if event.event == "progress":
            body = event.json()
            preview = base64.b64decode(body.get("preview_base64", ""))
            yield ImageProgress(body["step"], body["total_steps"], body.get("elapsed_seconds", 0.0), preview)
        elif event.event == "image":
            body = event.json()
            data = base64.b64decode(body["image_base64"])
            yield ImageResult(body.get("index", 0), data, body.get("seed", 0), body.get("mime_type", "image/png"))
        elif event.event == "done":
            return
        elif event.event == "error":
            raise _stream_error(event.data)
    raise HearthError("the gateway ended the stream before it was done", EXIT_UNAVAILABLE)


def statuses_from_health(health: dict[str, Any]) -> list[ServiceStatus]:
    """Rows for `hearth status` out of the gateway's /health: the gateway, then each backend's last probe."""
    rows = [ServiceStatus("gateway", str(health.get("api_status", "running")), True)]
    for name in ("text", "image"):
        backend = health.get(name) or {}
        rows.append(
            ServiceStatus(
                name,
                str(backend.get("status", "unknown")),
                bool(health.get(f"{name}_model_loaded")),
                model=backend.get("model_id") or "",
                engine=backend.get("engine") or "",
                device=backend.get("device") or "",
                dtype=backend.get("dtype") or "",
                active=backend.get("active_requests"),
                queued=backend.get("queued_requests"),
                detail=backend,
            )
        )
    return rows
