"""gRPC channels to the model services, spread over replicas with round_robin.

Each backend gets two channels to the same replicas. Generation calls go over one that uses client-side
health checking, so round_robin skips a replica that is loading or draining. Health probes go over one
without it, so the gateway can still tell a loading replica (NOT_SERVING) from one it cannot reach.
"""

import ipaddress
import json
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from hearth.image.v1 import image_service_pb2, image_service_pb2_grpc
from hearth.text.v1 import text_service_pb2, text_service_pb2_grpc

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:", "xds:")
_COMMON_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # A restarted backend is found again within a second, not after gRPC's default 2-minute backoff cap.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def dial_target(target: str) -> str:
    """The gRPC target for a configured one: ``a:1,b:2`` becomes ``ipv4:A:1,B:2`` (names resolved once).

    gRPC resolves one name per channel; a comma-separated replica list only exists in its ``ipv4:`` and
    ``ipv6:`` schemes, which take addresses. Anything that already names a scheme is passed through, so
    ``dns:///name:port`` keeps gRPC's own re-resolution (on every reconnect; the model services age
    connections out after a minute, so that happens regularly).
    """
    target = target.strip()
    if "," not in target or target.startswith(_SCHEMES):
        return target
    addresses = [_resolve(entry.strip()) for entry in target.split(",") if entry.strip()]
    versions = {address.version for address, _ in addresses}
    if versions == {4}:
        return "ipv4:" + ",".join(f"{address}:{port}" for address, port in addresses)
    if versions == {6}:
        return "ipv6:" + ",".join(f"[{address}]:{port}" for address, port in addresses)
    raise ValueError(f"target {target!r}: replicas must all be IPv4 or all IPv6 (use dns:/// for mixed names)")


def _resolve(entry: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, sep, port = entry.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"target {entry!r}: expected host:port")
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host), int(port)
    except ValueError:
        info = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        return ipaddress.ip_address(info[0][4][0]), int(port)


def _channel(target: str, *, skip_unhealthy: bool) -> grpc.aio.Channel:
    config: dict[str, object] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if skip_unhealthy:
        config["healthCheckConfig"] = {"serviceName": ""}
    options = [*_COMMON_OPTIONS, ("grpc.service_config", json.dumps(config))]
    return grpc.aio.insecure_channel(target, options=options)


@dataclass
class Backend(ABC):
    """One model service (all its replicas) as the gateway reaches it."""

    name: str
    target: str
    deadline_seconds: float
    calls: grpc.aio.Channel = field(init=False)
    probes: grpc.aio.Channel = field(init=False)

    def __post_init__(self) -> None:
        dialed = dial_target(self.target)
        self.calls = _channel(dialed, skip_unhealthy=True)
        self.probes = _channel(dialed, skip_unhealthy=False)
        self.health = health_pb2_grpc.HealthStub(self.probes)

    async def close(self) -> None:
        await self.calls.close()
        await self.probes.close()

    @abstractmethod
    async def model_info(self, deadline_seconds: float) -> Any:
        """The service's GetModelInfo reply, over the probe channel."""


class TextBackend(Backend):
    """The text service: generation stubs on the call channel, model info on the probe channel."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.stub = text_service_pb2_grpc.TextGenerationServiceStub(self.calls)
        self._info_stub = text_service_pb2_grpc.TextGenerationServiceStub(self.probes)

    async def model_info(self, deadline_seconds: float) -> text_service_pb2.GetModelInfoResponse:
        return await self._info_stub.GetModelInfo(text_service_pb2.GetModelInfoRequest(), timeout=deadline_seconds)


class ImageBackend(Backend):
    """The image service: generation stubs on the call channel, model info on the probe channel."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.stub = image_service_pb2_grpc.ImageGenerationServiceStub(self.calls)
        self._info_stub = image_service_pb2_grpc.ImageGenerationServiceStub(self.probes)

    async def model_info(self, deadline_seconds: float) -> image_service_pb2.GetModelInfoResponse:
        return await self._info_stub.GetModelInfo(image_service_pb2.GetModelInfoRequest(), timeout=deadline_seconds)
