"""The few metadata values the service needs from a GGUF file's header, read without parsing the rest.

The `gguf` package's reader parses every key and tensor record up front, the 49,152-entry vocabulary
included: 3.8 s per call for the embedded model on the 2-core machine, paid again at each call. Walking
the key-value section and keeping only the wanted keys takes a few tens of milliseconds. Format:
github.com/ggml-org/ggml docs/gguf.md (little-endian; version 2 and 3 use 64-bit counts and lengths).
"""

import struct
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"GGUF"
# value type -> struct format of one scalar; 8 is a string, 9 an array
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


class GGUFFormatError(ValueError):
    """The file is not a GGUF file this reader understands."""


def _read(stream: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = stream.read(size)
    if len(data) != size:
        raise GGUFFormatError("the file ends inside its metadata")
    return struct.unpack(fmt, data)[0]


def _string(stream: BinaryIO) -> str:
    length = _read(stream, "<Q")
    data = stream.read(length)
    if len(data) != length:
        raise GGUFFormatError("the file ends inside its metadata")
    return data.decode("utf-8", errors="replace")


def _value(stream: BinaryIO, value_type: int, keep: bool) -> Any:
    """Reads (or, with keep false, skips as cheaply as it can) one value of the given type."""
    if value_type == STRING:
        return _string(stream)
    if value_type == ARRAY:
        element_type, count = _read(stream, "<I"), _read(stream, "<Q")
        if element_type in SCALARS and not keep:
            stream.seek(struct.calcsize(SCALARS[element_type]) * count, 1)
            return None
        return [_value(stream, element_type, keep) for _ in range(count)]
    if value_type not in SCALARS:
        raise GGUFFormatError(f"unknown metadata value type {value_type}")
    return _read(stream, SCALARS[value_type])


def read_metadata(path: Path, keys: set[str]) -> dict[str, Any]:
    """The values of ``keys`` found in the file's metadata (missing keys are absent from the result)."""
    found: dict[str, Any] = {}
    with path.open("rb") as stream:
        if stream.read(4) != MAGIC:
            raise GGUFFormatError(f"{path} does not start with the GGUF magic bytes")
        version = _read(stream, "<I")
        if version < 2:
            raise GGUFFormatError(f"GGUF version {version} is too old (2 or later is read)")
        _tensor_count, kv_count = _read(stream, "<Q"), _read(stream, "<Q")
        for _ in range(kv_count):
            key = _string(stream)
            wanted = key in keys
            value = _value(stream, _read(stream, "<I"), keep=wanted)
            if wanted:
                found[key] = value
                if len(found) == len(keys):
                    break
    return found
