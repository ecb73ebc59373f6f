"""Encoding generated images to PNG, JPEG or WebP bytes, with the generation parameters in PNGs.

The PNG ``parameters`` text chunk is written the way AUTOMATIC1111 writes it, so tools that read A1111
images (its own "PNG Info" tab, ComfyUI, image browsers) show the prompt and settings. It holds no timings
and no dates: the same request and seed give byte-identical files. An edit adds its mode, A1111's
"Denoising strength" and the SHA-256 of the input image (and mask) as sent, so the file names its source.
"""

import io
from dataclasses import dataclass

from PIL.Image import Image
from PIL.PngImagePlugin import PngInfo

from image_service.generation_params import GenerationParams

MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
LOSSY_QUALITY = 95


@dataclass(frozen=True)
class EncodedImage:
    """Image bytes and their MIME type."""

    data: bytes
    mime_type: str


def parameters_text(params: GenerationParams, seed: int, sampler_label: str, model_id: str) -> str:
    """The A1111 ``parameters`` text: prompt, negative prompt line, then "Key: value" settings on one line."""
    lines = [params.prompt]
    if params.negative_prompt:
        lines.append(f"Negative prompt: {params.negative_prompt}")
    settings: dict[str, object] = {
        "Steps": params.num_inference_steps,
        "Sampler": sampler_label,
        "CFG scale": f"{params.guidance_scale:g}",
        "Seed": seed,
        "Size": f"{params.width}x{params.height}",
        "Model": model_id,
    }
    if params.edit is not None:
        settings["Mode"] = params.mode.value
        settings["Denoising strength"] = f"{params.edit.strength:g}"
        settings["Init image hash"] = f"sha256:{params.edit.image_sha256}"
        if params.edit.mask is not None:
            settings["Mask hash"] = f"sha256:{params.edit.mask_sha256}"
    lines.append(", ".join(f"{key}: {value}" for key, value in settings.items()))
    return "\n".join(lines)


def encode_image(image: Image, output_format: str, parameters: str, quality: int = LOSSY_QUALITY) -> EncodedImage:
    """Encodes one image; ``parameters`` goes into PNGs as the ``parameters`` text chunk, ``quality`` applies to
    JPEG and WebP."""
    buffer = io.BytesIO()
    rgb = image.convert("RGB")
    if output_format == "png":
        info = PngInfo()
        info.add_text("parameters", parameters)
        rgb.save(buffer, format="PNG", pnginfo=info)
    else:
        rgb.save(buffer, format=output_format.upper(), quality=quality)
    return EncodedImage(buffer.getvalue(), MIME_TYPES[output_format])
