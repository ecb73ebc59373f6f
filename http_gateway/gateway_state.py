"""What the routes share for the life of the app, and the FastAPI dependencies that hand it out."""

from dataclasses import dataclass

from fastapi import Request

from http_gateway.backends import ImageBackend, TextBackend
from http_gateway.config import GatewaySettings
from http_gateway.health_monitor import BackendMonitor
from http_gateway.metrics import GatewayMetrics


@dataclass
class GatewayState:
    """Settings, metrics, the two backends and their monitor; built in the app's lifespan."""

    settings: GatewaySettings
    metrics: GatewayMetrics
    text: TextBackend
    image: ImageBackend
    monitor: BackendMonitor


def gateway_state(request: Request) -> GatewayState:
    """FastAPI dependency: the running app's GatewayState."""
    return request.app.state.gateway
