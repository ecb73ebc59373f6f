"""What the CLI asks for and what comes back, the same whether it talks to the gateway or to a service.

The commands and the terminal rendering only see these types, so `--url` (HTTP) and `--grpc` (a
service directly) differ in one place: the client that turns them into requests and back.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class TextRequest:
    """A text generation; None leaves a field to the server's default."""

    prompt: str
    max_new_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    chat: bool = False
    system: str | None = None
    json_schema: dict[str, Any] | None = None
    regex: str | None = None


@dataclass(frozen=True)
class TextChunk:
    """New text since the previous delta."""

    text: str


@dataclass(frozen=True)
class TextDone:
    """The end of a text stream: why it ended and what it cost."""

    finish_reason: str
    usage: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


TextEvent = TextChunk | TextDone


@dataclass(frozen=True)
class ImageRequest:
    """An image generation; None leaves a field to the server's default."""

    prompt: str
    negative_prompt: str | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    num_images: int | None = None
    init_image: bytes = b""
    mask_image: bytes = b""
    strength: float | None = None
    preview_every: int = 0


@dataclass(frozen=True)
class ImageProgress:
    """One denoising step done; ``preview`` holds a small encoded picture when previews were asked for."""

    step: int
    total_steps: int
    elapsed_seconds: float
    preview: bytes = b""


@dataclass(frozen=True)
class ImageResult:
    """One finished image, encoded (PNG unless the server says otherwise)."""

    index: int
    data: bytes
    seed: int
    mime_type: str


ImageEvent = ImageProgress | ImageResult


@dataclass(frozen=True)
class ServiceStatus:
    """One row of `hearth status`; empty strings and None where the source does not say."""

    name: str
    state: str
    ready: bool
    model: str = ""
    engine: str = ""
    device: str = ""
    dtype: str = ""
    active: int | None = None
    queued: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """One way to reach Hearth: the gateway over HTTP, or a service over gRPC.

    The streams are context managers so that leaving them early (Ctrl-C, an error while rendering)
    closes the connection at once, which is what tells the server to cancel the work.
    """

    def text_stream(self, request: TextRequest) -> AbstractContextManager[Iterator[TextEvent]]: ...

    def image_stream(self, request: ImageRequest) -> AbstractContextManager[Iterator[ImageEvent]]: ...

    def status(self) -> list[ServiceStatus]: ...
