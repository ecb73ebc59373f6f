"""One pipeline call for a batch of requests: per-image seeds, a fresh scheduler, step reports, early stop.

The call's ``callback_on_step_end`` does two jobs. It counts denoising steps the way diffusers' own
progress bar does (multistep schedulers such as PNDM run a warm-up timestep and second-order ones such as
Heun two timesteps per step), so callers see exactly ``num_inference_steps`` reports. And it stops the call
once every request in it is gone: it raises ``CallAbandoned``, which leaves the denoising loop at once and
also skips the VAE decode and safety checker whose results nobody would receive. (diffusers' ``_interrupt``
flag only skips the remaining steps and still decodes; AUTOMATIC1111 and ComfyUI interrupt by raising from
their step callbacks too.) A request that goes away while others in its call still wait does not stop
the call: its images are dropped at the end.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import DiffusionPipeline
from PIL.Image import Image

from image_service.generation_params import GenerationParams
from image_service.schedulers import SchedulerCatalog


class CallAbandoned(Exception):
    """Every request of the call went away; raised out of the step callback to end the call."""


@dataclass(frozen=True)
class CallInput:
    """One image of the call: its prompt pair and seed."""

    prompt: str
    negative_prompt: str
    seed: int


class DenoisingStepNumbers:
    """Turns diffusers' per-timestep callbacks into numbered denoising steps, as its progress bar counts them."""

    def __init__(self, scheduler: Any, num_inference_steps: int) -> None:
        self._scheduler = scheduler
        self._steps = num_inference_steps
        self.done = 0

    def advance(self, timestep_index: int) -> bool:
        """Records that timestep ``timestep_index`` finished; True when that completed a step."""
        timesteps = len(self._scheduler.timesteps)
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
    on_step: Callable[[int], None],
    abandoned: Callable[[], bool],
) -> list[Image]:
    """Runs the pipeline once for all inputs (which share ``params``' size, steps, scheduler and guidance).

    ``on_step(step)`` is called after each denoising step; ``abandoned()`` is polled at every timestep and
    ends the call with CallAbandoned when it returns True. Runs on the worker thread that owns the pipeline.
    """
    scheduler = catalog.create(params.scheduler)
    pipeline.scheduler = scheduler
    counter = DenoisingStepNumbers(scheduler, params.num_inference_steps)

    def on_step_end(_pipeline: DiffusionPipeline, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
        if abandoned():
            raise CallAbandoned
        if counter.advance(index):
            on_step(counter.done)
        return tensors

    negative_prompts = [item.negative_prompt for item in inputs]
    try:
        output = pipeline(
            prompt=[item.prompt for item in inputs],
            negative_prompt=negative_prompts if any(negative_prompts) else None,
            num_inference_steps=params.num_inference_steps,
            guidance_scale=params.guidance_scale,
            width=params.width,
            height=params.height,
            generator=[torch.Generator().manual_seed(item.seed) for item in inputs],
            output_type="pil",
            callback_on_step_end=on_step_end,
        )
    except CallAbandoned:
        pipeline.maybe_free_model_hooks()
        raise
    return list(output.images)
