"""One pipeline call for a batch of requests: per-image seeds, a fresh scheduler, step reports, early stop.

The call's ``callback_on_step_end`` does two jobs. It counts denoising steps the way diffusers' own
progress bar does (multistep schedulers such as PNDM run a warm-up timestep and second-order ones such as
Heun two timesteps per step), so callers see exactly one report per step the call runs (an edit runs only
``floor(strength x steps)``), each with the current latents for previews. And it stops the call
once every request in it is gone: it raises ``CallAbandoned``, which leaves the denoising loop at once and
also skips the VAE decode and safety checker whose results nobody would receive. (diffusers' ``_interrupt``
flag only skips the remaining steps and still decodes; AUTOMATIC1111 and ComfyUI interrupt by raising from
their step callbacks too.) A request that goes away while others in its call still wait does not stop
the call: its images are dropped at the end.

Inpainting pastes the kept pixels back from the input with diffusers' own ``apply_overlay``: the VAE's
round trip would otherwise change them slightly (and, for a VAE that reconstructs badly, a lot).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import DiffusionPipeline
from PIL.Image import Image

from image_service.generation_params import GenerationParams, Mode
from image_service.schedulers import SchedulerCatalog


class CallAbandoned(Exception):
    """Every request of the call went away; raised out of the step callback to end the call."""


@dataclass(frozen=True)
class CallInput:
    """One image of the call: its prompt pair and seed, and for an edit its input image and mask."""

    prompt: str
    negative_prompt: str
    seed: int
    image: Image | None = None
    mask: Image | None = None


class DenoisingStepNumbers:
    """Turns diffusers' per-timestep callbacks into numbered denoising steps, as its progress bar counts them."""

    def __init__(self, scheduler: Any, steps_run: int) -> None:
        self._scheduler = scheduler
        self._steps = steps_run
        self.done = 0

    def advance(self, timestep_index: int, timesteps: int) -> bool:
        """Records that timestep ``timestep_index`` of the ``timesteps`` the loop runs finished; True when that
        completed a step."""
        order = self._scheduler.order
        warmup = timesteps - self._steps * order
        last = timestep_index == timesteps - 1
        if last or (timestep_index + 1 > warmup and (timestep_index + 1) % order == 0):
            self.done = min(self.done + 1, self._steps)
            return True
        return False


def run_pipeline_call(
    pipeline: DiffusionPipeline,
    catalog: SchedulerCatalog,
    params: GenerationParams,
    inputs: Sequence[CallInput],
    *,
    on_step: Callable[[int, torch.Tensor], None],
    abandoned: Callable[[], bool],
) -> list[Image]:
    """Runs ``params.mode``'s pipeline once for all inputs (which share ``params``' batch key).

    ``on_step(step, latents)`` is called after each denoising step with the whole call's latents (read
    them, never change them); ``abandoned()`` is polled at every timestep and ends the call with
    CallAbandoned when it returns True. Runs on the worker thread that owns the pipeline.
    """
    scheduler = catalog.create(params.scheduler)
    pipeline.scheduler = scheduler
    counter = DenoisingStepNumbers(scheduler, params.steps_run)

    def on_step_end(running: DiffusionPipeline, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
        if abandoned():
            raise CallAbandoned
        if counter.advance(index, running.num_timesteps):
            on_step(counter.done, tensors["latents"])
        return tensors

    try:
        output = pipeline(**_call_arguments(params, inputs), callback_on_step_end=on_step_end)
    except CallAbandoned:
        pipeline.maybe_free_model_hooks()
        raise
    images = list(output.images)
    if params.mode is Mode.INPAINTING:
        overlay = pipeline.image_processor.apply_overlay
        images = [overlay(item.mask, item.image, image) for item, image in zip(inputs, images, strict=True)]
    return images


def _call_arguments(params: GenerationParams, inputs: Sequence[CallInput]) -> dict[str, Any]:
    """The pipeline's arguments for the mode: image-to-image takes its size from the input image, and a
    negative prompt is only passed when one is given (LCM's pipelines have none)."""
    arguments: dict[str, Any] = {
        "prompt": [item.prompt for item in inputs],
        "num_inference_steps": params.num_inference_steps,
        "guidance_scale": params.guidance_scale,
        "generator": [torch.Generator().manual_seed(item.seed) for item in inputs],
        "output_type": "pil",
    }
    negative_prompts = [item.negative_prompt for item in inputs]
    if any(negative_prompts):
        arguments["negative_prompt"] = negative_prompts
    if params.mode is not Mode.IMAGE_TO_IMAGE:
        arguments.update(width=params.width, height=params.height)
    if params.mode is not Mode.TEXT_TO_IMAGE:
        arguments.update(image=[item.image for item in inputs], strength=params.strength)
    if params.mode is Mode.INPAINTING:
        arguments["mask_image"] = [item.mask for item in inputs]
    return arguments
