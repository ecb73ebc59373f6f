"""Decoding the images a request edits (``init_image``, ``mask_image``), with the limits checked first.

The byte limit is checked before Pillow sees the data and the pixel limit from the header, before any pixel
is decoded, so a small file that claims a huge size (a decompression bomb) costs nothing. Only PNG, JPEG and
WebP are tried: Pillow's other readers are more attack surface and no client needs them. Anything Pillow
cannot decode is the input's fault, whatever exception its reader raises, so every failure is an InvalidField.
"""

import hashlib
import io
from dataclasses import dataclass

from PIL import Image

from serving_core.request_errors import InvalidField

INPUT_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True)
class InputLimits:
    """How large an input image may be."""

    max_bytes: int
    max_pixels: int


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mask_channel(mask: Image.Image) -> Image.Image:
    """The redraw mask (white = redraw) of a decoded mask image.

    A mask with transparent pixels is read as OpenAI's edits API defines it (fully transparent = redraw), so
    its SDKs' masks work unchanged; an opaque one (what a painted canvas gives) by its brightness.
    """
    if "A" in mask.getbands():
        alpha = mask.getchannel("A")
        if alpha.getextrema()[0] < 255:
            return alpha.point(lambda value: 255 if value == 0 else 0)
    return mask.convert("L")


def decode_input(field: str, data: bytes, limits: InputLimits, pillow_mode: str) -> Image.Image:
    """The fully decoded image in ``pillow_mode`` ("RGB", "RGBA", "L", ...), or InvalidField naming ``field``
    and the limit."""
    if len(data) > limits.max_bytes:
        raise InvalidField(field, f"at most {limits.max_bytes} bytes, got {len(data)}")
    names = ", ".join(INPUT_FORMATS)
    try:
        with Image.open(io.BytesIO(data), formats=list(INPUT_FORMATS)) as opened:
            pixels = opened.width * opened.height
            if pixels > limits.max_pixels:
                raise InvalidField(
                    field, f"at most {limits.max_pixels} pixels, got {opened.width}x{opened.height} = {pixels}"
                )
            return opened.convert(pillow_mode)
    except InvalidField:
        raise
    except Image.DecompressionBombError as error:
        raise InvalidField(field, f"at most {limits.max_pixels} pixels ({error})") from None
    except Exception as error:  # any reader failure means the bytes are not a usable image
        raise InvalidField(field, f"not a decodable {names} image ({type(error).__name__}: {error})") from None
