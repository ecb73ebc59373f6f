"""The embedded default models: present after `make models`, loadable offline, and fetched only once."""

import subprocess
from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline
from transformers import AutoModelForCausalLM, AutoTokenizer

from default_models import scenes, text_gguf, tiny_sd


@pytest.fixture(scope="module")
def gguf_path(text_model_path: Path) -> Path:
    return text_model_path


@pytest.fixture(scope="module")
def tiny_sd_dir(image_model_path: Path) -> Path:
    return image_model_path


def test_text_model_is_the_pinned_gguf(gguf_path: Path) -> None:
    assert text_gguf.sha256_of(gguf_path) == text_gguf.GGUF_SHA256


def test_gguf_loads_and_answers_in_english(gguf_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


@pytest.mark.parametrize(("width", "height"), [(512, 512), (72, 48)])
def test_tiny_pipeline_loads_as_stable_diffusion(tiny_sd_dir: Path, width: int, height: int) -> None:
    pipeline = StableDiffusionPipeline.from_pretrained(tiny_sd_dir)
    pipeline.set_progress_bar_config(disable=True)
    image = pipeline(
        "a lighthouse", num_inference_steps=2, width=width, height=height, generator=torch.Generator().manual_seed(0)
    ).images[0]
    assert image.size == (width, height)


def test_preparing_models_again_downloads_and_rewrites_nothing(
    models_dir: Path, gguf_path: Path, tiny_sd_dir: Path, scenes_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [gguf_path, *tiny_sd_dir.rglob("*"), *scenes_model_path.rglob("*")]
    before = {p: p.stat().st_mtime_ns for p in files}

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected download: {args}")

    monkeypatch.setattr(subprocess, "run", no_download)
    assert text_gguf.ensure_text_model(models_dir) == gguf_path
    assert tiny_sd.ensure_tiny_image_model(models_dir) == tiny_sd_dir
    assert scenes.ensure_scenes_model(models_dir) == scenes_model_path
    assert before == {p: p.stat().st_mtime_ns for p in files}


def test_the_default_image_model_is_the_committed_scene_model(scenes_model_path: Path) -> None:
    committed = sorted(p.relative_to(scenes.SCENES_DIR) for p in scenes.SCENES_DIR.rglob("*") if p.is_file())
    assert "unet/diffusion_pytorch_model.safetensors" in map(str, committed)
    for name in committed:
        assert (scenes_model_path / name).read_bytes() == (scenes.SCENES_DIR / name).read_bytes()


def test_a_changed_scene_model_file_is_copied_again(tmp_path: Path) -> None:
    placed = scenes.ensure_scenes_model(tmp_path)
    config = placed / "unet" / "config.json"
    config.write_text("{}")

    scenes.ensure_scenes_model(tmp_path)

    assert config.read_bytes() == (scenes.SCENES_DIR / "unet" / "config.json").read_bytes()


def test_tiny_pipeline_is_rebuilt_identically(tmp_path: Path, tiny_sd_dir: Path) -> None:
    rebuilt = tiny_sd.ensure_tiny_image_model(tmp_path)
    for original in tiny_sd_dir.rglob("*.safetensors"):
        assert (rebuilt / original.relative_to(tiny_sd_dir)).read_bytes() == original.read_bytes()
