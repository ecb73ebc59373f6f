"""Trains the embedded image model on procedural scenes: ``python -m default_models.train_scenes``.

Three stages, each resumable from its last checkpoint under ``--work-dir`` (kill it and run the same
command again): the VAE learns to encode and decode scenes; the data set's latents are cached once; the
UNet and the CLIP text encoder then learn together to denoise those latents given the caption (one caption
in ten is left empty, so classifier-free guidance has an unconditional model to push away from). Every
random draw comes from a seeded generator and the data from a seeded grammar, so a rerun gives the same
weights. The pipeline is written with ``save_pretrained`` to ``--out`` (by default the folder the project
commits, which ``make models`` copies into place).
"""

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline
from diffusers.optimization import get_constant_schedule_with_warmup
from diffusers.training_utils import EMAModel
from tqdm import tqdm
from transformers import CLIPTokenizer

from default_models.scene_grammar import scene_at
from default_models.scene_model import (
    MAX_TOKENS,
    build_scheduler,
    build_text_encoder,
    build_tokenizer,
    build_unet,
    build_vae,
)
from default_models.scenes import SCENES_DIR, TRAIN_SEED
from default_models.tiny_sd import readable_by_everyone

TRAIN_SCENES = 20_000
KL_WEIGHT = 1e-6
INITIAL_LOG_VARIANCE = -6.0
OBJECT_WEIGHT = 4.0
EMPTY_CAPTION_RATE = 0.1
CHECKPOINT_EVERY = 100
THREADS = 1


def render(count: int) -> tuple[torch.Tensor, list[str]]:
    """The first ``count`` scenes of the training seed, as uint8 NCHW images and their captions."""
    images, captions = [], []
    for index in tqdm(range(count), desc="scenes"):
        image, caption = scene_at(TRAIN_SEED, index)
        images.append(np.asarray(image))
        captions.append(caption)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), captions


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to the [-1, 1] floats the VAE reads and writes."""
    return images.float() / 127.5 - 1


def cached(path: Path, make: Callable[[], object]) -> object:
    """``make()``'s result, computed once and kept at ``path`` for every later run."""
    if not path.exists():
        torch.save(make(), path)
    return torch.load(path, weights_only=False)


def run_stage(
    name: str,
    modules: list[torch.nn.Module],
    steps: int,
    learning_rate: float,
    loss_of_batch: Callable[[torch.Generator], torch.Tensor],
    work_dir: Path,
    ema: list[EMAModel] | None = None,
) -> None:
    """Runs ``steps`` optimiser steps of AdamW on ``modules``, resuming from and saving ``<name>.pt``."""
    parameters = [p for module in modules for p in module.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.0)
    schedule = get_constant_schedule_with_warmup(optimizer, num_warmup_steps=100)
    generator = torch.Generator().manual_seed(TRAIN_SEED)
    averages = ema or []
    checkpoint, start = work_dir / f"{name}.pt", 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        for module, weights in zip(modules, state["modules"], strict=True):
            module.load_state_dict(weights)
        for average, weights in zip(averages, state["ema"], strict=True):
            average.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        start = state["step"]
    for module in modules:
        module.train()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=name)
    for step in bar:
        loss = loss_of_batch(generator)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        for module, average in zip(modules, averages, strict=False):
            average.step(module.parameters())
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == steps:
            state = {
                "modules": [module.state_dict() for module in modules],
                "ema": [average.state_dict() for average in averages],
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "generator": generator.get_state(),
                "step": step + 1,
            }
            torch.save(state, checkpoint.with_suffix(".tmp"))
            checkpoint.with_suffix(".tmp").replace(checkpoint)
    for module, average in zip(modules, averages, strict=False):
        average.copy_to(module.parameters())
    for module in modules:
        module.eval()


def object_weights(pixels: torch.Tensor) -> torch.Tensor:
    """Per-pixel loss weights: 1 on the background (the median colour of the border), more on the shapes."""
    border = torch.cat([pixels[..., 0, :], pixels[..., -1, :], pixels[..., 0], pixels[..., -1]], dim=-1)
    background = border.median(dim=-1).values[..., None, None]
    on_shape = (pixels - background).abs().amax(dim=1, keepdim=True) > 0.1
    return 1 + OBJECT_WEIGHT * on_shape.float()


