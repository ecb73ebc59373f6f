"""Health checks polled on their own thread while a load runs, the way an orchestrator would poll them.

The poller has its own connection and thread, so a check's latency is the server's, not the load
generator's event loop's.
"""

import threading
import time
from types import TracebackType
from typing import Protocol

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

CHECK_TIMEOUT_SECONDS = 60.0


class HealthCheck(Protocol):
    def __call__(self) -> None:
        """Returns when the service answered healthy; raises otherwise."""

    def close(self) -> None: ...


class GrpcHealthCheck:
    """The standard `grpc.health.v1` Check on the overall service."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = health_pb2_grpc.HealthStub(self._channel)

    def __call__(self) -> None:
        reply = self._stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=CHECK_TIMEOUT_SECONDS)
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError(f"health status {reply.status}")

    def close(self) -> None:
        self._channel.close()


class HttpHealthCheck:
    """GET on an HTTP health route; any 2xx counts as healthy."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._http = httpx.Client(timeout=CHECK_TIMEOUT_SECONDS)

    def __call__(self) -> None:
        self._http.get(self._url).raise_for_status()

    def close(self) -> None:
        self._http.close()


class HealthPoller:
    """Context manager: polls `check` every `interval` seconds until the block exits; keeps each latency."""

    def __init__(self, check: HealthCheck, interval: float = 0.1) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self._check = check
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="health-poller", daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self._check()
                self.latencies.append(time.perf_counter() - started)
            except Exception:
                self.failures += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> "HealthPoller":
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(CHECK_TIMEOUT_SECONDS)
