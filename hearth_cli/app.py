"""The `hearth` command: start and stop the local stack, check it, and generate text and images.

Commands are thin: they parse options into the CLI's messages, pick the gateway (`--url`) or a service
(`--grpc`), and hand the stream to the terminal output. Every failure ends as one line on stderr and
a documented exit code (see `hearth_cli.errors`).
"""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from hearth_cli import stack_control, terminal_output
from hearth_cli.errors import EXIT_INTERRUPTED, EXIT_UNAVAILABLE, HearthError
from hearth_cli.gateway_client import GatewayClient
from hearth_cli.grpc_client import GrpcClient
from hearth_cli.messages import Backend, ImageRequest, TextRequest
from hearth_cli.terminal_output import stderr_console

app = typer.Typer(
    help="Hearth: local, offline text and image generation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_URL = "http://127.0.0.1:8000"

UrlOption = Annotated[str, typer.Option("--url", envvar="HEARTH_URL", help="The gateway's base URL.")]
GrpcOption = Annotated[
    str | None,
    typer.Option("--grpc", metavar="HOST:PORT", help="Talk to this text or image service over gRPC, not the gateway."),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="HEARTH_TOKEN", help="Bearer token, when the gateway has HEARTH_GATEWAY_API_KEY."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of the live view.")]


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turns failures and Ctrl-C into one line on stderr and the matching exit code."""
    try:
        yield
    except HearthError as error:
        stderr_console.print(f"[red]hearth:[/red] {error.message}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        stderr_console.print("hearth: cancelled", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None


@contextmanager
def open_backend(url: str, grpc_target: str | None, token: str | None) -> Iterator[Backend]:
    client: GatewayClient | GrpcClient = GrpcClient(grpc_target) if grpc_target else GatewayClient(url, token)
    try:
        yield client
    finally:
        client.close()


def read_prompt(prompt: str) -> str:
    """`-` reads the whole prompt from stdin, so files and pipes work: `cat notes.txt | hearth text -`."""
    return sys.stdin.read() if prompt == "-" else prompt


def parse_size(size: str | None) -> tuple[int | None, int | None]:
    """`512` or `640x480` (width x height); the server checks the limits."""
    if size is None:
        return None, None
    width, _, height = size.lower().partition("x")
    try:
        return int(width), int(height or width)
    except ValueError:
        raise typer.BadParameter(f"{size!r} is not WIDTHxHEIGHT or a single number", param_hint="--size") from None


def read_json_schema(path: Path | None) -> dict[str, Any] | None:
    """The JSON Schema object in the file at ``path``; a file that holds none is a usage error."""
    if path is None:
        return None
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise typer.BadParameter(f"{path}: {error}", param_hint="--json-schema") from None
    if not isinstance(schema, dict):
        raise typer.BadParameter(f"{path} holds no JSON object", param_hint="--json-schema")
    return schema


@app.command()
def text(
    prompt: Annotated[str, typer.Argument(help="The prompt; - reads it from stdin.")],
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Tokens to generate at most.")] = None,
    temperature: Annotated[float | None, typer.Option(help="0 is greedy; the server's default otherwise.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible sampling.")] = None,
    chat: Annotated[bool, typer.Option("--chat", help="Send the prompt as a chat message (chat template).")] = False,
    system: Annotated[str | None, typer.Option(help="System message, with --chat.")] = None,
    json_schema: Annotated[
        Path | None,
        typer.Option("--json-schema", metavar="FILE", help="Make the output JSON valid against this schema."),
    ] = None,
    regex: Annotated[str | None, typer.Option(help="Make the output match this regular expression in full.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
    grpc_target: GrpcOption = None,
    token: TokenOption = None,
) -> None:
    """Generate text, streaming the tokens to the terminal as they come. Ctrl-C cancels it on the server."""
    if json_schema is not None and regex is not None:
        raise typer.BadParameter("give --json-schema or --regex, not both", param_hint="--regex")
    schema = read_json_schema(json_schema)
    request = TextRequest(read_prompt(prompt), max_tokens, temperature, seed, chat, system, schema, regex)
    with one_line_errors(), open_backend(url, grpc_target, token) as backend, backend.text_stream(request) as events:
        if json_output:
            generated, done = terminal_output.join_text(events)
            typer.echo(terminal_output.text_json(generated, done))
            return
        _, done = terminal_output.join_text(events, echo=sys.stdout)
        sys.stdout.write("\n")
        stderr_console.print(terminal_output.text_summary(done), style="dim")


@app.command()
def image(
    prompt: Annotated[str, typer.Argument(help="What to draw; - reads it from stdin.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Image file; several images get -0, -1, ...")] = Path(
        "hearth.png"
    ),
    steps: Annotated[int | None, typer.Option(help="Denoising steps.")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, or one number for a square.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the first image (image i uses seed + i).")] = None,
    negative: Annotated[str | None, typer.Option(help="Negative prompt: what the image should not show.")] = None,
    n: Annotated[int | None, typer.Option("--n", "-n", help="Number of images.")] = None,
    guidance: Annotated[float | None, typer.Option(help="Classifier-free guidance scale.")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Image to edit (PNG, JPEG or WebP).", exists=True)] = None,
    mask: Annotated[
        Path | None, typer.Option(help="Inpainting mask for --init: white (or transparent) is redrawn.", exists=True)
    ] = None,
    strength: Annotated[float | None, typer.Option(help="How much of --init is redrawn, above 0 to 1.")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Show the picture forming above the bar.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
    grpc_target: GrpcOption = None,
    token: TokenOption = None,
) -> None:
    """Generate images with a progress bar over the denoising steps; with --init, edit an image (with --mask,
    only the masked part). Ctrl-C cancels it on the server."""
    width, height = parse_size(size)
    request = ImageRequest(
        read_prompt(prompt),
        negative,
        steps,
        guidance,
        width,
        height,
        seed,
        n,
        init_image=init.read_bytes() if init else b"",
        mask_image=mask.read_bytes() if mask else b"",
        strength=strength,
        preview_every=1 if preview else 0,
    )
    with one_line_errors(), open_backend(url, grpc_target, token) as backend, backend.image_stream(request) as events:
        images = terminal_output.track_image_progress(events, show=not json_output)
    saved = []
    for result, path in zip(images, terminal_output.image_paths(output, len(images)), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(result.data)
        saved.append({"path": str(path), "seed": result.seed, "mime_type": result.mime_type})
        if not json_output:
            stderr_console.print(f"saved {path} (seed {result.seed})", highlight=False)
    if json_output:
        typer.echo(terminal_output.images_json(saved))


@app.command()
def status(
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
    grpc_targets: Annotated[
        list[str] | None,
        typer.Option("--grpc", metavar="HOST:PORT", help="Ask these services directly (repeatable), not the gateway."),
    ] = None,
    token: TokenOption = None,
) -> None:
    """Each service's health, model, device, dtype and queue. Exits 3 unless everything is ready."""
    with one_line_errors():
        rows = []
        for target in grpc_targets or [None]:
            with open_backend(url, target, token) as backend:
                rows.extend(backend.status())
    if json_output:
        typer.echo(terminal_output.status_json(rows))
    else:
        terminal_output.stdout_console.print(terminal_output.status_table(rows))
    if not all(row.ready for row in rows):
        raise typer.Exit(EXIT_UNAVAILABLE)


ModelsDirOption = Annotated[
    Path, typer.Option("--models-dir", envvar="HEARTH_MODELS_DIR", help="Where `make models` put the models.")
]
StateDirOption = Annotated[
    Path | None,
    typer.Option("--state-dir", envvar="HEARTH_STATE_DIR", help="Pid and log files (default: XDG state folder)."),
]


@app.command()
def up(
    models_dir: ModelsDirOption = Path("models"),
    state_dir: StateDirOption = None,
    foreground: Annotated[bool, typer.Option("--foreground", help="Stay attached, as `make run` does.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the stack to be ready.")] = 600.0,
) -> None:
    """Start the text service, image service and gateway in the background and wait until they are ready."""
    if foreground:
        stack_control.run_in_foreground(models_dir)
    files = stack_control.StackFiles(state_dir or stack_control.default_state_dir())
    gateway_url = stack_control.gateway_url_from_environment()
    with one_line_errors():
        process = stack_control.start_stack(files, models_dir)
        stderr_console.print(f"hearth: starting the stack (pid {process.pid}, log {files.log_file})", highlight=False)
        stack_control.wait_until_ready(process, files, gateway_url, timeout)
    stderr_console.print(f"hearth: ready at {gateway_url}; `hearth down` stops it", highlight=False)


@app.command()
def down(
    state_dir: StateDirOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to let the services drain before killing them.")] = 90.0,
) -> None:
    """Stop the stack that `hearth up` started; the services finish their in-flight requests first."""
    files = stack_control.StackFiles(state_dir or stack_control.default_state_dir())
    pid = stack_control.stop_stack(files, timeout)
    stderr_console.print("hearth: no stack was running" if pid is None else f"hearth: stopped (pid {pid})")
