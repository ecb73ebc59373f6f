"""What one request asks the pipeline for, validated and with every default filled in."""

from dataclasses import dataclass
from enum import StrEnum

from PIL.Image import Image

SEED_MODULUS = 2**64


class Mode(StrEnum):
    """What a request does with the pipeline; the values are what A1111 calls the modes in its metadata."""

    TEXT_TO_IMAGE = "txt2img"
    IMAGE_TO_IMAGE = "img2img"
    INPAINTING = "inpaint"


@dataclass(frozen=True, eq=False)
class EditInput:
    """The decoded input of an image-to-image or inpainting request, already at the request's size.

    An edit starts part-way down the noise schedule, so diffusers runs only ``floor(strength x
    num_inference_steps)`` steps (LCM's own image-to-image pipeline excepted, which the validator knows):
    ``steps_run`` is that count. The digests are of the encoded bytes the client sent, so the PNG metadata
    names the exact input.
    """

    image: Image
    strength: float
    steps_run: int
    image_sha256: str
    mask: Image | None = None
    mask_sha256: str = ""


@dataclass(frozen=True)
class GenerationParams:
    """A request's complete, checked parameters. The engine uses every field except ``output_format``."""

    prompt: str
    negative_prompt: str
    num_inference_steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int
    num_images: int
    scheduler: str
    output_format: str
    edit: EditInput | None = None
    preview_every: int = 0

    @property
    def mode(self) -> Mode:
        if self.edit is None:
            return Mode.TEXT_TO_IMAGE
        return Mode.IMAGE_TO_IMAGE if self.edit.mask is None else Mode.INPAINTING

    @property
    def strength(self) -> float | None:
        return None if self.edit is None else self.edit.strength

    @property
    def steps_run(self) -> int:
        """The denoising steps the call really runs, which progress counts."""
        return self.num_inference_steps if self.edit is None else self.edit.steps_run

    @property
    def batch_key(self) -> tuple[object, ...]:
        """Requests with equal keys can share one pipeline call: same pipeline, latent shape, timesteps and
        guidance (edits with different input images share a call; diffusers takes a list of them)."""
        return (
            self.mode,
            self.width,
            self.height,
            self.num_inference_steps,
            self.strength,
            self.scheduler,
            self.guidance_scale,
        )

    @property
    def seeds(self) -> list[int]:
        """Image i is drawn with seed + i, so a request's images do not depend on what it was batched with."""
        return [(self.seed + index) % SEED_MODULUS for index in range(self.num_images)]

    def wants_preview(self, step: int) -> bool:
        """Every ``preview_every``-th step and the last one carry a preview, when previews are asked for."""
        every = self.preview_every
        return every > 0 and (step % every == 0 or step == self.steps_run)
