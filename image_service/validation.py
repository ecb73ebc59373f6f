"""Checking a request's ImageParams against the limits in force and filling in the defaults.

Every refusal is an InvalidField naming the proto field and the limit, so a client knows what to change.
"""

import math
import secrets
import uuid
from dataclasses import dataclass
from typing import TypeVar

from hearth.image.v1 import image_service_pb2 as pb
from image_service.generation_params import GenerationParams
from image_service.schedulers import SchedulerCatalog
from serving_core.request_errors import InvalidField

OUTPUT_FORMATS = {
    pb.OUTPUT_FORMAT_UNSPECIFIED: "png",
    pb.OUTPUT_FORMAT_PNG: "png",
    pb.OUTPUT_FORMAT_JPEG: "jpeg",
    pb.OUTPUT_FORMAT_WEBP: "webp",
}
MAX_REQUEST_ID_CHARS = 128
T = TypeVar("T")


@dataclass(frozen=True)
class ImageLimits:
    """The limits every request is held to."""

    min_size: int
    max_size: int
    size_multiple: int
    max_steps: int
    max_num_images: int
    max_guidance_scale: float
    max_prompt_chars: int


@dataclass(frozen=True)
class RequestDefaults:
    """Values for the fields a request leaves unset."""

    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    scheduler: str


class RequestValidator:
    """Turns ImageParams into GenerationParams, or raises InvalidField."""

    def __init__(self, limits: ImageLimits, defaults: RequestDefaults, catalog: SchedulerCatalog) -> None:
        self.limits = limits
        self.defaults = defaults
        self.catalog = catalog

    def request_id(self, given: str) -> str:
        """The caller's id, or a fresh one when it gave none."""
        if len(given) > MAX_REQUEST_ID_CHARS:
            raise InvalidField("request_id", f"at most {MAX_REQUEST_ID_CHARS} characters, got {len(given)}")
        return given or uuid.uuid4().hex

    def params(self, request: pb.ImageParams) -> GenerationParams:
        limits = self.limits
        if not request.prompt.strip():
            raise InvalidField("prompt", "must not be empty")
        self._check_chars("prompt", request.prompt)
        self._check_chars("negative_prompt", request.negative_prompt)
        steps = self._optional(request, "num_inference_steps", self.defaults.num_inference_steps)
        if not 1 <= steps <= limits.max_steps:
            raise InvalidField("num_inference_steps", f"must be from 1 to {limits.max_steps}, got {steps}")
        guidance = self._optional(request, "guidance_scale", self.defaults.guidance_scale)
        if not (math.isfinite(guidance) and 0 <= guidance <= limits.max_guidance_scale):
            raise InvalidField("guidance_scale", f"must be from 0 to {limits.max_guidance_scale:g}, got {guidance}")
        num_images = self._optional(request, "num_images", 1)
        if not 1 <= num_images <= limits.max_num_images:
            raise InvalidField("num_images", f"must be from 1 to {limits.max_num_images}, got {num_images}")
        if request.output_format not in OUTPUT_FORMATS:
            raise InvalidField("output_format", f"unknown value {request.output_format}; use PNG, JPEG or WEBP")
        return GenerationParams(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            num_inference_steps=steps,
            guidance_scale=round(guidance, 4),
            width=self._size(request, "width", self.defaults.width),
            height=self._size(request, "height", self.defaults.height),
            seed=self._optional(request, "seed", secrets.randbits(32)),
            num_images=num_images,
            scheduler=self.catalog.resolve(request.scheduler),
            output_format=OUTPUT_FORMATS[request.output_format],
        )

    def _check_chars(self, field: str, text: str) -> None:
        if len(text) > self.limits.max_prompt_chars:
            raise InvalidField(field, f"at most {self.limits.max_prompt_chars} characters, got {len(text)}")

    def _size(self, request: pb.ImageParams, field: str, default: int) -> int:
        value = self._optional(request, field, default)
        low, high, multiple = self.limits.min_size, self.limits.max_size, self.limits.size_multiple
        if not low <= value <= high or value % multiple:
            raise InvalidField(field, f"must be a multiple of {multiple} from {low} to {high}, got {value}")
        return value

    @staticmethod
    def _optional(request: pb.ImageParams, field: str, default: T) -> T:
        return getattr(request, field) if request.HasField(field) else default
