"""`python -m bench.preview_cost [MODEL]`: what one live preview costs against what it replaces.

In-process on the image service's own loader (the embedded default model unless MODEL is given), at the original
default size (512x512, so 64x64 latents): the median time of one preview (the fitted latent-to-RGB projection and
its JPEG), of one denoising step (the UNet with classifier-free guidance, batch 2) and of the one VAE decode a
full-quality preview would cost per step. Ratios, so a busy machine moves them less than it moves seconds.
"""

import statistics
import sys
import time
from collections.abc import Callable

import torch

from image_service.encoding import encode_image
from image_service.engine import PREVIEW_FORMAT, PREVIEW_QUALITY
from image_service.loading import load_pipeline
from image_service.settings import ImageSettings

LATENT_SIDE = 64


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    work()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main(model: str) -> None:
    loaded = load_pipeline(ImageSettings(model=model))
    pipeline = loaded.pipeline
    latents = torch.randn(1, pipeline.unet.config.in_channels, LATENT_SIDE, LATENT_SIDE)
    text = torch.randn(2, pipeline.tokenizer.model_max_length, pipeline.text_encoder.config.hidden_size)

    def preview() -> bytes:
        return encode_image(loaded.previewer.preview(latents[0]), PREVIEW_FORMAT, "", PREVIEW_QUALITY).data

    with torch.no_grad():
        preview_s = median_seconds(preview, 200)
        step_s = median_seconds(lambda: pipeline.unet(torch.cat([latents] * 2), 500, encoder_hidden_states=text), 20)
        decode_s = median_seconds(lambda: pipeline.vae.decode(latents / pipeline.vae.config.scaling_factor), 5)
    print(f"model {loaded.model_id}, torch threads {torch.get_num_threads()}")
    print(f"one preview ({LATENT_SIDE}x{LATENT_SIDE} JPEG, {len(preview())} bytes): {preview_s * 1000:.2f} ms")
    print(f"one denoising step (UNet, guidance batch 2): {step_s * 1000:.1f} ms")
    print(f"one VAE decode ({LATENT_SIDE * 8}x{LATENT_SIDE * 8}): {decode_s * 1000:.1f} ms")
    print(f"preview / step: {preview_s / step_s:.2%}; VAE decode / step: {decode_s / step_s:.1f}x")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
