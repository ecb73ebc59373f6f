"""POST /v1/images/generations: OpenAI image generation, answered with base64 images (``b64_json``)."""

import base64
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from http_gateway.backend_calls import ImageCalls
from http_gateway.cancellation import cancel_on_disconnect
from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.image_contract import image_params
from http_gateway.openai_api.protocol import ImageData, ImageGenerationRequest, ImagesResponse

router = APIRouter(prefix="/v1", tags=["openai"])

FIELD_NAMES = {"width": "size", "height": "size", "num_images": "n"}


def _size(size: str | None) -> tuple[int | None, int | None]:
    """``WxH`` as (width, height); ``auto`` or nothing leaves the pipeline's native size."""
    if not size or size == "auto":
        return None, None
    width, height = size.split("x")
    return int(width), int(height)


@router.post(
    "/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="OpenAI image generation",
)
async def create_images(
    body: ImageGenerationRequest,
    request: Request,
    state: Annotated[GatewayState, Depends(gateway_state)],
) -> ImagesResponse:
    """Draws ``n`` images of ``size`` in one backend call (the image service batches them)."""
    calls = ImageCalls(state, request, FIELD_NAMES)
    width, height = _size(body.size)
    params = image_params(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        num_inference_steps=body.num_inference_steps,
        guidance_scale=body.guidance_scale,
        width=width,
        height=height,
        seed=body.seed,
        num_images=body.n,
        scheduler=body.scheduler,
        output_format=body.output_format,
    )
    reply = await cancel_on_disconnect(request, calls.generate(params))
    return ImagesResponse(
        created=int(time.time()),
        data=[
            ImageData(b64_json=base64.b64encode(image.data).decode("ascii"), seed=image.seed) for image in reply.images
        ],
        output_format=body.output_format,
    )
