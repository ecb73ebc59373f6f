"""Checking a request's ImageParams against the limits in force and filling in the defaults.

Every refusal is an InvalidField naming the proto field and the limit, so a client knows what to change.
Edits decode their input images here (``params`` runs off the event loop for that reason), so an
undecodable image is refused before it is queued, never found by the worker.
"""

import math
import secrets
import uuid
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image

from hearth.image.v1 import image_service_pb2 as pb
from image_service.generation_params import EditInput, GenerationParams, Mode
from image_service.input_images import InputLimits, decode_input, mask_channel, sha256_hex
from image_service.schedulers import LCM_SCHEDULER, SchedulerCatalog
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
    max_input_bytes: int = 16 * 2**20
    max_input_pixels: int = 2048 * 2048


@dataclass(frozen=True)
class RequestDefaults:
    """Values for the fields a request leaves unset."""

    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    scheduler: str
    image_to_image_strength: float = 0.8
    inpainting_strength: float = 1.0


@dataclass(frozen=True)
class ModelModes:
    """What the loaded model can do, as far as requests are concerned (see mode_pipelines)."""

    modes: tuple[Mode, ...] = tuple(Mode)
    lcm_pipeline: bool = False
    lcm_original_steps: int = 50

    @property
    def names(self) -> str:
        return ", ".join(mode.value for mode in self.modes)


