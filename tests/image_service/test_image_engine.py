"""The engine in-process on the tiny pipeline: shared calls, cancellation inside a batch, out of memory."""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from image_service.engine import ImageBatching, ImageEngine
from image_service.generation_params import EditInput, GenerationParams
from image_service.image_job import ImageJob, ImagesReady, StepDone
from image_service.loading import LoadedPipeline, load_pipeline
from image_service.schedulers import SchedulerCatalog
from image_service.settings import ImageSettings
from serving_core.request_errors import OutOfDeviceMemory
from tests.image_service.image_client import input_image, left_half_mask


@pytest.fixture(scope="module")
def loaded(image_model_path: Path) -> LoadedPipeline:
    return load_pipeline(ImageSettings(model=str(image_model_path)))


@pytest.fixture
def unet_calls(loaded: LoadedPipeline, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts UNet forward passes: one per denoising timestep of a call."""
    calls: list[int] = []
    forward = loaded.pipeline.unet.forward

    def counting(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    monkeypatch.setattr(loaded.pipeline.unet, "forward", counting)
    return calls


@pytest.fixture
def engine(loaded: LoadedPipeline) -> Iterator[ImageEngine]:
    batching = ImageBatching(max_batch_images=8, batch_wait_seconds=0.3, max_queue=8)
    engine = ImageEngine(loaded, SchedulerCatalog(loaded.pipeline.scheduler), batching)
    engine.start()
    yield engine
    engine.close()


def params(steps: int = 4, seed: int = 1, prompt: str = "a cat") -> GenerationParams:
    return GenerationParams(
        prompt=prompt,
        negative_prompt="",
        num_inference_steps=steps,
        guidance_scale=7.5,
        width=64,
        height=64,
        seed=seed,
        num_images=1,
        scheduler="euler",
        output_format="png",
    )


async def collect(job: ImageJob) -> list[StepDone | ImagesReady]:
    return [event async for event in job.events()]


async def test_cancelling_one_request_of_a_shared_call_leaves_the_others_their_images(engine: ImageEngine) -> None:
    leaving = engine.submit(params(steps=6, seed=1), "leaving")
    staying = engine.submit(params(steps=6, seed=2, prompt="a dog"), "staying")
    staying_events = asyncio.ensure_future(collect(staying))

    async for event in leaving.events():
        if isinstance(event, StepDone) and event.step == 2:
            engine.cancel(leaving)
            break
    events = await asyncio.wait_for(staying_events, 60)

    assert [event.step for event in events if isinstance(event, StepDone)] == [1, 2, 3, 4, 5, 6]
    assert isinstance(events[-1], ImagesReady)
    assert events[-1].seeds == [2]
    assert events[-1].batch_images == 2
    assert engine.stats().last_batch_requests == 2


async def test_a_call_whose_requests_all_left_stops_at_the_next_step(
    engine: ImageEngine, unet_calls: list[int]
) -> None:
    job = engine.submit(params(steps=150), "cancelled")
    async for event in job.events():
        if isinstance(event, StepDone) and event.step == 2:
            engine.cancel(job)
            break

    after = await asyncio.wait_for(collect(engine.submit(params(steps=1), "next")), 60)

    assert isinstance(after[-1], ImagesReady)
    assert len(unet_calls) <= 2 + 3 + 1, f"the cancelled call ran {len(unet_calls) - 1} of 150 steps"


async def test_a_request_past_its_deadline_stops_its_call(engine: ImageEngine, unet_calls: list[int]) -> None:
    job = engine.submit(params(steps=150), "expiring", deadline=time.monotonic() + 0.5)

    events = await asyncio.wait_for(collect(job), 60)

    assert not any(isinstance(event, ImagesReady) for event in events)
    assert len(unet_calls) < 150
    assert job.outcome == "cancelled"


async def test_out_of_device_memory_is_refused_with_advice_and_the_engine_keeps_serving(
    engine: ImageEngine, loaded: LoadedPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    forward = loaded.pipeline.unet.forward

    def out_of_memory(*args, **kwargs):
        monkeypatch.setattr(loaded.pipeline.unet, "forward", forward)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(loaded.pipeline.unet, "forward", out_of_memory)

    with pytest.raises(OutOfDeviceMemory) as refused:
        await asyncio.wait_for(collect(engine.submit(params(), "too big")), 60)
    after = await asyncio.wait_for(collect(engine.submit(params(), "fine")), 60)

    for advice in ("smaller size", "ATTENTION_SLICING", "VAE_TILING", "MODEL_CPU_OFFLOAD"):
        assert advice in str(refused.value)
    assert isinstance(after[-1], ImagesReady)


def edit_params(strength: float, seed: int, *, inpaint: bool = False) -> GenerationParams:
    mask = left_half_mask() if inpaint else None
    edit = EditInput(input_image(seed=seed), strength, int(4 * strength), image_sha256="", mask=mask)
    return replace(params(seed=seed), edit=edit)


async def test_only_requests_of_one_mode_and_strength_share_a_call(engine: ImageEngine) -> None:
    requests = [
        edit_params(0.5, 1),
        params(seed=2),
        edit_params(0.5, 3),
        edit_params(0.75, 4),
        edit_params(0.5, 5, inpaint=True),
        edit_params(0.5, 6, inpaint=True),
    ]
    jobs = [engine.submit(request, f"mixed-{index}") for index, request in enumerate(requests)]

    results = await asyncio.wait_for(asyncio.gather(*(collect(job) for job in jobs)), 120)

    assert [events[-1].batch_images for events in results] == [2, 1, 2, 1, 2, 2]
    steps = [[event.total_steps for event in events if isinstance(event, StepDone)] for events in results]
    assert steps == [[2, 2], [4] * 4, [2, 2], [3] * 3, [2, 2], [2, 2]]