def train_vae(images: torch.Tensor, steps: int, batch: int, work_dir: Path) -> AutoencoderKL:
    """Reconstruction (MSE plus L1, which the mean-absolute-error bar measures) and a small KL term.

    Pixels of the shapes weigh OBJECT_WEIGHT times more than the background: they are a few percent of a
    scene, and unweighted the VAE learnt their outlines long before their colours. The posterior starts
    nearly deterministic (log-variance bias INITIAL_LOG_VARIANCE): from diffusers' own
    start, a standard deviation near 1, the sampled latents were too noisy to carry a small shape's colour,
    and the decoder learnt to paint every shape the same brown.
    """
    vae = build_vae()
    with torch.no_grad():
        vae.quant_conv.bias[vae.config.latent_channels :] = INITIAL_LOG_VARIANCE

    def loss_of_batch(generator: torch.Generator) -> torch.Tensor:
        pixels = to_unit(images[torch.randint(len(images), (batch,), generator=generator)])
        posterior = vae.encode(pixels).latent_dist
        decoded = vae.decode(posterior.sample(generator)).sample
        error = (decoded - pixels).square() + (decoded - pixels).abs()
        return (object_weights(pixels) * error).mean() + KL_WEIGHT * posterior.kl().mean()

    run_stage("vae", [vae], steps, 1e-3, loss_of_batch, work_dir)
    return vae


@torch.no_grad()
def encode_all(vae: AutoencoderKL, images: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The latent means of every scene scaled to unit variance, and that scale (the VAE's scaling_factor)."""
    means = torch.cat([vae.encode(to_unit(chunk)).latent_dist.mean for chunk in images.split(256)])
    scale = float(1 / means.std())
    return means * scale, scale


def train_denoiser(
    latents: torch.Tensor, captions: list[str], tokenizer: CLIPTokenizer, steps: int, batch: int, work_dir: Path
) -> tuple[torch.nn.Module, torch.nn.Module]:
    """UNet and text encoder from scratch, jointly, on v-prediction under the model's own noise schedule."""
    unet, text_encoder = build_unet(), build_text_encoder(tokenizer)
    noise_schedule = DDPMScheduler.from_config(build_scheduler().config)
    tokens = tokenizer(captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt")
    empty = tokenizer("", padding="max_length", max_length=MAX_TOKENS, return_tensors="pt").input_ids[0]

    def loss_of_batch(generator: torch.Generator) -> torch.Tensor:
        picked = torch.randint(len(latents), (batch,), generator=generator)
        clean, ids = latents[picked], tokens.input_ids[picked].clone()
        ids[torch.rand(batch, generator=generator) < EMPTY_CAPTION_RATE] = empty
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(noise_schedule.config.num_train_timesteps, (batch,), generator=generator)
        noisy = noise_schedule.add_noise(clean, noise, timesteps)
        predicted = unet(noisy, timesteps, text_encoder(ids)[0]).sample
        return F.mse_loss(predicted, noise_schedule.get_velocity(clean, noise, timesteps))

    averages = [EMAModel(module.parameters(), decay=0.999, use_ema_warmup=True) for module in (unet, text_encoder)]
    run_stage("denoiser", [unet, text_encoder], steps, 1e-3, loss_of_batch, work_dir, averages)
    return unet, text_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description="Train Hearth's embedded scene model on procedural scenes.")
    parser.add_argument("--out", type=Path, default=SCENES_DIR, help="where save_pretrained writes the pipeline")
    parser.add_argument("--work-dir", type=Path, default=Path("models/train-scenes"), help="checkpoints and caches")
    parser.add_argument("--scenes", type=int, default=TRAIN_SCENES, help="size of the training set")
    parser.add_argument("--vae-steps", type=int, default=1200)
    parser.add_argument("--vae-batch", type=int, default=16)
    parser.add_argument("--unet-steps", type=int, default=5000)
    parser.add_argument("--unet-batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    torch.manual_seed(TRAIN_SEED)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    images, captions = cached(args.work_dir / f"scenes-{args.scenes}.pt", lambda: render(args.scenes))
    vae = train_vae(images, args.vae_steps, args.vae_batch, args.work_dir)
    latents, scale = cached(args.work_dir / f"latents-{args.vae_steps}.pt", lambda: encode_all(vae, images))
    vae.register_to_config(scaling_factor=scale)
    tokenizer = build_tokenizer()
    unet, text_encoder = train_denoiser(latents, captions, tokenizer, args.unet_steps, args.unet_batch, args.work_dir)
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(args.out, safe_serialization=True)
    readable_by_everyone(args.out)
    print(f"wrote {args.out} after {(time.monotonic() - started) / 60:.1f} minutes")


if __name__ == "__main__":
    main()
