"""Request and response bodies of the original routes; every field beyond the original ones is optional.

Old clients send and read exactly what the single-file design had; newer ones may ask for more
(seeds, stop strings, negative prompts, streaming) and read more (usage, timings, seeds).
"""

from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from http_gateway.health_monitor import BackendHealth
from http_gateway.image_contract import ImageTimings, OutputFormat
from http_gateway.proto_fields import (
    GuidanceScale,
    ImageSide,
    PositiveUInt32,
    RepetitionPenalty,
    Strength,
    Temperature,
    Text,
    TopK,
    TopP,
    UInt32,
    UInt64,
)
from http_gateway.text_contract import TextTimings, Usage

FinishReason = Literal["length", "stop", "eos", "cancelled", "unknown"]


class TextRequest(BaseModel):
    """POST /generate-text. The first four fields are the original ones, with their original defaults."""

    prompt: Text = Field(description="text to continue, used as is")
    max_new_tokens: PositiveUInt32 = Field(100, description="tokens to generate at most")
    temperature: Temperature = Field(0.7, description="softmax temperature; 0 means greedy")
    do_sample: bool = Field(True, description="false means greedy decoding, whatever the temperature")
    top_p: TopP | None = None
    top_k: TopK | None = None
    repetition_penalty: RepetitionPenalty | None = None
    seed: UInt64 | None = Field(None, description="same seed, prompt and parameters give the same text")
    stop: list[Text] = Field(default_factory=list, description="stop when one of these strings appears")
    include_prompt: bool = Field(True, description="start generated_text with the prompt, as the original did")
    stream: bool = Field(False, description="answer with Server-Sent Events: token events, then done")
    json_schema: dict[str, Any] | None = Field(
        None, description="constrain the generated text to one JSON value valid against this JSON Schema"
    )
    regex: Text | None = Field(None, description="constrain the generated text to match this regular expression")

    @model_validator(mode="after")
    def _one_constraint(self) -> Self:
        if self.json_schema is not None and self.regex is not None:
            raise ValueError("json_schema and regex: set at most one of them")
        return self


class TextResponse(BaseModel):
    """The original ``generated_text`` (prompt included by default), plus how and why generation ended."""

    generated_text: str
    finish_reason: FinishReason = Field(description="length, stop (a stop string), eos or cancelled")
    usage: Usage
    timings: TextTimings
    request_id: str


class TextTokenEvent(BaseModel):
    """Data of an ``event: token``: one text delta (the deltas join to generated_text)."""

    text: str
    token_ids: list[int]


class TextDoneEvent(BaseModel):
    """Data of the final ``event: done`` of a text stream."""

    finish_reason: FinishReason
    usage: Usage
    timings: TextTimings
    generated_text: str = Field(description="the whole text, exactly as the non-streaming route returns it")


class ImageRequest(BaseModel):
    """POST /generate-image. The first five fields are the original ones, with their original defaults."""

    prompt: Text = Field(description="what the image shows")
    num_inference_steps: PositiveUInt32 = Field(50, description="denoising steps")
    guidance_scale: GuidanceScale = Field(7.5, description="classifier-free guidance scale")
    height: ImageSide | None = Field(512, description="pixels; null: the model's native size (absent: 512, as ever)")
    width: ImageSide | None = Field(512, description="pixels; null: the model's native size (absent: 512, as ever)")
    negative_prompt: Text = Field("", description="what the image should not show")
    seed: UInt64 | None = Field(None, description="seed of the first image; image i uses seed + i")
    num_images: PositiveUInt32 = Field(1, description="images to generate")
    scheduler: Text = Field("", description="e.g. euler, euler_a, dpmpp_2m, ddim, pndm; empty: the pipeline's own")
    output_format: OutputFormat = "png"
    stream: bool = Field(False, description="answer with Server-Sent Events: progress, image, then done")
    init_image_base64: str | None = Field(
        None,
        description="image to edit, base64 (or a data: URL) of a PNG, JPEG or WebP; width and height then default "
        "to its own, rounded down to a multiple of 8",
    )
    mask_base64: str | None = Field(
        None, description="inpainting mask of the same size, base64: white (or fully transparent) pixels are redrawn"
    )
    strength: Strength | None = Field(
        None, description="how much of init_image is redrawn, above 0 to 1; default 0.8, or 1 when inpainting"
    )
    preview_every: UInt32 = Field(0, description="with stream=true: a preview on every Nth progress event; 0: none")


class GeneratedImage(BaseModel):
    """One image of a request."""

    index: int
    image_base64: str
    seed: int
    mime_type: str


class ImageResponse(BaseModel):
    """The original ``image_base64`` and ``message``, plus the seed and timings; ``images`` when n > 1."""

    image_base64: str = Field(description="the first image, base64-encoded")
    message: str = "Image generated successfully."
    seed: int = Field(description="the seed the first image was drawn with")
    mime_type: str
    width: int
    height: int
    timings: ImageTimings
    request_id: str
    images: list[GeneratedImage] | None = Field(None, description="every image, when num_images > 1")


class ImageProgressEvent(BaseModel):
    """Data of an ``event: progress``: one denoising step done, with a preview when the request asked for one."""

    step: int
    total_steps: int
    elapsed_seconds: float
    preview_base64: str | None = Field(None, description="a small, approximate picture of the first image so far")
    preview_mime_type: str | None = None
    preview_width: int | None = Field(None, description="the image's width divided by the VAE's scale factor (8)")
    preview_height: int | None = None


class ImageDoneEvent(BaseModel):
    """Data of the final ``event: done`` of an image stream."""

    message: str
    timings: ImageTimings | None


class HealthResponse(BaseModel):
    """GET /health: the original four keys, then each backend as the latest probe saw it."""

    api_status: Literal["running"] = "running"
    text_model_loaded: bool
    image_model_loaded: bool
    device: str = Field(description="the backends' device, e.g. cpu; 'text=cuda:0 image=cuda:1' when they differ")
    text: BackendHealth
    image: BackendHealth
