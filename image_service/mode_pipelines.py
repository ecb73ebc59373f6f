"""The pipeline for each mode a loaded model supports, all sharing its one set of weights.

diffusers' ``AutoPipelineFor{Image2Image,Inpainting}.from_pipe`` builds the image-to-image and inpainting
pipelines of the loaded model's family from its components (no second copy of any weight); a family without
such a pipeline simply lacks that mode. A true inpainting checkpoint (a UNet with 9 input channels: latents,
mask and masked image) only inpaints: its UNet cannot take plain latents. A plain text-to-image model inpaints
the way diffusers documents for it, by blending the kept area's noised latents back in at every step.
"""

import inspect
import logging

import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, DiffusionPipeline

from image_service.generation_params import Mode

logger = logging.getLogger(__name__)

INPAINTING_UNET_CHANNELS = 9
LCM_ORIGINAL_STEPS = 50
DERIVED = {Mode.IMAGE_TO_IMAGE: AutoPipelineForImage2Image, Mode.INPAINTING: AutoPipelineForInpainting}


def _is_inpainting_checkpoint(pipeline: DiffusionPipeline) -> bool:
    unet = getattr(pipeline, "unet", None)
    return unet is not None and unet.config.in_channels == INPAINTING_UNET_CHANNELS


def _call_parameters(pipeline: DiffusionPipeline) -> set[str]:
    return set(inspect.signature(pipeline.__call__).parameters)


class ModePipelines:
    """The loaded pipeline and the edit pipelines derived from it, by mode."""

    def __init__(self, loaded: DiffusionPipeline, dtype: torch.dtype) -> None:
        inpainting_only = _is_inpainting_checkpoint(loaded)
        self._pipelines: dict[Mode, DiffusionPipeline] = {} if inpainting_only else {Mode.TEXT_TO_IMAGE: loaded}
        for mode, auto_class in DERIVED.items():
            if inpainting_only and mode is not Mode.INPAINTING:
                continue
            try:
                derived = auto_class.from_pipe(loaded, dtype=dtype)
            except ValueError as error:
                logger.info("mode not available", extra={"fields": {"mode": mode.value, "reason": str(error)}})
                continue
            derived.set_progress_bar_config(disable=True)
            self._pipelines[mode] = derived

    @property
    def modes(self) -> list[Mode]:
        """The supported modes, in the order of the Mode enum."""
        return [mode for mode in Mode if mode in self._pipelines]

    def get(self, mode: Mode) -> DiffusionPipeline:
        return self._pipelines[mode]

    @property
    def lcm_pipeline(self) -> bool:
        """Whether these are LCM's own pipelines (they take ``original_inference_steps``), which differ from SD's
        in three ways the validator enforces: they have no negative prompt (guidance is an embedding, and a
        negative prompt would vanish into their ``**kwargs``), they run only with the LCM scheduler, and an edit
        runs all its steps over a schedule shortened by strength instead of skipping the schedule's start."""
        return all("original_inference_steps" in _call_parameters(pipeline) for pipeline in self._pipelines.values())

    @property
    def lcm_original_steps(self) -> int:
        """The schedule LCM was distilled from, which an LCM edit shortens by strength."""
        scheduler = next(iter(self._pipelines.values())).scheduler
        return int(scheduler.config.get("original_inference_steps", LCM_ORIGINAL_STEPS))
