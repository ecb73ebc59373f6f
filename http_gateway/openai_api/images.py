"""OpenAI's image routes, answered with base64 images (``b64_json``): POST /v1/images/generations, and
POST /v1/images/edits (multipart, as the SDKs' ``images.edit`` sends it: one image, an optional mask)."""

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from http_gateway.backend_calls import ImageCalls
from http_gateway.cancellation import cancel_on_disconnect
from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.errors import ApiError
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.image_contract import OutputFormat, base64_text, image_params
from http_gateway.openai_api.protocol import ImageData, ImageGenerationRequest, ImageSize, ImagesResponse
from http_gateway.proto_fields import GuidanceScale, PositiveUInt32, Strength, Text, UInt64

router = APIRouter(prefix="/v1", tags=["openai"])

FIELD_NAMES = {"width": "size", "height": "size", "num_images": "n"}
EDIT_FIELD_NAMES = {**FIELD_NAMES, "init_image": "image", "mask_image": "mask"}


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
    return await _draw(request, ImageCalls(state, request, FIELD_NAMES), body)


async def _draw(
    request: Request,
    calls: ImageCalls,
    body: ImageGenerationRequest,
    init_image: bytes = b"",
    mask_image: bytes = b"",
    strength: float | None = None,
) -> ImagesResponse:
    """One backend call for ``body`` (plus an edit's input, mask and strength) and OpenAI's answer."""
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
        init_image=init_image,
        mask_image=mask_image,
        strength=strength,
    )
    reply = await cancel_on_disconnect(request, calls.generate(params))
    return ImagesResponse(
        created=int(time.time()),
        data=[ImageData(b64_json=base64_text(image.data), seed=image.seed) for image in reply.images],
        output_format=body.output_format,
    )


async def _one_image(image: list[UploadFile] | None, array: list[UploadFile] | None) -> bytes:
    """The image to edit, sent as ``image`` or (as the SDK sends a list) ``image[]``: Hearth edits one."""
    uploads = (image or []) + (array or [])
    if len(uploads) != 1:
        raise ApiError(
            400,
            f"image: exactly one image file per request, got {len(uploads)}",
            type="invalid_request_error",
            code="invalid_argument",
            param="image",
        )
    return await uploads[0].read()


@router.post(
    "/images/edits",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
    summary="OpenAI image edit (image-to-image, or inpainting with a mask)",
)
async def edit_images(
    request: Request,
    state: Annotated[GatewayState, Depends(gateway_state)],
    prompt: Annotated[Text, Form(description="what the edited image shows")],
    image: Annotated[list[UploadFile] | None, File(description="the image to edit (one): PNG, JPEG or WebP")] = None,
    image_array: Annotated[list[UploadFile] | None, File(alias="image[]", description="as image, one file")] = None,
    mask: Annotated[
        UploadFile | None,
        File(description="same size as image; fully transparent (or, if opaque, white) pixels are redrawn"),
    ] = None,
    model: Annotated[str | None, Form(description="any name: the gateway serves one image model")] = None,
    n: Annotated[PositiveUInt32, Form(description="images to generate")] = 1,
    size: Annotated[ImageSize | None, Form(description="WIDTHxHEIGHT; auto or absent: the image's own")] = None,
    response_format: Annotated[Literal["b64_json"] | None, Form(description="only b64_json")] = "b64_json",
    output_format: Annotated[OutputFormat | None, Form()] = None,
    strength: Annotated[Strength | None, Form(description="extension: how much is redrawn, (0, 1]")] = None,
    negative_prompt: Annotated[Text | None, Form()] = None,
    num_inference_steps: Annotated[PositiveUInt32 | None, Form()] = None,
    guidance_scale: Annotated[GuidanceScale | None, Form()] = None,
    seed: Annotated[UInt64 | None, Form()] = None,
    scheduler: Annotated[Text | None, Form()] = None,
) -> ImagesResponse:
    """Redraws the image (all of it by ``strength``, or only the mask's area) in one backend call."""
    body = ImageGenerationRequest(
        prompt=prompt,
        model=model,
        n=n,
        size=size,
        response_format=response_format,
        output_format=output_format,
        negative_prompt=negative_prompt,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        seed=seed,
        scheduler=scheduler,
    )
    return await _draw(
        request,
        ImageCalls(state, request, EDIT_FIELD_NAMES),
        body,
        init_image=await _one_image(image, image_array),
        mask_image=await mask.read() if mask else b"",
        strength=strength,
    )
