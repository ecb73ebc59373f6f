"""Background probes of each backend's standard gRPC health service and model info.

/health and the readiness route read the latest snapshot and never call a backend themselves, so they
answer in microseconds however busy the backends are. Probes have short deadlines and go over their own
channel, so a generation in flight never delays them.
"""

import asyncio
import contextlib
import logging
import time
from typing import Literal

import grpc
from grpc_health.v1 import health_pb2
from pydantic import BaseModel, Field

from hearth.image.v1 import image_service_pb2
from hearth.text.v1 import text_service_pb2
from http_gateway.backends import Backend
from http_gateway.metrics import GatewayMetrics

logger = logging.getLogger(__name__)

ServingState = Literal["serving", "not_serving", "unreachable", "unknown"]


class BackendHealth(BaseModel):
    """One backend as the latest probe saw it."""

    target: str = Field(description="where the gateway reaches the backend")
    status: ServingState = Field(description="standard gRPC health of the service, or unreachable")
    loaded: bool = Field(description="true when the model is loaded and the service is SERVING")
    model_id: str | None = Field(None, description="the model's name (GetModelInfo)")
    engine: str | None = Field(
        None, description="what runs the model: the text engine (e.g. openvino-continuous-batching) or image pipeline"
    )
    device: str | None = Field(None, description="torch device of the model, e.g. cpu or cuda:0")
    dtype: str | None = Field(None, description="torch dtype of the weights")
    active_requests: int | None = Field(None, description="requests being generated now")
    queued_requests: int | None = Field(None, description="requests waiting in the backend's queue")
    error: str | None = Field(None, description="why the last probe failed, if it did")
    checked_at: float | None = Field(None, description="Unix time of the last probe")


class BackendMonitor:
    """Keeps a fresh BackendHealth per backend, probing them all every ``interval_seconds``."""

    def __init__(
        self,
        backends: list[Backend],
        metrics: GatewayMetrics,
        *,
        interval_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self._backends = backends
        self._metrics = metrics
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._snapshot = {b.name: BackendHealth(target=b.target, status="unknown", loaded=False) for b in backends}
        self._first_seen: dict[str, float] = {}
        self._limits: dict[str, dict[str, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, BackendHealth]:
        return dict(self._snapshot)

    def limits(self) -> dict[str, dict[str, float]]:
        """Each backend's limits (GetModelInfo's ``limits``) as last reported, by field name."""
        return dict(self._limits)

    def first_seen(self, backend: str) -> int:
        """Unix time the backend's model was first seen serving (OpenAI's ``created``)."""
        return int(self._first_seen.get(backend, time.time()))

    async def refresh(self) -> None:
        """Probes every backend once, concurrently."""
        results = await asyncio.gather(*(self._probe(backend) for backend in self._backends))
        for backend, health in zip(self._backends, results, strict=True):
            self._snapshot[backend.name] = health
            self._export(backend.name, health)
            if health.loaded:
                self._first_seen.setdefault(backend.name, time.time())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="backend-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                logger.exception("backend probe failed")
            await asyncio.sleep(self._interval)

    async def _probe(self, backend: Backend) -> BackendHealth:
        previous = self._snapshot[backend.name]
        checked_at = time.time()
        try:
            reply = await backend.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            return BackendHealth(
                target=backend.target, status="unreachable", loaded=False, error=error.details(), checked_at=checked_at
            )
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            return previous.model_copy(
                update={"status": "not_serving", "loaded": False, "error": None, "checked_at": checked_at}
            )
        try:
            info = await backend.model_info(self._timeout)
        except grpc.aio.AioRpcError as error:
            return previous.model_copy(
                update={"status": "serving", "loaded": True, "error": error.details(), "checked_at": checked_at}
            )
        self._limits[backend.name] = {
            field.name: getattr(info.limits, field.name)
            for field in info.limits.DESCRIPTOR.fields
            if field.type != field.TYPE_STRING  # the image service's input_formats names formats: no bound
        }
        return BackendHealth(
            target=backend.target,
            status="serving",
            loaded=True,
            model_id=info.model_id,
            engine=_engine_name(info),
            device=info.device,
            dtype=info.dtype,
            active_requests=info.stats.active_requests,
            queued_requests=info.stats.queued_requests,
            checked_at=checked_at,
        )

    def _export(self, name: str, health: BackendHealth) -> None:
        self._metrics.backend_up.labels(name).set(1 if health.loaded else 0)
        if health.active_requests is not None:
            self._metrics.backend_active.labels(name).set(health.active_requests)
        if health.queued_requests is not None:
            self._metrics.backend_queued.labels(name).set(health.queued_requests)


def _engine_name(info: text_service_pb2.GetModelInfoResponse | image_service_pb2.GetModelInfoResponse) -> str:
    if isinstance(info, text_service_pb2.GetModelInfoResponse):
        return info.engine.name
    return info.pipeline_class
