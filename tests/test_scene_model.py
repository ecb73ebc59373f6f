"""The trained scene model as diffusers loads it: its native size, its words, and how faithful its VAE is."""

from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline
from transformers import CLIPTokenizer

from default_models.scene_grammar import SIZE, scene_at, vocabulary
from default_models.scene_model import build_tokenizer
from default_models.scenes import HELD_OUT_SEED

HELD_OUT_SCENES = 64
MAX_MEAN_ABSOLUTE_ERROR = 10


def test_the_vae_reconstructs_scenes_it_never_saw(scenes_model_path: Path) -> None:
    vae = AutoencoderKL.from_pretrained(scenes_model_path, subfolder="vae")
    originals = np.stack([np.asarray(scene_at(HELD_OUT_SEED, index)[0]) for index in range(HELD_OUT_SCENES)])
    pixels = torch.from_numpy(originals).permute(0, 3, 1, 2).float() / 127.5 - 1

    with torch.no_grad():
        latents = vae.encode(pixels).latent_dist.sample(torch.Generator().manual_seed(0))
        decoded = vae.decode(latents).sample

    restored = ((decoded.clamp(-1, 1) + 1) * 127.5).round().permute(0, 2, 3, 1).numpy()
    error = float(np.abs(restored - originals).mean())
    print(f"VAE mean absolute error on {HELD_OUT_SCENES} held-out scenes: {error:.2f} of 255")
    assert error < MAX_MEAN_ABSOLUTE_ERROR


def test_every_word_of_the_grammar_is_one_token_numbered_as_training_numbers_it(scenes_model_path: Path) -> None:
    tokenizer = CLIPTokenizer.from_pretrained(scenes_model_path, subfolder="tokenizer")

    pieces = {word: tokenizer.tokenize(word) for word in vocabulary()}

    assert {word: tokens for word, tokens in pieces.items() if len(tokens) != 1} == {}
    assert tokenizer.tokenize("A Red Circle") == ["a</w>", "red</w>", "circle</w>"]
    assert tokenizer.get_vocab() == build_tokenizer().get_vocab()


def test_the_tokenizer_training_builds_holds_every_word_whole_and_numbers_it_the_same_each_time() -> None:
    tokenizer = build_tokenizer()

    assert [word for word in vocabulary() if len(tokenizer.tokenize(word)) != 1] == []
    assert tokenizer("a red circle at the top").input_ids == [607, 320, 595, 561, 524, 602, 604, 608]


def test_an_unset_size_gives_the_native_64_pixels(scenes_model_path: Path) -> None:
    pipeline = StableDiffusionPipeline.from_pretrained(scenes_model_path)
    pipeline.set_progress_bar_config(disable=True)

    image = pipeline("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]

    assert image.size == (SIZE, SIZE)
