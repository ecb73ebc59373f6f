"""The gateway's FastAPI app: ``create_app(settings)`` is the one place routes and mounts are added."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from http_gateway.auth import bearer_guard
from http_gateway.backends import ImageBackend, TextBackend
from http_gateway.config import GatewaySettings
from http_gateway.error_handlers import install_error_handlers
from http_gateway.gateway_state import GatewayState
from http_gateway.health_monitor import BackendMonitor
from http_gateway.metrics import GatewayMetrics
from http_gateway.openai_api import chat, completions, images, models
from http_gateway.original_api import health_routes, image_routes, text_routes
from http_gateway.playground import mount_playground
from http_gateway.request_tracking import RequestTracking
from http_gateway.schema_limits import publish_backend_limits
from http_gateway.sse_schema import add_event_components

DESCRIPTION = """Text and image generation from local models, over the original REST routes, Server-Sent
Events and the OpenAI API. Every error has one JSON shape: `{"error": {message, type, param, code,
request_id}}`."""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway app; backends are dialed and probed in its lifespan, so building it does no I/O."""
    settings = settings or GatewaySettings()
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        text = TextBackend("text", settings.text_target, settings.text_deadline_seconds)
        image = ImageBackend("image", settings.image_target, settings.image_deadline_seconds)
        monitor = BackendMonitor(
            [text, image],
            metrics,
            interval_seconds=settings.health_interval_seconds,
            timeout_seconds=settings.health_timeout_seconds,
        )
        app.state.gateway = GatewayState(settings, metrics, text, image, monitor)
        await monitor.refresh()
        monitor.start()
        try:
            yield
        finally:
            await monitor.stop()
            await text.close()
            await image.close()

    app = FastAPIOffline(title="Hearth gateway", version="1.0.0", description=DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app, metrics)
    add_event_components(app)

    def reported_limits() -> dict[str, dict[str, float]]:
        state: GatewayState | None = getattr(app.state, "gateway", None)
        return state.monitor.limits() if state else {}

    publish_backend_limits(app, reported_limits)
    api_key = settings.api_key.get_secret_value()
    guarded = [Depends(bearer_guard(api_key))] if api_key else []

    app.include_router(health_routes.router)
    app.include_router(text_routes.router, dependencies=guarded)
    app.include_router(image_routes.router, dependencies=guarded)
    app.include_router(models.router, dependencies=guarded)
    app.include_router(completions.router, dependencies=guarded)
    app.include_router(chat.router, dependencies=guarded)
    app.include_router(images.router, dependencies=guarded)
    mount_playground(app)

    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", prometheus_metrics, methods=["GET"], include_in_schema=False)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["x-request-id", "retry-after"],
        )
    app.add_middleware(RequestTracking, metrics=metrics)
    return app
