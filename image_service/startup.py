"""Starting the image service: what it loads and how it warms up, inside serving_core's service skeleton.

serving_core.model_service listens (health NOT_SERVING), runs ``load`` and switches to SERVING, drains on
SIGTERM and stops the engine. Loading and the warm-up call run off the event loop.
"""

import asyncio
from contextlib import AsyncExitStack

from hearth.image.v1 import image_service_pb2 as pb
from hearth.image.v1 import image_service_pb2_grpc as pb_grpc
from image_service.engine import ImageBatching, ImageEngine
from image_service.generation_params import GenerationParams
from image_service.loading import LoadedPipeline, load_pipeline
from image_service.schedulers import SchedulerCatalog
from image_service.servicer import ImageServicer
from image_service.settings import ImageSettings
from image_service.validation import ImageLimits, RequestDefaults, RequestValidator
from serving_core import model_service
from serving_core.model_service import ModelService

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ImageGenerationService"].full_name
TURBO_STEPS = 1
TURBO_GUIDANCE = 0.0
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
    )


def request_defaults(settings: ImageSettings, loaded: LoadedPipeline, catalog: SchedulerCatalog) -> RequestDefaults:
    """The native size, and 50 steps at guidance 7.5, or 1 step without guidance for Turbo (distilled) models.

    Turbo models carry no marker in their configs, so the name decides; operators override either default.
    """
    turbo = "turbo" in loaded.model_id.lower()
    size = min(max(loaded.native_size, settings.min_size), settings.max_size)
    steps = settings.default_steps or (TURBO_STEPS if turbo else DEFAULT_STEPS)
    guidance = settings.default_guidance_scale
    if guidance is None:
        guidance = TURBO_GUIDANCE if turbo else DEFAULT_GUIDANCE
    return RequestDefaults(size, size, min(steps, settings.max_steps), guidance, catalog.default_name)


def warm_up_params(limits: ImageLimits, defaults: RequestDefaults) -> GenerationParams:
    """A 1-step call at the smallest size: it pays the one-time costs (kernels, allocator) before SERVING."""
    size = -(-limits.min_size // limits.size_multiple) * limits.size_multiple
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
    )


async def load(settings: ImageSettings, servicer: ImageServicer, engines: AsyncExitStack) -> None:
    """Loads the pipeline and warms it up off the loop, starts the engine's worker, hands it to the servicer."""
    loaded = await asyncio.to_thread(load_pipeline, settings)
    catalog = SchedulerCatalog(loaded.pipeline.scheduler)
    limits = request_limits(settings, loaded)
    defaults = request_defaults(settings, loaded, catalog)
    batching = ImageBatching(settings.max_batch_images, settings.batch_wait_ms / 1000, settings.max_queue)
    engine = ImageEngine(loaded, catalog, batching)
    await asyncio.to_thread(engine.warm_up, warm_up_params(limits, defaults))
    engines.callback(engine.close)
    engine.start()
    servicer.attach(engine, RequestValidator(limits, defaults, catalog))


def run(settings: ImageSettings) -> None:
    """Runs the image service until SIGTERM/SIGINT; exits 2 if the pipeline cannot be loaded."""
    servicer = ImageServicer()
    service = ModelService(
        name=SERVICE_NAME,
        add_servicer=lambda server: pb_grpc.add_ImageGenerationServiceServicer_to_server(servicer, server),
        load=lambda engines: load(settings, servicer, engines),
    )
    model_service.run(settings, service)
