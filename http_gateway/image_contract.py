"""Translating between the HTTP routes' image fields and the image contract (``hearth.image.v1``)."""

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hearth.image.v1 import image_service_pb2 as image_pb2
from http_gateway.errors import ApiError

OutputFormat = Literal["png", "jpeg", "webp"]
OUTPUT_FORMATS: dict[str, int] = {
    "png": image_pb2.OUTPUT_FORMAT_PNG,
    "jpeg": image_pb2.OUTPUT_FORMAT_JPEG,
    "webp": image_pb2.OUTPUT_FORMAT_WEBP,
}


class ImageTimings(BaseModel):
    """Where an image request's time went, in seconds, as the image service measured it."""

    model_config = ConfigDict(from_attributes=True)

    queue_seconds: float = Field(description="arrival to the start of the pipeline call")
    inference_seconds: float = Field(description="the pipeline call: every denoising step and the VAE decode")
    encode_seconds: float = Field(description="encoding the images to bytes")
    total_seconds: float = Field(description="arrival to the last image encoded")
    batch_size: int = Field(description="images in the pipeline call this request shared")


def image_params(
    *,
    prompt: str,
    negative_prompt: str | None = None,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    seed: int | None = None,
    num_images: int | None = None,
    scheduler: str | None = None,
    output_format: OutputFormat | None = None,
    init_image: bytes = b"",
    mask_image: bytes = b"",
    strength: float | None = None,
    preview_every: int = 0,
) -> image_pb2.ImageParams:
    """The contract's ImageParams; unset fields stay unset so the service's defaults apply."""
    params = image_pb2.ImageParams(
        prompt=prompt,
        negative_prompt=negative_prompt or "",
        scheduler=scheduler or "",
        output_format=OUTPUT_FORMATS[output_format] if output_format else image_pb2.OUTPUT_FORMAT_UNSPECIFIED,
        init_image=init_image,
        mask_image=mask_image,
        preview_every=preview_every,
    )
    for name, value in (
        ("num_inference_steps", num_inference_steps),
        ("guidance_scale", guidance_scale),
        ("width", width),
        ("height", height),
        ("seed", seed),
        ("num_images", num_images),
        ("strength", strength),
    ):
        if value is not None:
            setattr(params, name, value)
    return params


def base64_image(field: str, value: str | None) -> bytes:
    """The bytes of a base64 image field (a ``data:`` URL, which browsers' FileReader gives, is accepted too).

    Only the encoding is checked here; whether the bytes are an image the service accepts, and its limits,
    are the image service's to say.
    """
    if not value:
        return b""
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400, f"{field}: not valid base64", type="invalid_request_error", code="invalid_argument", param=field
        ) from None


def base64_text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
