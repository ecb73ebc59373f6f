"""How streams and statuses look in a terminal: tokens as they come, a progress bar, a status table.

Generated text goes to stdout untouched (so it pipes cleanly); everything about the text (progress,
summaries, file names) goes to stderr through Rich.
"""

import io
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from PIL import Image
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.style import Style
from rich.table import Table
from rich.text import Text

from hearth_cli.messages import ImageEvent, ImageResult, ServiceStatus, TextDone, TextEvent

stderr_console = Console(stderr=True, highlight=False)
stdout_console = Console(highlight=False)
PREVIEW_COLUMNS = 64
UPPER_HALF_BLOCK = "\u2580"


def join_text(events: Iterable[TextEvent], echo: TextIO | None = None) -> tuple[str, TextDone | None]:
    """The whole text and the final event; with `echo`, each delta is also written there as it arrives."""
    parts: list[str] = []
    done = None
    for event in events:
        if isinstance(event, TextDone):
            done = event
            continue
        parts.append(event.text)
        if echo is not None:
            echo.write(event.text)
            echo.flush()
    return "".join(parts), done


def text_summary(done: TextDone | None) -> str:
    """One dim line such as `length · 12 prompt + 40 completion tokens · 2.1 s`."""
    if done is None:
        return ""
    pieces = [done.finish_reason or "done"]
    if done.usage:
        pieces.append(f"{done.usage.get('prompt_tokens', 0)} prompt + {done.usage.get('completion_tokens', 0)} tokens")
    total = done.timings.get("total_seconds") if done.timings else None
    if total:
        pieces.append(f"{total:.1f} s")
    return " · ".join(pieces)


def text_json(text: str, done: TextDone | None) -> str:
    body: dict[str, Any] = {"text": text}
    if done is not None:
        body.update(asdict(done))
    return json.dumps(body)


def preview_art(data: bytes, columns: int = PREVIEW_COLUMNS) -> Text:
    """A preview image as coloured half blocks: one character per pixel column, two pixel rows per line."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    if picture.width > columns:
        picture = picture.resize((columns, max(1, picture.height * columns // picture.width)))
    art = Text()
    for top in range(0, picture.height, 2):
        for x in range(picture.width):
            upper = picture.getpixel((x, top))
            lower = picture.getpixel((x, top + 1)) if top + 1 < picture.height else (0, 0, 0)
            art.append(UPPER_HALF_BLOCK, Style(color=f"rgb{upper}", bgcolor=f"rgb{lower}"))
        art.append("\n")
    return art


class _PreviewProgress(Progress):
    """A progress bar with the latest preview drawn above it."""

    preview: Text | None = None

    def get_renderables(self) -> Iterable[RenderableType]:
        if self.preview is not None:
            yield self.preview
        yield from super().get_renderables()


def track_image_progress(events: Iterable[ImageEvent], show: bool = True) -> list[ImageResult]:
    """Draws a bar over the denoising steps (on stderr, unless not `show`), with the latest preview above it
    when the stream carries previews, and returns the images in order."""
    images: list[ImageResult] = []
    columns = (
        TextColumn("denoising"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
    )
    with _PreviewProgress(*columns, console=stderr_console, disable=not show) as progress:
        task = None
        for event in events:
            if isinstance(event, ImageResult):
                images.append(event)
                continue
            if event.preview and show:
                progress.preview = preview_art(event.preview)
            if task is None:
                task = progress.add_task("denoising", completed=event.step, total=event.total_steps)
            else:
                progress.update(task, completed=event.step, total=event.total_steps)
    return sorted(images, key=lambda image: image.index)


def image_paths(output: Path, count: int) -> list[Path]:
    """`out.png` for one image; `out-0.png`, `out-1.png`, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{index}{output.suffix}") for index in range(count)]


def status_table(rows: list[ServiceStatus]) -> Table:
    table = Table(header_style="bold")
    for column in ("service", "state", "model", "engine", "device", "dtype", "active", "queued"):
        table.add_column(column, overflow="fold")
    for row in rows:
        style = "green" if row.ready else "red"
        table.add_row(
            row.name,
            f"[{style}]{row.state}[/{style}]",
            row.model,
            row.engine,
            row.device,
            row.dtype,
            "" if row.active is None else str(row.active),
            "" if row.queued is None else str(row.queued),
        )
    return table


def images_json(saved: list[dict[str, Any]]) -> str:
    return json.dumps({"images": saved})


def status_json(rows: list[ServiceStatus]) -> str:
    return json.dumps([asdict(row) for row in rows])
