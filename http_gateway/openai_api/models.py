"""GET /v1/models: the text and image models the backends last reported."""

from typing import Annotated

from fastapi import APIRouter, Depends

from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.openai_api.model_names import served_model_name
from http_gateway.openai_api.protocol import ModelCard, ModelList

router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models", response_model=ModelList, responses=ERROR_RESPONSES, summary="OpenAI model list")
async def list_models(state: Annotated[GatewayState, Depends(gateway_state)]) -> ModelList:
    """Each backend's model once it has been seen serving (from the health monitor, no backend call)."""
    cards = [
        ModelCard(id=name, created=state.monitor.first_seen(backend))
        for backend in ("text", "image")
        if (name := served_model_name(state, backend))
    ]
    return ModelList(data=cards)