class RequestValidator:
    """Turns ImageParams into GenerationParams, or raises InvalidField."""

    def __init__(
        self,
        limits: ImageLimits,
        defaults: RequestDefaults,
        catalog: SchedulerCatalog,
        model_modes: ModelModes | None = None,
    ) -> None:
        self.limits = limits
        self.defaults = defaults
        self.catalog = catalog
        self.model_modes = model_modes or ModelModes()
        self._input_limits = InputLimits(limits.max_input_bytes, limits.max_input_pixels)

    def request_id(self, given: str) -> str:
        """The caller's id, or a fresh one when it gave none."""
        if len(given) > MAX_REQUEST_ID_CHARS:
            raise InvalidField("request_id", f"at most {MAX_REQUEST_ID_CHARS} characters, got {len(given)}")
        return given or uuid.uuid4().hex

    def params(self, request: pb.ImageParams) -> GenerationParams:
        """The checked parameters; decodes an edit's input images, so call it off the event loop."""
        limits = self.limits
        if not request.prompt.strip():
            raise InvalidField("prompt", "must not be empty")
        self._check_chars("prompt", request.prompt)
        self._check_chars("negative_prompt", request.negative_prompt)
        if request.negative_prompt and self.model_modes.lcm_pipeline:
            raise InvalidField("negative_prompt", "this LCM model has no negative prompt; leave it empty")
        mode = self._mode(request)
        strength = self._strength(request, mode)
        steps = self._optional(request, "num_inference_steps", self._default_steps(strength))
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
        scheduler = self.catalog.resolve(request.scheduler)
        if self.model_modes.lcm_pipeline and scheduler != LCM_SCHEDULER:
            raise InvalidField("scheduler", f"this LCM model runs only with the {LCM_SCHEDULER!r} scheduler")
        image = None if strength is None else decode_input("init_image", request.init_image, self._input_limits, "RGB")
        width = self._size(request, "width", self._default_side(image, 0, self.defaults.width))
        height = self._size(request, "height", self._default_side(image, 1, self.defaults.height))
        edit = None
        if image is not None and strength is not None:
            edit = self._edit(request, mode, image, strength, steps, (width, height))
        return GenerationParams(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            num_inference_steps=steps,
            guidance_scale=round(guidance, 4),
            width=width,
            height=height,
            seed=self._optional(request, "seed", secrets.randbits(32)),
            num_images=num_images,
            scheduler=scheduler,
            output_format=OUTPUT_FORMATS[request.output_format],
            edit=edit,
            preview_every=request.preview_every,
        )

    def _mode(self, request: pb.ImageParams) -> Mode:
        """The mode the set fields ask for, refused when a field lacks its partner or the model cannot do it."""
        if request.mask_image and not request.init_image:
            raise InvalidField("mask_image", "needs init_image: the mask says which part of it to redraw")
        if request.HasField("strength") and not request.init_image:
            raise InvalidField("strength", "only with init_image: it says how much of that image is redrawn")
        mode = Mode.INPAINTING if request.mask_image else Mode.IMAGE_TO_IMAGE
        if not request.init_image:
            mode = Mode.TEXT_TO_IMAGE
        if mode not in self.model_modes.modes:
            field_name = "init_image" if mode is Mode.TEXT_TO_IMAGE else "mask_image"
            raise InvalidField(field_name, f"this model cannot do {mode.value}; its modes are {self.model_modes.names}")
        return mode

    def _strength(self, request: pb.ImageParams, mode: Mode) -> float | None:
        """None for text-to-image; else the strength, rounded like guidance so floor(strength x steps) is exact."""
        if mode is Mode.TEXT_TO_IMAGE:
            return None
        default = (
            self.defaults.inpainting_strength if mode is Mode.INPAINTING else self.defaults.image_to_image_strength
        )
        strength = self._optional(request, "strength", default)
        if not (math.isfinite(strength) and 0 < strength <= 1):
            raise InvalidField("strength", f"must be greater than 0 and at most 1, got {strength}")
        return round(strength, 4)

    def _default_steps(self, strength: float | None) -> int:
        """The default steps, raised for an edit until ``floor(strength x steps)`` is at least one step (a
        Turbo model's single default step would otherwise run none at strength below 1)."""
        steps = self.defaults.num_inference_steps
        if strength is None or self.model_modes.lcm_pipeline:
            return steps
        while int(steps * strength) < 1 and steps < self.limits.max_steps:
            steps += 1
        return steps

    def _steps_run(self, steps: int, strength: float) -> int:
        """The steps an edit really runs, refused when that is none."""
        if self.model_modes.lcm_pipeline:
            original = self.model_modes.lcm_original_steps
            if int(original * strength) < steps:
                raise InvalidField(
                    "strength",
                    f"this LCM model shortens its {original}-step schedule by strength: {original} x {strength} "
                    f"must be at least num_inference_steps ({steps})",
                )
            return steps
        steps_run = int(steps * strength)
        if steps_run < 1:
            raise InvalidField(
                "strength",
                f"strength x num_inference_steps must give at least 1 step, got {strength} x {steps}; raise either",
            )
        return steps_run

    def _default_side(self, image: Image.Image | None, axis: int, default: int) -> int:
        """An edit's default width or height: the input's, rounded down to a multiple of the size step."""
        if image is None:
            return default
        multiple = self.limits.size_multiple
        return image.size[axis] // multiple * multiple

    def _edit(
        self,
        request: pb.ImageParams,
        mode: Mode,
        image: Image.Image,
        strength: float,
        steps: int,
        size: tuple[int, int],
    ) -> EditInput:
        """The decoded input (and mask, of the input's size), resized to the request's size."""
        steps_run = self._steps_run(steps, strength)
        mask = None
        if mode is Mode.INPAINTING:
            mask = mask_channel(decode_input("mask_image", request.mask_image, self._input_limits, "RGBA"))
            if mask.size != image.size:
                raise InvalidField(
                    "mask_image",
                    f"must be the size of init_image ({image.width}x{image.height}), got {mask.width}x{mask.height}",
                )
            mask = mask if mask.size == size else mask.resize(size, Image.Resampling.LANCZOS)
        resized = image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
        return EditInput(
            image=resized,
            strength=strength,
            steps_run=steps_run,
            image_sha256=sha256_hex(request.init_image),
            mask=mask,
            mask_sha256=sha256_hex(request.mask_image) if mask is not None else "",
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
