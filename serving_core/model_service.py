"""The life of a model service process, the same for text and image: listen, load, serve, drain, stop.

The host listens with health NOT_SERVING before the model loads, so orchestrators see a loading service
rather than a refused connection; the service's ``load`` reads the weights and warms the engine up off the
event loop, and only then does health switch to SERVING. SIGTERM drains in-flight requests within the
grace period, then the engines the load registered are stopped and the process exits 0. A model that
cannot be loaded is a ``ModelLoadError``: one JSON error line naming it, and exit code 2.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from serving_core.grpc_host import GrpcHost
from serving_core.structured_logging import configure_logging

MODEL_LOAD_EXIT_CODE = 2

logger = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model cannot be loaded as configured; the message names the setting to change."""


class HostSettings(Protocol):
    """The settings every model service has for its gRPC host and its logs."""

    @property
    def bind(self) -> str: ...

    grace_seconds: float
    max_message_mib: int
    log_level: str


@dataclass(frozen=True)
class ModelService:
    """What differs between the model services: their gRPC service, servicer and model.

    ``load`` runs while the host already answers NOT_SERVING; it loads and warms the model up (off the
    event loop), hands the servicer its engine, and registers on the exit stack whatever must be stopped
    when the service ends (its engine), so a load that fails half-way is cleaned up too.
    """

    name: str
    add_servicer: Callable[[grpc.aio.Server], None]
    load: Callable[[AsyncExitStack], Awaitable[None]]
    route_library_logs: Callable[[], None] = field(default=lambda: None)


async def serve(settings: HostSettings, service: ModelService) -> None:
    """Serves until SIGTERM/SIGINT, then drains in-flight requests and stops the engines."""
    host = GrpcHost(
        bind=settings.bind,
        service_name=service.name,
        grace_seconds=settings.grace_seconds,
        max_message_bytes=settings.max_message_mib * 1024 * 1024,
    )
    service.add_servicer(host.server)
    async with AsyncExitStack() as engines:
        await host.start()
        try:
            await host.run(lambda: service.load(engines))
        finally:
            await host.server.stop(None)  # drained already, unless loading failed and left it listening


def run(settings: HostSettings, service: ModelService) -> None:
    """The process's whole life: JSON logs, then ``serve``; a model that cannot be loaded exits 2."""
    configure_logging(settings.log_level)
    service.route_library_logs()
    try:
        asyncio.run(serve(settings, service))
    except ModelLoadError as error:
        logger.error("model not loaded", extra={"fields": {"service": service.name, "error": str(error)}})
        raise SystemExit(MODEL_LOAD_EXIT_CODE) from None
