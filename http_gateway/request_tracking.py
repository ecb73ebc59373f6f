"""ASGI middleware that gives every request an id, counts it in the metrics and logs one line when it ends.

Written against raw ASGI rather than Starlette's BaseHTTPMiddleware, which would buffer and re-wrap
``receive``: streams must pass through untouched, and routes must still see the client's disconnect.
"""

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from http_gateway.metrics import GatewayMetrics
from serving_core.structured_logging import log_fields

logger = logging.getLogger("http_gateway.requests")

REQUEST_ID_HEADER = "x-request-id"
# Leaves room for the "-<choice>" suffix within the services' 128-character limit.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def request_id_of(scope: Scope) -> str | None:
    """The id the middleware gave the request (None outside a tracked request)."""
    return scope.get("state", {}).get("request_id")


def started_at(scope: Scope) -> float:
    """``time.perf_counter()`` when the request arrived."""
    return scope.get("state", {}).get("started_at", time.perf_counter())


def route_of(scope: Scope) -> str:
    """The matched route's path template, so metric labels stay few."""
    return getattr(scope.get("route"), "path", None) or "unmatched"


class RequestTracking:
    """Request ids (the client's X-Request-ID when it is sane), metrics, and a log line per request."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started_at"] = started = time.perf_counter()
        response = {"status": 499, "bytes": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                response["bytes"] += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            response["status"] = 500
            raise
        finally:
            self.metrics.in_flight.dec()
            self._finish(scope, request_id, started, response)

    def _finish(self, scope: Scope, request_id: str, started: float, response: dict[str, int]) -> None:
        route = route_of(scope)
        elapsed = time.perf_counter() - started
        self.metrics.requests.labels(route, scope["method"], str(response["status"])).inc()
        self.metrics.latency.labels(route, scope["method"]).observe(elapsed)
        log_fields(
            logger,
            "request",
            request_id=request_id,
            method=scope["method"],
            path=scope["path"],
            route=route,
            status=response["status"],
            seconds=round(elapsed, 4),
            bytes_out=response["bytes"],
        )

    @staticmethod
    def _request_id(scope: Scope) -> str:
        for name, value in scope.get("headers", []):
            if name == REQUEST_ID_HEADER.encode():
                candidate = value.decode("latin-1")
                if _ACCEPTED_ID.fullmatch(candidate):
                    return candidate
        return uuid.uuid4().hex
