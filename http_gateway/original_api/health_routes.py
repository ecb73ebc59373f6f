"""GET /health (liveness, the original keys) and GET /health/ready (readiness), from the monitor's snapshot."""

from typing import Annotated

from fastapi import APIRouter, Depends

from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.errors import ApiError
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.health_monitor import BackendHealth
from http_gateway.original_api.protocol import HealthResponse

router = APIRouter(tags=["health"])


def _device(backends: dict[str, BackendHealth]) -> str:
    devices = {name: health.device for name, health in backends.items() if health.device}
    if not devices:
        return "unknown"
    if len(set(devices.values())) == 1:
        return next(iter(devices.values()))
    return " ".join(f"{name}={device}" for name, device in devices.items())


def _health(state: GatewayState) -> HealthResponse:
    backends = state.monitor.snapshot()
    return HealthResponse(
        text_model_loaded=backends["text"].loaded,
        image_model_loaded=backends["image"].loaded,
        device=_device(backends),
        text=backends["text"],
        image=backends["image"],
    )


@router.get("/health", response_model=HealthResponse, summary="Liveness and each backend's state")
async def health(state: Annotated[GatewayState, Depends(gateway_state)]) -> HealthResponse:
    """Answers 200 whenever the gateway runs; ``*_model_loaded`` say whether each backend is SERVING.

    Read from the latest background probe (at most a second old), so it never waits on a backend.
    """
    return _health(state)


@router.get(
    "/health/ready",
    response_model=HealthResponse,
    responses={503: ERROR_RESPONSES[503]},
    summary="Readiness: 503 while a backend is down or loading",
)
async def ready(state: Annotated[GatewayState, Depends(gateway_state)]) -> HealthResponse:
    """200 when every backend is SERVING, else 503 naming the ones that are not (for load balancers)."""
    current = _health(state)
    waiting = [
        f"{name} backend {h.status}" for name, h in (("text", current.text), ("image", current.image)) if not h.loaded
    ]
    if waiting:
        raise ApiError(503, "not ready: " + ", ".join(waiting), type="service_unavailable", code="not_ready")
    return current
