"""Scheduler names as users spell them, fresh instances per call, and step counting per scheduler."""

import pytest
from diffusers import DPMSolverMultistepScheduler, PNDMScheduler

from image_service.pipeline_call import DenoisingStepNumbers
from image_service.schedulers import KNOWN_SCHEDULERS, SchedulerCatalog
from serving_core.request_errors import InvalidField


@pytest.fixture(scope="module")
def catalog(image_model_path) -> SchedulerCatalog:
    return SchedulerCatalog(PNDMScheduler.from_pretrained(image_model_path, subfolder="scheduler"))


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("euler", "euler"),
        ("Euler a", "euler_a"),
        ("k_euler_a", "euler_a"),
        ("DPM++ 2M", "dpmpp_2m"),
        ("DPM++ 2M Karras", "dpmpp_2m_karras"),
        ("dpmpp-2m-karras", "dpmpp_2m_karras"),
        (" DDIM ", "ddim"),
        ("PLMS", "pndm"),
        ("EulerDiscreteScheduler", "euler"),
        ("UniPC", "unipc"),
    ],
)
def test_a1111_and_diffusers_spellings_resolve(catalog: SchedulerCatalog, spelling: str, name: str) -> None:
    assert catalog.resolve(spelling) == name


def test_an_empty_name_means_the_pipelines_own_scheduler(catalog: SchedulerCatalog) -> None:
    assert catalog.default_name == "pndm"
    assert catalog.resolve("") == "pndm"


def test_an_unknown_name_is_refused_with_the_valid_names(catalog: SchedulerCatalog) -> None:
    with pytest.raises(InvalidField) as refused:
        catalog.resolve("lms karras turbo")

    assert refused.value.field == "scheduler"
    for name in ("euler", "euler_a", "dpmpp_2m", "ddim", "pndm"):
        assert name in str(refused.value)


def test_every_call_gets_a_fresh_scheduler_built_from_the_pipelines_config(catalog: SchedulerCatalog) -> None:
    first, second = catalog.create("dpmpp_2m_karras"), catalog.create("dpmpp_2m_karras")

    assert first is not second
    assert isinstance(first, DPMSolverMultistepScheduler)
    assert first.config.use_karras_sigmas is True
    assert first.config.beta_schedule == "scaled_linear"  # taken from the pipeline's own scheduler config


@pytest.mark.parametrize("name", [kind.name for kind in KNOWN_SCHEDULERS])
@pytest.mark.parametrize("steps", [1, 2, 7])
def test_each_scheduler_reports_exactly_the_requested_steps_in_order(
    catalog: SchedulerCatalog, name: str, steps: int
) -> None:
    scheduler = catalog.create(name)
    scheduler.set_timesteps(steps)
    counter = DenoisingStepNumbers(scheduler, steps)

    timesteps = len(scheduler.timesteps)
    reported = [counter.done for index in range(timesteps) if counter.advance(index, timesteps)]

    assert reported == list(range(1, steps + 1))
