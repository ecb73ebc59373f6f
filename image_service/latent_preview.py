"""Cheap previews of the denoising state: a fixed linear map from latent channels to RGB, one pixel per latent.

AUTOMATIC1111's "Approx cheap" preview multiplies the latents by a 4x3 matrix written down per model family.
Here the matrix (and a bias) is fitted once at load, by least squares, from the model's own VAE: pictures of
random colour blocks are encoded and every latent pixel is regressed onto the mean colour of the pixels it
stands for. That is right for any VAE (the SD families, and the project's own trained scene model, whose
latent space no table knows) and costs one small encoder call at start-up. (Solid colours, regressed on each
picture's mean latent, fitted the scene model's VAE badly: its latents carry colour locally, not on average.)
A preview is then one (channels x 3) product per image: microseconds, never a VAE decode.
"""

import numpy as np
import torch
from diffusers import AutoencoderKL
from PIL import Image

FIT_PICTURES = 32
FIT_SIZE = 64
FIT_BLOCK = 16
FIT_SEED = 0


class LatentPreviewer:
    """Maps one image's latents (channels x h x w, in the scaled space the denoising loop uses) to an RGB image."""

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor) -> None:
        self._weights = weights
        self._bias = bias

    @classmethod
    def fit(cls, vae: AutoencoderKL) -> "LatentPreviewer":
        """Fits the projection to ``vae`` on FIT_PICTURES pictures of random FIT_BLOCK-pixel colour blocks."""
        generator = torch.Generator().manual_seed(FIT_SEED)
        cells = FIT_SIZE // FIT_BLOCK
        colours = torch.rand(FIT_PICTURES, 3, cells, cells, generator=generator)
        pixels = colours.repeat_interleave(FIT_BLOCK, dim=2).repeat_interleave(FIT_BLOCK, dim=3)
        encoded = _encoded_means(vae, pixels * 2 - 1)
        shift = vae.config.get("shift_factor") or 0.0
        latents = (encoded - shift) * vae.config.scaling_factor
        covered = torch.nn.functional.avg_pool2d(pixels, FIT_SIZE // latents.shape[-1])
        design = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        design = torch.cat([design, torch.ones(len(design), 1)], dim=1)
        solution = torch.linalg.lstsq(design, covered.permute(0, 2, 3, 1).reshape(-1, 3)).solution
        return cls(solution[:-1], solution[-1])

    def preview(self, latents: torch.Tensor) -> Image.Image:
        """An RGB image of the latents' height and width (1/8 of the output for SD)."""
        with torch.no_grad():
            rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), self._weights) + self._bias
        array = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        return Image.fromarray(np.ascontiguousarray(array))


def _encoded_means(vae: AutoencoderKL, pixels: torch.Tensor) -> torch.Tensor:
    """The latent means of ``pixels`` (in -1..1), on the CPU in float32."""
    parameter = next(vae.parameters())
    upcast = parameter.dtype == torch.float16 and vae.config.get("force_upcast", False)
    if upcast:  # the SDXL VAE overflows in float16; diffusers upcasts it the same way to encode or decode
        vae.to(torch.float32)
    try:
        with torch.no_grad():
            return vae.encode(pixels.to(parameter.device, vae.dtype)).latent_dist.mean.float().cpu()
    finally:
        if upcast:
            vae.to(torch.float16)
