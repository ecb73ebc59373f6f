"""A grpc.aio server the way both model services run it: health, reflection, load-then-serve, drain.

The server starts listening before the model loads, so that orchestrators see NOT_SERVING (not a refused
connection) during a long load; it switches to SERVING only after the model is loaded and warm. SIGTERM
and SIGINT flip health to NOT_SERVING, stop accepting new calls and let in-flight ones finish within the
grace period, and the process then exits 0.
"""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from serving_core.request_decoding import RejectUndecodableRequests

logger = logging.getLogger(__name__)

# Clients are asked to reconnect after this long (in-flight calls finish first: the grace is unbounded),
# which is when gRPC re-resolves a `dns:///` target, so replicas added by a scale-up start getting traffic.
MAX_CONNECTION_AGE_MS = 60_000


class GrpcHost:
    """One grpc.aio server plus the standard health service, for one model service."""

    def __init__(self, *, bind: str, service_name: str, grace_seconds: float, max_message_bytes: int) -> None:
        self.server = grpc.aio.server(
            interceptors=[RejectUndecodableRequests()],
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),
                ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
            ],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._bind = bind
        self._service_name = service_name
        self._grace_seconds = grace_seconds
        self._stop_requested = asyncio.Event()

    async def start(self) -> int:
        """Starts listening with health NOT_SERVING; returns the bound port (useful with port 0)."""
        port = self.server.add_insecure_port(self._bind)
        if port == 0:
            raise OSError(f"cannot bind gRPC server to {self._bind}")
        reflection.enable_server_reflection(
            [self._service_name, reflection.SERVICE_NAME, health.SERVICE_NAME], self.server
        )
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        self._install_signal_handlers()
        logger.info("listening", extra={"fields": {"bind": self._bind, "port": port}})
        return port

    async def mark_serving(self) -> None:
        """Tells health checkers the model is loaded and warm."""
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        logger.info("serving", extra={"fields": {"service": self._service_name}})

    def request_stop(self) -> None:
        """Asks the host to drain and stop, as SIGTERM does."""
        self._stop_requested.set()

    async def run(self, load: Callable[[], Awaitable[None]]) -> None:
        """Loads the model while listening, serves until a stop signal, then drains in-flight calls."""
        loading = asyncio.ensure_future(load())
        stop = asyncio.ensure_future(self._stop_requested.wait())
        done, _ = await asyncio.wait({loading, stop}, return_when=asyncio.FIRST_COMPLETED)
        if loading in done:
            loading.result()
            await self.mark_serving()
            await stop
        await self.drain()
        loading.cancel()

    async def drain(self) -> None:
        """Refuses new calls, lets in-flight ones finish within the grace period, then stops."""
        logger.info("draining", extra={"fields": {"grace_seconds": self._grace_seconds}})
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self._grace_seconds)
        logger.info("stopped")

    async def _set_health(self, status: "health_pb2.HealthCheckResponse.ServingStatus") -> None:
        for name in ("", self._service_name):
            await self.health.set(name, status)

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_requested.set)
