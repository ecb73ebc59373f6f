"""POST /generate-image: the original image route, whole or as Server-Sent Events with step progress.

With ``init_image_base64`` (and ``mask_base64``) it edits an image; a stream with ``preview_every`` carries
a small preview on its progress events.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from hearth.image.v1 import image_service_pb2 as image_pb2
from http_gateway.backend_calls import ImageCalls, OpenedStream
from http_gateway.cancellation import cancel_on_disconnect
from http_gateway.error_handlers import ERROR_RESPONSES
from http_gateway.errors import ApiError
from http_gateway.gateway_state import GatewayState, gateway_state
from http_gateway.image_contract import ImageTimings, base64_image, base64_text, image_params
from http_gateway.original_api.protocol import (
    GeneratedImage,
    ImageDoneEvent,
    ImageProgressEvent,
    ImageRequest,
    ImageResponse,
)
from http_gateway.sse import event_stream, json_event
from http_gateway.sse_schema import named_events

router = APIRouter(tags=["original"])
STREAM_EVENTS = {"progress": ImageProgressEvent, "image": GeneratedImage, "done": ImageDoneEvent}

STREAM_DOC = (
    "with stream=true: `event: progress` {step, total_steps, elapsed_seconds, and preview_* when asked} per "
    "denoising step, then `event: image` {index, image_base64, seed, mime_type} per image, then `event: done` "
    "{message, timings}"
)
FIELD_NAMES = {"init_image": "init_image_base64", "mask_image": "mask_base64"}
EDIT_FIELDS = {"init_image_base64", "mask_base64"}


def _params(body: ImageRequest) -> image_pb2.ImageParams:
    """The contract's params; an edit whose size is not given takes its input's (not the route's 512)."""
    fields = body.model_dump(exclude={"stream", *EDIT_FIELDS})
    if body.init_image_base64:
        fields |= {side: None for side in ("width", "height") if side not in body.model_fields_set}
    return image_params(
        **fields,
        init_image=base64_image("init_image_base64", body.init_image_base64),
        mask_image=base64_image("mask_base64", body.mask_base64),
    )


def _done_message(count: int) -> str:
    return "Image generated successfully." if count == 1 else f"{count} images generated successfully."


def _generated(image: image_pb2.GeneratedImage) -> GeneratedImage:
    return GeneratedImage(
        index=image.index,
        image_base64=base64_text(image.data),
        seed=image.seed,
        mime_type=image.mime_type,
    )


@router.post(
    "/generate-image",
    response_model=ImageResponse,
    response_model_exclude_none=True,
    responses={
        200: {"content": named_events(STREAM_DOC, STREAM_EVENTS)},
        **ERROR_RESPONSES,
    },
    summary="Draw an image from a prompt (the original route)",
)
async def generate_image(
    body: ImageRequest,
    request: Request,
    state: Annotated[GatewayState, Depends(gateway_state)],
) -> ImageResponse | EventSourceResponse:
    """Draws ``num_images`` images (default 1) and returns the first as base64 in ``image_base64``."""
    calls = ImageCalls(state, request, FIELD_NAMES)
    if body.stream:
        stream = await cancel_on_disconnect(request, calls.stream(_params(body)))
        return event_stream(request, state, _image_events(stream), [stream], error_event="error")
    reply = await cancel_on_disconnect(request, calls.generate(_params(body)))
    if not reply.images:
        raise ApiError(500, "the image backend answered without an image", type="internal_error", backend="image")
    images = [_generated(image) for image in reply.images]
    first = reply.images[0]
    return ImageResponse(
        image_base64=images[0].image_base64,
        message=_done_message(len(images)),
        seed=first.seed,
        mime_type=first.mime_type,
        width=first.width,
        height=first.height,
        timings=ImageTimings.model_validate(reply.timings),
        request_id=reply.request_id or calls.request_id,
        images=images if len(images) > 1 else None,
    )


async def _image_events(stream: OpenedStream[image_pb2.GenerateStreamResponse]) -> AsyncIterator[ServerSentEvent]:
    count, timings = 0, None
    async for message in stream.messages():
        if message.HasField("progress"):
            yield json_event(_progress_event(message.progress).model_dump(exclude_none=True), "progress")
        elif message.HasField("image"):
            count += 1
            timings = ImageTimings.model_validate(message.timings) if message.HasField("timings") else timings
            yield json_event(_generated(message.image).model_dump(), "image")
    yield json_event(ImageDoneEvent(message=_done_message(count), timings=timings).model_dump(), "done")


def _progress_event(progress: image_pb2.StepProgress) -> ImageProgressEvent:
    event = ImageProgressEvent(
        step=progress.step, total_steps=progress.total_steps, elapsed_seconds=progress.elapsed_seconds
    )
    if progress.HasField("preview"):
        preview = progress.preview
        event.preview_base64 = base64_text(preview.data)
        event.preview_mime_type = preview.mime_type
        event.preview_width, event.preview_height = preview.width, preview.height
    return event
