"""Cheap previews of the denoising state: a fixed linear map from latent channels to RGB, one pixel per latent.

AUTOMATIC1111's "Approx cheap" preview multiplies the latents by a 4x3 matrix written down per model family.
Here the matrix (and a bias) is fitted once at load, by least squares, from the model's own VAE: solid
colours are encoded and each latent is regressed onto its colour. That is right for any VAE (the SD families,
and the project's own trained tiny model, whose latent space no table knows) and costs one small encoder call
at start-up. A preview is then one (channels x 3) product per image: microseconds, never a VAE decode.
"""

import itertools

import numpy as np
import torch
from diffusers import AutoencoderKL
from PIL import Image

FIT_LEVELS = (0.0, 0.5, 1.0)
FIT_SIZE = 64


class LatentPreviewer:
    """Maps one image's latents (channels x h x w, in the scaled space the denoising loop uses) to an RGB image."""

    def __init__(self, weights: torch.Tensor, bias: torch.Tensor) -> None:
        self._weights = weights
        self._bias = bias

    @classmethod
    def fit(cls, vae: AutoencoderKL) -> "LatentPreviewer":
        """Fits the projection to ``vae`` by encoding 27 solid colours (every mix of 0, 0.5 and 1 per channel)."""
        colours = torch.tensor(list(itertools.product(FIT_LEVELS, repeat=3)), dtype=torch.float32)
        pixels = (colours * 2 - 1)[:, :, None, None].expand(-1, -1, FIT_SIZE, FIT_SIZE)
        parameter = next(vae.parameters())
        upcast = parameter.dtype == torch.float16 and vae.config.get("force_upcast", False)
        if upcast:  # the SDXL VAE overflows in float16; diffusers upcasts it the same way to encode or decode
            vae.to(torch.float32)
        try:
            with torch.no_grad():
                encoded = vae.encode(pixels.to(parameter.device, vae.dtype)).latent_dist.mean.float().cpu()
        finally:
            if upcast:
                vae.to(torch.float16)
        shift = vae.config.get("shift_factor") or 0.0
        latents = (encoded.mean(dim=(2, 3)) - shift) * vae.config.scaling_factor
        design = torch.cat([latents, torch.ones(len(latents), 1)], dim=1)
        solution = torch.linalg.lstsq(design, colours).solution
        return cls(solution[:-1], solution[-1])

    def preview(self, latents: torch.Tensor) -> Image.Image:
        """An RGB image of the latents' height and width (1/8 of the output for SD)."""
        with torch.no_grad():
            rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), self._weights) + self._bias
        array = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        return Image.fromarray(np.ascontiguousarray(array))
