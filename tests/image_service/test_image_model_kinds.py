"""Models whose modes differ from SD's: a true inpainting checkpoint (9-channel UNet) and an LCM model.

Both are tiny copies of the embedded pipeline's components with the one change that makes them what they are,
saved and loaded through the service's own loader, and driven through its validator and pipeline call.
"""

from pathlib import Path

import numpy as np
import pytest
from diffusers import (
    EulerDiscreteScheduler,
    LatentConsistencyModelPipeline,
    LCMScheduler,
    StableDiffusionInpaintPipeline,
    UNet2DConditionModel,
)

from default_models.tiny_sd import build_pipeline
from hearth.image.v1 import image_service_pb2 as pb
from image_service.engine import ImageBatching, ImageEngine, call_inputs
from image_service.generation_params import Mode
from image_service.loading import LoadedPipeline, load_pipeline
from image_service.pipeline_call import run_pipeline_call
from image_service.schedulers import SchedulerCatalog
from image_service.settings import ImageSettings
from image_service.startup import model_modes, request_defaults, request_limits, warm_up_params
from image_service.validation import ImageLimits, RequestDefaults, RequestValidator
from serving_core.request_errors import InvalidField
from tests.image_service.image_client import encoded, input_image, left_half_mask


def _unet(**changes: int) -> UNet2DConditionModel:
    return UNet2DConditionModel.from_config(build_pipeline().unet.config, **changes)


@pytest.fixture(scope="module")
def inpainting_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedPipeline:
    base = build_pipeline()
    pipeline = StableDiffusionInpaintPipeline(**{**base.components, "unet": _unet(in_channels=9)})
    folder = tmp_path_factory.mktemp("models") / "tiny-sd-inpainting"
    pipeline.save_pretrained(folder, safe_serialization=True)
    return load_pipeline(ImageSettings(model=str(folder)))


@pytest.fixture(scope="module")
def lcm_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedPipeline:
    base = build_pipeline()
    components = {**base.components, "unet": _unet(time_cond_proj_dim=32)}
    components["scheduler"] = LCMScheduler.from_config(base.scheduler.config)
    pipeline = LatentConsistencyModelPipeline(**components)
    folder = tmp_path_factory.mktemp("models") / "tiny-lcm"
    pipeline.save_pretrained(folder, safe_serialization=True)
    return load_pipeline(ImageSettings(model=str(folder)))


def validator_for(loaded: LoadedPipeline) -> RequestValidator:
    settings = ImageSettings(model="unused")
    catalog = SchedulerCatalog(loaded.pipeline.scheduler)
    limits = request_limits(settings, loaded)
    return RequestValidator(limits, request_defaults(settings, loaded, catalog), catalog, model_modes(loaded))


def refused_field(validator: RequestValidator, **fields: object) -> str:
    with pytest.raises(InvalidField) as refused:
        validator.params(pb.ImageParams(prompt="a cat", width=64, height=64, **fields))
    return refused.value.field


def run(loaded: LoadedPipeline, validator: RequestValidator, **fields: object) -> tuple[list[int], np.ndarray]:
    """Runs one validated request through its mode's pipeline; returns the steps reported and the image."""
    params = validator.params(pb.ImageParams(prompt="a cat", seed=3, **fields))
    steps: list[int] = []
    catalog = validator.catalog
    images = run_pipeline_call(
        loaded.modes.get(params.mode),
        catalog,
        params,
        call_inputs(params),
        on_step=lambda step, _latents: steps.append(step),
        abandoned=lambda: False,
    )
    return steps, np.asarray(images[0], dtype=np.int16)


def test_an_inpainting_checkpoint_only_inpaints_and_keeps_the_unmasked_pixels(
    inpainting_model: LoadedPipeline,
) -> None:
    validator = validator_for(inpainting_model)
    engine = ImageEngine(inpainting_model, validator.catalog, ImageBatching(1, 0, 1))
    engine.warm_up(warm_up_params(validator.limits, validator.defaults, validator.model_modes.modes[0]))
    source = input_image(seed=4)

    steps, result = run(
        inpainting_model,
        validator,
        init_image=encoded(source),
        mask_image=encoded(left_half_mask()),
        num_inference_steps=3,
    )

    assert inpainting_model.modes.modes == [Mode.INPAINTING]
    assert refused_field(validator) == "init_image"
    assert refused_field(validator, init_image=encoded(source)) == "mask_image"
    assert steps == [1, 2, 3]
    original = np.asarray(source, dtype=np.int16)
    assert np.abs(result[:, 32:] - original[:, 32:]).max() <= 1
    assert np.abs(result[:, :32] - original[:, :32]).mean() > 10


def test_an_lcm_model_gets_few_step_defaults_and_refuses_what_its_pipelines_lack(lcm_model: LoadedPipeline) -> None:
    validator = validator_for(lcm_model)
    defaults = validator.defaults

    steps, result = run(lcm_model, validator, init_image=encoded(input_image()), strength=0.5)

    assert (defaults.num_inference_steps, defaults.guidance_scale, defaults.scheduler) == (4, 8.0, "lcm")
    assert lcm_model.modes.modes == [Mode.TEXT_TO_IMAGE, Mode.IMAGE_TO_IMAGE]
    assert refused_field(validator, init_image=encoded(input_image()), mask_image=encoded(left_half_mask())) == (
        "mask_image"
    )
    assert refused_field(validator, negative_prompt="dogs") == "negative_prompt"
    assert refused_field(validator, scheduler="euler") == "scheduler"
    assert refused_field(validator, init_image=encoded(input_image()), strength=0.05) == "strength"
    assert steps == [1, 2, 3, 4], "LCM's image-to-image runs every step over a schedule shortened by strength"
    assert result.shape == (64, 64, 3)


def test_the_lcm_scheduler_is_offered_for_any_model(lcm_model: LoadedPipeline, image_model_path: Path) -> None:
    catalog = SchedulerCatalog(load_pipeline(ImageSettings(model=str(image_model_path))).pipeline.scheduler)

    assert catalog.resolve("LCM") == "lcm"
    assert type(catalog.create("lcm")).__name__ == "LCMScheduler"


@pytest.mark.parametrize(("strength", "steps", "steps_run"), [(0.5, 2, 1), (0.3, 4, 1), (1.0, 1, 1)])
def test_a_turbo_edit_left_to_default_steps_runs_at_least_one(strength: float, steps: int, steps_run: int) -> None:
    turbo = RequestDefaults(512, 512, num_inference_steps=1, guidance_scale=0.0, scheduler="euler")
    limits = ImageLimits(64, 2048, 8, 150, 8, 30.0, 4096)
    validator = RequestValidator(limits, turbo, SchedulerCatalog(EulerDiscreteScheduler()))

    params = validator.params(pb.ImageParams(prompt="a cat", init_image=encoded(input_image()), strength=strength))

    assert (params.num_inference_steps, params.steps_run) == (steps, steps_run)
