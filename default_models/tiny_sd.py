"""The tiny random image pipeline: a Stable-Diffusion-1.x-shaped pipeline built from small configs, for speed.

No real image model is on any package registry, so the project builds one: random weights from a fixed
seed, the same components and folder layout as SD 1.5 (UNet, VAE, CLIP text encoder and tokenizer,
PNDM scheduler), written with ``save_pretrained``. It loads through exactly the code path of a real SD
folder. It draws noise: it proves the path, not the art. The default image model is the trained scene
model (``scenes``); this one stays for the tests that need a fast pipeline and nothing more.

Its shape follows SD where it matters for cost: a 4-level VAE (scale factor 8, so 512 px is a 64x64
latent) and cross-attention only at the UNet's lowest resolution.
"""

import os
from pathlib import Path

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

from default_models import TINY_DIR_NAME, tiny_image_model_path

SEED = 0
TEXT_DIM = 32


def _tokenizer() -> CLIPTokenizer:
    """A byte-level CLIP tokenizer with no merges: every character is a token, as CLIP spells it."""
    symbols = list(bytes_to_unicode().values())
    vocab = {symbol: i for i, symbol in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def build_pipeline() -> StableDiffusionPipeline:
    """The tiny pipeline, identical on every call (fixed seed)."""
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 16, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=512,
    )
    tokenizer = _tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_DIM,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def readable_by_everyone(folder: Path) -> None:
    """Gives every file under ``folder`` the mode a plain ``open(..., "w")`` would (0644 under the usual umask).

    ``save_pretrained`` writes its ``.safetensors`` files through a private temporary file, so they come out
    0600: a container image builds them as root and runs the service as a non-root user, which then could
    not read its own model.
    """
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def ensure_tiny_image_model(models_dir: Path) -> Path:
    """Returns the tiny pipeline's folder under models_dir, building it only when it is missing.

    The file modes are set every time, so a folder built before that fix is repaired in place.
    """
    target = tiny_image_model_path(models_dir)
    if not (target / "model_index.json").exists():
        partial = target.with_name(TINY_DIR_NAME + ".partial")
        build_pipeline().save_pretrained(partial, safe_serialization=True)
        partial.replace(target)
    readable_by_everyone(target)
    return target
