"""The names the OpenAI routes report for the served models."""

from http_gateway.gateway_state import GatewayState

FALLBACK_TEXT_NAME = "hearth-text"


def served_model_name(state: GatewayState, backend: str) -> str | None:
    """The backend's model id as its GetModelInfo last reported it, if it has been seen."""
    return state.monitor.snapshot()[backend].model_id or None


def text_model_name(state: GatewayState, requested: str | None) -> str:
    """The text model's real name; the request's ``model`` only when the backend has not been seen yet."""
    return served_model_name(state, "text") or requested or FALLBACK_TEXT_NAME
