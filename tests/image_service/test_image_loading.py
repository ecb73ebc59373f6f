"""Settings from flags and environment, and loading a pipeline from each kind of source, offline."""

import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
from pydantic import ValidationError
from pydantic_settings import CliApp

from image_service.generation_params import GenerationParams
from image_service.loading import load_pipeline
from image_service.pipeline_call import CallInput, run_pipeline_call
from image_service.schedulers import SchedulerCatalog
from image_service.settings import ImageSettings
from image_service.startup import request_defaults
from serving_core.model_service import ModelLoadError
from tests.image_service.tiny_sdxl import save_tiny_sdxl

SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_settings_come_from_cli_flags_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_IMAGE_MAX_QUEUE", "5")
    monkeypatch.setenv("HEARTH_IMAGE_BATCH_WAIT_MS", "7")

    settings = CliApp.run(ImageSettings, cli_args=["--max-queue", "3", "--attention-slicing", "--port", "0"])

    assert (settings.max_queue, settings.batch_wait_ms, settings.port) == (3, 7, 0)
    assert settings.attention_slicing is True
    assert settings.model.endswith("models/image/hearth-scenes")


@pytest.mark.parametrize("checkpoint", ["model.ckpt", "weights.bin", "sd15.pt"])
def test_pickled_checkpoints_are_refused(checkpoint: str) -> None:
    with pytest.raises(ValidationError, match="safetensors"):
        ImageSettings(model=f"/models/{checkpoint}")


def test_a_hub_id_is_loaded_from_the_local_cache(
    image_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "models--hearth--tiny-sd"
    shutil.copytree(image_model_path, repo / "snapshots" / SNAPSHOT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))

    loaded = load_pipeline(ImageSettings(model="hearth/tiny-sd"))

    assert loaded.model_id == "hearth/tiny-sd"
    assert type(loaded.pipeline).__name__ == "StableDiffusionPipeline"


def test_a_model_that_is_neither_on_disk_nor_cached_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="HEARTH_IMAGE_MODEL"):
        load_pipeline(ImageSettings(model=str(tmp_path / "no-such-model")))


def test_a_single_file_without_configs_offline_says_how_to_provide_them(image_model_path: Path) -> None:
    weights = image_model_path / "unet" / "diffusion_pytorch_model.safetensors"

    with pytest.raises(ModelLoadError, match="HEARTH_IMAGE_SINGLE_FILE_CONFIG"):
        load_pipeline(ImageSettings(model=str(weights)))


def test_memory_options_are_applied_and_offload_is_ignored_on_the_cpu(image_model_path: Path) -> None:
    settings = ImageSettings(
        model=str(image_model_path),
        attention_slicing=True,
        vae_slicing=True,
        vae_tiling=True,
        model_cpu_offload=True,
    )

    loaded = load_pipeline(settings)
    params = GenerationParams("a cat", "", 2, 7.5, 64, 64, seed=1, num_images=2, scheduler="euler", output_format="png")
    images = run_pipeline_call(
        loaded.pipeline,
        SchedulerCatalog(loaded.pipeline.scheduler),
        params,
        [CallInput("a cat", "", 1), CallInput("a dog", "", 2)],
        on_step=lambda *_: None,
        abandoned=lambda: False,
    )

    assert (loaded.memory.attention_slicing, loaded.memory.vae_slicing, loaded.memory.vae_tiling) == (True,) * 3
    assert loaded.memory.model_cpu_offload is False
    processors = {type(p).__name__ for p in loaded.pipeline.unet.attn_processors.values()}
    assert processors == {"SlicedAttnProcessor"}
    assert (loaded.pipeline.vae.use_slicing, loaded.pipeline.vae.use_tiling) == (True, True)
    assert [image.size for image in images] == [(64, 64), (64, 64)]


def test_an_sdxl_turbo_folder_goes_through_the_same_code_with_turbo_defaults(
    image_model_path: Path, tmp_path: Path
) -> None:
    folder = save_tiny_sdxl(tmp_path / "tiny-sdxl-turbo", image_model_path / "tokenizer")
    settings = ImageSettings(model=str(folder))

    loaded = load_pipeline(settings)
    catalog = SchedulerCatalog(loaded.pipeline.scheduler)
    defaults = request_defaults(settings, loaded, catalog)
    params = GenerationParams("a cat", "dogs", 3, 5.0, 64, 64, 1, 2, scheduler="euler_a", output_format="png")
    steps: list[int] = []
    images = run_pipeline_call(
        loaded.pipeline,
        catalog,
        params,
        [CallInput("a cat", "dogs", 1), CallInput("a fox", "cats", 2)],
        on_step=lambda step, _latents: steps.append(step),
        abandoned=lambda: False,
    )

    assert (loaded.model_id, type(loaded.pipeline).__name__) == ("tiny-sdxl-turbo", "StableDiffusionXLPipeline")
    assert (defaults.num_inference_steps, defaults.guidance_scale, defaults.scheduler) == (1, 0.0, "euler")
    assert (defaults.width, defaults.height) == (256, 256)
    assert steps == [1, 2, 3]
    assert [image.size for image in images] == [(64, 64), (64, 64)]
