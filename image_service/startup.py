"""Starting the image service: what it loads and how it warms up, inside serving_core's service skeleton.

serving_core.model_service listens (health NOT_SERVING), runs ``load`` and switches to SERVING, drains on
SIGTERM and stops the engine. Loading and the warm-up call run off the event loop.
"""

import asyncio
from contextlib import AsyncExitStack

from PIL import Image

from hearth.image.v1 import image_service_pb2 as pb
from hearth.image.v1 import image_service_pb2_grpc as pb_grpc
from image_service.engine import ImageBatching, ImageEngine
from image_service.generation_params import EditInput, GenerationParams, Mode
from image_service.loading import LoadedPipeline, load_pipeline
from image_service.schedulers import LCM_SCHEDULER, SchedulerCatalog
from image_service.servicer import ImageServicer
from image_service.settings import ImageSettings
from image_service.validation import ImageLimits, ModelModes, RequestDefaults, RequestValidator
from serving_core import model_service
from serving_core.model_service import ModelService

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ImageGenerationService"].full_name
TURBO_STEPS = 1
TURBO_GUIDANCE = 0.0
LCM_STEPS = 4
LCM_EMBEDDED_GUIDANCE = 8.0
LCM_LORA_GUIDANCE = 1.0
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 7.5


def request_limits(settings: ImageSettings, loaded: LoadedPipeline) -> ImageLimits:
    return ImageLimits(
        min_size=settings.min_size,
        max_size=settings.max_size,
        size_multiple=loaded.pipeline.vae_scale_factor,
        max_steps=settings.max_steps,
        max_num_images=settings.max_num_images,
        max_guidance_scale=settings.max_guidance_scale,
        max_prompt_chars=settings.max_prompt_chars,
        max_input_bytes=settings.max_input_bytes,
        max_input_pixels=settings.max_input_pixels,
    )


def model_modes(loaded: LoadedPipeline) -> ModelModes:
    modes = loaded.modes
    return ModelModes(tuple(modes.modes), modes.lcm_pipeline, modes.lcm_original_steps)


def _few_step_defaults(loaded: LoadedPipeline, catalog: SchedulerCatalog) -> tuple[int, float]:
    """Steps and guidance for the model: 50 at 7.5, or what its distillation was made for.

    Turbo models carry no marker in their configs, so the name decides: 1 step without guidance. An LCM
    model ships the LCM scheduler (or says "lcm" in its name) and runs 4 steps; a UNet distilled with
    LCM takes the guidance scale as an embedding (``time_cond_proj_dim``) and is made for 8, while SD with
    an LCM-LoRA merged in runs plain guidance and wants 1 (LCM's and diffusers' documented values).
    """
    name = loaded.model_id.lower()
    if "turbo" in name:
        return TURBO_STEPS, TURBO_GUIDANCE
    if catalog.default_name == LCM_SCHEDULER or "lcm" in name:
        embedded = getattr(loaded.pipeline.unet.config, "time_cond_proj_dim", None) is not None
        return LCM_STEPS, LCM_EMBEDDED_GUIDANCE if embedded else LCM_LORA_GUIDANCE
    return DEFAULT_STEPS, DEFAULT_GUIDANCE


def request_defaults(settings: ImageSettings, loaded: LoadedPipeline, catalog: SchedulerCatalog) -> RequestDefaults:
    """The native size, and the model's steps and guidance; operators override either default."""
    size = min(max(loaded.native_size, settings.min_size), settings.max_size)
    auto_steps, auto_guidance = _few_step_defaults(loaded, catalog)
    steps = settings.default_steps or auto_steps
    guidance = settings.default_guidance_scale
    if guidance is None:
        guidance = auto_guidance
    return RequestDefaults(size, size, min(steps, settings.max_steps), guidance, catalog.default_name)


def warm_up_params(limits: ImageLimits, defaults: RequestDefaults, mode: Mode) -> GenerationParams:
    """A 1-step call at the smallest size in the model's first mode (an inpainting checkpoint has no other):
    it pays the one-time costs (kernels, allocator) before SERVING."""
    size = -(-limits.min_size // limits.size_multiple) * limits.size_multiple
    edit = None
    if mode is not Mode.TEXT_TO_IMAGE:
        blank = Image.new("RGB", (size, size))
        mask = Image.new("L", (size, size), 255) if mode is Mode.INPAINTING else None
        edit = EditInput(blank, strength=1.0, steps_run=1, image_sha256="", mask=mask)
    return GenerationParams(
        prompt="warm-up",
        negative_prompt="",
        num_inference_steps=1,
        guidance_scale=defaults.guidance_scale,
        width=size,
        height=size,
        seed=0,
        num_images=1,
        scheduler=defaults.scheduler,
        output_format="png",
        edit=edit,
    )


async def load(settings: ImageSettings, servicer: ImageServicer, engines: AsyncExitStack) -> None:
    """Loads the pipeline and warms it up off the loop, starts the engine's worker, hands it to the servicer."""
    loaded = await asyncio.to_thread(load_pipeline, settings)
    catalog = SchedulerCatalog(loaded.pipeline.scheduler)
    limits = request_limits(settings, loaded)
    defaults = request_defaults(settings, loaded, catalog)
    batching = ImageBatching(settings.max_batch_images, settings.batch_wait_ms / 1000, settings.max_queue)
    engine = ImageEngine(loaded, catalog, batching)
    modes = model_modes(loaded)
    await asyncio.to_thread(engine.warm_up, warm_up_params(limits, defaults, modes.modes[0]))
    engines.callback(engine.close)
    engine.start()
    servicer.attach(engine, RequestValidator(limits, defaults, catalog, modes))


def run(settings: ImageSettings) -> None:
    """Runs the image service until SIGTERM/SIGINT; exits 2 if the pipeline cannot be loaded."""
    servicer = ImageServicer()
    service = ModelService(
        name=SERVICE_NAME,
        add_servicer=lambda server: pb_grpc.add_ImageGenerationServiceServicer_to_server(servicer, server),
        load=lambda engines: load(settings, servicer, engines),
    )
    model_service.run(settings, service)
